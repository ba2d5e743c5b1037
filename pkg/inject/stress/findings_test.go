package stress

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

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

// A stress whose start was confirmed but that ended before the revert (a
// memory stress OOM-killed once it reached the pod's limit) is a finding:
// the load lasted less than the experiment. A stress that never counted as
// started (its outcome is failed already) is not reported twice.
func TestFindingsStressEndedEarly(t *testing.T) {
	const container = "chaosnight-stress-r"
	finished := metav1.NewTime(time.Date(2026, 12, 7, 22, 3, 0, 0, time.UTC))
	pod := func(name, uid string, term *corev1.ContainerStateTerminated) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: types.UID(uid)},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		state := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
		if term != nil {
			state = corev1.ContainerState{Terminated: term}
		}
		p.Status.EphemeralContainerStatuses = []corev1.ContainerStatus{{Name: container, State: state}}
		return p
	}
	client := fake.NewClientset(
		pod("oom", "u1", &corev1.ContainerStateTerminated{Reason: OOMKilledReason, ExitCode: 137, FinishedAt: finished}),
		pod("exited", "u2", &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 3}),
		pod("running", "u3", nil),
		pod("failed-at-start", "u4", &corev1.ContainerStateTerminated{Reason: OOMKilledReason, ExitCode: 137}),
	)
	st := State{Scope: scopePod, Container: container, Pods: []StatePod{
		{Namespace: "shop", Name: "oom", UID: "u1"}, {Namespace: "shop", Name: "exited", UID: "u2"},
		{Namespace: "shop", Name: "running", UID: "u3"}, {Namespace: "shop", Name: "failed-at-start", UID: "u4"},
	}}
	outcome := func(name, uid, status string) inject.Outcome {
		o := inject.Outcome{Status: status}
		o.Pod.Namespace, o.Pod.Name, o.Pod.UID = "shop", name, uid
		return o
	}
	inj := inject.Injection{Kind: Kind, State: st.Encode(), Outcomes: []inject.Outcome{
		outcome("oom", "u1", inject.StatusStressed), outcome("exited", "u2", inject.StatusStressed),
		outcome("running", "u3", inject.StatusStressed), outcome("failed-at-start", "u4", inject.StatusFailed),
	}}
	got := (&Injector{Client: client}).Findings(context.Background(), inj)
	slices.Sort(got)
	want := []string{
		"finding: the stress in pod shop/exited ended before the revert (exit code 3, Error), so the load lasted less than the experiment",
		"finding: the stress in pod shop/oom was OOM-killed at 2026-12-07T22:03:00Z (exit code 137): the kernel ended it at the pod's memory limit, so the load lasted less than the experiment",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
