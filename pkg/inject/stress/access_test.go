package stress

import (
	"context"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// The doctor's dry runs send what EphemeralContainer and HelperPod return:
// they must be exactly what Inject sends, or the dry run proves nothing.
func TestDryRunObjectsAreWhatInjectSends(t *testing.T) {
	now := time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout-1", UID: "uid-1"},
		Spec:       corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a", Labels: map[string]string{NodeOptInLabel: "true"}}}
	tg := target.Pod{Namespace: "shop", Name: "checkout-1", UID: "uid-1", Node: "node-a"}
	run := inject.Run{ID: "20261207-220000-abcdef", Experiment: "cpu"}

	for _, scope := range []string{ScopePod, ScopeNode} {
		t.Run(scope, func(t *testing.T) {
			client := fake.NewClientset(pod.DeepCopy(), node.DeepCopy())
			s := &Injector{Client: client, Image: "chaosnight:test", Duration: time.Minute, Now: func() time.Time { return now },
				Spec: Spec{Scope: scope, CPU: &CPUStress{Workers: 1, Load: 50}}}
			inj, err := s.Inject(context.Background(), run, []target.Pod{tg})
			if err != nil || len(inj.Outcomes) != 1 || inj.Outcomes[0].Status != inject.StatusStressed {
				t.Fatalf("inject: %v %+v", err, inj.Outcomes)
			}
			if scope == ScopePod {
				want, err := s.EphemeralContainer(run)
				if err != nil {
					t.Fatal(err)
				}
				got, err := client.CoreV1().Pods("shop").Get(context.Background(), "checkout-1", metav1.GetOptions{})
				if err != nil || len(got.Spec.EphemeralContainers) != 1 {
					t.Fatalf("pod: %v %+v", err, got)
				}
				if !reflect.DeepEqual(got.Spec.EphemeralContainers[0], want) {
					t.Errorf("Inject sent\n%+v\nEphemeralContainer returns\n%+v", got.Spec.EphemeralContainers[0], want)
				}
				return
			}
			want, err := s.HelperPod(run, "node-a", []target.Pod{tg})
			if err != nil {
				t.Fatal(err)
			}
			got, err := client.CoreV1().Pods("shop").Get(context.Background(), want.Name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Spec, want.Spec) || !reflect.DeepEqual(got.Labels, want.Labels) || !reflect.DeepEqual(got.Annotations, want.Annotations) {
				t.Errorf("Inject created\n%+v\nHelperPod returns\n%+v", got, want)
			}
		})
	}
}

func TestAccess(t *testing.T) {
	tests := []struct {
		scope string
		want  []string
	}{
		{ScopePod, []string{"update pods/ephemeralcontainers", "create pods/exec"}},
		{"", []string{"update pods/ephemeralcontainers", "create pods/exec"}},
		{ScopeNode, []string{"create pods", "delete pods", "get nodes"}},
	}
	for _, tt := range tests {
		got := Access(Spec{Scope: tt.scope}, "shop")
		var strs []string
		for _, a := range got {
			strs = append(strs, a.String())
		}
		if !reflect.DeepEqual(strs, tt.want) {
			t.Errorf("scope %q: %q, want %q", tt.scope, strs, tt.want)
		}
	}
	for _, a := range LeaseAccess("chaosnight") {
		if a.Namespace != "chaosnight" || a.Resource != "leases" || a.Group != "coordination.k8s.io" {
			t.Errorf("lease access %+v", a)
		}
	}
}
