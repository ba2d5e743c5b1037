package nodedrain_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	apitypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/nodedrain"
	"github.com/chaosnight/chaosnight/pkg/target"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// node builds a Node: opted in unless optIn is false, Ready unless ready is
// false.
type nodeOpts struct {
	optIn, notReady, cordoned bool
	labels, annotations       map[string]string
}

func node(name string, o nodeOpts) *corev1.Node {
	l := map[string]string{"kubernetes.io/hostname": name, "role": "worker"}
	if o.optIn {
		l[inject.OptInLabel] = "true"
	}
	for k, v := range o.labels {
		l[k] = v
	}
	ready := corev1.ConditionTrue
	if o.notReady {
		ready = corev1.ConditionFalse
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l, Annotations: o.annotations, ResourceVersion: "1"},
		Spec:       corev1.NodeSpec{Unschedulable: o.cordoned},
		Status:     corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready}}},
	}
}

func pod(name, nodeName string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: apitypes.UID("uid-" + name)}, Spec: corev1.PodSpec{NodeName: nodeName}}
}

func tpod(name, nodeName string) target.Pod {
	return target.Pod{Namespace: "shop", Name: name, UID: "uid-" + name, Node: nodeName, Owner: &target.Owner{Kind: "ReplicaSet", Name: "web-1"}}
}

func getNode(t *testing.T, cs *fake.Clientset, name string) *corev1.Node {
	t.Helper()
	n, err := cs.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// evictionsBy makes the fake clientset answer evictions: a pod named in
// protected gets the eviction API's 429 with a budget cause; the others are
// deleted.
func evictionsBy(cs *fake.Clientset, protected ...string) *[]string {
	var evicted []string
	cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != "eviction" {
			return false, nil, nil
		}
		ev := a.(k8stesting.CreateAction).GetObject().(*policyv1.Eviction)
		if slices.Contains(protected, ev.Name) {
			err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 10)
			err.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: policyv1.DisruptionBudgetCause, Message: "The disruption budget web needs 2 healthy pods and has 2 currently"}}
			return true, nil, err
		}
		evicted = append(evicted, ev.Name)
		return true, nil, cs.Tracker().Delete(schema.GroupVersionResource{Version: "v1", Resource: "pods"}, ev.Namespace, ev.Name)
	})
	return &evicted
}

func drainer(cs *fake.Clientset) *nodedrain.Drainer {
	return &nodedrain.Drainer{Client: cs, Kind: nodedrain.Kind, Hold: 5 * time.Minute, Lease: "chaos/chaosnight-run-r1", Now: func() time.Time { return t0 }}
}

func TestDrainCordonsEvictsAndRevertUncordonsOnlyOurs(t *testing.T) {
	theirs := map[string]string{"ops/reason": "kernel upgrade"}
	cs := fake.NewClientset(
		node("n1", nodeOpts{optIn: true}),
		node("n2", nodeOpts{optIn: true, cordoned: true, annotations: theirs}),
		pod("a", "n1"), pod("b", "n1"), pod("c", "n2"),
	)
	evicted := evictionsBy(cs, "b")
	d := drainer(cs)
	run := inject.Run{ID: "r1", Experiment: "web-survives-drain"}
	inj, err := d.Drain(context.Background(), run, []string{"n1", "n2"}, []target.Pod{tpod("a", "n1"), tpod("b", "n1"), tpod("c", "n2")})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range inj.Outcomes {
		got = append(got, o.Pod.Name+"="+o.Status)
	}
	if want := []string{"a=evicted", "b=protected-by-pdb", "c=evicted"}; !slices.Equal(got, want) {
		t.Errorf("outcomes %v, want %v", got, want)
	}
	if d := inj.Outcomes[1].Detail; d != "protected by PodDisruptionBudget shop/web: 0 disruptions allowed (it needs 2 healthy pods and has 2)" {
		t.Errorf("protected detail %q", d)
	}
	if slices.Sort(*evicted); !slices.Equal(*evicted, []string{"a", "c"}) {
		t.Errorf("evicted %v", *evicted)
	}
	wantState := map[string]string{
		nodedrain.StateNodes: "n1,n2", nodedrain.StateCordoned: "n1", nodedrain.StateAlreadyCordoned: "n2",
		inject.StateDeadline: "2026-12-07T12:05:00Z",
	}
	for k, v := range wantState {
		if inj.State[k] != v {
			t.Errorf("State[%s] = %q, want %q (state %v)", k, inj.State[k], v, inj.State)
		}
	}
	n1 := getNode(t, cs, "n1")
	if !n1.Spec.Unschedulable || n1.Annotations[nodedrain.CordonedByAnnotation] != "r1" ||
		n1.Annotations[nodedrain.DeadlineAnnotation] != "2026-12-07T12:05:00Z" ||
		n1.Annotations[nodedrain.LeaseAnnotation] != "chaos/chaosnight-run-r1" ||
		n1.Annotations[nodedrain.ExperimentAnnotation] != "web-survives-drain" || n1.Labels[nodedrain.CordonedLabel] != "true" {
		t.Errorf("n1 after drain: unschedulable %v, annotations %v", n1.Spec.Unschedulable, n1.Annotations)
	}
	if n2 := getNode(t, cs, "n2"); !n2.Spec.Unschedulable || n2.Annotations[nodedrain.CordonedByAnnotation] != "" {
		t.Errorf("n2 (cordoned by somebody else) was changed: %v %v", n2.Spec.Unschedulable, n2.Annotations)
	}

	for i := range 2 { // idempotent
		if err := d.Revert(context.Background(), inj); err != nil {
			t.Fatalf("revert %d: %v", i+1, err)
		}
		n1 = getNode(t, cs, "n1")
		if _, labelled := n1.Labels[nodedrain.CordonedLabel]; n1.Spec.Unschedulable || len(n1.Annotations) != 0 || labelled {
			t.Errorf("revert %d: n1 unschedulable %v, annotations %v", i+1, n1.Spec.Unschedulable, n1.Annotations)
		}
		if n2 := getNode(t, cs, "n2"); !n2.Spec.Unschedulable || n2.Annotations["ops/reason"] != "kernel upgrade" {
			t.Errorf("revert %d uncordoned somebody else's node n2: %v %v", i+1, n2.Spec.Unschedulable, n2.Annotations)
		}
	}
}

func TestRevertIsPinnedToTheRun(t *testing.T) {
	cs := fake.NewClientset(node("n1", nodeOpts{optIn: true}), pod("a", "n1"))
	evictionsBy(cs)
	d := drainer(cs)
	inj, err := d.Drain(context.Background(), inject.Run{ID: "r1"}, []string{"n1"}, []target.Pod{tpod("a", "n1")})
	if err != nil {
		t.Fatal(err)
	}
	// Somebody else takes the cordon over (a sweep uncordoned it, then
	// another run cordoned it): our revert must leave it.
	n := getNode(t, cs, "n1")
	n.Annotations[nodedrain.CordonedByAnnotation] = "r2"
	if _, err := cs.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := d.Revert(context.Background(), inj); err != nil {
		t.Fatal(err)
	}
	if n := getNode(t, cs, "n1"); !n.Spec.Unschedulable || n.Annotations[nodedrain.CordonedByAnnotation] != "r2" {
		t.Errorf("revert of r1 touched r2's cordon: %v %v", n.Spec.Unschedulable, n.Annotations)
	}
	// A node deleted since is nothing to revert.
	if err := cs.CoreV1().Nodes().Delete(context.Background(), "n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := d.Revert(context.Background(), inj); err != nil {
		t.Errorf("revert with the node gone: %v", err)
	}
}

func TestRevertFailureIsALeftover(t *testing.T) {
	cs := fake.NewClientset(node("n1", nodeOpts{optIn: true}), pod("a", "n1"))
	evictionsBy(cs)
	d := drainer(cs)
	inj, err := d.Drain(context.Background(), inject.Run{ID: "r1"}, []string{"n1"}, []target.Pod{tpod("a", "n1")})
	if err != nil {
		t.Fatal(err)
	}
	cs.PrependReactor("patch", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "n1", errors.New("no patch for you"))
	})
	err = d.Revert(context.Background(), inj)
	var lo inject.LeftoverError
	if !errors.As(err, &lo) {
		t.Fatalf("revert error %v (%T) is not an inject.LeftoverError", err, err)
	}
	items, until := lo.Leftovers()
	if len(items) != 1 || !strings.HasPrefix(items[0].What, "node n1 cordoned (a sweep uncordons it after 2026-12-07T12:05:00Z)") || !apierrors.IsForbidden(items[0].Err) || !until.IsZero() {
		t.Errorf("leftovers %+v until %v", items, until)
	}
	if !apierrors.IsForbidden(err) {
		t.Errorf("the cause is not reachable through the error: %v", err)
	}
}

func TestCordonFailureSkipsTheNodesPods(t *testing.T) {
	cs := fake.NewClientset(node("n1", nodeOpts{optIn: true}), node("n2", nodeOpts{optIn: true}), pod("a", "n1"), pod("b", "n2"))
	evicted := evictionsBy(cs)
	cs.PrependReactor("patch", "nodes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.PatchAction).GetName() == "n2" {
			return true, nil, apierrors.NewInternalError(errors.New("etcd down"))
		}
		return false, nil, nil
	})
	inj, err := drainer(cs).Drain(context.Background(), inject.Run{ID: "r1"}, []string{"n1", "n2"}, []target.Pod{tpod("a", "n1"), tpod("b", "n2")})
	if err == nil || !strings.Contains(err.Error(), "cordon node n2") || !apierrors.IsInternalError(errors.Unwrap(errors.Unwrap(err))) && !strings.Contains(err.Error(), "etcd down") {
		t.Errorf("err = %v, want the failed cordon of n2", err)
	}
	if inj.Outcomes[0].Status != inject.StatusEvicted || inj.Outcomes[1].Status != inject.StatusFailed ||
		!strings.Contains(inj.Outcomes[1].Detail, "node n2 could not be cordoned") {
		t.Errorf("outcomes %+v", inj.Outcomes)
	}
	if !slices.Equal(*evicted, []string{"a"}) {
		t.Errorf("evicted %v, want only a (b's node is not cordoned)", *evicted)
	}
	if inj.State[nodedrain.StateCordoned] != "n1" {
		t.Errorf("state %v", inj.State)
	}
}

func TestDrainRefusesBadInput(t *testing.T) {
	cs := fake.NewClientset()
	neg := -time.Second
	for _, tc := range []struct {
		name  string
		d     nodedrain.Drainer
		nodes []string
		want  string
	}{
		{"nil client", nodedrain.Drainer{Hold: time.Minute}, []string{"n"}, "node drain: nil client"},
		{"no hold", nodedrain.Drainer{Client: cs}, []string{"n"}, "node drain: no hold duration (the cordon's deadline)"},
		{"no nodes", nodedrain.Drainer{Client: cs, Hold: time.Minute}, nil, "node drain: no node to drain (were the targets picked?)"},
		{"negative grace", nodedrain.Drainer{Client: cs, Hold: time.Minute, GracePeriod: &neg}, []string{"n"}, "node drain: negative grace period -1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.d.Drain(context.Background(), inject.Run{ID: "r"}, tc.nodes, nil)
			if err == nil || err.Error() != tc.want {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
			if n := len(cs.Actions()); n != 0 {
				t.Errorf("%d API calls", n)
			}
		})
	}
}

func lease(name string, renewed time.Time) *coordinationv1.Lease {
	secs := int32(60)
	rt := metav1.NewMicroTime(renewed)
	return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "chaos", Name: name},
		Spec: coordinationv1.LeaseSpec{LeaseDurationSeconds: &secs, RenewTime: &rt}}
}

func cordonedBy(run, deadline, leaseRef string) nodeOpts {
	ann := map[string]string{nodedrain.CordonedByAnnotation: run}
	labels := map[string]string{nodedrain.CordonedLabel: "true"}
	if deadline != "" {
		ann[nodedrain.DeadlineAnnotation] = deadline
	}
	if leaseRef != "" {
		ann[nodedrain.LeaseAnnotation] = leaseRef
	}
	return nodeOpts{optIn: true, cordoned: true, annotations: ann, labels: labels}
}

func TestSweep(t *testing.T) {
	future, past := t0.Add(time.Hour).Format(time.RFC3339), t0.Add(-time.Second).Format(time.RFC3339)
	objs := []runtime.Object{
		node("deadline-passed", cordonedBy("r1", past, "")),
		node("no-deadline", cordonedBy("r2", "", "")),
		node("bad-deadline", cordonedBy("r3", "soon", "")),
		node("lease-missing", cordonedBy("r4", future, "chaos/gone")),
		node("lease-expired", cordonedBy("r5", future, "chaos/old")),
		node("lease-live", cordonedBy("r6", future, "chaos/live")),
		node("no-lease-deadline-ahead", cordonedBy("r7", future, "")),
		node("lease-forbidden", cordonedBy("r8", future, "other/secret")),
		node("lease-error", cordonedBy("r9", future, "broken/lease")),
		node("someone-elses", nodeOpts{optIn: true, cordoned: true}),
		node("label-only", nodeOpts{optIn: true, cordoned: true, labels: map[string]string{nodedrain.CordonedLabel: "true"}}),
		node("plain", nodeOpts{optIn: true}),
		lease("old", t0.Add(-2*time.Minute)), lease("live", t0.Add(-10*time.Second)),
	}
	uncordoned := []string{"bad-deadline", "deadline-passed", "lease-expired", "lease-missing", "no-deadline"}
	kept := []string{"lease-error", "lease-forbidden", "lease-live", "no-lease-deadline-ahead"}
	for _, dry := range []bool{false, true} {
		cs := fake.NewClientset(objs...)
		cs.PrependReactor("get", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
			switch a.GetNamespace() {
			case "other":
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "secret", errors.New("not yours"))
			case "broken":
				return true, nil, apierrors.NewInternalError(errors.New("etcd down"))
			}
			return false, nil, nil
		})
		rep, err := nodedrain.Sweep(context.Background(), cs, nodedrain.SweepConfig{DryRun: dry, Now: func() time.Time { return t0 }})
		// Only the unreadable lease is an error: forbidden is another
		// install's, kept quietly.
		if err == nil || !strings.Contains(err.Error(), "node lease-error kept cordoned: cannot read run lease broken/lease") || strings.Contains(err.Error(), "lease-forbidden") {
			t.Errorf("dry %v: err = %v", dry, err)
		}
		var names []string
		for _, s := range rep.Uncordoned {
			names = append(names, s.Name)
		}
		slices.Sort(names)
		if !slices.Equal(names, uncordoned) || rep.Kept != len(kept) {
			t.Errorf("dry %v: uncordoned %v (kept %d), want %v (kept %d)", dry, names, rep.Kept, uncordoned, len(kept))
		}
		for _, name := range uncordoned {
			n := getNode(t, cs, name)
			if n.Spec.Unschedulable == !dry || (n.Annotations[nodedrain.CordonedByAnnotation] == "") == dry {
				t.Errorf("dry %v: node %s unschedulable %v annotations %v", dry, name, n.Spec.Unschedulable, n.Annotations)
			}
		}
		for _, name := range append(kept, "someone-elses", "label-only") {
			if n := getNode(t, cs, name); !n.Spec.Unschedulable {
				t.Errorf("dry %v: node %s was uncordoned", dry, name)
			}
		}
		if n := getNode(t, cs, "plain"); n.Spec.Unschedulable {
			t.Errorf("dry %v: plain node cordoned", dry)
		}
	}
}

func TestSweepReasons(t *testing.T) {
	cs := fake.NewClientset(node("n", cordonedBy("r1", t0.Add(time.Hour).Format(time.RFC3339), "chaos/gone")))
	rep, err := nodedrain.Sweep(context.Background(), cs, nodedrain.SweepConfig{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Uncordoned) != 1 || rep.Uncordoned[0] != (nodedrain.SweptNode{Name: "n", Run: "r1", Reason: "its run is gone (lease chaos/gone does not exist)"}) {
		t.Errorf("report %+v", rep)
	}
}

func ptr[T any](v T) *T { return &v }

func TestPickNodes(t *testing.T) {
	nodes := []nodedrain.Node{{Name: "d"}, {Name: "a"}, {Name: "c"}, {Name: "b"}}
	for _, tc := range []struct {
		name string
		pick experiment.Pick
		want int
	}{
		{"default one", experiment.Pick{}, 1},
		{"count", experiment.Pick{Count: ptr(2)}, 2},
		{"count above", experiment.Pick{Count: ptr(9)}, 4},
		{"percent rounds up", experiment.Pick{Percent: ptr(30)}, 2},
		{"all", experiment.Pick{All: true}, 4},
		{"smallest of several", experiment.Pick{All: true, Count: ptr(3)}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := nodedrain.PickNodes(nodes, tc.pick, target.NewRand(7))
			if len(got) != tc.want {
				t.Fatalf("picked %v, want %d", got, tc.want)
			}
			again := nodedrain.PickNodes(slices.Clone(nodes), tc.pick, target.NewRand(7))
			if !slices.Equal(nodedrain.Names(got), nodedrain.Names(again)) {
				t.Errorf("the same seed picked %v then %v", nodedrain.Names(got), nodedrain.Names(again))
			}
		})
	}
	if got := nodedrain.PickNodes(nil, experiment.Pick{All: true}, nil); got != nil {
		t.Errorf("pick of no node = %v", got)
	}
	// Over seeds, every node gets picked: the rng decides, not the order.
	seen := map[string]bool{}
	for seed := range int64(40) {
		seen[nodedrain.PickNodes(nodes, experiment.Pick{}, target.NewRand(seed))[0].Name] = true
	}
	if len(seen) != 4 {
		t.Errorf("40 seeds picked only %v", seen)
	}
}

func TestUsableNodes(t *testing.T) {
	cs := fake.NewClientset(
		node("ok-b", nodeOpts{optIn: true, labels: map[string]string{nodedrain.ZoneLabel: "z1"}}),
		node("ok-a", nodeOpts{optIn: true}),
		node("not-opted-in", nodeOpts{}),
		node("not-ready", nodeOpts{optIn: true, notReady: true}),
		node("cordoned", nodeOpts{optIn: true, cordoned: true}),
		node("other-role", nodeOpts{optIn: true, labels: map[string]string{"role": "infra"}}),
	)
	usable, skipped, err := nodedrain.UsableNodes(context.Background(), cs, "role=worker")
	if err != nil {
		t.Fatal(err)
	}
	if got := nodedrain.Names(usable); !slices.Equal(got, []string{"ok-a", "ok-b"}) || usable[1].Zone != "z1" {
		t.Errorf("usable %+v", usable)
	}
	want := []nodedrain.Skipped{{Name: "cordoned", Reason: "already cordoned"}, {Name: "not-ready", Reason: "not Ready"}}
	if !slices.Equal(skipped, want) {
		t.Errorf("skipped %+v, want %+v", skipped, want)
	}
	if _, _, err := nodedrain.UsableNodes(context.Background(), cs, "role in (("); err == nil {
		t.Error("a bad selector is not an error")
	}
}

func TestPodsOnLeavesDaemonSetAndMirrorPods(t *testing.T) {
	ds, mirror, elsewhere, unscheduled := tpod("ds", "n1"), tpod("mirror", "n1"), tpod("other", "n2"), tpod("pending", "")
	ds.Owner = &target.Owner{Kind: "DaemonSet", Name: "logs"}
	mirror.Owner = &target.Owner{Kind: "Node", Name: "n1"}
	bare := tpod("bare", "n1")
	bare.Owner = nil
	got := nodedrain.PodsOn([]target.Pod{tpod("a", "n1"), ds, mirror, elsewhere, unscheduled, bare, tpod("b", "n3")},
		[]nodedrain.Node{{Name: "n1"}, {Name: "n3"}})
	var names []string
	for _, p := range got {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"a", "bare", "b"}) {
		t.Errorf("pods on n1, n3 = %v, want a, bare, b", names)
	}
}

// TestSweepWithoutNodeRights: a runner that may not list nodes drained
// none, so its sweep has nothing to do and says nothing.
func TestSweepWithoutNodeRights(t *testing.T) {
	cs := fake.NewClientset(node("n", cordonedBy("r1", t0.Add(-time.Hour).Format(time.RFC3339), "")))
	cs.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "nodes"}, "", errors.New("no"))
	})
	rep, err := nodedrain.Sweep(context.Background(), cs, nodedrain.SweepConfig{Now: func() time.Time { return t0 }})
	if err != nil || len(rep.Uncordoned) != 0 {
		t.Errorf("sweep = %+v, %v; want nothing and no error", rep, err)
	}
	cs.PrependReactor("list", "nodes", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewInternalError(errors.New("etcd down"))
	})
	if _, err := nodedrain.Sweep(context.Background(), cs, nodedrain.SweepConfig{}); err == nil {
		t.Error("a failed list is not an error")
	}
}

func TestTargetWords(t *testing.T) {
	for _, tc := range []struct {
		pods, nodes int
		want        string
	}{
		{1, 1, "1 target pod on it"}, {2, 1, "2 target pods on it"}, {1, 2, "1 target pod on them"}, {0, 3, "0 target pods on them"},
	} {
		if got := nodedrain.TargetWords(tc.pods, tc.nodes); got != tc.want {
			t.Errorf("TargetWords(%d, %d) = %q, want %q", tc.pods, tc.nodes, got, tc.want)
		}
	}
}
