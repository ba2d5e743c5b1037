package stress

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaosnight/chaosnight/pkg/inject"
)

// Findings reports what happened to the stressed pods that is worth a
// person's attention but is not a failure of chaosnight: above all a pod
// the kubelet evicted (ephemeral storage filled by a disk stress, memory
// pressure on the node), or a pod that disappeared during the experiment.
// The engine records them in the journal's reasons, prefixed "finding:".
func (s *Injector) Findings(ctx context.Context, inj inject.Injection) []string {
	st, err := DecodeState(inj.State)
	if err != nil {
		return nil
	}
	var out []string
	for _, p := range st.Pods {
		pod, err := s.Client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err) || (err == nil && string(pod.UID) != p.UID):
			out = append(out, fmt.Sprintf("finding: pod %s/%s is gone: it was evicted or deleted while it was stressed", p.Namespace, p.Name))
		case err != nil:
			// Unknown: nothing to report as a finding; revert reports errors.
		case pod.Status.Reason == "Evicted":
			out = append(out, fmt.Sprintf("finding: the kubelet evicted pod %s/%s while it was stressed: %s", p.Namespace, p.Name, pod.Status.Message))
		}
	}
	return out
}
