package stress

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// Bad configuration is an error before anything is touched, with every
// problem named at once.
func TestInjectRefusesBadConfiguration(t *testing.T) {
	cpu := Spec{CPU: &CPUStress{}}
	client := fake.NewClientset()
	tests := []struct {
		name string
		inj  Injector
		run  string
		want string
	}{
		{"everything missing", Injector{}, "", "stress: nil client; no image; nothing to stress (set cpu, memory, disk or a combination); empty run id"},
		{"unknown scope", Injector{Client: client, Image: "i", Spec: Spec{Scope: "cluster", CPU: &CPUStress{}}, Duration: time.Minute}, "r", `unknown scope "cluster" (want pod or node)`},
		{"over a day", Injector{Client: client, Image: "i", Spec: cpu, Duration: 25 * time.Hour}, "r", "duration 25h0m0s is over the stressor's limit of 24h0m0s"},
		{"no duration", Injector{Client: client, Image: "i", Spec: cpu}, "r", "stress duration must be positive, got 0s"},
		{"node scope needs a label-safe run id", Injector{Client: client, Image: "i", Spec: Spec{Scope: "node", CPU: &CPUStress{}}, Duration: time.Minute}, "run id!", `run id "run id!" is not a label value`},
		{"lease is namespace/name", Injector{Client: client, Image: "i", Spec: Spec{Scope: "node", CPU: &CPUStress{}}, Duration: time.Minute, Lease: "chaosnight-run-r"}, "r", `lease "chaosnight-run-r" is not namespace/name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.inj.Inject(context.Background(), inject.Run{ID: tt.run}, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if len(got.State) != 0 || len(got.Outcomes) != 0 {
				t.Errorf("a refused injection reports %v %v", got.State, got.Outcomes)
			}
			// Nothing to revert.
			if err := (&Injector{Client: client}).Revert(context.Background(), got); err != nil {
				t.Errorf("revert of a refused injection: %v", err)
			}
		})
	}
}

// The deadline is one absolute instant, decided at the start of Inject:
// the same in the state, the outcome, the stressor's --until and (node
// scope) the helper pod's annotation; activeDeadlineSeconds cannot reach
// past it.
func TestDeadlineIsOneInstant(t *testing.T) {
	now := time.Date(2026, 3, 1, 22, 0, 0, 300_000_000, time.UTC)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "u1"},
		Spec:       corev1.PodSpec{NodeName: "n1"},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	tgt := target.Pod{Namespace: "shop", Name: "web", UID: "u1", Node: "n1"}
	for _, scope := range []string{"pod", "node"} {
		t.Run(scope, func(t *testing.T) {
			node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{NodeOptInLabel: "true"}}}
			client := fake.NewClientset(pod.DeepCopy(), node)
			inj := &Injector{Client: client, Image: "i", Spec: Spec{Scope: scope, CPU: &CPUStress{}},
				Duration: 90*time.Second + time.Millisecond, Now: func() time.Time { return now }}
			got, err := inj.Inject(context.Background(), inject.Run{ID: "r"}, []target.Pod{tgt})
			if err != nil {
				t.Fatal(err)
			}
			// 22:00:00.3 + 91 s (the duration rounded up) = 22:01:31.3, rounded up.
			const want = "2026-03-01T22:01:32Z"
			if d := got.State[StateDeadline]; d != want {
				t.Errorf("state deadline %s, want %s", d, want)
			}
			if o := got.Outcomes[0]; o.Status != inject.StatusStressed || !strings.HasSuffix(o.Detail, "(ends by itself by "+want+")") {
				t.Errorf("outcome %s (%s)", o.Status, o.Detail)
			}
			var args []string
			if scope == "pod" {
				p, _ := client.CoreV1().Pods("shop").Get(context.Background(), "web", metav1.GetOptions{})
				args = p.Spec.EphemeralContainers[0].Args
			} else {
				list, _ := client.CoreV1().Pods("shop").List(context.Background(), metav1.ListOptions{LabelSelector: HelperLabel})
				h := list.Items[0]
				args = h.Spec.Containers[0].Args
				if h.Annotations[DeadlineAnnotation] != want {
					t.Errorf("annotation %s", h.Annotations[DeadlineAnnotation])
				}
				// 91.7 s left, rounded down.
				if a := h.Spec.ActiveDeadlineSeconds; a == nil || *a != 91 {
					t.Errorf("activeDeadlineSeconds %v, want 91", a)
				}
			}
			if i := slices.Index(args, "--until"); i < 0 || args[i+1] != want || !slices.Contains(args, "--duration") {
				t.Errorf("args %q, want --until %s and --duration", args, want)
			}
		})
	}
}

// Only a node-scope disk stress gets the kubelet's eviction threshold,
// and not when the experiment allows node pressure.
func TestEvictionThresholdArgs(t *testing.T) {
	fill := func(scope string, allow bool) Spec {
		return Spec{Scope: scope, Disk: &DiskStress{Fill: "2Gi", AllowNodePressure: allow}}
	}
	tests := []struct {
		name string
		spec Spec
		want bool
	}{
		{"node disk", fill("node", false), true},
		{"node disk allowing node pressure", fill("node", true), false},
		{"pod disk", fill("pod", false), false},
		{"node cpu", Spec{Scope: "node", CPU: &CPUStress{}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inj := &Injector{Client: fake.NewClientset(), Image: "i", Spec: tt.spec, Duration: time.Minute}
			p, err := inj.plan(inject.Run{ID: "r"})
			if err != nil {
				t.Fatal(err)
			}
			i := slices.Index(p.args, "--eviction-threshold")
			if got := i >= 0; got != tt.want || got && p.args[i+1] != "10%" {
				t.Errorf("args %q, want the threshold: %t", p.args, tt.want)
			}
		})
	}
}

func TestNodePressureHint(t *testing.T) {
	refused := "the stress exited at once with code 3: error: invalid stress: --disk-fill 2Gi would leave 6.0% available on the node filesystem (…), under the kubelet's hard eviction threshold of 10% (nodefs.available)"
	if got := nodePressureHint(refused); got != refused+"; set stress.disk.allowNodePressure: true to allow it" {
		t.Errorf("hint: %s", got)
	}
	if other := "waiting: ImagePullBackOff"; nodePressureHint(other) != other {
		t.Errorf("a reason of another kind changed")
	}
}
