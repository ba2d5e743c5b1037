package stress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/target"
)

// SweepConfig configures Sweep.
type SweepConfig struct {
	// Namespaces to look for helper pods in; empty means every namespace
	// (list pods cluster-wide). A run should sweep at least the namespaces
	// it may stress; serve, every namespace its experiments name.
	Namespaces []string
	// LeaseNamespace, when set, also gets its expired run Leases deleted
	// (a run killed with SIGKILL never deletes its own).
	LeaseNamespace string
	// DryRun reports what would be deleted and deletes nothing (for
	// `run --dry-run` and a dry-run serve).
	DryRun bool
	Now    func() time.Time
	Log    *slog.Logger
}

// SweepReport says what Sweep did.
type SweepReport struct {
	Deleted []SweptPod // helper pods deleted (with DryRun: to delete), with the reason
	Kept    int        // helper pods of live runs, left alone
	Leases  []string   // expired run Leases deleted, "namespace/name"
}

// SweptPod is one helper pod Sweep deleted.
type SweptPod struct {
	Namespace, Name, Node, Run, Reason string
}

// leaseState is what Sweep learned about one run Lease.
type leaseState struct {
	found  bool
	expiry time.Time
	err    error
}

// Sweep deletes orphaned stress helper pods: pods labelled HelperLabel
// (and managed by chaosnight) whose deadline has passed, whose deadline is
// missing or unreadable, or whose run is gone, which is known from the
// run's Lease (LeaseAnnotation): missing, or not renewed within its
// duration. A helper whose Lease cannot be read is kept (an unknown state
// is not "gone") and reported in the error. Deletions are pinned by UID.
// It returns what it did even when some of it failed.
func Sweep(ctx context.Context, client kubernetes.Interface, cfg SweepConfig) (SweepReport, error) {
	var rep SweepReport
	if client == nil {
		return rep, errors.New("sweep: nil client")
	}
	sw := sweeper{client: client, cfg: cfg, now: time.Now, log: cfg.Log, leases: map[string]leaseState{}, rep: &rep}
	if cfg.Now != nil {
		sw.now = cfg.Now
	}
	if sw.log == nil {
		sw.log = slog.New(slog.DiscardHandler)
	}
	namespaces := cfg.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{metav1.NamespaceAll}
	}
	sel, err := sweepSelector()
	if err != nil {
		return rep, fmt.Errorf("sweep: %w", err)
	}
	var errs []error
	for _, ns := range namespaces {
		helpers, err := listHelpers(ctx, client, ns, sel)
		if err != nil {
			errs = append(errs, fmt.Errorf("list helper pods in %s: %w", nsWords(ns), err))
			continue
		}
		for i := range helpers {
			if err := sw.judge(ctx, &helpers[i]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if cfg.LeaseNamespace != "" {
		deleted, err := sweepLeases(ctx, client, cfg.LeaseNamespace, sw.now(), cfg.DryRun)
		rep.Leases = deleted
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("sweep: %w", err)
	}
	return rep, nil
}

// sweepSelector selects every stress helper pod of chaosnight's, whatever
// its run: HelperLabel set and managed by chaosnight.
func sweepSelector() (string, error) {
	sel := labels.NewSelector()
	for _, r := range []struct {
		key string
		op  selection.Operator
		val []string
	}{{HelperLabel, selection.Exists, nil}, {ManagedByLabel, selection.Equals, []string{ManagedByValue}}} {
		req, err := labels.NewRequirement(r.key, r.op, r.val)
		if err != nil {
			return "", err
		}
		sel = sel.Add(*req)
	}
	return sel.String(), nil
}

// sweeper is one Sweep's state: the run Leases read so far (each read
// once, however many helpers name it) and the report.
type sweeper struct {
	client kubernetes.Interface
	cfg    SweepConfig
	now    func() time.Time
	log    *slog.Logger
	leases map[string]leaseState
	rep    *SweepReport
}

// judge keeps a helper pod or deletes it (pinned by its UID) when it is
// an orphan; a pod already being deleted is left to it. The error says
// why a pod was kept in doubt, or why its deletion failed.
func (sw *sweeper) judge(ctx context.Context, p *corev1.Pod) error {
	if p.DeletionTimestamp != nil {
		return nil // already going
	}
	ref := p.Annotations[LeaseAnnotation]
	if _, seen := sw.leases[ref]; ref != "" && !seen {
		sw.leases[ref] = readLease(ctx, sw.client, ref)
	}
	reason, orphan, keptErr := orphanReason(p, sw.leases[ref], sw.now())
	if keptErr != nil {
		keptErr = fmt.Errorf("helper pod %s/%s kept: %w", p.Namespace, p.Name, keptErr)
	}
	if !orphan {
		sw.rep.Kept++
		return keptErr
	}
	swept := SweptPod{Namespace: p.Namespace, Name: p.Name, Node: p.Spec.NodeName, Run: p.Labels[RunLabel], Reason: reason}
	if sw.cfg.DryRun {
		sw.rep.Deleted = append(sw.rep.Deleted, swept)
		sw.log.Info("dry run: would delete orphan stress helper", "pod", p.Namespace+"/"+p.Name, "node", p.Spec.NodeName, "run", swept.Run, "reason", reason)
		return keptErr
	}
	uid := p.UID
	err := sw.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return errors.Join(keptErr, fmt.Errorf("delete helper pod %s/%s (%s): %w", p.Namespace, p.Name, reason, err))
	}
	sw.rep.Deleted = append(sw.rep.Deleted, swept)
	sw.log.Info("orphan stress helper deleted", "pod", p.Namespace+"/"+p.Name, "node", p.Spec.NodeName, "run", swept.Run, "reason", reason)
	return keptErr
}

// sweepPageSize bounds one LIST of helper pods.
const sweepPageSize = 500

// listHelpers lists the helper pods of ns (every namespace when empty)
// matching sel, page by page through target.Paged: an expired continue
// token (410 Gone) starts the LIST once more from the first page, after
// dropping what the first attempt gave, so a helper is neither missed nor
// judged twice. The whole list is read before any helper is judged, so a
// restart never meets a half-swept namespace. Full pods, not target.Pod,
// because the verdict needs the helper's annotations (its deadline and
// run Lease); there is one helper per stressed node, so they are few.
func listHelpers(ctx context.Context, client kubernetes.Interface, ns, sel string) ([]corev1.Pod, error) {
	var out []corev1.Pod
	_, err := target.Paged(ctx, metav1.ListOptions{LabelSelector: sel, Limit: sweepPageSize}, func() { out = out[:0] },
		func(ctx context.Context, opts metav1.ListOptions) (string, error) {
			list, err := client.CoreV1().Pods(ns).List(ctx, opts)
			if err != nil {
				return "", err
			}
			out = append(out, list.Items...)
			return list.Continue, nil
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// orphanReason decides whether a helper pod is an orphan. err is set when
// the pod is kept because its run's state is unknown.
func orphanReason(p *corev1.Pod, lease leaseState, now time.Time) (reason string, orphan bool, err error) {
	d, ok := p.Annotations[DeadlineAnnotation]
	if !ok {
		return "no " + DeadlineAnnotation + " annotation", true, nil
	}
	deadline, perr := time.Parse(time.RFC3339, d)
	if perr != nil {
		return fmt.Sprintf("unreadable %s %q", DeadlineAnnotation, d), true, nil
	}
	if !now.Before(deadline) {
		return "its deadline " + d + " has passed", true, nil
	}
	ref := p.Annotations[LeaseAnnotation]
	switch {
	case ref == "":
		return "", false, nil // no lease: the deadline alone decides
	case lease.err != nil && apierrors.IsForbidden(lease.err):
		// Another chaosnight install's run, whose Lease lives where this
		// runner's namespaced rights do not reach: it is that runner's to
		// sweep. Kept (unknown is never "gone"), and not an error: two
		// installs side by side is a normal setup. Its deadline still
		// ends it for anyone.
		return "", false, nil
	case lease.err != nil:
		return "", false, fmt.Errorf("cannot read run lease %s: %w", ref, lease.err)
	case !lease.found:
		return "its run is gone (lease " + ref + " does not exist)", true, nil
	case !now.Before(lease.expiry):
		return "its run is gone (lease " + ref + " expired at " + lease.expiry.UTC().Format(time.RFC3339) + ")", true, nil
	}
	return "", false, nil
}

func readLease(ctx context.Context, client kubernetes.Interface, ref string) leaseState {
	ns, name, ok := splitKey(ref)
	if !ok {
		return leaseState{err: fmt.Errorf("%q is not namespace/name", ref)}
	}
	l, err := client.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return leaseState{}
	case err != nil:
		return leaseState{err: err}
	}
	return leaseState{found: true, expiry: leaseExpiry(l)}
}

// sweepLeases deletes the expired run Leases of ns (lists them, dryRun).
func sweepLeases(ctx context.Context, client kubernetes.Interface, ns string, now time.Time, dryRun bool) ([]string, error) {
	sel := labels.SelectorFromSet(labels.Set{ManagedByLabel: ManagedByValue})
	list, err := client.CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list run leases in %s: %w", ns, err)
	}
	var deleted []string
	var errs []error
	for i := range list.Items {
		l := &list.Items[i]
		if _, ok := l.Labels[RunLabel]; !ok || !isRunLease(l) || now.Before(leaseExpiry(l)) {
			continue
		}
		if dryRun {
			deleted = append(deleted, ns+"/"+l.Name)
			continue
		}
		uid := types.UID(l.UID)
		err := client.CoordinationV1().Leases(ns).Delete(ctx, l.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("delete run lease %s/%s: %w", ns, l.Name, err))
			continue
		}
		deleted = append(deleted, ns+"/"+l.Name)
	}
	return deleted, errors.Join(errs...)
}

// isRunLease tells a run Lease from other chaosnight Leases (leader
// election), which Sweep must never delete.
func isRunLease(l *coordinationv1.Lease) bool {
	name, err := LeaseName(l.Labels[RunLabel])
	return err == nil && name == l.Name
}

func nsWords(ns string) string {
	if ns == metav1.NamespaceAll {
		return "all namespaces"
	}
	return "namespace " + ns
}
