package nodedrain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// Annotations a drain puts on the nodes it cordons. They are what a revert
// after a crash and the sweep recognise the cordon by.
const (
	// CordonedByAnnotation names the run that cordoned the node.
	CordonedByAnnotation = "chaosnight.dev/cordoned-by"
	// DeadlineAnnotation is when, in RFC 3339, the cordon is overdue:
	// the sweep uncordons the node after it even if the run still lives.
	DeadlineAnnotation = "chaosnight.dev/cordon-deadline"
	// LeaseAnnotation is the "namespace/name" of the run's Lease; the
	// sweep uncordons the node once that Lease is gone or expired.
	LeaseAnnotation = "chaosnight.dev/cordon-lease"
	// ExperimentAnnotation names the experiment, for whoever finds the
	// node cordoned.
	ExperimentAnnotation = "chaosnight.dev/cordon-experiment"
	// CordonedLabel ("true") is set with the annotations so that the sweep
	// finds a drain's nodes with a label selector instead of reading every
	// Node (large objects: their status lists the images they hold).
	CordonedLabel = "chaosnight.dev/cordoned"
)

// State keys of the Injection (plus inject.StateDeadline).
const (
	// StateNodes lists the chosen nodes, comma-separated.
	StateNodes = "nodes"
	// StateCordoned lists the nodes this run cordoned: the only ones its
	// revert uncordons.
	StateCordoned = "cordoned"
	// StateAlreadyCordoned lists the chosen nodes found cordoned by
	// somebody else when the drain came: left as they are.
	StateAlreadyCordoned = "alreadyCordoned"
	// StateGracePeriod is the grace period sent, in seconds (absent: the
	// pods' own).
	StateGracePeriod = "gracePeriod"
)

// DefaultConcurrency bounds the evictions in flight.
const DefaultConcurrency = 8

const fieldManager = "chaosnight"

// Drainer cordons nodes and evicts pods from them, and undoes the cordons.
type Drainer struct {
	Client kubernetes.Interface
	// Kind is the Injection.Kind it records (Kind for nodeDrain).
	Kind string
	// GracePeriod overrides the pods' termination grace period; nil keeps
	// theirs. Sent in whole seconds, rounded up, at least 1.
	GracePeriod *time.Duration
	// Hold is how long after the cordon the node is overdue: the
	// experiment's duration plus a margin for the revert. Required.
	Hold time.Duration
	// Lease is the run Lease's "namespace/name" (inject.Env.Lease); empty
	// leaves a crashed run's cordons to their deadline.
	Lease       string
	Now         func() time.Time
	Concurrency int // evictions in flight; default DefaultConcurrency
}

func (d *Drainer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

// Drain cordons every node of nodes, then evicts pods (which the Guard
// admitted; each must run on one of nodes). One outcome per pod, in pod
// order: evicted, protected-by-pdb, gone, or failed (also for a pod whose
// node could not be cordoned, which is then not evicted). The Injection's
// State says which nodes this run cordoned, and is filled before any
// eviction so that a revert always finds it. The error names the nodes
// that could not be cordoned, or a cancelled context.
func (d *Drainer) Drain(ctx context.Context, run inject.Run, nodes []string, pods []target.Pod) (inject.Injection, error) {
	inj := inject.Injection{Run: run, Kind: d.Kind, At: d.now(), State: map[string]string{}}
	if d.Client == nil {
		return inj, errors.New("node drain: nil client")
	}
	if d.Hold <= 0 {
		return inj, errors.New("node drain: no hold duration (the cordon's deadline)")
	}
	if len(nodes) == 0 {
		return inj, errors.New("node drain: no node to drain (were the targets picked?)")
	}
	grace, err := gracePeriodSeconds(d.GracePeriod)
	if err != nil {
		return inj, fmt.Errorf("node drain: %w", err)
	}
	deadline := inj.At.Add(d.Hold).UTC().Truncate(time.Second)
	inj.State[StateNodes] = strings.Join(nodes, ",")
	inj.State[inject.StateDeadline] = deadline.Format(time.RFC3339)
	if grace != nil {
		inj.State[StateGracePeriod] = fmt.Sprint(*grace)
	}

	var ours, theirs []string
	failed := map[string]error{}
	for _, name := range nodes {
		mine, err := d.cordon(ctx, name, run, deadline)
		switch {
		case err != nil:
			failed[name] = err
		case mine:
			ours = append(ours, name)
		default:
			theirs = append(theirs, name)
		}
	}
	if len(ours) > 0 {
		inj.State[StateCordoned] = strings.Join(ours, ",")
	}
	if len(theirs) > 0 {
		inj.State[StateAlreadyCordoned] = strings.Join(theirs, ",")
	}

	inj.Outcomes = make([]inject.Outcome, len(pods))
	limit := d.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	var eg errgroup.Group // each eviction reports in its own slot: never an error
	eg.SetLimit(limit)
	for i, p := range pods {
		if err, bad := failed[p.Node]; bad || !slices.Contains(nodes, p.Node) {
			detail := fmt.Sprintf("node %s is not one of the drained nodes; not evicted", p.Node)
			if bad {
				detail = fmt.Sprintf("node %s could not be cordoned (%v); not evicted, its replacement could land back on it", p.Node, err)
			}
			inj.Outcomes[i] = inject.Outcome{Pod: p, Status: inject.StatusFailed, Detail: detail, At: d.now()}
			continue
		}
		eg.Go(func() error {
			status, detail := evictPod(ctx, d.Client, grace, p)
			inj.Outcomes[i] = inject.Outcome{Pod: p, Status: status, Detail: detail, At: d.now()}
			return nil
		})
	}
	_ = eg.Wait()
	var errs []error
	for _, name := range nodes {
		if err := failed[name]; err != nil {
			errs = append(errs, fmt.Errorf("cordon node %s: %w", name, err))
		}
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return inj, fmt.Errorf("node drain: %w", err)
	}
	return inj, nil
}

// cordon marks node name unschedulable with the run's annotations, unless
// it is already unschedulable: then it is somebody else's cordon (or this
// run's own, from an earlier call), left as it is. The patch carries the
// resourceVersion read, so a cordon by somebody else in between is never
// mistaken for ours. mine says whether this run holds the cordon.
func (d *Drainer) cordon(ctx context.Context, name string, run inject.Run, deadline time.Time) (mine bool, err error) {
	nodes := d.Client.CoreV1().Nodes()
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := nodes.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if n.Spec.Unschedulable {
			mine = n.Annotations[CordonedByAnnotation] == run.ID
			return nil
		}
		ann := map[string]any{
			CordonedByAnnotation: run.ID,
			DeadlineAnnotation:   deadline.Format(time.RFC3339),
		}
		if d.Lease != "" {
			ann[LeaseAnnotation] = d.Lease
		}
		if run.Experiment != "" {
			ann[ExperimentAnnotation] = run.Experiment
		}
		patch, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"resourceVersion": n.ResourceVersion, "annotations": ann,
				"labels": map[string]any{CordonedLabel: "true"}},
			"spec": map[string]any{"unschedulable": true},
		})
		if err != nil {
			return err
		}
		_, err = nodes.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
		mine = err == nil
		return err
	})
	return mine, err
}

// uncordonResult is what uncordon found.
type uncordonResult int

const (
	uncordoned uncordonResult = iota // it was ours: now schedulable, annotations gone
	notOurs                          // its annotation names another run, or none
	nodeGone                         // the node no longer exists
)

// uncordon makes node name schedulable again and removes the drain's
// annotations, only while CordonedByAnnotation still names runID; the
// patch is pinned on the resourceVersion of that reading.
func uncordon(ctx context.Context, client kubernetes.Interface, name, runID string) (uncordonResult, error) {
	nodes := client.CoreV1().Nodes()
	res := notOurs
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := nodes.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			res = nodeGone
			return nil
		}
		if err != nil {
			return err
		}
		if n.Annotations[CordonedByAnnotation] != runID || runID == "" {
			res = notOurs
			return nil
		}
		patch, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"resourceVersion": n.ResourceVersion, "annotations": map[string]any{
				CordonedByAnnotation: nil, DeadlineAnnotation: nil, LeaseAnnotation: nil, ExperimentAnnotation: nil,
			}, "labels": map[string]any{CordonedLabel: nil}},
			"spec": map[string]any{"unschedulable": nil},
		})
		if err != nil {
			return err
		}
		_, err = nodes.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: fieldManager})
		if apierrors.IsNotFound(err) {
			res = nodeGone
			return nil
		}
		res = uncordoned
		return err
	})
	return res, err
}

// Revert uncordons the nodes inj's run cordoned (StateCordoned), each only
// while its annotation still names the run, and removes the annotations.
// Nodes gone or re-cordoned by somebody else are left alone. It is
// idempotent and needs nothing but inj, so it also works from a journal
// after a crash. What it could not uncordon is a *NotUncordonedError.
func (d *Drainer) Revert(ctx context.Context, inj inject.Injection) error {
	if d.Client == nil {
		return errors.New("node drain revert: nil client")
	}
	var items []NotUncordoned
	for _, name := range splitList(inj.State[StateCordoned]) {
		if _, err := uncordon(ctx, d.Client, name, inj.Run.ID); err != nil {
			items = append(items, NotUncordoned{Node: name, Err: err})
		}
	}
	if len(items) > 0 {
		return &NotUncordonedError{Items: items, Deadline: parseTime(inj.State[inject.StateDeadline])}
	}
	return nil
}

// NotUncordonedError names the nodes a revert could not uncordon (check
// with errors.As). A cordon does not end by itself: the sweep of the next
// run or serve uncordons them once the run's Lease is gone or after
// Deadline.
type NotUncordonedError struct {
	Items    []NotUncordoned
	Deadline time.Time
}

// NotUncordoned is one node still cordoned by the run.
type NotUncordoned struct {
	Node string
	Err  error
}

func (e *NotUncordonedError) Error() string {
	parts := make([]string, len(e.Items))
	for i, it := range e.Items {
		parts[i] = fmt.Sprintf("node %s: %v", it.Node, it.Err)
	}
	return fmt.Sprintf("%d node(s) still cordoned (the next sweep uncordons them): %s", len(e.Items), strings.Join(parts, "; "))
}

// Leftovers implements inject.LeftoverError. The time is zero: a cordon
// never ends by itself.
func (e *NotUncordonedError) Leftovers() ([]inject.Leftover, time.Time) {
	out := make([]inject.Leftover, len(e.Items))
	for i, it := range e.Items {
		what := "node " + it.Node + " cordoned"
		if !e.Deadline.IsZero() {
			what += " (a sweep uncordons it after " + e.Deadline.UTC().Format(time.RFC3339) + ")"
		}
		out[i] = inject.Leftover{What: what, Err: it.Err}
	}
	return out, time.Time{}
}

// Unwrap returns the causes.
func (e *NotUncordonedError) Unwrap() []error {
	errs := make([]error, len(e.Items))
	for i, it := range e.Items {
		errs[i] = it.Err
	}
	return errs
}

var _ inject.LeftoverError = (*NotUncordonedError)(nil)

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
