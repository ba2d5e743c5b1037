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
	"k8s.io/apimachinery/pkg/util/wait"
)

// startPoll is how often Inject looks whether the stress has started.
const startPoll = 500 * time.Millisecond

// memorySettle is how long a memory stress must be reported running
// before it counts as started. "Running" comes before the memory is
// resident: a size past the pod's limit is OOM-killed by the kernel while
// the stressor allocates (the stressor, in its own container's cgroup,
// cannot see the pod's limit on cgroup v1), and the real kubelet reports
// that about 1-2 s after it reported the container running (its 1 s
// relist, then the status sync). Without the wait such a stress was
// reported "stressed" (proven on a real node, test/realnode). An
// allocation that takes longer than this to reach the limit is still
// reported stressed; see docs/stress.md.
const memorySettle = 5 * time.Second

// exitSettle is how long any other stress must be reported running before
// it counts as started. A stressor that refuses its input (a disk fill
// that does not fit, a fill that would cross the node's eviction
// threshold) exits within milliseconds of its start, yet the real kubelet
// first reports the container it has just started as running, and
// reports it terminated only after its next relist (every 1 s) and status
// sync. Without the wait such a stress was reported "stressed" and a
// refused node-scope helper was left in place (proven on a real node,
// test/realnode TestKubeletStartConfirmation); kwok, whose statuses the
// tests wrote, never showed the running report.
const exitSettle = 3 * time.Second

// OOMKilledReason is the kubelet's reason for a container the kernel's OOM
// killer ended.
const OOMKilledReason = "OOMKilled"

// startCheck is one stress container whose start Inject confirms.
type startCheck struct {
	namespace, pod, uid, container string
	ephemeral                      bool
	// settle, when positive, is how long the container must be seen
	// running before it counts as started (startSettle: memorySettle
	// for a memory stress, exitSettle otherwise); StartTimeout still
	// bounds the whole wait.
	settle time.Duration
}

// startResult is what the kubelet reported: ok, or why not.
type startResult struct {
	ok      bool
	running bool   // ok because the kubelet reports it running (not ended well)
	gone    bool   // the pod disappeared or was replaced
	ended   bool   // it ran and ended badly (exit code, OOM kill): it will not start later
	reason  string // why it is not running (when !ok)
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
	seenRunning := make([]time.Time, len(checks))
	// The reads use ctx, not the poll's deadline context: a read in flight
	// at the deadline reports what the kubelet says rather than a
	// cancelled request. The poll's error is not needed: what is still
	// pending says it all.
	_ = wait.PollUntilContextTimeout(ctx, startPoll, s.StartTimeout, true, func(context.Context) (bool, error) {
		var mu sync.Mutex
		var next []int
		s.forEach(len(pending), func(k int) {
			i := pending[k]
			r, done := s.startState(ctx, checks[i])
			mu.Lock()
			defer mu.Unlock()
			if done && r.running && checks[i].settle > 0 {
				if seenRunning[i].IsZero() {
					seenRunning[i] = time.Now()
				}
				done = time.Since(seenRunning[i]) >= checks[i].settle
			}
			results[i] = r
			if !done {
				next = append(next, i)
			}
		})
		pending = next
		return len(pending) == 0, nil
	})
	for _, i := range pending {
		if results[i].ok {
			continue // running, only its settle time was cut short
		}
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
		return startResult{ok: true, running: true}, true
	case cs != nil && cs.State.Terminated != nil:
		t := cs.State.Terminated
		if t.ExitCode == 0 {
			return startResult{ok: true}, true // it ran and already ended
		}
		if t.Reason == OOMKilledReason {
			// Never "stressed": the kernel ended it at the memory limit.
			return startResult{ended: true, reason: fmt.Sprintf("the stress was %s, exit code %d: the kernel's OOM killer ended it at the pod's memory limit", OOMKilledReason, t.ExitCode)}, true
		}
		why := fmt.Sprintf("the stress exited at once with code %d", t.ExitCode)
		if m := strings.TrimSpace(t.Message); m != "" {
			why += ": " + firstLine(m)
		} else if t.Reason != "" {
			why += " (" + t.Reason + ")"
		}
		return startResult{ended: true, reason: why}, true
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

// startSettle is how long a started stress must keep running before
// Inject counts it: memorySettle for a memory stress, exitSettle
// otherwise.
func (s *Injector) startSettle() time.Duration {
	if s.Spec.Memory != nil {
		return memorySettle
	}
	return exitSettle
}
