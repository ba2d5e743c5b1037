package stress

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/chaosnight/chaosnight/pkg/inject"
)

func TestFindingsReportEvictedAndGonePods(t *testing.T) {
	pod := func(name, uid, reason string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: types.UID(uid)},
			Status: corev1.PodStatus{Reason: reason, Message: "Pod ephemeral local storage usage exceeds the total limit of containers 1Gi."}}
	}
	client := fake.NewClientset(pod("evicted", "u1", "Evicted"), pod("fine", "u2", ""), pod("replaced", "new", ""))
	st := State{Scope: scopePod, Container: "chaosnight-stress-r", Pods: []StatePod{
		{Namespace: "shop", Name: "evicted", UID: "u1"},
		{Namespace: "shop", Name: "fine", UID: "u2"},
		{Namespace: "shop", Name: "replaced", UID: "old"},
		{Namespace: "shop", Name: "deleted", UID: "u4"},
	}}
	inj := inject.Injection{Kind: Kind, State: st.Encode()}
	got := strings.Join((&Injector{Client: client}).Findings(context.Background(), inj), "\n")
	for _, want := range []string{
		"finding: the kubelet evicted pod shop/evicted while it was stressed: Pod ephemeral local storage usage exceeds",
		"finding: pod shop/replaced is gone",
		"finding: pod shop/deleted is gone",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("findings do not contain %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "shop/fine") {
		t.Errorf("a healthy pod is reported:\n%s", got)
	}
}

// A pod evicted for its own emptyDir sizeLimit whose containers exit 0 on
// SIGTERM ends Succeeded with no reason: the kubelet's Evicted Event on
// that pod (by UID) is what names the eviction; without one, the finding
// says the pod ended.
func TestFindingsEvictionOnlyInAnEvent(t *testing.T) {
	const msg = `Usage of EmptyDir volume "cache" exceeds the limit "32Mi".`
	ended := func(name, uid string, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: types.UID(uid)}, Status: corev1.PodStatus{Phase: phase}}
	}
	event := func(name, uid, reason string) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: "cache", UID: types.UID(uid)}, Reason: reason, Message: msg}
	}
	for _, tc := range []struct {
		name    string
		phase   corev1.PodPhase
		events  []*corev1.Event
		want    string
		wantNot bool
		forbid  bool // the runner may not list Events (the chart grants create only)
	}{
		{name: "succeeded with the kubelet's Evicted event", phase: corev1.PodSucceeded, events: []*corev1.Event{event("e1", "u1", "Evicted")},
			want: "finding: the kubelet evicted pod shop/cache while it was stressed: " + msg},
		{name: "failed with the kubelet's Evicted event", phase: corev1.PodFailed, events: []*corev1.Event{event("e1", "u1", "Evicted")},
			want: "finding: the kubelet evicted pod shop/cache while it was stressed: " + msg},
		{name: "an Evicted event of an earlier pod of the same name", phase: corev1.PodSucceeded, events: []*corev1.Event{event("e1", "old", "Evicted")},
			want: "finding: pod shop/cache ended while it was stressed (phase Succeeded)"},
		{name: "another event of this pod", phase: corev1.PodSucceeded, events: []*corev1.Event{event("e1", "u1", "Killing")},
			want: "finding: pod shop/cache ended while it was stressed (phase Succeeded)"},
		{name: "events may not be listed", phase: corev1.PodSucceeded, events: []*corev1.Event{event("e1", "u1", "Evicted")}, forbid: true,
			want: "finding: pod shop/cache ended while it was stressed (phase Succeeded)"},
		{name: "running: no finding", phase: corev1.PodRunning, events: []*corev1.Event{event("e1", "u1", "Evicted")}, wantNot: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(ended("cache", "u1", tc.phase))
			for _, ev := range tc.events {
				if _, err := client.CoreV1().Events("shop").Create(context.Background(), ev, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.forbid {
				client.PrependReactor("list", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(corev1.Resource("events"), "", errors.New("no rights"))
				})
			}
			st := State{Scope: scopePod, Container: "chaosnight-stress-r", Pods: []StatePod{{Namespace: "shop", Name: "cache", UID: "u1"}}}
			got := (&Injector{Client: client}).Findings(context.Background(), inject.Injection{Kind: Kind, State: st.Encode()})
			switch {
			case tc.wantNot && len(got) != 0:
				t.Errorf("findings %q, want none", got)
			case !tc.wantNot && (len(got) != 1 || got[0] != tc.want):
				t.Errorf("findings %q, want [%q]", got, tc.want)
			}
		})
	}
}
