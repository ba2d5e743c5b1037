// Package stress burns CPU and holds memory in or next to target pods,
// without privileges. It is an inject.Injector, called through the
// inject.Guard, which decides the targets.
//
// Every stress has one deadline, an absolute instant decided when Inject
// starts: the stressor gets it as --until (and ends at it whenever its
// container started, so an image pull or a slow node can only shorten the
// stress, never extend it past what the journal says), the outcomes say
// "ends by itself by" it, and helper pods carry it in their deadline
// annotation and in activeDeadlineSeconds.
//
// Scope pod adds an ephemeral container running `chaosnight-stress` to
// each target: it shares the pod's cgroup, so the load meets the pod's own
// limits. Ephemeral containers cannot be removed from a pod, so Revert
// stops the stress early by running `chaosnight-stress stop` in that
// container (pods/exec); the stressor's own deadline is the backstop.
//
// Scope node creates one helper pod per distinct target node, pinned to it
// with spec.nodeName, labelled with the run and annotated with its
// deadline; Revert deletes it, activeDeadlineSeconds and the stressor's
// deadline are the backstops, and Sweep deletes helper pods whose run is
// gone (its Lease, see RunLease) or whose deadline passed. A node is
// stressed only when it is labelled chaosnight.dev/enabled=true (Admit,
// called by the Guard also in dry run, which also lists the collateral:
// the other pods on each node), and a node disk stress may not leave the
// node filesystem under the kubelet's hard eviction threshold unless the
// experiment allows node pressure.
//
// docs/stress.md is the user guide.
package stress

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// Kind is the key of the stress action under spec.action, and the Injection.Kind.
const Kind = "stress"

// Scopes (ScopePod, ScopeNode).
const (
	scopePod  = ScopePod
	scopeNode = ScopeNode
)

// Labels and annotations of helper pods.
const (
	// HelperLabel marks every helper pod; its value says what it does.
	HelperLabel = target.HelperLabel
	HelperValue = "stress"
	// RunLabel is the run that created the object (inject.RunLabel).
	RunLabel = inject.RunLabel
	// ManagedByLabel is the recommended Kubernetes label.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "chaosnight"
	// DeadlineAnnotation is when the stress ends by itself (RFC 3339).
	DeadlineAnnotation = "chaosnight.dev/deadline"
	// LeaseAnnotation is "namespace/name" of the run's Lease.
	LeaseAnnotation = "chaosnight.dev/run-lease"
	// TargetsAnnotation lists the target pods ("ns/name", comma separated)
	// that brought a helper pod to its node.
	TargetsAnnotation = "chaosnight.dev/targets"
	// ExperimentAnnotation names the experiment (inject.ExperimentAnnotation).
	ExperimentAnnotation = inject.ExperimentAnnotation
)

// Defaults of Injector fields.
const (
	DefaultConcurrency = 8
	// NodeEvictionThresholdPercent is the kubelet's default hard eviction
	// threshold on the node filesystem (nodefs.available<10%): a node disk
	// stress that would leave less available is refused by the stressor
	// (its --eviction-threshold) unless the experiment allows node
	// pressure, since the kubelet would start evicting the node's pods.
	NodeEvictionThresholdPercent = 10
	// DefaultRevertWait bounds the wait for helper pods to be gone.
	DefaultRevertWait = 30 * time.Second
	// DefaultExecTimeout bounds one stop command.
	DefaultExecTimeout = 20 * time.Second
	// maxDuration is the stressor's own limit.
	maxDuration = 24 * time.Hour
)

// DefaultCommand is the stress binary in the image, on its PATH: the
// small chaosnight-stress, not the main binary (a few MiB in the target
// pod instead of ~30).
func DefaultCommand() []string { return []string{"chaosnight-stress"} }

// Injector stresses targets, or their nodes.
type Injector struct {
	Client kubernetes.Interface
	// Exec runs the stop command in ephemeral containers on Revert (pod
	// scope); RemoteExec is the real one. nil means no early stop: Revert
	// then reports every stressed pod as running until its deadline.
	Exec Execer
	// Image runs `chaosnight-stress`; required (DefaultImage(version)).
	Image string
	// Command is the stress executable in Image; default
	// DefaultCommand(). The stress flags, or "stop", follow it.
	Command []string
	// ImagePullPolicy; default IfNotPresent.
	ImagePullPolicy corev1.PullPolicy
	// Spec is the experiment's stress action.
	Spec Spec
	// Duration is how long the stress lasts: the experiment's duration
	// plus a small margin. Its deadline is the start of Inject plus this,
	// in whole seconds, passed to the stressor as --until (an absolute
	// instant: a container that starts late stresses for less, never
	// longer) together with --duration (which bounds it if the node's
	// clock is behind).
	Duration time.Duration
	// Lease is the run's Lease as "namespace/name" (RunLease.Ref), put on
	// helper pods so that Sweep knows when their run is gone. Empty: Sweep
	// relies on the deadline alone.
	Lease string
	Now   func() time.Time
	// Concurrency bounds requests in flight; default DefaultConcurrency.
	Concurrency int
	// RevertWait bounds how long Revert waits for deleted helper pods to
	// be gone; default DefaultRevertWait.
	RevertWait time.Duration
	// ExecTimeout bounds one stop command; default DefaultExecTimeout.
	ExecTimeout time.Duration
	// StartTimeout, when positive, makes Inject wait until the kubelet
	// reports every stress container running; a stress not running by
	// then (an image that cannot be pulled, a stressor that refused its
	// input) is reported failed, and its helper pod deleted. Zero trusts
	// the API server's acceptance: the outcome then means "put in place".
	StartTimeout time.Duration
}

// Kind implements inject.Injector.
func (s *Injector) Kind() string { return Kind }

func (s *Injector) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Injector) command() []string {
	if len(s.Command) > 0 {
		return s.Command
	}
	return DefaultCommand()
}

func (s *Injector) pullPolicy() corev1.PullPolicy {
	if s.ImagePullPolicy != "" {
		return s.ImagePullPolicy
	}
	return corev1.PullIfNotPresent
}

func (s *Injector) scope() string {
	if s.Spec.Scope == "" {
		return scopePod
	}
	return s.Spec.Scope
}

// plan is what one Inject call decided before touching anything.
type plan struct {
	run      inject.Run
	args     []string // chaosnight-stress flags
	deadline time.Time
	name     string // ephemeral container name
	words    string // "2 CPU workers at 80%, 256Mi for 5m0s"
}

func (s *Injector) plan(run inject.Run) (plan, error) {
	var problems []string
	if s.Client == nil {
		problems = append(problems, "nil client")
	}
	if strings.TrimSpace(s.Image) == "" {
		problems = append(problems, "no image")
	}
	if sc := s.scope(); sc != scopePod && sc != scopeNode {
		problems = append(problems, fmt.Sprintf("unknown scope %q (want %s or %s)", sc, scopePod, scopeNode))
	}
	if s.Duration > maxDuration {
		problems = append(problems, fmt.Sprintf("duration %s is over the stressor's limit of %s", s.Duration, maxDuration))
	}
	args, err := StressArgs(s.Spec, s.Duration)
	if err != nil {
		problems = append(problems, err.Error())
	}
	name, err := ContainerName(run.ID)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if s.scope() == scopeNode {
		// The sweep and the revert's safety net find helper pods by this
		// label, so it must be one.
		if errs := validation.IsValidLabelValue(run.ID); len(errs) > 0 {
			problems = append(problems, fmt.Sprintf("run id %q is not a label value: %s", run.ID, strings.Join(errs, "; ")))
		}
		if s.Lease != "" {
			if _, _, ok := splitKey(s.Lease); !ok {
				problems = append(problems, fmt.Sprintf("lease %q is not namespace/name", s.Lease))
			}
		}
	}
	if len(problems) > 0 {
		return plan{}, fmt.Errorf("stress: %s", strings.Join(problems, "; "))
	}
	// Whole seconds (RFC 3339 in the annotation and on the command line),
	// rounded up: the stress lasts at least Duration from now.
	deadline := s.now().Add(roundUp(s.Duration) + time.Second - 1).UTC().Truncate(time.Second)
	args = append(args, "--until", deadline.Format(time.RFC3339))
	if s.nodePressureChecked() {
		args = append(args, "--eviction-threshold", fmt.Sprintf("%d%%", NodeEvictionThresholdPercent))
	}
	return plan{
		run:      run,
		args:     args,
		deadline: deadline,
		name:     name,
		words:    describe(s.Spec, s.Duration),
	}, nil
}

// nodePressureChecked says whether the stressor must refuse to leave the
// node filesystem under the kubelet's eviction threshold: a node-scope
// disk stress the experiment did not allow to cause node pressure.
func (s *Injector) nodePressureChecked() bool {
	return s.scope() == scopeNode && s.Spec.Disk != nil && !s.Spec.Disk.AllowNodePressure
}

// nodePressureHint completes a stressor's refusal to cross the eviction
// threshold with the setting that allows it.
func nodePressureHint(reason string) string {
	if strings.Contains(reason, "hard eviction threshold") {
		return reason + "; set stress.disk.allowNodePressure: true to allow it"
	}
	return reason
}

// describe renders the stress for outcome details.
func describe(spec Spec, d time.Duration) string {
	var parts []string
	if c := spec.CPU; c != nil {
		w, l := c.Workers, c.Load
		if w == 0 {
			w = DefaultCPUWorkers
		}
		if l == 0 {
			l = DefaultCPULoad
		}
		unit := "workers"
		if w == 1 {
			unit = "worker"
		}
		parts = append(parts, fmt.Sprintf("%d CPU %s at %d%%", w, unit, l))
	}
	if m := spec.Memory; m != nil {
		parts = append(parts, m.Size+" of memory")
	}
	if d := spec.Disk; d != nil {
		where := DiskPath(spec)
		if d.Volume != "" && spec.Scope != scopeNode {
			where = "volume " + d.Volume
		}
		switch {
		case strings.HasSuffix(d.Fill, "%"):
			parts = append(parts, "disk filled to "+d.Fill+" used in "+where)
		case d.Fill != "":
			parts = append(parts, d.Fill+" written to "+where)
		}
		if d.IO != nil {
			w := max(d.IO.Workers, 1)
			parts = append(parts, fmt.Sprintf("%d disk I/O worker(s) in %s", w, where))
		}
	}
	return strings.Join(parts, ", ") + " for " + roundUp(d).String()
}

// Inject starts the stress on every target (scope pod) or on every
// distinct node of the targets (scope node) and reports one outcome per
// target, in target order: stressed, gone (the pod no longer exists or was
// replaced by one with the same name: the replacement is never touched) or
// failed. Per-target failures are outcomes; the error is for bad
// configuration or a cancelled context. Injection.State lists everything
// created, also when the context was cancelled midway, so Revert undoes it.
func (s *Injector) Inject(ctx context.Context, run inject.Run, targets []target.Pod) (inject.Injection, error) {
	inj := inject.Injection{Run: run, Kind: Kind, At: s.now()}
	p, err := s.plan(run)
	if err != nil {
		return inj, err
	}
	if err := ctx.Err(); err != nil {
		return inj, fmt.Errorf("stress: %w", err)
	}
	st := State{Scope: s.scope(), Deadline: p.deadline}
	if st.Scope == scopePod {
		st.Container = p.name
		inj.Outcomes, st.Pods = s.injectPods(ctx, p, targets)
	} else {
		inj.Outcomes, st.Helpers = s.injectNodes(ctx, p, targets)
	}
	inj.State = st.Encode()
	if err := ctx.Err(); err != nil {
		return inj, fmt.Errorf("stress interrupted: %w", err)
	}
	return inj, nil
}

// Revert stops every stress the injection started: pod scope runs the
// stop command in each ephemeral container (a pod that is gone, or whose
// container has already ended, needs nothing); node scope deletes the
// helper pods, by name and then by run label, and waits until they are
// gone. It works from inj alone (a journal after a crash) and is
// idempotent. A stress it could not stop is named in a *NotStoppedError
// with the deadline by which it ends by itself.
func (s *Injector) Revert(ctx context.Context, inj inject.Injection) error {
	st, err := DecodeState(inj.State)
	if err != nil {
		return err
	}
	if s.Client == nil {
		return errors.New("stress revert: nil client")
	}
	switch st.Scope {
	case "":
		return nil // nothing was started (a refused or failed injection)
	case scopePod:
		return s.revertPods(ctx, st)
	case scopeNode:
		return s.revertNodes(ctx, inj, st)
	}
	return fmt.Errorf("stress revert: unknown scope %q", st.Scope)
}

// NotStoppedError names the stresses Revert could not stop. Each ends by
// itself by Deadline (the stressor's --duration, and for helper pods
// activeDeadlineSeconds); check with errors.As.
type NotStoppedError struct {
	Deadline time.Time
	Items    []NotStopped
}

// NotStopped is one stress still running.
type NotStopped struct {
	What string // "ephemeral container C of pod NS/NAME", "helper pod NS/NAME on node N"
	Err  error
}

func (e *NotStoppedError) Error() string {
	parts := make([]string, len(e.Items))
	for i, it := range e.Items {
		parts[i] = fmt.Sprintf("%s: %v", it.What, it.Err)
	}
	when := "its deadline"
	if !e.Deadline.IsZero() {
		when = e.Deadline.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("%d stress(es) could not be stopped early and run until %s: %s", len(e.Items), when, strings.Join(parts, "; "))
}

// Leftovers implements inject.LeftoverError.
func (e *NotStoppedError) Leftovers() ([]inject.Leftover, time.Time) {
	out := make([]inject.Leftover, len(e.Items))
	for i, it := range e.Items {
		out[i] = inject.Leftover{What: it.What, Err: it.Err}
	}
	return out, e.Deadline
}

// Unwrap returns the causes.
func (e *NotStoppedError) Unwrap() []error {
	errs := make([]error, len(e.Items))
	for i, it := range e.Items {
		errs[i] = it.Err
	}
	return errs
}

// forEach calls fn(0..n-1) with at most Concurrency calls at a time.
func (s *Injector) forEach(n int, fn func(i int)) {
	limit := s.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	// fn reports through its own slots, so the group never carries an
	// error; it is used for its limit (Go blocks while the limit is reached).
	var eg errgroup.Group
	eg.SetLimit(limit)
	for i := range n {
		eg.Go(func() error {
			fn(i)
			return nil
		})
	}
	_ = eg.Wait() // always nil: no fn returns an error
}
