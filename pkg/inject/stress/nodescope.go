package stress

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// helperContainer is the name of the helper pod's one container.
const helperContainer = "stress"

// helperGracePeriod is the helper pod's terminationGracePeriodSeconds: the
// stressor stops at once on SIGTERM (its watchdog allows 5 s), so a
// deleted helper is gone in seconds, not the default 30.
const helperGracePeriod = 5

// revertPoll is how often Revert looks whether deleted helpers are gone.
const revertPoll = 250 * time.Millisecond

// nodeCheck is the fresh state of one target before its node is stressed.
type nodeCheck struct {
	status, detail string // set when the target is gone or failed
	node           string
}

// injectNodes creates one helper pod per distinct node of the targets
// that still exist, in the namespace of the first target on that node.
func (s *Injector) injectNodes(ctx context.Context, p plan, targets []target.Pod) ([]inject.Outcome, []StateHelper) {
	checks := make([]nodeCheck, len(targets))
	s.forEach(len(targets), func(i int) { checks[i] = s.checkTarget(ctx, targets[i]) })

	// Group by node, in target order.
	var nodes []string
	byNode := map[string][]int{}
	for i, c := range checks {
		if c.status != "" {
			continue
		}
		if _, ok := byNode[c.node]; !ok {
			nodes = append(nodes, c.node)
		}
		byNode[c.node] = append(byNode[c.node], i)
	}
	results := make([]helperResult, len(nodes))
	s.forEach(len(nodes), func(k int) {
		// Checked again right before the helper is created, also for a
		// caller that did not go through the Guard's Admit: a node whose
		// opt-in was removed meanwhile is not stressed.
		if why := s.nodeOptInRefusal(ctx, nodes[k]); why != "" {
			results[k] = helperResult{refused: inject.Refusal{Rule: inject.RuleNodeOptIn, Why: why}.String()}
			return
		}
		idx := byNode[nodes[k]]
		on := make([]target.Pod, len(idx))
		for j, i := range idx {
			on[j] = targets[i]
		}
		h, err := s.createHelper(ctx, p, nodes[k], on)
		results[k] = helperResult{helper: h, err: err}
	})

	if s.StartTimeout > 0 {
		s.confirmHelpers(ctx, nodes, results)
	}

	outcomes := make([]inject.Outcome, len(targets))
	for i, t := range targets {
		outcomes[i] = inject.Outcome{Pod: t, Status: checks[i].status, Detail: checks[i].detail, At: s.now()}
	}
	var helpers []StateHelper
	for k, node := range nodes {
		r := results[k]
		if r.helper.Name != "" {
			helpers = append(helpers, r.helper)
		}
		for _, i := range byNode[node] {
			if r.refused != "" {
				outcomes[i].Status, outcomes[i].Detail = inject.StatusRefused, r.refused
				continue
			}
			if r.err != nil {
				outcomes[i].Status, outcomes[i].Detail = inject.StatusFailed, fmt.Sprintf("helper pod on node %s: %v", node, r.err)
				continue
			}
			outcomes[i].Status = inject.StatusStressed
			outcomes[i].Detail = fmt.Sprintf("helper pod %s/%s on node %s: %s (ends by itself by %s)",
				r.helper.Namespace, r.helper.Name, node, p.words, p.deadline.Format(time.RFC3339))
		}
	}
	return outcomes, helpers
}

// helperResult is the helper pod of one node, or why there is none.
type helperResult struct {
	helper  StateHelper // zero when none exists
	err     error
	refused string // the node may not be stressed ("nodeOptIn: ...")
}

// confirmHelpers waits until the helpers run and deletes those that do
// not: a helper that never started stresses nothing, and one that starts
// late would run unobserved.
func (s *Injector) confirmHelpers(ctx context.Context, nodes []string, results []helperResult) {
	var checks []startCheck
	var idx []int
	for k, r := range results {
		if r.err == nil && r.refused == "" && r.helper.Name != "" {
			h := r.helper
			checks = append(checks, startCheck{namespace: h.Namespace, pod: h.Name, uid: h.UID, container: helperContainer, settle: s.startSettle()})
			idx = append(idx, k)
		}
	}
	if len(checks) == 0 {
		return
	}
	started := s.waitStarted(ctx, checks)
	// The deletions must happen even when ctx was cancelled meanwhile.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), DefaultExecTimeout)
	defer cancel()
	for j, st := range started {
		if st.ok {
			continue
		}
		st.reason = nodePressureHint(st.reason)
		k := idx[j]
		h := results[k].helper
		err := s.deleteHelper(dctx, helperRef{h.Namespace, h.Name, h.Node, h.UID})
		if err != nil {
			// Kept in the state, so that Revert deletes it.
			results[k].err = fmt.Errorf("helper pod %s/%s %s, and could not be deleted: %w", h.Namespace, h.Name, st.reason, err)
			continue
		}
		results[k] = helperResult{err: fmt.Errorf("helper pod %s/%s %s; it was deleted", h.Namespace, h.Name, st.reason)}
	}
}

// checkTarget reads the target fresh: its node is the blast radius, and a
// target that is gone or replaced brings no stress to any node.
func (s *Injector) checkTarget(ctx context.Context, t target.Pod) nodeCheck {
	if t.UID == "" {
		return nodeCheck{status: inject.StatusFailed, detail: "no UID: refusing a change that could follow a replacement pod"}
	}
	pod, err := s.Client.CoreV1().Pods(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nodeCheck{status: inject.StatusGone, detail: "the pod no longer exists"}
	case err != nil:
		return nodeCheck{status: inject.StatusFailed, detail: err.Error()}
	case string(pod.UID) != t.UID:
		return nodeCheck{status: inject.StatusGone, detail: "the pod was replaced by another with the same name; its node was not stressed"}
	case pod.DeletionTimestamp != nil:
		return nodeCheck{status: inject.StatusGone, detail: "the pod is terminating"}
	case pod.Spec.NodeName == "":
		return nodeCheck{status: inject.StatusFailed, detail: "the pod is not scheduled on a node"}
	}
	return nodeCheck{node: pod.Spec.NodeName}
}

// helperPod is the helper pod for one node.
func (s *Injector) helperPod(p plan, name, namespace, node string, on []target.Pod) *corev1.Pod {
	keys := make([]string, len(on))
	for i, t := range on {
		keys[i] = t.Key()
	}
	ann := map[string]string{
		DeadlineAnnotation:   p.deadline.Format(time.RFC3339),
		ExperimentAnnotation: p.run.Experiment,
		TargetsAnnotation:    strings.Join(keys, ","),
	}
	if s.Lease != "" {
		ann[LeaseAnnotation] = s.Lease
	}
	// The kubelet ends the pod at its deadline even if the stressor does
	// not. It counts from the pod's start, which is after now: rounded
	// down, so that a pod started at once does not outlive the deadline by
	// even a second (one that starts late is ended by its stressor, at
	// --until, first).
	active := max(int64(p.deadline.Sub(s.now())/time.Second), 1)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   namespace,
			Labels:      map[string]string{HelperLabel: HelperValue, RunLabel: p.run.ID, ManagedByLabel: ManagedByValue},
			Annotations: ann,
		},
		Spec: corev1.PodSpec{
			// Pinned: the scheduler must not pick another node, and a node
			// that is full or cordoned still gets its stress (that is the
			// experiment).
			NodeName:                      node,
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
			RestartPolicy:                 corev1.RestartPolicyNever,
			ActiveDeadlineSeconds:         &active,
			TerminationGracePeriodSeconds: ptr(int64(helperGracePeriod)),
			AutomountServiceAccountToken:  ptr(false),
			EnableServiceLinks:            ptr(false),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr(true),
				RunAsUser:      ptr(int64(stressUID)),
				RunAsGroup:     ptr(int64(stressUID)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			// No requests or limits: the helper is BestEffort, the first
			// pod the kubelet evicts under memory pressure, before any
			// workload on the node.
			Containers: []corev1.Container{{
				Name:                     helperContainer,
				Image:                    s.Image,
				ImagePullPolicy:          s.pullPolicy(),
				Command:                  append([]string(nil), s.command()...),
				Args:                     append([]string(nil), p.args...),
				SecurityContext:          containerSecurityContext(false),
				TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
				VolumeMounts:             helperDiskMounts(s.Spec),
			}},
			Volumes: helperDiskVolumes(s.Spec),
		},
	}
}

// helperDiskVolume is the helper pod's emptyDir for a disk stress: it
// lives on the node's kubelet root filesystem (the disk the node's pods
// share), and it goes with the helper pod, so deleting the helper removes
// whatever the stressor could not.
const helperDiskVolume = "chaosnight-disk"

func helperDiskVolumes(spec Spec) []corev1.Volume {
	if spec.Disk == nil {
		return nil
	}
	return []corev1.Volume{{Name: helperDiskVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
}

func helperDiskMounts(spec Spec) []corev1.VolumeMount {
	if spec.Disk == nil {
		return nil
	}
	return []corev1.VolumeMount{{Name: helperDiskVolume, MountPath: DiskPath(spec)}}
}

// createHelper creates the helper pod for node. A helper of this run that
// already exists there (an earlier attempt) is taken as is.
func (s *Injector) createHelper(ctx context.Context, p plan, node string, on []target.Pod) (StateHelper, error) {
	name, err := HelperName(p.run.ID, node)
	if err != nil {
		return StateHelper{}, err
	}
	ns := on[0].Namespace
	pods := s.Client.CoreV1().Pods(ns)
	created, err := pods.Create(ctx, s.helperPod(p, name, ns, node, on), metav1.CreateOptions{FieldManager: fieldManager})
	if apierrors.IsAlreadyExists(err) {
		existing, getErr := pods.Get(ctx, name, metav1.GetOptions{})
		if getErr != nil {
			return StateHelper{}, fmt.Errorf("a pod named %s exists and cannot be read: %w", name, getErr)
		}
		if existing.Labels[RunLabel] != p.run.ID || existing.Labels[HelperLabel] != HelperValue || existing.Spec.NodeName != node {
			return StateHelper{}, fmt.Errorf("a pod named %s exists and is not this run's helper on %s; it was not touched", name, node)
		}
		created, err = existing, nil
	}
	if err != nil {
		if apierrors.IsForbidden(err) && strings.Contains(err.Error(), "PodSecurity") {
			return StateHelper{}, fmt.Errorf("refused by Pod Security admission: %w", err)
		}
		return StateHelper{}, err
	}
	return StateHelper{Namespace: ns, Name: created.Name, Node: node, UID: string(created.UID)}, nil
}

// helperRef identifies one helper pod to delete and wait for.
type helperRef struct {
	namespace, name, node, uid string
}

func (h helperRef) what() string {
	return fmt.Sprintf("helper pod %s/%s on node %s", h.namespace, h.name, h.node)
}

// revertNodes deletes the helper pods of the state, then any other pod of
// this run carrying the helper label in the namespaces involved (a helper
// created by an attempt whose state was lost), and waits until they are
// gone.
func (s *Injector) revertNodes(ctx context.Context, inj inject.Injection, st State) error {
	var refs []helperRef
	seen := map[string]bool{}
	for _, h := range st.Helpers {
		refs = append(refs, helperRef{h.Namespace, h.Name, h.Node, h.UID})
		seen[h.UID] = true
	}
	var namespaces []string
	for _, h := range st.Helpers {
		namespaces = appendUnique(namespaces, h.Namespace)
	}
	for _, o := range inj.Outcomes {
		namespaces = appendUnique(namespaces, o.Pod.Namespace)
	}
	var problems []NotStopped
	if inj.Run.ID != "" {
		sel := helperSelector(inj.Run.ID)
		for _, ns := range namespaces {
			list, err := s.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
			if err != nil {
				problems = append(problems, NotStopped{What: "helper pods of run " + inj.Run.ID + " in " + ns, Err: fmt.Errorf("list: %w", err)})
				continue
			}
			for i := range list.Items {
				p := &list.Items[i]
				if !seen[string(p.UID)] {
					seen[string(p.UID)] = true
					refs = append(refs, helperRef{p.Namespace, p.Name, p.Spec.NodeName, string(p.UID)})
				}
			}
		}
	}

	errs := make([]error, len(refs))
	s.forEach(len(refs), func(i int) { errs[i] = s.deleteHelper(ctx, refs[i]) })
	var pending []helperRef
	for i, err := range errs {
		if err != nil {
			problems = append(problems, NotStopped{What: refs[i].what(), Err: err})
			continue
		}
		pending = append(pending, refs[i])
	}
	problems = append(problems, s.waitGone(ctx, pending)...)
	if len(problems) > 0 {
		slices.SortFunc(problems, func(a, b NotStopped) int { return strings.Compare(a.What, b.What) })
		return &NotStoppedError{Deadline: st.Deadline, Items: problems}
	}
	return nil
}

// helperSelector selects the helper pods of one run.
func helperSelector(runID string) string {
	return labels.SelectorFromSet(labels.Set{HelperLabel: HelperValue, RunLabel: runID}).String()
}

// deleteHelper deletes one helper pod, pinned by UID: a pod of the same
// name that is not the one created is never deleted. Gone is success.
func (s *Injector) deleteHelper(ctx context.Context, h helperRef) error {
	uid := types.UID(h.uid)
	err := s.Client.CoreV1().Pods(h.namespace).Delete(ctx, h.name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err):
		return nil // another pod now has the name: ours is gone
	}
	return fmt.Errorf("delete: %w", err)
}

// waitGone waits until every helper is gone (or replaced), at most
// RevertWait, and reports those still there.
func (s *Injector) waitGone(ctx context.Context, refs []helperRef) []NotStopped {
	limit := s.RevertWait
	if limit <= 0 {
		limit = DefaultRevertWait
	}
	var left []helperRef
	// The reads use ctx, not the poll's deadline context, as waitStarted;
	// what is left says whether the poll succeeded.
	_ = wait.PollUntilContextTimeout(ctx, revertPoll, limit, true, func(context.Context) (bool, error) {
		left = nil
		var mu sync.Mutex
		s.forEach(len(refs), func(i int) {
			p, err := s.Client.CoreV1().Pods(refs[i].namespace).Get(ctx, refs[i].name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) || (err == nil && string(p.UID) != refs[i].uid) {
				return
			}
			mu.Lock()
			left = append(left, refs[i])
			mu.Unlock()
		})
		refs = left
		return len(left) == 0, nil
	})
	if len(left) == 0 {
		return nil
	}
	out := make([]NotStopped, len(left))
	for i, h := range left {
		out[i] = NotStopped{What: h.what(), Err: fmt.Errorf("deleted but still terminating after %s (is the node reachable?)", limit)}
		if ctx.Err() != nil {
			out[i].Err = fmt.Errorf("deleted, not confirmed gone: %w", ctx.Err())
		}
	}
	return out
}

func appendUnique(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
