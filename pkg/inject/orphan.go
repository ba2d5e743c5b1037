package inject

import (
	"context"
	"fmt"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Objects a run leaves in the cluster that a crash cannot revert (stress
// helper pods, cordoned nodes) carry a deadline and the "namespace/name"
// of the run's Lease. Every Sweeper judges them the same way, here.

// DefaultLeaseDuration is how long a run Lease without
// leaseDurationSeconds proves its run alive after its last renewal.
const DefaultLeaseDuration = time.Minute

// RunLease is what a sweep learned about one run Lease.
type RunLease struct {
	Found  bool
	Expiry time.Time
	Err    error // the Lease could not be read: the run's state is unknown
}

// ReadRunLease reads the Lease ref ("namespace/name").
func ReadRunLease(ctx context.Context, client kubernetes.Interface, ref string) RunLease {
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return RunLease{Err: fmt.Errorf("%q is not namespace/name", ref)}
	}
	l, err := client.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return RunLease{}
	case err != nil:
		return RunLease{Err: err}
	}
	return RunLease{Found: true, Expiry: LeaseExpiry(l)}
}

// LeaseExpiry is when a Lease stops proving its run alive: its last
// renewal (or acquisition, or creation) plus its duration.
func LeaseExpiry(l *coordinationv1.Lease) time.Time {
	var last time.Time
	switch {
	case l.Spec.RenewTime != nil:
		last = l.Spec.RenewTime.Time
	case l.Spec.AcquireTime != nil:
		last = l.Spec.AcquireTime.Time
	default:
		last = l.CreationTimestamp.Time
	}
	d := DefaultLeaseDuration
	if l.Spec.LeaseDurationSeconds != nil {
		d = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	return last.Add(d)
}

// LeftBehind is what an object left by a run says about it: its deadline
// annotation (name and value; ok false when absent) and its Lease
// reference ("" when none).
type LeftBehind struct {
	DeadlineName string // the annotation's name, for the reasons
	Deadline     string
	HasDeadline  bool
	LeaseRef     string
}

// OrphanReason decides whether an object a run left is an orphan: its
// deadline is missing, unreadable or past, or its Lease is gone or
// expired. err is set when it is kept because its run's state is unknown
// (the Lease cannot be read); a Lease this runner may not read (Forbidden)
// is another install's run, kept until its deadline without an error: two
// installs side by side is a normal setup.
func OrphanReason(o LeftBehind, lease RunLease, now time.Time) (reason string, orphan bool, err error) {
	if !o.HasDeadline {
		return "no " + o.DeadlineName + " annotation", true, nil
	}
	deadline, perr := time.Parse(time.RFC3339, o.Deadline)
	if perr != nil {
		return fmt.Sprintf("unreadable %s %q", o.DeadlineName, o.Deadline), true, nil
	}
	if !now.Before(deadline) {
		return "its deadline " + o.Deadline + " has passed", true, nil
	}
	ref := o.LeaseRef
	switch {
	case ref == "":
		return "", false, nil // no lease: the deadline alone decides
	case lease.Err != nil && apierrors.IsForbidden(lease.Err):
		return "", false, nil
	case lease.Err != nil:
		return "", false, fmt.Errorf("cannot read run lease %s: %w", ref, lease.Err)
	case !lease.Found:
		return "its run is gone (lease " + ref + " does not exist)", true, nil
	case !now.Before(lease.Expiry):
		return "its run is gone (lease " + ref + " expired at " + lease.Expiry.UTC().Format(time.RFC3339) + ")", true, nil
	}
	return "", false, nil
}
