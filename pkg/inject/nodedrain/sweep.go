package nodedrain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/target"
)

// defaultLeaseDuration is how long a Lease without leaseDurationSeconds
// proves its run alive (the run Lease's own default).
const defaultLeaseDuration = time.Minute

// SweepConfig configures Sweep.
type SweepConfig struct {
	// DryRun reports what would be uncordoned and changes nothing.
	DryRun bool
	Now    func() time.Time
	Log    *slog.Logger
}

// SweptNode is one node Sweep uncordoned (with DryRun: would uncordon).
type SweptNode struct {
	Name, Run, Reason string
}

// SweepReport says what Sweep did.
type SweepReport struct {
	Uncordoned []SweptNode
	Kept       int // nodes cordoned by live runs, left alone
}

// leaseState is what Sweep learned about one run Lease.
type leaseState struct {
	found  bool
	expiry time.Time
	err    error
}

// Sweep uncordons the nodes a crashed drain left cordoned: nodes whose
// CordonedByAnnotation names a run whose deadline (DeadlineAnnotation) has
// passed, is missing or unreadable, or whose Lease (LeaseAnnotation) is
// missing or expired. A node whose Lease cannot be read is kept (unknown is
// never "gone") and reported in the error, except when reading is
// forbidden: that is another install's run, kept until its deadline
// without an error. Each uncordon is pinned on the run named when the node
// was read. Nodes are cluster-scoped; Sweep lists those labelled
// CordonedLabel=true. A runner that may not list nodes could not have
// drained any: then there is nothing to sweep, and no error. It returns
// what it did even when part failed.
func Sweep(ctx context.Context, client kubernetes.Interface, cfg SweepConfig) (SweepReport, error) {
	var rep SweepReport
	if client == nil {
		return rep, errors.New("node sweep: nil client")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	nodes, err := cordonedNodes(ctx, client)
	if apierrors.IsForbidden(err) {
		// No node fault is configured for this runner (the chart grants
		// nodes only with them): every run and serve start sweeps, and
		// must not warn about rights it never needed.
		cfg.Log.Debug("node sweep skipped: nodes may not be listed", "error", err)
		return rep, nil
	}
	if err != nil {
		return rep, fmt.Errorf("node sweep: list nodes: %w", err)
	}
	var errs []error
	leases := map[string]leaseState{}
	for i := range nodes {
		n := &nodes[i]
		ref := n.Annotations[LeaseAnnotation]
		if _, seen := leases[ref]; ref != "" && !seen {
			leases[ref] = readLease(ctx, client, ref)
		}
		if err := sweepNode(ctx, client, cfg, n, leases[ref], &rep); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("node sweep: %w", err)
	}
	return rep, nil
}

// cordonedNodes lists the nodes a drain cordoned (CordonedLabel), every
// page read before any node is judged; an expired continue token restarts
// the LIST from the first page.
func cordonedNodes(ctx context.Context, client kubernetes.Interface) ([]corev1.Node, error) {
	var nodes []corev1.Node
	opts := metav1.ListOptions{LabelSelector: CordonedLabel + "=true", Limit: 500}
	_, err := target.Paged(ctx, opts, func() { nodes = nil }, func(ctx context.Context, opts metav1.ListOptions) (string, error) {
		list, err := client.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return "", err
		}
		nodes = append(nodes, list.Items...)
		return list.Continue, nil
	})
	return nodes, err
}

// sweepNode uncordons one node whose run is gone, recording it in rep. The
// error says why a node was kept (its run's state unknown) or could not
// be uncordoned.
func sweepNode(ctx context.Context, client kubernetes.Interface, cfg SweepConfig, n *corev1.Node, lease leaseState, rep *SweepReport) error {
	run := n.Annotations[CordonedByAnnotation]
	if run == "" {
		return nil
	}
	reason, orphan, keptErr := orphanReason(n, lease, cfg.Now())
	if keptErr != nil {
		keptErr = fmt.Errorf("node %s kept cordoned: %w", n.Name, keptErr)
	}
	if !orphan {
		rep.Kept++
		return keptErr
	}
	swept := SweptNode{Name: n.Name, Run: run, Reason: reason}
	if cfg.DryRun {
		rep.Uncordoned = append(rep.Uncordoned, swept)
		cfg.Log.Info("dry run: would uncordon node left by a drain", "node", n.Name, "run", run, "reason", reason)
		return keptErr
	}
	res, err := uncordon(ctx, client, n.Name, run)
	if err != nil {
		return errors.Join(keptErr, fmt.Errorf("uncordon node %s (%s): %w", n.Name, reason, err))
	}
	if res == uncordoned {
		rep.Uncordoned = append(rep.Uncordoned, swept)
		cfg.Log.Info("node left cordoned by a drain uncordoned", "node", n.Name, "run", run, "reason", reason)
	}
	return keptErr
}

// orphanReason decides whether a node's cordon is orphaned. err is set
// when it is kept because its run's state is unknown.
func orphanReason(n *corev1.Node, lease leaseState, now time.Time) (reason string, orphan bool, err error) {
	d, ok := n.Annotations[DeadlineAnnotation]
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
	ref := n.Annotations[LeaseAnnotation]
	switch {
	case ref == "":
		return "", false, nil // no lease: the deadline alone decides
	case lease.err != nil && apierrors.IsForbidden(lease.err):
		// Another install's run, whose Lease this runner may not read:
		// kept until its deadline, and not an error.
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
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
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

// leaseExpiry is when a Lease stops proving its run alive: its last
// renewal (or acquisition, or creation) plus its duration.
func leaseExpiry(l *coordinationv1.Lease) time.Time {
	var last time.Time
	switch {
	case l.Spec.RenewTime != nil:
		last = l.Spec.RenewTime.Time
	case l.Spec.AcquireTime != nil:
		last = l.Spec.AcquireTime.Time
	default:
		last = l.CreationTimestamp.Time
	}
	d := defaultLeaseDuration
	if l.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	return last.Add(d)
}
