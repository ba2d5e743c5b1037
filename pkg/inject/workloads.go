// workloads.go holds the minHealthy rule's counting: a fresh read of each
// target's owner (its pods, ready or terminating) and the refusal of the
// targets that would drop it below minHealthy ready pods.

package inject

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/chaosnight/chaosnight/pkg/target"
)

// workload is the fresh state of one owner: its ready pods and the state of
// each of its pods, by UID.
type workload struct {
	name  string // "ReplicaSet shop/checkout-7d9", or "Pod shop/solo" for a pod without controller
	ready int
	pods  map[string]podState
	err   error
}

type podState struct{ ready, terminating bool }

// Census is the select phase's LIST, offered to the minHealthy rule of a
// dry run: the ready pods of an owner it covers are counted from it, with
// no request. A real injection never uses it: its counts are read fresh
// right before anything is touched.
//
// Covering must be proven, not assumed: the engine marks an owner covered
// when the owner's pod selector (read by the gate's rollout check) implies
// the LIST's label selector and no field selector other than
// status.phase=Running narrowed the LIST (a ready pod is running). Every
// pod of such an owner matches the LIST, so a count from it misses none; a
// pod relabelled by hand out of the experiment's selector is missed, which
// only lowers the count and makes the plan stricter than the real run.
type Census struct {
	// Pods are every pod the LIST returned, before the eligibility filters.
	Pods []target.Pod
	// Covered holds the owners (target.OwnerKey) whose every pod the LIST
	// returned.
	Covered map[string]bool
}

// Counting says, for the journal, where minHealthy's ready counts came
// from and what they cost.
type Counting struct {
	Owners     int `json:"owners"`               // owners whose ready pods were counted
	FromCensus int `json:"fromCensus,omitempty"` // of which from the select phase's LIST (dry run only)
	Requests   int `json:"requests"`             // API requests of the fresh reads
}

// applyMinHealthy refuses the targets whose loss would leave their owner
// with fewer than minHealthy ready pods. Each owner is read once, fresh:
// ready = Ready, non-terminating pods controlled by it, and at most
// ready-minHealthy of its ready targets are admitted, in request order.
// Targets that are not ready do not lower the count and pass; targets that
// are gone or already terminating are reported as gone. In a dry run, the
// owners census covers are counted from it instead (see Census).
func (g *Guard) applyMinHealthy(ctx context.Context, vs []verdict, idx []int, minHealthy int, census *Census) *Counting {
	var keys []string
	byKey := map[string]int{} // owner key -> first target index
	for _, i := range idx {
		k := target.OwnerKey(vs[i].pod)
		if _, ok := byKey[k]; !ok {
			byKey[k] = i
			keys = append(keys, k)
		}
	}
	counting := &Counting{Owners: len(keys)}
	ws := make([]workload, len(keys))
	var fresh []string // owners to read from the API server
	freshAt := map[string]int{}
	for k, key := range keys {
		if g.Policy.DryRun && census != nil && census.Covered[key] {
			ws[k] = censusWorkload(vs[byKey[key]].pod, key, census.Pods)
			counting.FromCensus++
			continue
		}
		freshAt[key] = k
		fresh = append(fresh, key)
	}
	var requests atomic.Int64
	read, ok := g.readWorkloadsAtOnce(ctx, vs, fresh, byKey, &requests)
	if !ok {
		read = make([]workload, len(fresh))
		g.forEach(len(fresh), func(k int) { read[k] = g.readWorkload(ctx, vs[byKey[fresh[k]]].pod, &requests) })
	}
	for k, key := range fresh {
		ws[freshAt[key]] = read[k]
	}
	counting.Requests = int(requests.Load())
	taken := make([]int, len(keys))
	for _, i := range idx {
		k := slices.Index(keys, target.OwnerKey(vs[i].pod))
		w := ws[k]
		if w.err != nil {
			vs[i].refuse(Refusal{Rule: RuleMinHealthy, Why: fmt.Sprintf("cannot count the ready pods of %s, so nothing of it is touched: %v", w.name, w.err)})
			continue
		}
		st, ok := w.pods[vs[i].pod.UID]
		switch {
		case !ok:
			vs[i].status, vs[i].detail = StatusGone, "the pod no longer exists (deleted, or replaced by a pod with another UID)"
		case st.terminating:
			vs[i].status, vs[i].detail = StatusGone, "the pod is already terminating"
		case !st.ready:
			// Not ready: losing it does not lower the ready count.
		case taken[k] < w.ready-minHealthy:
			taken[k]++
		default:
			why := fmt.Sprintf("%s has %s, minHealthy %d", w.name, plural(w.ready, "ready pod"), minHealthy)
			if taken[k] > 0 {
				why += fmt.Sprintf(" (%s already admitted in this injection)", plural(taken[k], "pod"))
			}
			vs[i].refuse(Refusal{Rule: RuleMinHealthy, Why: why})
		}
	}
	return counting
}

// censusWorkload counts the owner key of p from the census's pods.
func censusWorkload(p target.Pod, key string, pods []target.Pod) workload {
	w := newWorkload(p)
	for _, q := range pods {
		if target.OwnerKey(q) == key {
			w.count(q)
		}
	}
	return w
}

// newWorkload is the empty workload of p's owner (p itself without one).
func newWorkload(p target.Pod) workload {
	if p.Owner == nil || p.Owner.UID == "" {
		return workload{name: "Pod " + p.Key(), pods: map[string]podState{}}
	}
	return workload{name: p.Owner.Kind + " " + p.Namespace + "/" + p.Owner.Name, pods: map[string]podState{}}
}

// NamespaceListMax is the most target namespaces whose pods minHealthy
// counts with one LIST each (concurrently, within the client's burst);
// with more, one cluster-wide LIST costs less than the requests. Below
// ListNamespacesMin namespaces, owners are read one by one
// (a GET of the owner and a LIST of its pods by its selector: the fewest
// pods read when a namespace holds many workloads).
const NamespaceListMax = 20

// ListNamespacesMin is the fewest target namespaces from which the guard
// reads with LISTs (the opt-in labels of the namespaces, the ready pods of
// the owners) rather than one request per namespace or owner.
const ListNamespacesMin = 5

// readWorkloadsAtOnce counts the ready pods of every owner from LISTs of
// whole namespaces, when the targets span many (a 1 % pick across 100
// namespaces would otherwise cost a GET of each owner and a LIST of its
// pods: hundreds of requests): one LIST per namespace up to
// NamespaceListMax namespaces, else one paginated, streamed LIST of all
// pods. Pods are matched to owners by controller UID, as readWorkload does.
// ok is false when the targets are few, or when a LIST is not allowed
// (namespaced RBAC) or fails: the caller then reads owner by owner.
func (g *Guard) readWorkloadsAtOnce(ctx context.Context, vs []verdict, keys []string, byKey map[string]int, requests *atomic.Int64) ([]workload, bool) {
	var namespaces []string
	for _, k := range keys {
		if ns := vs[byKey[k]].pod.Namespace; !slices.Contains(namespaces, ns) {
			namespaces = append(namespaces, ns)
		}
	}
	if len(namespaces) < ListNamespacesMin {
		return nil, false
	}
	ws := make([]workload, len(keys))
	index := make(map[string]int, len(keys)) // owner key -> position in ws
	for k, key := range keys {
		ws[k] = newWorkload(vs[byKey[key]].pod)
		index[key] = k
	}
	// count lists the pods of ns ("" = all) into the workloads of ns (all
	// of them for ""); each call touches only its own namespace's entries,
	// so concurrent calls share nothing they write.
	count := func(ns string) error {
		mine := func(k int) bool { return ns == "" || vs[byKey[keys[k]]].pod.Namespace == ns }
		reset := func() {
			for k := range ws {
				if mine(k) {
					ws[k].ready, ws[k].pods = 0, map[string]podState{}
				}
			}
		}
		return g.listPods(ctx, ns, metav1.ListOptions{Limit: target.DefaultPageSize}, requests, reset, func(p target.Pod) {
			if k, ok := index[target.OwnerKey(p)]; ok {
				ws[k].count(p)
			}
		})
	}
	var err error
	if len(namespaces) <= NamespaceListMax {
		errs := make([]error, len(namespaces))
		g.forEach(len(namespaces), func(i int) { errs[i] = count(namespaces[i]) })
		err = errors.Join(errs...)
	} else {
		err = count("")
	}
	if err != nil {
		g.log().Debug("counting ready pods owner by owner", "reason", err)
		return nil, false
	}
	return ws, true
}

// readWorkload reads the owner of p (or p itself when it has no
// controller) and its pods, fresh from the API server.
func (g *Guard) readWorkload(ctx context.Context, p target.Pod, requests *atomic.Int64) workload {
	ns := p.Namespace
	if p.Owner == nil || p.Owner.UID == "" {
		w := newWorkload(p)
		requests.Add(1)
		pod, err := g.Client.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			w.err = fmt.Errorf("get pod: %w", err)
		case string(pod.UID) == p.UID:
			st := podState{ready: target.IsReady(pod), terminating: pod.DeletionTimestamp != nil}
			w.pods[p.UID] = st
			if st.ready && !st.terminating {
				w.ready = 1
			}
		}
		return w
	}
	o := p.Owner
	w := newWorkload(p)
	sel, err := g.ownerSelector(ctx, ns, o, requests)
	if err != nil {
		w.err = err
		return w
	}
	// The selector only narrows the LIST; what counts is the controller
	// reference, so pods of another owner with look-alike labels are never
	// counted as healthy replicas of this one.
	opts := metav1.ListOptions{LabelSelector: sel.String(), Limit: target.DefaultPageSize}
	reset := func() { w.ready, w.pods = 0, map[string]podState{} }
	err = g.listPods(ctx, ns, opts, requests, reset, func(p target.Pod) {
		if p.Owner != nil && p.Owner.UID == o.UID {
			w.count(p)
		}
	})
	if err != nil {
		w.err = err
	}
	return w
}

// count adds p to the workload's pods, and to its ready count when p is
// ready and not terminating.
func (w *workload) count(p target.Pod) {
	st := podState{ready: p.Ready, terminating: p.Terminating}
	w.pods[p.UID] = st
	if st.ready && !st.terminating {
		w.ready++
	}
}

// listPods lists the pods of ns (all namespaces when empty) with
// target.ListPods, which streams the pages and follows continue tokens.
// When a continue token expired (410 Gone: the paging outlived etcd
// compaction) it starts once more from the beginning, as target's Selector
// does, after reset has dropped what the first attempt counted, so no pod
// is counted twice. A second expiry is returned: the cluster is churning
// faster than we can read it, and the caller refuses rather than guess.
func (g *Guard) listPods(ctx context.Context, ns string, opts metav1.ListOptions, requests *atomic.Int64, reset func(), fn func(target.Pod)) error {
	for attempt := 0; ; attempt++ {
		n, err := target.ListPods(ctx, g.Client, ns, opts, fn)
		requests.Add(int64(n))
		if err != nil && apierrors.IsResourceExpired(err) && attempt == 0 {
			g.log().Debug("continue token expired: listing pods again from the start", "namespace", ns)
			reset()
			continue
		}
		return err
	}
}

// ownerSelector returns the pod selector of a known controller kind. For
// other kinds, or when the owner is gone or was replaced (another UID), it
// returns Everything: the namespace is listed and pods are matched by
// controller UID alone, which is slower but never wrong.
func (g *Guard) ownerSelector(ctx context.Context, ns string, o *target.Owner, requests *atomic.Int64) (labels.Selector, error) {
	var (
		uid string
		ls  *metav1.LabelSelector
		err error
	)
	opts := metav1.GetOptions{}
	switch o.Kind {
	case "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController":
		requests.Add(1)
	}
	switch o.Kind {
	case "ReplicaSet":
		rs, e := g.Client.AppsV1().ReplicaSets(ns).Get(ctx, o.Name, opts)
		if e == nil {
			uid, ls = string(rs.UID), rs.Spec.Selector
		}
		err = e
	case "StatefulSet":
		sts, e := g.Client.AppsV1().StatefulSets(ns).Get(ctx, o.Name, opts)
		if e == nil {
			uid, ls = string(sts.UID), sts.Spec.Selector
		}
		err = e
	case "DaemonSet":
		ds, e := g.Client.AppsV1().DaemonSets(ns).Get(ctx, o.Name, opts)
		if e == nil {
			uid, ls = string(ds.UID), ds.Spec.Selector
		}
		err = e
	case "Job":
		job, e := g.Client.BatchV1().Jobs(ns).Get(ctx, o.Name, opts)
		if e == nil {
			uid, ls = string(job.UID), job.Spec.Selector
		}
		err = e
	case "ReplicationController":
		rc, e := g.Client.CoreV1().ReplicationControllers(ns).Get(ctx, o.Name, opts)
		if e == nil {
			uid, ls = string(rc.UID), &metav1.LabelSelector{MatchLabels: rc.Spec.Selector}
		}
		err = e
	default:
		return labels.Everything(), nil
	}
	switch {
	case apierrors.IsNotFound(err):
		return labels.Everything(), nil
	case err != nil:
		return nil, fmt.Errorf("get %s %s/%s: %w", o.Kind, ns, o.Name, err)
	case uid != o.UID || ls == nil:
		return labels.Everything(), nil
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		// An unusable selector only means a wider LIST.
		return labels.Everything(), nil
	}
	return sel, nil
}
