package runner

import "time"

// The shutdown budget: what a stopping leader needs between SIGTERM and its
// exit, so that the chart's terminationGracePeriodSeconds can be checked
// against the code (test/chart). The kubelet kills the process at the end
// of the grace period: a revert cut short leaves the fault in place until
// its own deadline.
const (
	// RevertTimeout bounds the revert of one injection in serve
	// (engine.Engine.RevertTimeout, whose own default is the same minute).
	// Only stress injections leave state to revert, one per run; their
	// revert (stop commands, helper pods deleted and waited for,
	// stress.DefaultRevertWait) runs within it. Pod kills revert nothing.
	RevertTimeout = time.Minute
	// VerdictWriteTimeout bounds writing the verdict after the revert: the
	// journal and the run's Event (Events waits at most this long).
	VerdictWriteTimeout = 10 * time.Second
	// LeaseReleaseTimeout bounds the release of the leader Lease, which
	// happens only after the revert (DefaultRenewDeadline bounds it).
	LeaseReleaseTimeout = DefaultRenewDeadline
	// RunLeaseStopTimeout bounds the deletion of serve's runner Lease.
	RunLeaseStopTimeout = 10 * time.Second
	// HTTPShutdownTimeout bounds the graceful stop of the HTTP endpoints.
	HTTPShutdownTimeout = 5 * time.Second
	// ShutdownMargin is added to the budget for scheduling delays and a
	// slow API server.
	ShutdownMargin = 20 * time.Second
)

// ShutdownBudget is the longest a stopping leader needs from SIGTERM to
// exit, without margin: the run in flight aborts at once (its context is
// cancelled), then reverts, writes its verdict, releases the leader Lease
// and stops its runner Lease and HTTP server, one after the other.
func ShutdownBudget() time.Duration {
	return RevertTimeout + VerdictWriteTimeout + LeaseReleaseTimeout + RunLeaseStopTimeout + HTTPShutdownTimeout
}

// MinTerminationGracePeriod is the shortest terminationGracePeriodSeconds
// that lets a stopping leader finish its revert: ShutdownBudget plus
// ShutdownMargin (115 s; the chart's default is 120 s).
func MinTerminationGracePeriod() time.Duration {
	return ShutdownBudget() + ShutdownMargin
}
