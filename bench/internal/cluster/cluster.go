// Package cluster is the benchmarks' big cluster: it fills a sandbox
// (test/sandbox) with opted-in namespaces of 100 matching pods each, waits
// until every pod is Running and Ready, and reads kube-apiserver's request
// counters. bench/plan (planning at 10,000 pods) and bench/servescale
// (serve's night at 10,000 pods) share it, so that both measure the same
// cluster.
//
// The sandbox has no kubelet: kwok marks the pods Running and Ready, and
// recreates nothing; a killed pod is replaced by its ReplicaSet and made
// Ready by kwok like any new pod, which WaitReady waits for.
package cluster

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/target"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

const (
	OptInLabel   = "chaosnight.dev/enabled"
	BenchApp     = "bench"
	OtherApp     = "other"
	PodsPerNS    = 100
	OtherPerNS   = 2 // non-matching pods in every opted-in namespace
	OffNamespace = "bench-off"
	readyTimeout = 10 * time.Minute
	pollEvery    = 2 * time.Second
)

// NSName is the name of the i-th bench namespace.
func NSName(i int) string { return fmt.Sprintf("bench-%03d", i) }

// Namespaces are the names of the first n bench namespaces.
func Namespaces(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = NSName(i)
	}
	return out
}

// Filler creates and watches the bench namespaces.
type Filler struct {
	Admin kubernetes.Interface // JSON admin client from the sandbox
	Fast  kubernetes.Interface // protobuf admin client, for the readiness checks
	Logf  func(format string, args ...any)
}

// Fill creates the not-opted-in namespace and the first n bench
// namespaces (existing ones are kept), and waits until all their pods are
// ready.
func (f *Filler) Fill(ctx context.Context, n int) error {
	if err := f.CreateNamespace(ctx, OffNamespace, false); err != nil {
		return err
	}
	for i := range n {
		if err := f.CreateNamespace(ctx, NSName(i), true); err != nil {
			return err
		}
	}
	return f.WaitReady(ctx, n)
}

// CreateNamespace creates ns (opted in or not) with a Deployment of
// PodsPerNS app=bench pods and, in opted-in namespaces, OtherPerNS
// non-matching pods. Existing objects are kept.
func (f *Filler) CreateNamespace(ctx context.Context, ns string, optIn bool) error {
	labels := map[string]string{}
	if optIn {
		labels[OptInLabel] = "true"
	}
	_, err := f.Admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	deps := []*appsv1.Deployment{deployment(ns, BenchApp, PodsPerNS)}
	if optIn {
		deps = append(deps, deployment(ns, OtherApp, OtherPerNS))
	}
	for _, d := range deps {
		_, err := f.Admin.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create deployment %s/%s: %w", ns, d.Name, err)
		}
	}
	return nil
}

func deployment(ns, app string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": app}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       sandbox.PodSpec(app),
			},
		},
	}
}

// WaitReady waits until the first n bench namespaces (and bench-off) hold
// exactly their pods, all Running, Ready and none terminating.
func (f *Filler) WaitReady(ctx context.Context, n int) error {
	began := time.Now()
	want := n*(PodsPerNS+OtherPerNS) + PodsPerNS
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	last := time.Time{}
	for {
		ready, total, err := f.countReady(ctx, n)
		switch {
		case err != nil && ctx.Err() == nil:
			f.Logf("counting pods: %v (retrying)", err)
		case err == nil && ready == want && total == want:
			f.Logf("%d pods running and ready (%s)", want, time.Since(began).Round(time.Second))
			return nil
		case err == nil && time.Since(last) > 15*time.Second:
			f.Logf("waiting: %d of %d pods ready (%d listed)", ready, want, total)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %d ready pods: %w", want, ctx.Err())
		case <-time.After(pollEvery):
		}
	}
}

// countReady counts the pods of the bench namespaces: ready ones (Running,
// Ready, not terminating) and all of them. The cheap Deployment status is
// checked first so the big LIST only runs near the end.
func (f *Filler) countReady(ctx context.Context, n int) (ready, total int, err error) {
	want := map[string]bool{OffNamespace: true}
	for _, ns := range Namespaces(n) {
		want[ns] = true
	}
	deps, err := f.Fast.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, 0, fmt.Errorf("list deployments: %w", err)
	}
	available := 0
	for _, d := range deps.Items {
		if want[d.Namespace] {
			available += int(d.Status.AvailableReplicas)
		}
	}
	if available < n*(PodsPerNS+OtherPerNS)+PodsPerNS {
		return available, available, nil
	}
	opts := metav1.ListOptions{Limit: 2000}
	for {
		pods, err := f.Fast.CoreV1().Pods("").List(ctx, opts)
		if err != nil {
			return 0, 0, fmt.Errorf("list pods: %w", err)
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if !want[p.Namespace] {
				continue
			}
			total++
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && target.IsReady(p) {
				ready++
			}
		}
		if pods.Continue == "" {
			return ready, total, nil
		}
		opts.Continue = pods.Continue
	}
}

// APIRequests reads kube-apiserver's apiserver_request_total, summed by
// "VERB resource[/subresource]", without watches, leases and non-resource
// URLs: in an idle sandbox that is the requests of the one client at work
// (and of the control plane's reaction to it).
func APIRequests(ctx context.Context, admin kubernetes.Interface) (map[string]int, error) {
	raw, err := admin.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("read kube-apiserver metrics: %w", err)
	}
	return ParseRequests(string(raw)), nil
}

// ParseRequests sums apiserver_request_total of a /metrics text by
// "VERB resource[/subresource]", watches, leases and non-resource URLs left
// out.
func ParseRequests(metrics string) map[string]int {
	out := map[string]int{}
	for line := range strings.SplitSeq(metrics, "\n") {
		rest, ok := strings.CutPrefix(line, "apiserver_request_total{")
		if !ok {
			continue
		}
		lbls, val, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		l := parseLabels(lbls)
		if l["resource"] == "" || l["resource"] == "leases" || l["verb"] == "WATCH" {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		key := l["verb"] + " " + l["resource"]
		if l["subresource"] != "" {
			key += "/" + l["subresource"]
		}
		out[key] += int(f)
	}
	return out
}

// parseLabels parses `a="x",b="y"` (values without escaped quotes, as
// apiserver_request_total has).
func parseLabels(s string) map[string]string {
	m := map[string]string{}
	for s != "" {
		name, rest, ok := strings.Cut(s, `="`)
		if !ok {
			break
		}
		val, rest, ok := strings.Cut(rest, `"`)
		if !ok {
			break
		}
		m[name] = val
		s = strings.TrimPrefix(rest, ",")
	}
	return m
}

// Delta is after − before, positive entries only.
func Delta(before, after map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d > 0 {
			out[k] = d
		}
	}
	return out
}

// Sum is the total of the counts.
func Sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// Describe lists the counts as "N VERB resource", sorted by key.
func Describe(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}
