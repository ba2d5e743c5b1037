package stress

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/chaosnight/chaosnight/pkg/inject"
)

// restartPagedPods makes the fake clientset's pod LISTs paginate like an
// API server (pageSize pods a page, the continue token is the offset,
// whatever Limit asks), and answers the first expire requests that carry a
// continue token with 410 Gone (ResourceExpired), as a server does when
// paging outlives etcd compaction. The fake clientset alone never pages,
// and ignores field selectors: this one applies spec.nodeName too. (The
// same shape as pkg/inject's pagedPods, which a test file of another
// package cannot share.)
type restartPagedPods struct {
	pageSize int
	expire   int

	mu      sync.Mutex
	lists   []string // "ns?continue" of every pod LIST
	expired int
}

func (pp *restartPagedPods) install(cs *fake.Clientset) {
	cs.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		la := a.(k8stesting.ListAction)
		opts := la.(interface{ GetListOptions() metav1.ListOptions }).GetListOptions()
		pp.mu.Lock()
		pp.lists = append(pp.lists, a.GetNamespace()+"?"+opts.Continue)
		if opts.Continue != "" && pp.expired < pp.expire {
			pp.expired++
			pp.mu.Unlock()
			return true, nil, apierrors.NewResourceExpired("The provided continue parameter is too old")
		}
		pp.mu.Unlock()
		obj, err := cs.Tracker().List(corev1.SchemeGroupVersion.WithResource("pods"), corev1.SchemeGroupVersion.WithKind("Pod"), a.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		restr := la.GetListRestrictions()
		var all []corev1.Pod
		for _, p := range obj.(*corev1.PodList).Items {
			if restr.Labels.Matches(labels.Set(p.Labels)) && restr.Fields.Matches(fieldsOf(&p)) {
				all = append(all, p)
			}
		}
		// A stable order, so offsets mean the same on every page.
		slices.SortFunc(all, func(a, b corev1.Pod) int {
			return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
		})
		start := 0
		if opts.Continue != "" {
			if start, err = strconv.Atoi(opts.Continue); err != nil {
				return true, nil, fmt.Errorf("bad continue token %q", opts.Continue)
			}
		}
		end := min(start+pp.pageSize, len(all))
		page := &corev1.PodList{Items: all[start:end]}
		if end < len(all) {
			page.Continue = strconv.Itoa(end)
		}
		return true, page, nil
	})
}

// fieldsOf is the field set a pod LIST's field selector is matched against
// here (only what these tests select on).
func fieldsOf(p *corev1.Pod) labels.Set {
	return labels.Set{"spec.nodeName": p.Spec.NodeName, "metadata.namespace": p.Namespace, "metadata.name": p.Name}
}

// TestCollateralListRestartsOnExpiredContinue proves that an expired
// continue token while listing a stressed node's other pods restarts the
// LIST once from the first page, without listing a pod twice, and that a
// second expiry makes the collateral unknown (said, not guessed).
func TestCollateralListRestartsOnExpiredContinue(t *testing.T) {
	pod := func(ns, name, node string, mutate ...func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "-" + name)},
			Spec:       corev1.PodSpec{NodeName: node},
			Status:     corev1.PodStatus{Phase: corev1.PodRunning},
		}
		for _, m := range mutate {
			m(p)
		}
		return p
	}
	objs := []runtime.Object{
		pod("shop", "target", "n1"),
		pod("shop", "cart-0", "n1", func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "cart-7d9", UID: "rs-cart", Controller: new(true)}}
		}),
		pod("shop", "done", "n1", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded }),
		pod("shop", "helper", "n1", func(p *corev1.Pod) { p.Labels = map[string]string{HelperLabel: HelperValue} }),
		pod("team-a", "api-0", "n1"),
		pod("team-a", "api-1", "n1"),
		pod("team-b", "batch", "n1"),
		pod("team-b", "elsewhere", "n2"),
	}
	want := []inject.CollateralPod{
		{Namespace: "shop", Name: "cart-0", Workload: "ReplicaSet cart-7d9"},
		{Namespace: "team-a", Name: "api-0"},
		{Namespace: "team-a", Name: "api-1"},
		{Namespace: "team-b", Name: "batch"},
	}
	tests := []struct {
		name   string
		expire int
		// lists is the number of pod LISTs sent: 7 pods on n1 in pages of
		// 2 are 4 LISTs, and an expiry answers the second one.
		lists   int
		want    []inject.CollateralPod
		unknown bool // the collateral is unknown: Error set, no pods
	}{
		{name: "no expiry", expire: 0, lists: 4, want: want},
		{name: "restarted once", expire: 1, lists: 2 + 4, want: want},
		{name: "expired twice", expire: 2, lists: 2 + 2, unknown: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset(objs...)
			pp := &restartPagedPods{pageSize: 2, expire: tt.expire}
			pp.install(cs)
			s := &Injector{Client: cs}
			c := s.collateral(context.Background(), "n1", map[string]bool{"shop-target": true}, []string{"shop"})
			switch {
			case tt.unknown:
				if len(c.Pods) != 0 || !strings.Contains(c.Error, "cannot list the pods of node n1") || !strings.Contains(c.Error, "too old") {
					t.Errorf("collateral %+v, want it unknown with the reason", c)
				}
			case c.Error != "" || !slices.Equal(c.Pods, tt.want):
				t.Errorf("collateral %+v (error %q)\nwant %+v", c.Pods, c.Error, tt.want)
			}
			if pp.expired != tt.expire || len(pp.lists) != tt.lists {
				t.Errorf("%d expired answers, %d LISTs; want %d, %d\nLISTs: %q", pp.expired, len(pp.lists), tt.expire, tt.lists, pp.lists)
			}
		})
	}
}

// TestSweepListRestartsOnExpiredContinue proves that the orphan sweep's
// LIST of helper pods restarts once from the first page on an expired
// continue token, and judges and deletes each orphan exactly once; a
// second expiry is an error that deletes nothing in that namespace.
func TestSweepListRestartsOnExpiredContinue(t *testing.T) {
	now := time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
	var objs []runtime.Object
	var orphans []string
	for i := range 5 {
		name := fmt.Sprintf("helper-%d", i)
		objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID("uid-" + name),
			Labels:      map[string]string{HelperLabel: HelperValue, RunLabel: "r", ManagedByLabel: ManagedByValue},
			Annotations: map[string]string{DeadlineAnnotation: "2026-12-07T21:00:00Z"}}})
		orphans = append(orphans, "shop/"+name)
	}
	// Not a helper (no labels): never listed by the sweep, never deleted.
	objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: "shop"}})
	tests := []struct {
		name    string
		expire  int
		lists   int // 5 helpers in pages of 2: 3 LISTs; an expiry answers the second
		deleted []string
		wantErr bool
	}{
		{name: "no expiry", expire: 0, lists: 3, deleted: orphans},
		{name: "restarted once", expire: 1, lists: 2 + 3, deleted: orphans},
		{name: "expired twice", expire: 2, lists: 2 + 2, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset(objs...)
			pp := &restartPagedPods{pageSize: 2, expire: tt.expire}
			pp.install(cs)
			var deletes []string
			cs.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				deletes = append(deletes, a.GetNamespace()+"/"+a.(k8stesting.DeleteAction).GetName())
				return false, nil, nil // and let the tracker delete it
			})
			rep, err := Sweep(context.Background(), cs, SweepConfig{Namespaces: []string{"shop"}, Now: func() time.Time { return now }})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Sweep: %v, want an error: %v", err, tt.wantErr)
			}
			if tt.wantErr && !apierrors.IsResourceExpired(err) {
				t.Errorf("Sweep: %v, want the expired token in the chain", err)
			}
			var swept []string
			for _, d := range rep.Deleted {
				swept = append(swept, d.Namespace+"/"+d.Name)
			}
			if !slices.Equal(swept, tt.deleted) || !slices.Equal(deletes, tt.deleted) || rep.Kept != 0 {
				t.Errorf("reported %q, deleted %q, kept %d; want %q each, none kept", swept, deletes, rep.Kept, tt.deleted)
			}
			if pp.expired != tt.expire || len(pp.lists) != tt.lists {
				t.Errorf("%d expired answers, %d LISTs; want %d, %d\nLISTs: %q", pp.expired, len(pp.lists), tt.expire, tt.lists, pp.lists)
			}
		})
	}
}
