package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/gate"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/probe"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// shopCluster is a Deployment checkout (selector deploySel) with a
// ReplicaSet checkout-abc of 3 pods app=checkout, one of them not ready,
// in the opted-in namespace shop.
func shopCluster(deploySel map[string]string) []runtime.Object {
	yes := true
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout", UID: "d-uid", Generation: 1},
		Spec:       appsv1.DeploymentSpec{Replicas: ptrTo(int32(3)), Selector: &metav1.LabelSelector{MatchLabels: deploySel}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 2,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"}}},
	}
	rsSel := map[string]string{"pod-template-hash": "abc"}
	for k, v := range deploySel {
		rsSel[k] = v
	}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout-abc", UID: "rs-uid",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "checkout", UID: "d-uid", Controller: &yes}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: rsSel}},
	}
	objs := []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{inject.OptInLabel: "true"}}}, d, rs,
	}
	for i := range 3 {
		ready := corev1.ConditionTrue
		if i == 2 {
			ready = corev1.ConditionFalse
		}
		objs = append(objs, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: fmt.Sprintf("checkout-abc-%d", i), UID: types.UID(fmt.Sprintf("pod-%d", i)),
				CreationTimestamp: metav1.NewTime(time.Now().Add(-time.Hour)),
				Labels:            map[string]string{"app": "checkout", "tier": "front", "pod-template-hash": "abc"},
				OwnerReferences:   []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "checkout-abc", UID: "rs-uid", Controller: &yes}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: ready}}},
		})
	}
	return objs
}

func ptrTo[T any](v T) *T { return &v }

// listFrom lists the fake cluster's pods as the select phase would.
type listFrom struct{ cs *fake.Clientset }

func (l listFrom) List(ctx context.Context, _ experiment.Target) ([]target.Pod, target.Stats, error) {
	list, err := l.cs.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, target.Stats{}, err
	}
	var out []target.Pod
	for i := range list.Items {
		out = append(out, target.FromPod(&list.Items[i]))
	}
	return out, target.Stats{Requests: 1}, nil
}

// TestDryRunCountsMinHealthyFromTheListing proves when a dry run counts
// minHealthy from the select phase's LIST: only when the gate read the
// owner's selector and it implies the experiment's (no field selector);
// then the plan equals the fresh count's, with no pod read by the guard,
// and the inject phase's note says so. A real run always reads fresh.
func TestDryRunCountsMinHealthyFromTheListing(t *testing.T) {
	tests := []struct {
		name      string
		deploySel map[string]string
		selector  string
		fieldSel  string
		dryRun    bool
		fromList  bool
	}{
		{name: "covered: the Deployment selects app=checkout", deploySel: map[string]string{"app": "checkout"},
			selector: "app=checkout", dryRun: true, fromList: true},
		{name: "covered: experiment selects less than the Deployment", deploySel: map[string]string{"app": "checkout", "tier": "front"},
			selector: "tier in (front,back)", dryRun: true, fromList: true},
		{name: "not covered: experiment narrower than the Deployment", deploySel: map[string]string{"app": "checkout"},
			selector: "app=checkout,tier=front", dryRun: true},
		{name: "not covered: a field selector", deploySel: map[string]string{"app": "checkout"},
			selector: "app=checkout", fieldSel: "spec.nodeName=n1", dryRun: true},
		{name: "a real run counts fresh", deploySel: map[string]string{"app": "checkout"},
			selector: "app=checkout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset(shopCluster(tc.deploySel)...)
			exp := testExperiment(func(e *experiment.Experiment) {
				e.Spec.Target.Selector, e.Spec.Target.FieldSelector = tc.selector, tc.fieldSel
				e.Spec.Target.Pick = experiment.Pick{All: true}
			})
			lister := listFrom{cs: cs} // listed before the reactor: the select phase's reads are not the guard's
			guardReads := 0
			counting := false
			cs.PrependReactor("*", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if counting && (a.GetVerb() == "list" || a.GetVerb() == "get") {
					guardReads++
				}
				return false, nil, nil
			})
			inj := &recordingInjector{}
			healthy := answers{"errors": constant(0.001), "available": constant(3)}
			e := &Engine{
				Prom: &scriptedQuerier{start: time.Now(), answer: func(q string, since time.Duration) ([]probe.Sample, error) {
					return healthy[q](q, since)
				}},
				Targets:  countingLister{lister, &counting},
				Guard:    &inject.Guard{Client: cs, Policy: inject.Policy{RequireOptIn: true, DryRun: tc.dryRun}},
				Injector: func(*experiment.Experiment) (inject.Injector, error) { return inj, nil },
				Gate:     &gate.Gate{Config: gate.Config{Rollouts: true}, Client: cs},
				Journal:  journal.Discard{},
			}
			rec := e.Run(t.Context(), exp, Options{RunID: "r1", Seed: 7, DryRun: tc.dryRun})
			if len(rec.Injections) != 1 {
				t.Fatalf("%d injections journaled (verdict %s, reasons %q)", len(rec.Injections), rec.Verdict, rec.Reasons)
			}
			// 2 ready pods of 3, minHealthy 1: one ready pod may go, the
			// not-ready one too; the other ready pod is refused.
			var statuses []string
			for _, o := range rec.Injections[0].Outcomes {
				statuses = append(statuses, o.Pod.Name+"="+o.Status)
			}
			slices.Sort(statuses)
			admitted := inject.StatusDryRun
			if !tc.dryRun {
				admitted = inject.StatusKilled
			}
			want := []string{"checkout-abc-0=" + admitted, "checkout-abc-1=" + inject.StatusRefused, "checkout-abc-2=" + admitted}
			if !slices.Equal(statuses, want) {
				t.Errorf("outcomes %v, want %v", statuses, want)
			}
			c := rec.Injections[0].Counting
			if c == nil {
				t.Fatal("no counting journaled")
			}
			note := phaseNote(rec, journal.PhaseInject)
			if tc.fromList {
				if c.FromCensus != 1 || guardReads != 0 {
					t.Errorf("counting %+v, %d pod reads by the guard: want the owner counted from the LIST, no read", *c, guardReads)
				}
				if !strings.Contains(note, "counted from the select phase's LIST, no request") {
					t.Errorf("inject note %q does not say where the count came from", note)
				}
				return
			}
			if c.FromCensus != 0 || guardReads == 0 {
				t.Errorf("counting %+v, %d pod reads by the guard: want a fresh read", *c, guardReads)
			}
			if !strings.Contains(note, "read fresh") {
				t.Errorf("inject note %q does not say the count was read fresh", note)
			}
		})
	}
}

// countingLister turns on the guard's read counter once the select
// phase's LIST is done.
type countingLister struct {
	listFrom
	on *bool
}

func (l countingLister) List(ctx context.Context, t experiment.Target) ([]target.Pod, target.Stats, error) {
	pods, st, err := l.listFrom.List(ctx, t)
	*l.on = true
	return pods, st, err
}

func phaseNote(rec *journal.Record, name string) string {
	for _, p := range rec.Phases {
		if p.Name == name {
			return p.Note
		}
	}
	return ""
}
