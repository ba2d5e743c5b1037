package target

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

// DefaultPageSize is the page size of LISTs decoded into full objects (the
// guard's fresh reads). 500 is what kubectl and the informers use: one
// decoded page of full pods stays a few MiB.
const DefaultPageSize = 500

// DefaultSelectPageSize is Selector's LIST page size when Selector.PageSize
// is zero. The Selector streams each response and keeps only a Pod per pod
// (see decode.go), so its memory does not grow with the page: pages can be
// large: 10,000 pods take 4 or 5 requests instead of 20 or 21. The API
// server streams list responses too (Kubernetes 1.33 and later).
const DefaultSelectPageSize = 2500

// DefaultClusterScopeMin is Selector.ClusterScopeMin when it is zero:
// up to DefaultListConcurrency namespaces are listed in one concurrent
// round of per-namespace LISTs, which costs about one round trip, as a
// cluster-scoped LIST would, and costs the API server less (its watch
// cache finds a namespace's pods by index, a cluster-scoped LIST with a
// label selector looks at every pod). bench/plan measured 10 of 100
// namespaces: 0.11 s sequential after an abandoned cluster-scoped page.
const DefaultClusterScopeMin = DefaultListConcurrency + 1

// DefaultListConcurrency is Selector.Concurrency when it is zero.
const DefaultListConcurrency = 16

// Selector lists candidate pods from the API server.
//
// Both the label selector and the field selector (status.phase=Running AND
// the user's fieldSelector) are evaluated by the API server and the LIST is
// paginated. Each response is read as a stream and each pod is reduced to a
// Pod at once, so no page of full objects is ever held in memory. Give it a
// clientset from NewClientset so that pages travel as protobuf (a JSON
// answer is still understood, at the usual cost).
//
// A target that names few namespaces is listed namespace by namespace. One
// that names many (ClusterScopeMin or more) is listed with cluster-scoped
// LIST requests, keeping only the pods of its namespaces: 100 namespaces
// then cost a handful of requests instead of 100. Two cases fall back to
// the per-namespace listing: the client may not list pods at cluster scope
// (RBAC; remembered, so the Forbidden is paid once per Selector), or a
// page that is not the last leaves more pods from outside the target's
// namespaces than from inside, so that a broad selector in a big cluster
// costs about one page of waste, not a listing of the whole cluster.
//
// A Selector is safe for concurrent use; do not copy it after first use.
type Selector struct {
	Client kubernetes.Interface
	// PageSize is the number of pods per LIST request; 0 means
	// DefaultSelectPageSize.
	PageSize int64
	// ClusterScopeMin is the number of distinct namespaces from which a
	// target is listed at cluster scope; 0 means DefaultClusterScopeMin,
	// a negative value never lists at cluster scope.
	ClusterScopeMin int
	// Concurrency bounds the per-namespace LISTs in flight; 0 means
	// DefaultListConcurrency. The client's rate limit still applies.
	Concurrency int

	clusterForbidden atomic.Bool
}

// Scopes of Stats.Scope.
const (
	ScopeNamespace = "namespace" // one series of LIST requests per namespace
	ScopeCluster   = "cluster"   // cluster-scoped LIST requests, filtered by namespace
)

// Stats describes the work one List did (for logs and benchmarks).
type Stats struct {
	Namespaces int    `json:"namespaces"` // distinct target namespaces
	Scope      string `json:"scope"`      // how the pods were finally listed: ScopeNamespace or ScopeCluster
	// Fallback says why a cluster-scoped listing was abandoned for the
	// per-namespace one (its requests are counted in Requests).
	Fallback string `json:"fallback,omitempty"`
	Requests int    `json:"requests"` // LIST requests sent
	Restarts int    `json:"restarts"` // listings restarted after an expired continue token
	PodsSeen int    `json:"podsSeen"` // pods the API server returned, after its selectors
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
// in API order (namespace by namespace, in t's order when listed per
// namespace, alphabetical when listed at cluster scope). It applies no
// other filter: see Eligible and Pick.
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
	var namespaces []string
	inTarget := make(map[string]bool, len(t.Namespaces))
	for _, ns := range t.Namespaces {
		if ns == "" {
			return nil, st, errors.New("list pods: empty namespace name")
		}
		if !inTarget[ns] {
			inTarget[ns] = true
			namespaces = append(namespaces, ns)
		}
	}
	st.Namespaces = len(namespaces)
	l := &lister{
		s: s, st: &st, dec: newPodDecoder(),
		opts: metav1.ListOptions{LabelSelector: labelSel, FieldSelector: fieldSel, Limit: s.PageSize},
	}
	if l.opts.Limit <= 0 {
		l.opts.Limit = DefaultSelectPageSize
	}

	if minNS := cmp.Or(s.ClusterScopeMin, DefaultClusterScopeMin); minNS > 0 && len(namespaces) >= minNS {
		if s.clusterForbidden.Load() {
			st.Fallback = "cluster-scoped LIST forbidden (earlier answer)"
		} else {
			out, fallback, err := l.cluster(ctx, inTarget)
			if err != nil {
				return nil, st, err
			}
			if fallback == "" {
				st.Scope = ScopeCluster
				return out, st, nil
			}
			st.Fallback = fallback
		}
	}

	st.Scope = ScopeNamespace
	out, err := l.namespaces(ctx, namespaces, cmp.Or(s.Concurrency, DefaultListConcurrency))
	if err != nil {
		return nil, st, err
	}
	return out, st, nil
}

// namespaces lists each namespace's pods, up to conc namespaces at once,
// and returns them in the order of namespaces (so that a seeded pick
// picks the same pods whatever the timing). Each concurrent listing has
// its own decoder and counts; they are added to l's stats at the end. The
// error returned is the first namespace's in order, so that a refusal
// reads the same every time.
func (l *lister) namespaces(ctx context.Context, namespaces []string, conc int) ([]Pod, error) {
	parts := make([][]Pod, len(namespaces))
	stats := make([]Stats, len(namespaces))
	errs := make([]error, len(namespaces))
	sem := make(chan struct{}, max(conc, 1))
	var wg sync.WaitGroup
	for i, ns := range namespaces {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			one := &lister{s: l.s, st: &stats[i], dec: newPodDecoder(), opts: l.opts}
			parts[i], errs[i] = one.namespace(ctx, ns, nil)
		})
	}
	wg.Wait()
	n := 0
	for i := range namespaces {
		l.st.Requests += stats[i].Requests
		l.st.Restarts += stats[i].Restarts
		l.st.PodsSeen += stats[i].PodsSeen
		n += len(parts[i])
	}
	for _, err := range errs {
		if err != nil {
			return nil, err // the first in namespace order: the same answer every time
		}
	}
	out := make([]Pod, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out, nil
}

// ListPods lists the pods of namespace ns (every namespace when ns is
// empty) that match opts, and calls fn with each, in API order. It reads
// the responses as Selector does, as a stream reduced to Pod values, so
// its memory does not depend on the number of pods or the page size
// (opts.Limit; 0 means DefaultSelectPageSize). It adds no selector of its
// own and follows continue tokens; an expired token is returned as the
// error (apierrors.IsResourceExpired) for the caller to start again. It
// returns the number of LIST requests sent. It is meant for reads that
// need fresh pods beyond a target's, such as counting an owner's ready
// pods.
func ListPods(ctx context.Context, client kubernetes.Interface, ns string, opts metav1.ListOptions, fn func(Pod)) (requests int, err error) {
	if client == nil {
		return 0, errors.New("list pods: nil client")
	}
	var st Stats
	l := &lister{s: &Selector{Client: client}, st: &st, dec: newPodDecoder(), opts: opts}
	if l.opts.Limit <= 0 {
		l.opts.Limit = DefaultSelectPageSize
	}
	if err := l.pages(ctx, ns, fn, nil); err != nil {
		if ns == "" {
			return st.Requests, fmt.Errorf("list pods in all namespaces: %w", err)
		}
		return st.Requests, fmt.Errorf("list pods in namespace %s: %w", ns, err)
	}
	return st.Requests, nil
}

// lister is the state of one List call.
type lister struct {
	s    *Selector
	st   *Stats
	dec  *podDecoder
	opts metav1.ListOptions
}

// namespace appends one namespace's pods to out. An expired continue
// token (HTTP 410, when paging outlives etcd compaction) restarts the
// namespace once from the beginning, dropping what it had appended, so no
// pod is counted twice.
func (l *lister) namespace(ctx context.Context, ns string, out []Pod) ([]Pod, error) {
	start := len(out)
	for attempt := 0; ; attempt++ {
		err := l.pages(ctx, ns, func(p Pod) { out = append(out, p) }, nil)
		if err == nil {
			return out, nil
		}
		if apierrors.IsResourceExpired(err) && attempt == 0 {
			l.st.Restarts++
			out = out[:start]
			continue
		}
		return nil, fmt.Errorf("list pods in namespace %s: %w", ns, err)
	}
}

// errWasteful stops a cluster-scoped listing that mostly returns pods of
// other namespaces.
var errWasteful = errors.New("wasteful")

// cluster lists at cluster scope and keeps the pods of inTarget. A
// non-empty fallback means the caller must list per namespace instead.
func (l *lister) cluster(ctx context.Context, inTarget map[string]bool) (out []Pod, fallback string, err error) {
	for attempt := 0; ; attempt++ {
		out = out[:0]
		inside, outside := 0, 0
		keep := func(p Pod) {
			if inTarget[p.Namespace] {
				inside++
				out = append(out, p)
				return
			}
			outside++
		}
		// After each page but the last: give up as soon as more pods came
		// from elsewhere than from the target. Listing per namespace costs
		// a request per namespace; listing at cluster scope costs every
		// look-alike pod elsewhere. This bounds the waste at about a page.
		check := func() error {
			if outside > inside {
				return errWasteful
			}
			return nil
		}
		err := l.pages(ctx, metav1.NamespaceAll, keep, check)
		switch {
		case err == nil:
			return out, "", nil
		case errors.Is(err, errWasteful):
			return nil, fmt.Sprintf("cluster-scoped LIST abandoned: %d of %d pods were outside the target namespaces", outside, inside+outside), nil
		case apierrors.IsForbidden(err):
			l.s.clusterForbidden.Store(true)
			return nil, "cluster-scoped LIST forbidden", nil
		case apierrors.IsResourceExpired(err) && attempt == 0:
			l.st.Restarts++
			continue
		}
		return nil, "", fmt.Errorf("list pods in all namespaces: %w", err)
	}
}

// pages sends the LIST requests of one scope (ns, or all namespaces when
// empty), following continue tokens, and calls emit for each pod. after,
// if not nil, runs after each page and stops the listing with its error.
func (l *lister) pages(ctx context.Context, ns string, emit func(Pod), after func() error) error {
	opts := l.opts
	for {
		l.st.Requests++
		cont, n, err := l.page(ctx, ns, opts, emit)
		l.st.PodsSeen += n
		if err != nil {
			return err
		}
		if cont == "" {
			return nil
		}
		if after != nil {
			if err := after(); err != nil {
				return err
			}
		}
		opts.Continue = cont
	}
}

// page sends one LIST request and streams its answer into emit.
func (l *lister) page(ctx context.Context, ns string, opts metav1.ListOptions, emit func(Pod)) (cont string, n int, err error) {
	count := func(p Pod) { n++; emit(p) }
	rc, ok := l.s.Client.CoreV1().RESTClient().(*rest.RESTClient)
	if !ok || rc == nil {
		// Not a REST client (a fake clientset): the typed LIST.
		list, err := l.s.Client.CoreV1().Pods(ns).List(ctx, opts)
		if err != nil {
			return "", 0, err
		}
		for i := range list.Items {
			count(FromPod(&list.Items[i]))
		}
		return list.Continue, n, nil
	}
	body, err := rc.Get().Namespace(ns).Resource("pods").VersionedParams(&opts, scheme.ParameterCodec).Stream(ctx)
	if err != nil {
		return "", 0, err
	}
	defer body.Close()
	cont, err = l.dec.decode(body, count)
	return cont, n, err
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
