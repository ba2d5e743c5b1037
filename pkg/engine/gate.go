package engine

import (
	"context"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/chaosnight/chaosnight/pkg/gate"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// Gate is the incident-aware gate (gate.Gate): asked right before each
// injection, after the targets are picked (the rollout check reads their
// workloads) and before the Guard. It always answers; what it could not
// find out is a closed gate.
type Gate interface {
	Check(ctx context.Context, req gate.Request) gate.Check
}

// checkGate asks the gate about the round about to be injected and
// journals the check. A non-empty verdict means the gate is closed and
// nothing may be injected: the first round skips the run; a repeat is
// skipped like a refused one (the caller goes on observing what the
// earlier rounds put in place, which the hypothesis and stopWhen judge).
func (r *run) checkGate(ctx context.Context, round int, picked []target.Pod) (journal.Verdict, []string) {
	if r.e.Gate == nil {
		return "", nil
	}
	c := r.e.Gate.Check(ctx, gate.Request{Round: round, Detect: r.exp.Spec.Detect, Targets: picked})
	r.rec.Gate = append(r.rec.Gate, c)
	r.checkpoint()
	if c.Open {
		return "", nil
	}
	if ctx.Err() != nil {
		// The check failed because the run was interrupted, not because
		// the cluster is busy.
		return journal.Aborted, []string{fmt.Sprintf("interrupted before injection (%v); nothing was injected", context.Cause(ctx))}
	}
	r.log.Info("gate closed: nothing injected", "round", round, "reasons", strings.Join(c.Reasons, "; "))
	r.observe(Progress{Phase: journal.PhaseSelect, Message: strings.Join(c.Reasons, "; ")})
	if round > 1 {
		return journal.Skipped, prefix(roundWords(round, "touched nothing: "), c.Reasons)
	}
	return journal.Skipped, c.Reasons
}

// census offers the select phase's LIST (pods, before the eligibility
// filters) to the guard's minHealthy rule, for a dry run only: an owner is
// covered when the gate's rollout check of this round read its pod
// selector and that selector implies the experiment's label selector, and
// no field selector of the user's narrowed the LIST (status.phase=Running,
// always added, drops no ready pod). Then every pod of the owner matched
// the LIST, and counting its ready pods from it costs no request. nil
// (count fresh) for a real run, without the rollout check, or when nothing
// is covered; a real run always counts fresh before touching anything.
func (r *run) census(pods []target.Pod) *inject.Census {
	if !r.opts.DryRun || len(r.rec.Gate) == 0 || strings.TrimSpace(r.exp.Spec.Target.FieldSelector) != "" {
		return nil
	}
	rc := r.rec.Gate[len(r.rec.Gate)-1].Rollouts
	if rc == nil {
		return nil
	}
	listed, err := labels.Parse(r.exp.Spec.Target.Selector)
	if err != nil {
		return nil
	}
	covered := map[string]bool{}
	for _, w := range rc.Workloads {
		if w.Error != "" || w.Selector == "" {
			continue
		}
		sel, err := labels.Parse(w.Selector)
		if err != nil || !target.Implies(sel, listed) {
			continue
		}
		for _, o := range w.Owners {
			covered[o] = true
		}
	}
	if len(covered) == 0 {
		return nil
	}
	return &inject.Census{Pods: pods, Covered: covered}
}
