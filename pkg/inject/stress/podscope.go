package stress

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// fieldManager names chaosnight in managedFields.
const fieldManager = "chaosnight"

// stoppedCheck bounds the wait for an ephemeral container to report
// itself terminated after a stop command that did not answer cleanly: when
// the stressor is PID 1 of its container and exits, the kernel ends the
// stop command with it, so the exec can fail although the stop worked.
const (
	stoppedCheck     = 5 * time.Second
	stoppedCheckPoll = 500 * time.Millisecond
)

// ephemeralContainer is the stress container added to a target. It has
// no TargetContainerName: the stressor gets a PID namespace of its own,
// where it is PID 1 and the only process `stress stop` finds.
func (s *Injector) ephemeralContainer(p plan) corev1.EphemeralContainer {
	return corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
		Name:                     p.name,
		Image:                    s.Image,
		ImagePullPolicy:          s.pullPolicy(),
		Command:                  append([]string(nil), s.command()...),
		Args:                     append([]string(nil), p.args...),
		SecurityContext:          containerSecurityContext(writableLayer(s.Spec)),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		VolumeMounts:             podDiskMounts(s.Spec),
	}}
}

// podDiskMounts mounts the target pod's named volume, read-write, where
// the stressor fills it. Ephemeral containers may mount the pod's
// existing volumes (not add new ones), which is exactly what is wanted:
// the data lands in the volume the workload uses and counts against its
// sizeLimit, the pod's ephemeral-storage limit or the PVC.
func podDiskMounts(spec Spec) []corev1.VolumeMount {
	if spec.Disk == nil || spec.Disk.Volume == "" {
		return nil
	}
	return []corev1.VolumeMount{{Name: spec.Disk.Volume, MountPath: DiskVolumeMountPath}}
}

// checkDiskVolume says why pod cannot take the disk stress, or "": the
// named volume must exist and be one the stressor may write to.
func checkDiskVolume(spec Spec, pod *corev1.Pod) string {
	if spec.Disk == nil || spec.Disk.Volume == "" {
		return ""
	}
	var names []string
	for _, v := range pod.Spec.Volumes {
		if v.Name != spec.Disk.Volume {
			names = append(names, v.Name)
			continue
		}
		switch {
		case v.EmptyDir != nil, v.Ephemeral != nil:
			return ""
		case v.PersistentVolumeClaim != nil && !v.PersistentVolumeClaim.ReadOnly:
			return ""
		default:
			return fmt.Sprintf("volume %s of the pod is not an emptyDir, an ephemeral volume or a writable persistentVolumeClaim: the disk stress does not write there", v.Name)
		}
	}
	has := "it has none"
	if len(names) > 0 {
		has = "it has " + strings.Join(names, ", ")
	}
	return fmt.Sprintf("the pod has no volume %s to fill (%s)", spec.Disk.Volume, has)
}

// injectPods adds the stress container to every target.
func (s *Injector) injectPods(ctx context.Context, p plan, targets []target.Pod) ([]inject.Outcome, []StatePod) {
	outcomes := make([]inject.Outcome, len(targets))
	added := make([]bool, len(targets))
	s.forEach(len(targets), func(i int) {
		status, detail, ok := s.addContainer(ctx, p, targets[i])
		outcomes[i] = inject.Outcome{Pod: targets[i], Status: status, Detail: detail, At: s.now()}
		added[i] = ok
	})
	var pods []StatePod
	var checks []startCheck
	var checked []int
	for i, t := range targets {
		if added[i] {
			pods = append(pods, StatePod{Namespace: t.Namespace, Name: t.Name, UID: t.UID})
			checks = append(checks, startCheck{namespace: t.Namespace, pod: t.Name, uid: t.UID, container: p.name, ephemeral: true, settle: s.startSettle()})
			checked = append(checked, i)
		}
	}
	if s.StartTimeout > 0 && len(checks) > 0 {
		for k, r := range s.waitStarted(ctx, checks) {
			o := &outcomes[checked[k]]
			switch {
			case r.ok:
			case r.gone:
				o.Status, o.Detail = inject.StatusGone, r.reason+" before its stress started"
			case r.ended:
				// It ran and ended: nothing left to start later.
				o.Status = inject.StatusFailed
				o.Detail = fmt.Sprintf("ephemeral container %s was added but %s", p.name, r.reason)
			default:
				// Still listed in the state: Revert tries to stop it.
				o.Status = inject.StatusFailed
				o.Detail = fmt.Sprintf("ephemeral container %s was added but %s; it cannot be removed: if it starts later, it ends by itself by %s",
					p.name, r.reason, p.deadline.Format(time.RFC3339))
			}
			o.At = s.now()
		}
	}
	return outcomes, pods
}

// addContainer adds the ephemeral container to one pod. added is true
// when the pod holds the container afterwards (also when an earlier
// attempt of this run added it), so Revert knows to stop it.
func (s *Injector) addContainer(ctx context.Context, p plan, t target.Pod) (status, detail string, added bool) {
	if t.UID == "" {
		return inject.StatusFailed, "no UID: refusing a change that could hit a replacement pod", false
	}
	pods := s.Client.CoreV1().Pods(t.Namespace)
	// The update carries the pod's resourceVersion and UID: a pod changed
	// meanwhile is a conflict (read again), a pod replaced under the same
	// name is a conflict whose fresh read shows another UID (gone).
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pod, err := pods.Get(ctx, t.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		switch {
		case string(pod.UID) != t.UID:
			status, detail = inject.StatusGone, "the pod was replaced by another with the same name; the replacement was not touched"
			return nil
		case pod.DeletionTimestamp != nil:
			status, detail = inject.StatusGone, "the pod is terminating"
			return nil
		case hasEphemeral(pod, p.name):
			status, detail, added = inject.StatusStressed, fmt.Sprintf("ephemeral container %s was already added by this run: %s", p.name, p.words), true
			return nil
		case checkDiskVolume(s.Spec, pod) != "":
			status, detail = inject.StatusFailed, checkDiskVolume(s.Spec, pod)
			return nil
		case pod.Status.Phase != corev1.PodRunning:
			status, detail = inject.StatusFailed, fmt.Sprintf("the pod is %s, not Running: its ephemeral container would only start once it runs", orUnknown(string(pod.Status.Phase)))
			return nil
		}
		pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, s.ephemeralContainer(p))
		if _, err := pods.UpdateEphemeralContainers(ctx, pod.Name, pod, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return err
		}
		// The effective CPU load comes before the deadline, which stays
		// last: people and tools read "(ends by itself by T)" at the end.
		words := p.words
		if cpu := effectiveCPU(s.Spec, pod); cpu != "" {
			words += "; " + cpu
		}
		status, detail, added = inject.StatusStressed, fmt.Sprintf("ephemeral container %s: %s (ends by itself by %s)", p.name, words, p.deadline.Format(time.RFC3339)), true
		return nil
	})
	if err == nil {
		return status, detail, added
	}
	switch {
	case apierrors.IsNotFound(err):
		return inject.StatusGone, "the pod no longer exists", false
	case apierrors.IsConflict(err):
		return inject.StatusFailed, "the pod kept changing, not retried further: " + err.Error(), false
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "PodSecurity"):
		return inject.StatusFailed, "refused by Pod Security admission: " + err.Error(), false
	}
	return inject.StatusFailed, err.Error(), false
}

func hasEphemeral(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return true
		}
	}
	return false
}

func ephemeralStatus(pod *corev1.Pod, name string) *corev1.ContainerStatus {
	for i := range pod.Status.EphemeralContainerStatuses {
		if pod.Status.EphemeralContainerStatuses[i].Name == name {
			return &pod.Status.EphemeralContainerStatuses[i]
		}
	}
	return nil
}

// revertPods stops the stress in every pod of the state.
func (s *Injector) revertPods(ctx context.Context, st State) error {
	errs := make([]error, len(st.Pods))
	s.forEach(len(st.Pods), func(i int) { errs[i] = s.stopInPod(ctx, st.Container, st.Pods[i]) })
	nse := &NotStoppedError{Deadline: st.Deadline}
	for i, err := range errs {
		if err != nil {
			p := st.Pods[i]
			nse.Items = append(nse.Items, NotStopped{What: fmt.Sprintf("ephemeral container %s of pod %s/%s", st.Container, p.Namespace, p.Name), Err: err})
		}
	}
	if len(nse.Items) > 0 {
		return nse
	}
	return nil
}

// stopInPod stops the stress container of one pod. A pod that is gone (or
// replaced) took its stress with it; a container that has terminated
// needs nothing.
func (s *Injector) stopInPod(ctx context.Context, container string, sp StatePod) error {
	pod, running, err := s.stressState(ctx, container, sp)
	if err != nil || !running {
		return err
	}
	if s.Exec == nil {
		return errors.New("no exec configured to stop it early (ephemeral containers cannot be removed)")
	}
	timeout := s.ExecTimeout
	if timeout <= 0 {
		timeout = DefaultExecTimeout
	}
	ectx, cancel := context.WithTimeout(ctx, timeout)
	cmd := append(append([]string(nil), s.command()...), StopArgs()...)
	_, stderr, execErr := s.Exec.Exec(ectx, sp.Namespace, sp.Name, container, cmd)
	cancel()
	if execErr == nil {
		return nil
	}
	// The stop may have worked and taken its own exec session down with
	// the container: believe the kubelet's status.
	// The read uses ctx, not the poll's deadline context, as waitStarted.
	if wait.PollUntilContextTimeout(ctx, stoppedCheckPoll, stoppedCheck, true, func(context.Context) (bool, error) {
		_, running, err := s.stressState(ctx, container, sp)
		return err == nil && !running, nil
	}) == nil {
		return nil
	}
	msg := fmt.Sprintf("exec %s: %v", strings.Join(cmd, " "), execErr)
	if e := strings.TrimSpace(stderr); e != "" {
		msg += " (stderr: " + firstLine(e) + ")"
	}
	if cs := ephemeralStatus(pod, container); cs != nil && cs.State.Waiting != nil {
		msg += fmt.Sprintf("; the container has not started (%s): if it starts, it runs until its deadline", orUnknown(cs.State.Waiting.Reason))
	}
	return errors.New(msg)
}

// stressState reads the pod and says whether its stress container may
// still be running.
func (s *Injector) stressState(ctx context.Context, container string, sp StatePod) (*corev1.Pod, bool, error) {
	pod, err := s.Client.CoreV1().Pods(sp.Namespace).Get(ctx, sp.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, false, nil
	case err != nil:
		return nil, false, fmt.Errorf("read the pod: %w", err)
	case string(pod.UID) != sp.UID:
		return nil, false, nil // replaced: the stressed pod is gone
	case !hasEphemeral(pod, container):
		return pod, false, nil
	}
	if cs := ephemeralStatus(pod, container); cs != nil && cs.State.Terminated != nil {
		return pod, false, nil
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return pod, false, nil // every container of a finished pod has stopped
	}
	return pod, true, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
