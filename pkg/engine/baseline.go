package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/probe"
)

// measureBaselines measures, at the start of preflight, the baseline of every
// hypothesis probe with expect.baseline: one range query over
// [start-window, start] at the probe interval, recorded in the journal.
// A non-empty verdict ends the run before anything is injected: an
// unknown baseline (too few points, gaps, NaN, no series, a failed query)
// makes it skipped, since noise must not decide the verdict; a Prometheus
// client that cannot run range queries makes it an error (chaosnight, not
// the system, is at fault).
// note is the preflight phase's note when the run ends here.
func (r *run) measureBaselines(ctx context.Context) (verdict journal.Verdict, reasons []string, note string) {
	probes := r.exp.Spec.Hypothesis.Probes
	var want []int
	for i, p := range probes {
		if p.Expect.Baseline != nil {
			want = append(want, i)
		}
	}
	if len(want) == 0 {
		return "", nil, ""
	}
	rq, ok := r.e.Prom.(probe.RangeQuerier)
	if !ok {
		return journal.Error, []string{fmt.Sprintf(
			"the Prometheus client (%T) cannot run range queries, which the baselines of %d probes need; nothing was injected", r.e.Prom, len(want))}, "baseline not measured"
	}
	at := r.e.now()
	step := r.exp.Spec.ProbeInterval.Duration
	var unknown []string
	for _, i := range want {
		b := probe.MeasureBaseline(ctx, rq, probes[i], at, step)
		r.rec.Baselines = append(r.rec.Baselines, journal.Baseline{Index: i, Baseline: b})
		if !b.Known() {
			unknown = append(unknown, b.Unknown)
			continue
		}
		r.log.Info("baseline", "probe", probes[i].Name, "series", len(b.Series), "window", b.Window.String(), "step", b.Step.String())
	}
	r.checkpoint()
	if ctx.Err() != nil {
		return journal.Aborted, []string{fmt.Sprintf("interrupted before injection (%v); nothing was injected", context.Cause(ctx))}, "interrupted"
	}
	if len(unknown) > 0 {
		return journal.Skipped, prefix("the baseline is unknown, nothing was injected: ", unknown), "baseline unknown"
	}
	return "", nil, ""
}

// checkHypothesis evaluates hypothesis probe i at instant at: against its
// recorded baseline when it has expect.baseline, else against its fixed
// threshold.
func (r *run) checkHypothesis(ctx context.Context, i int, p experiment.Probe, at time.Time) probe.Result {
	if p.Expect.Baseline == nil {
		return probe.Check(ctx, r.e.Prom, p, probe.RoleHypothesis, at)
	}
	var b *probe.Baseline
	if jb := r.rec.BaselineOf(i); jb != nil {
		b = &jb.Baseline
	}
	return probe.CheckBaseline(ctx, r.e.Prom, p, b, at)
}
