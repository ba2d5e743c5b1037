package stress

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestEffectiveCPU(t *testing.T) {
	container := func(limit string) corev1.Container {
		c := corev1.Container{Name: "c"}
		if limit != "" {
			c.Resources.Limits = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(limit)}
		}
		return c
	}
	pod := func(limits ...string) *corev1.Pod {
		p := &corev1.Pod{}
		for _, l := range limits {
			p.Spec.Containers = append(p.Spec.Containers, container(l))
		}
		return p
	}
	tests := []struct {
		name string
		spec Spec
		pod  *corev1.Pod
		want []string // substrings, in order
	}{
		{"no cpu part", Spec{Memory: &MemoryStress{Size: "1Mi"}}, pod("1"), nil},
		{"capped by one container's limit", Spec{CPU: &CPUStress{Workers: 1, Load: 100}}, pod("200m"),
			[]string{"asks for 1000m", "capped by the pod's CPU limit 200m", "at most 200m"}},
		{"the sum of the containers' limits", Spec{CPU: &CPUStress{Workers: 2, Load: 80}}, pod("500m", "1"),
			[]string{"asks for 1600m", "capped by the pod's CPU limit 1500m", "at most 1500m"}},
		{"within the limit", Spec{CPU: &CPUStress{Workers: 1, Load: 50}}, pod("1"),
			[]string{"asks for 500m", "within the pod's CPU limit 1", "effective load 500m"}},
		{"exactly the limit is within", Spec{CPU: &CPUStress{Workers: 2, Load: 50}}, pod("1"),
			[]string{"within"}},
		{"a container without a limit: no quota", Spec{CPU: &CPUStress{Workers: 1, Load: 100}}, pod("200m", ""),
			[]string{"asks for 1000m", "no CPU limit"}},
		{"defaults: 1 worker at 100%", Spec{CPU: &CPUStress{}}, pod("2"),
			[]string{"asks for 1000m", "within"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := effectiveCPU(tt.spec, tt.pod)
			if tt.want == nil {
				if got != "" {
					t.Fatalf("got %q, want nothing", got)
				}
				return
			}
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("%q lacks %q (in order)", got, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}
