package safety

import (
	"context"
	"fmt"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/test/sandbox"
)

// Track follows the ready pods of every group of a case through a watch,
// so that "never below" is checked at every instant, not only at the end:
// a replaced pod of a kwok node is Ready again within moments, so a count
// of evictions against the PDB's allowance at the start would be wrong
// both ways (the first version of this test counted, and seeds 4, 19 and
// 85 showed five evictions under an allowance of two, each one admitted by
// the API server once the replacement of the one before was Ready).
type Track struct {
	mu      sync.Mutex
	spaces  []string
	ready   map[string]map[string]bool // group -> ready, non-terminating pod UIDs
	initial map[string]int             // group -> ready pods when the watch started
	min     map[string]int             // group -> least ready pods seen
	barrier string                     // name of the pod whose ADDED event ends the track
	seen    chan struct{}
	done    chan error
	cancel  context.CancelFunc
}

// StartTrack lists the case's pods and watches them from that list on.
func StartTrack(ctx context.Context, c kubernetes.Interface, k Case) (*Track, error) {
	tr := &Track{spaces: spaces(k), ready: map[string]map[string]bool{}, initial: map[string]int{}, min: map[string]int{},
		barrier: k.Prefix + "-barrier", seen: make(chan struct{}), done: make(chan error, 1)}
	list, err := c.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	for i := range list.Items {
		tr.apply(watch.Added, &list.Items[i])
	}
	// The minimum starts at the listed state: while the list was read
	// pod by pod, each group grew from 0 and that is no dip.
	for g, set := range tr.ready {
		tr.initial[g] = len(set)
		tr.min[g] = len(set)
	}
	wctx, cancel := context.WithCancel(ctx)
	tr.cancel = cancel
	w, err := c.CoreV1().Pods(metav1.NamespaceAll).Watch(wctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		cancel()
		return nil, err
	}
	go func() {
		defer w.Stop()
		barrierSeen := false
		for {
			select {
			case <-wctx.Done():
				tr.done <- nil
				return
			case ev, ok := <-w.ResultChan():
				if !ok {
					tr.done <- fmt.Errorf("the pod watch ended early")
					return
				}
				p, isPod := ev.Object.(*corev1.Pod)
				if !isPod {
					continue
				}
				tr.apply(ev.Type, p)
				if p.Name == tr.barrier && !barrierSeen {
					barrierSeen = true
					close(tr.seen)
				}
			}
		}
	}()
	return tr, nil
}

func spaces(k Case) []string {
	out := []string{SystemNamespace}
	for _, ns := range k.Namespaces {
		out = append(out, ns.Name)
	}
	return out
}

func (tr *Track) apply(t watch.EventType, p *corev1.Pod) {
	g := p.Labels[GroupLabel]
	if g == "" || !slices.Contains(tr.spaces, p.Namespace) {
		return
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.ready[g] == nil {
		tr.ready[g] = map[string]bool{}
	}
	if t != watch.Deleted && p.DeletionTimestamp == nil && podReady(p) {
		tr.ready[g][string(p.UID)] = true
	} else {
		delete(tr.ready[g], string(p.UID))
	}
	n := len(tr.ready[g])
	if m, ok := tr.min[g]; !ok || n < m {
		tr.min[g] = n
	}
}

// Stop ends the track once it has seen every change made before: it
// creates a barrier pod in the case's first namespace and waits for its
// ADDED event (a watch delivers in order). It returns each group's ready
// pods at the start and the least seen.
func (tr *Track) Stop(ctx context.Context, c kubernetes.Interface, k Case) (initial, least map[string]int, err error) {
	defer tr.cancel()
	ns := k.Namespaces[0].Name
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tr.barrier, Namespace: ns}, Spec: sandbox.PodSpec("barrier")}
	if err := createPod(ctx, c, pod); err != nil {
		return nil, nil, err
	}
	select {
	case <-tr.seen:
	case err := <-tr.done:
		return nil, nil, fmt.Errorf("the pod watch ended before the barrier: %v", err)
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("waiting for the barrier pod's event: %w", context.Cause(ctx))
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	least = map[string]int{}
	for g, m := range tr.min {
		least[g] = m
	}
	initial = map[string]int{}
	for g, n := range tr.initial {
		initial[g] = n
	}
	return initial, least, nil
}
