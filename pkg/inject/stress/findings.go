package stress

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

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
	stressed := map[string]bool{} // UIDs whose stress was confirmed running
	for _, o := range inj.Outcomes {
		if o.Status == inject.StatusStressed {
			stressed[o.Pod.UID] = true
		}
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
		case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
			// A pod evicted for its own emptyDir sizeLimit or ephemeral-storage
			// limit whose containers exit 0 on SIGTERM ends Succeeded with no
			// reason (kubernetes/kubernetes#120182, #141483): the kubelet's
			// Evicted Event is the only trace of the eviction.
			if msg, ok := s.evictedEvent(ctx, pod); ok {
				out = append(out, fmt.Sprintf("finding: the kubelet evicted pod %s/%s while it was stressed: %s", p.Namespace, p.Name, msg))
				continue
			}
			out = append(out, fmt.Sprintf("finding: pod %s/%s ended while it was stressed (phase %s)", p.Namespace, p.Name, pod.Status.Phase))
		case stressed[p.UID]:
			if f := endedEarly(pod, st.Container); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

// endedEarly says when the stress container of a pod whose stress was
// confirmed running has already ended, before any revert: the load then
// lasted less than the experiment, and the verdict's reasons must say so.
// The case that matters is a memory stress that reached the pod's limit
// after its start was confirmed: the kernel OOM-kills it, and on cgroup v1
// the stressor cannot see that limit to refuse beforehand.
func endedEarly(pod *corev1.Pod, container string) string {
	for _, cs := range pod.Status.EphemeralContainerStatuses {
		t := cs.State.Terminated
		if cs.Name != container || t == nil {
			continue
		}
		at := ""
		if !t.FinishedAt.IsZero() {
			at = " at " + t.FinishedAt.UTC().Format(time.RFC3339)
		}
		if t.Reason == OOMKilledReason {
			return fmt.Sprintf("finding: the stress in pod %s/%s was OOM-killed%s (exit code %d): the kernel ended it at the pod's memory limit, so the load lasted less than the experiment",
				pod.Namespace, pod.Name, at, t.ExitCode)
		}
		return fmt.Sprintf("finding: the stress in pod %s/%s ended%s before the revert (exit code %d%s), so the load lasted less than the experiment",
			pod.Namespace, pod.Name, at, t.ExitCode, reasonSuffix(t.Reason))
	}
	return ""
}

func reasonSuffix(reason string) string {
	if reason == "" {
		return ""
	}
	return ", " + reason
}

// evictedEvent returns the message of the kubelet's Evicted Event on this
// very pod (by UID), if one can be read. Events expire (the API server's
// --event-ttl, 1 h by default) and the runner may lack the right to list
// them: then there is no answer, and the finding says only that the pod
// ended.
func (s *Injector) evictedEvent(ctx context.Context, pod *corev1.Pod) (string, bool) {
	sel := fields.Set{"involvedObject.uid": string(pod.UID), "reason": "Evicted"}.AsSelector().String()
	list, err := s.Client.CoreV1().Events(pod.Namespace).List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return "", false
	}
	// Checked again: a client (or a test double) may ignore the selector.
	for _, ev := range list.Items {
		if ev.InvolvedObject.UID == pod.UID && ev.Reason == "Evicted" {
			return ev.Message, true
		}
	}
	return "", false
}
