package stress

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// The kubelet's successive reports of the stress container decide the
// start: an OOM kill is never a start, and with a settle time a container
// reported running and then OOM-killed (what a real kubelet reports for a
// memory stress past the pod's limit) is not one either.
func TestWaitStartedReadsTheKubeletsReports(t *testing.T) {
	running := corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	oom := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137, Reason: OOMKilledReason}}
	refused := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 3, Reason: "Error", Message: "invalid stress: too much\nmore"}}
	done := corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}
	tests := []struct {
		name    string
		reports []corev1.ContainerState // successive answers; the last repeats
		settle  time.Duration
		ok      bool
		ended   bool
		reason  string
	}{
		{"running counts at once without settle", []corev1.ContainerState{running, oom}, 0, true, false, ""},
		{"running then OOM-killed within the settle", []corev1.ContainerState{running, oom}, time.Minute, false, true,
			"the stress was OOMKilled, exit code 137: the kernel's OOM killer ended it at the pod's memory limit"},
		{"OOM-killed at once", []corev1.ContainerState{oom}, 0, false, true, "the stress was OOMKilled, exit code 137"},
		{"refused by the stressor", []corev1.ContainerState{refused}, 0, false, true, "the stress exited at once with code 3: invalid stress: too much"},
		{"ended well within the settle", []corev1.ContainerState{running, done}, time.Minute, true, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset()
			calls := 0
			client.PrependReactor("get", "pods", func(k8stesting.Action) (bool, runtime.Object, error) {
				st := tt.reports[min(calls, len(tt.reports)-1)]
				calls++
				return true, &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api", UID: types.UID("u1")},
					Status: corev1.PodStatus{Phase: corev1.PodRunning,
						EphemeralContainerStatuses: []corev1.ContainerStatus{{Name: "c", State: st}}},
				}, nil
			})
			s := &Injector{Client: client, StartTimeout: 20 * time.Second}
			got := s.waitStarted(context.Background(), []startCheck{{namespace: "shop", pod: "api", uid: "u1", container: "c", ephemeral: true, settle: tt.settle}})
			r := got[0]
			if r.ok != tt.ok || r.ended != tt.ended || !strings.HasPrefix(r.reason, tt.reason) {
				t.Errorf("got %+v, want ok %v, ended %v, reason %q", r, tt.ok, tt.ended, tt.reason)
			}
		})
	}
}

// A running stress whose settle time outlasts StartTimeout still counts:
// it runs, only the extra look was cut short.
func TestWaitStartedSettleCutShortByStartTimeout(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api", UID: types.UID("u1")},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, EphemeralContainerStatuses: []corev1.ContainerStatus{
			{Name: "c", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
	}
	s := &Injector{Client: fake.NewClientset(pod), StartTimeout: time.Millisecond}
	got := s.waitStarted(context.Background(), []startCheck{{namespace: "shop", pod: "api", uid: "u1", container: "c", ephemeral: true, settle: time.Hour}})
	if !got[0].ok {
		t.Errorf("got %+v, want ok", got[0])
	}
}

// Every stress waits before it counts as started: a memory stress for
// the OOM kill, any other for a stressor that refused its input.
func TestStartSettle(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want time.Duration
	}{
		{"cpu", Spec{CPU: &CPUStress{}}, exitSettle},
		{"disk", Spec{Disk: &DiskStress{Fill: "1Gi"}}, exitSettle},
		{"memory", Spec{Memory: &MemoryStress{Size: "64Mi"}}, memorySettle},
		{"cpu and memory", Spec{CPU: &CPUStress{}, Memory: &MemoryStress{Size: "64Mi"}}, memorySettle},
	}
	for _, tt := range tests {
		if got := (&Injector{Spec: tt.spec}).startSettle(); got != tt.want {
			t.Errorf("%s: settle %s, want %s", tt.name, got, tt.want)
		}
	}
}
