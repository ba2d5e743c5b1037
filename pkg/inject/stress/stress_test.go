package stress

import (
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
)

// Bad configuration is an error before anything is touched, with every
// problem named at once.
func TestInjectRefusesBadConfiguration(t *testing.T) {
	cpu := experiment.Stress{CPU: &experiment.CPUStress{}}
	client := fake.NewClientset()
	tests := []struct {
		name string
		inj  Injector
		run  string
		want string
	}{
		{"everything missing", Injector{}, "", "stress: nil client; no image; nothing to stress (set cpu, memory, disk or a combination); empty run id"},
		{"unknown scope", Injector{Client: client, Image: "i", Spec: experiment.Stress{Scope: "cluster", CPU: &experiment.CPUStress{}}, Duration: time.Minute}, "r", `unknown scope "cluster" (want pod or node)`},
		{"over a day", Injector{Client: client, Image: "i", Spec: cpu, Duration: 25 * time.Hour}, "r", "duration 25h0m0s is over the stressor's limit of 24h0m0s"},
		{"no duration", Injector{Client: client, Image: "i", Spec: cpu}, "r", "stress duration must be positive, got 0s"},
		{"node scope needs a label-safe run id", Injector{Client: client, Image: "i", Spec: experiment.Stress{Scope: "node", CPU: &experiment.CPUStress{}}, Duration: time.Minute}, "run id!", `run id "run id!" is not a label value`},
		{"lease is namespace/name", Injector{Client: client, Image: "i", Spec: experiment.Stress{Scope: "node", CPU: &experiment.CPUStress{}}, Duration: time.Minute, Lease: "chaosnight-run-r"}, "r", `lease "chaosnight-run-r" is not namespace/name`},
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

func TestDeadlineIsDurationPlusGraceRoundedUp(t *testing.T) {
	now := time.Date(2026, 3, 1, 22, 0, 0, 300_000_000, time.UTC)
	inj := &Injector{Client: fake.NewClientset(), Image: "i", Spec: experiment.Stress{CPU: &experiment.CPUStress{}},
		Duration: 90*time.Second + time.Millisecond, StartGrace: 30 * time.Second, Now: func() time.Time { return now }}
	got, err := inj.Inject(context.Background(), inject.Run{ID: "r"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 22:00:00.3 + 91 s (duration rounded up) + 30 s = 22:02:01.3, rounded up.
	if d := got.State[StateDeadline]; d != "2026-03-01T22:02:02Z" {
		t.Errorf("deadline %s", d)
	}
}
