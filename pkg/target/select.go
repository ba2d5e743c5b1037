package target

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

// DefaultPageSize is the LIST page size when Selector.PageSize is zero. 500
// is what kubectl and the informers use: big enough that 10,000 pods take
// 20 requests, small enough that one decoded page stays a few MiB.
const DefaultPageSize = 500

// Selector lists candidate pods from the API server.
//
// Both the label selector and the field selector (status.phase=Running AND
// the user's fieldSelector) are evaluated by the API server, the LIST is
// paginated, and each page is converted to slim Pod values at once, so that
// at most one page of full objects is alive at any time. Give it a clientset
// from NewClientset so that pages travel as protobuf.
type Selector struct {
	Client   kubernetes.Interface
	PageSize int64 // pods per LIST request; 0 means DefaultPageSize
}

// Stats describes the work one List did (for logs and benchmarks).
type Stats struct {
	Namespaces int `json:"namespaces"` // namespaces listed
	Requests   int `json:"requests"`   // LIST requests sent
	Restarts   int `json:"restarts"`   // namespace listings restarted after an expired continue token
	PodsSeen   int `json:"podsSeen"`   // pods the API server returned, after its selectors
}

// NewClientset builds a clientset that speaks protobuf to the API server
// (JSON stays acceptable for the rare resource without protobuf) and rate
// limits itself at qps/burst. A LIST of 10,000 pods is 82 MB as JSON and
// 1.6 MB as protobuf+gzip, and decodes several times faster. cfg is not
// modified. qps <= 0 or burst <= 0 keep cfg's values (client-go's default is 5/10).
func NewClientset(cfg *rest.Config, qps float32, burst int) (kubernetes.Interface, error) {
	if cfg == nil {
		return nil, errors.New("new clientset: nil rest config")
	}
	c := rest.CopyConfig(cfg)
	c.ContentType = runtime.ContentTypeProtobuf
	c.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	if qps > 0 {
		c.QPS = qps
	}
	if burst > 0 {
		c.Burst = burst
	}
	cs, err := kubernetes.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("new clientset: %w", err)
	}
	return cs, nil
}

// Selectors parses a target's label and field selectors into the strings
// sent to the API server. The label selector must not be empty (an
// experiment never means "every pod"); the field selector always includes
// status.phase=Running.
func Selectors(t experiment.Target) (labelSel, fieldSel string, err error) {
	if strings.TrimSpace(t.Selector) == "" {
		return "", "", errors.New("empty label selector: refusing to select every pod")
	}
	ls, err := labels.Parse(t.Selector)
	if err != nil {
		return "", "", fmt.Errorf("parse label selector %q: %w", t.Selector, err)
	}
	if ls.Empty() {
		return "", "", fmt.Errorf("label selector %q matches every pod", t.Selector)
	}
	// Only running pods are victims; the server drops the rest.
	fs := fields.OneTermEqualSelector("status.phase", string(corev1.PodRunning))
	if strings.TrimSpace(t.FieldSelector) != "" {
		user, err := fields.ParseSelector(t.FieldSelector)
		if err != nil {
			return "", "", fmt.Errorf("parse field selector %q: %w", t.FieldSelector, err)
		}
		fs = fields.AndSelectors(fs, user)
	}
	return ls.String(), fs.String(), nil
}

// List returns the running pods that match t's selectors in t's namespaces,
// in API order (namespace by namespace). It applies no other filter: see
// Eligible and Pick.
func (s *Selector) List(ctx context.Context, t experiment.Target) ([]Pod, Stats, error) {
	var st Stats
	if s.Client == nil {
		return nil, st, errors.New("list pods: nil client")
	}
	if len(t.Namespaces) == 0 {
		return nil, st, errors.New("list pods: no namespaces: the blast radius must be spelled out")
	}
	labelSel, fieldSel, err := Selectors(t)
	if err != nil {
		return nil, st, fmt.Errorf("list pods: %w", err)
	}
	limit := s.PageSize
	if limit <= 0 {
		limit = DefaultPageSize
	}
	var out []Pod
	seen := make(map[string]bool, len(t.Namespaces))
	for _, ns := range t.Namespaces {
		if ns == "" {
			return nil, st, errors.New("list pods: empty namespace name")
		}
		if seen[ns] {
			continue
		}
		seen[ns] = true
		st.Namespaces++
		out, err = s.listNamespace(ctx, ns, labelSel, fieldSel, limit, out, &st)
		if err != nil {
			return nil, st, err
		}
	}
	return out, st, nil
}

// listNamespace appends one namespace's pods to out. An expired continue
// token (HTTP 410, when paging outlives etcd compaction) restarts the
// namespace once from the beginning, dropping what it had appended, so no
// pod is counted twice.
func (s *Selector) listNamespace(ctx context.Context, ns, labelSel, fieldSel string, limit int64, out []Pod, st *Stats) ([]Pod, error) {
	start := len(out)
	for attempt := 0; ; attempt++ {
		opts := metav1.ListOptions{LabelSelector: labelSel, FieldSelector: fieldSel, Limit: limit}
		var err error
		for {
			var list *corev1.PodList
			st.Requests++
			list, err = s.Client.CoreV1().Pods(ns).List(ctx, opts)
			if err != nil {
				break
			}
			st.PodsSeen += len(list.Items)
			for i := range list.Items {
				out = append(out, FromPod(&list.Items[i]))
			}
			if list.Continue == "" {
				return out, nil
			}
			opts.Continue = list.Continue
		}
		if apierrors.IsResourceExpired(err) && attempt == 0 {
			st.Restarts++
			out = out[:start]
			continue
		}
		return nil, fmt.Errorf("list pods in namespace %s: %w", ns, err)
	}
}

// FromPod keeps what chaosnight needs of a pod. The returned value shares
// no memory with p except the labels map, so a decoded page can be freed.
func FromPod(p *corev1.Pod) Pod {
	out := Pod{
		Namespace:   p.Namespace,
		Name:        p.Name,
		UID:         string(p.UID),
		Node:        p.Spec.NodeName,
		Labels:      p.Labels,
		Created:     p.CreationTimestamp.Time,
		Phase:       string(p.Status.Phase),
		Ready:       IsReady(p),
		Terminating: p.DeletionTimestamp != nil,
	}
	if ref := metav1.GetControllerOf(p); ref != nil {
		out.Owner = &Owner{Kind: ref.Kind, Name: ref.Name, UID: string(ref.UID)}
	}
	if len(p.Spec.Containers) > 0 {
		out.Containers = make([]string, len(p.Spec.Containers))
		for i := range p.Spec.Containers {
			out.Containers[i] = p.Spec.Containers[i].Name
		}
	}
	return out
}

// IsReady reports whether the pod's PodReady condition is True.
func IsReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// OwnerKey identifies the workload a pod belongs to: its controller's UID,
// or the pod itself when it has no controller.
func OwnerKey(p Pod) string {
	if p.Owner != nil && p.Owner.UID != "" {
		return p.Owner.UID
	}
	return "pod/" + p.Namespace + "/" + p.Name + "/" + p.UID
}
