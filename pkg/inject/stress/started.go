package stress

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// startPoll is how often Inject looks whether the stress has started.
const startPoll = 500 * time.Millisecond

// startCheck is one stress container whose start Inject confirms.
type startCheck struct {
	namespace, pod, uid, container string
	ephemeral                      bool
}

// startResult is what the kubelet reported: ok, or why not.
type startResult struct {
	ok     bool
	gone   bool   // the pod disappeared or was replaced
	reason string // why it is not running (when !ok)
}

// waitStarted waits until the kubelet reports every stress container
// running (or already ended well), at most StartTimeout. A stress the
// kubelet never starts (an image that cannot be pulled, a stressor that
// refuses its input and exits, a node that rejects the helper) would let
// the hypothesis "hold" against no fault at all: the verdict must not
// count it as injected.
func (s *Injector) waitStarted(ctx context.Context, checks []startCheck) []startResult {
	results := make([]startResult, len(checks))
	pending := make([]int, len(checks))
	for i := range checks {
		pending[i] = i
	}
	deadline := time.Now().Add(s.StartTimeout)
	for {
		var mu sync.Mutex
		var next []int
		s.forEach(len(pending), func(k int) {
			i := pending[k]
			r, done := s.startState(ctx, checks[i])
			mu.Lock()
			defer mu.Unlock()
			results[i] = r
			if !done {
				next = append(next, i)
			}
		})
		pending = next
		if len(pending) == 0 {
			return results
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			for _, i := range pending {
				why := results[i].reason
				if why == "" {
					why = "no status reported"
				}
				results[i] = startResult{reason: fmt.Sprintf("not running after %s (%s)", s.StartTimeout, why)}
				if ctx.Err() != nil {
					results[i].reason = fmt.Sprintf("not confirmed running: %v (%s)", ctx.Err(), why)
				}
			}
			return results
		}
		select {
		case <-ctx.Done():
		case <-time.After(startPoll):
		}
	}
}

// startState reads one stress container's state; done says whether it is
// final.
func (s *Injector) startState(ctx context.Context, c startCheck) (startResult, bool) {
	pod, err := s.Client.CoreV1().Pods(c.namespace).Get(ctx, c.pod, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return startResult{gone: true, reason: "the pod no longer exists"}, true
	case err != nil:
		return startResult{reason: "cannot read the pod: " + err.Error()}, false
	case string(pod.UID) != c.uid:
		return startResult{gone: true, reason: "the pod was replaced"}, true
	}
	statuses := pod.Status.ContainerStatuses
	if c.ephemeral {
		statuses = pod.Status.EphemeralContainerStatuses
	}
	var cs *corev1.ContainerStatus
	for i := range statuses {
		if statuses[i].Name == c.container {
			cs = &statuses[i]
		}
	}
	switch {
	case cs != nil && cs.State.Running != nil:
		return startResult{ok: true}, true
	case cs != nil && cs.State.Terminated != nil:
		t := cs.State.Terminated
		if t.ExitCode == 0 {
			return startResult{ok: true}, true // it ran and already ended
		}
		why := fmt.Sprintf("the stress exited at once with code %d", t.ExitCode)
		if m := strings.TrimSpace(t.Message); m != "" {
			why += ": " + firstLine(m)
		} else if t.Reason != "" {
			why += " (" + t.Reason + ")"
		}
		return startResult{reason: why}, true
	case !c.ephemeral && pod.Status.Phase == corev1.PodFailed:
		return startResult{reason: fmt.Sprintf("the helper pod failed: %s %s", pod.Status.Reason, pod.Status.Message)}, true
	case cs != nil && cs.State.Waiting != nil:
		w := cs.State.Waiting
		why := "waiting: " + orUnknown(w.Reason)
		if w.Message != "" {
			why += ": " + firstLine(w.Message)
		}
		return startResult{reason: why}, false
	}
	return startResult{}, false
}
