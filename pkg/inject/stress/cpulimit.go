package stress

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// effectiveCPU says, for a pod-scope CPU stress, what load the target pod
// can actually take: the stress container shares the pod's cgroup, whose
// CPU quota (set by the kubelet when every container has a CPU limit) is
// the sum of the containers' limits. A stress that asks for more than that
// quota is capped at it (and the workload gets what the stress leaves); the
// journal must say so, or "2 workers at 80%" would read as 1.6 CPUs
// applied to a pod that can never use more than 200m. "" when the stress
// has no CPU part.
func effectiveCPU(spec Spec, pod *corev1.Pod) string {
	if spec.CPU == nil {
		return ""
	}
	workers, load := spec.CPU.Workers, spec.CPU.Load
	if workers <= 0 {
		workers = 1
	}
	if load <= 0 {
		load = 100
	}
	requested := int64(workers) * int64(load) * 10 // millicores
	limit, ok := podCPULimit(pod)
	switch {
	case !ok:
		return fmt.Sprintf("CPU: asks for %dm; the pod has no CPU limit (a container without one), so the effective load is %dm where the node has it free", requested, requested)
	case requested > limit.MilliValue():
		return fmt.Sprintf("CPU: asks for %dm; capped by the pod's CPU limit %s: effective load at most %dm, shared with the pod's own containers", requested, limit.String(), limit.MilliValue())
	default:
		return fmt.Sprintf("CPU: asks for %dm, within the pod's CPU limit %s: effective load %dm while the pod's own containers leave room", requested, limit.String(), requested)
	}
}

// podCPULimit is the pod's CPU quota: the sum of its regular containers'
// CPU limits, false when one has none (then the pod cgroup has no quota).
func podCPULimit(pod *corev1.Pod) (resource.Quantity, bool) {
	var sum resource.Quantity
	if len(pod.Spec.Containers) == 0 {
		return sum, false
	}
	for _, c := range pod.Spec.Containers {
		l, ok := c.Resources.Limits[corev1.ResourceCPU]
		if !ok || l.IsZero() {
			return resource.Quantity{}, false
		}
		sum.Add(l)
	}
	return sum, true
}
