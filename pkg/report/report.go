// Package report renders journals (run records) as evidence people can read:
// a self-contained HTML page with a chart per probe, JUnit XML for CI test
// reporters, and Markdown for CI job summaries and pull-request comments.
//
// Every renderer takes one or more records; with several, the HTML page and
// the Markdown add a summary across runs. Output depends only on the records,
// so it is deterministic (the tests compare it with golden files).
package report

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/probe"
)

// probeRef is one probe or stop condition of an experiment with its samples.
type probeRef struct {
	Probe   experiment.Probe
	Role    probe.Role
	Samples []journal.Sample
	// Baseline is the measured baseline of a hypothesis probe with
	// expect.baseline (baseline.go), nil otherwise.
	Baseline *journal.Baseline
}

// Failed counts the bad samples (hypothesis violated, or stop condition fired).
func (p probeRef) Failed() int {
	n := 0
	for _, s := range p.Samples {
		if !s.OK {
			n++
		}
	}
	return n
}

// Reasons lists the distinct reasons of the bad samples, in order, with the
// phase they were first seen in.
func (p probeRef) Reasons() []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range p.Samples {
		if s.OK {
			continue
		}
		why := s.Reason
		if s.Err != "" {
			why = "could not evaluate: " + s.Err
		}
		if why == "" {
			why = fmt.Sprintf("%s = %s", s.Probe, formatValue(s.Value))
		}
		if !seen[why] {
			seen[why] = true
			out = append(out, s.Phase+": "+why)
		}
	}
	return out
}

// probes lists the hypothesis probes, then the stop conditions, each with
// its samples in time order. Samples of a probe the experiment no longer
// names are ignored.
func probes(rec *journal.Record) []probeRef {
	var out []probeRef
	for i, p := range rec.Experiment.Spec.Hypothesis.Probes {
		out = append(out, probeRef{Probe: p, Role: probe.RoleHypothesis, Baseline: baselineOf(rec, i)})
	}
	for _, p := range rec.Experiment.Spec.StopWhen {
		out = append(out, probeRef{Probe: p, Role: probe.RoleStop})
	}
	for i := range out {
		for _, s := range rec.Samples {
			if s.Probe == out[i].Probe.Name && roleOf(s.Role) == out[i].Role {
				out[i].Samples = append(out[i].Samples, s)
			}
		}
		sort.SliceStable(out[i].Samples, func(a, b int) bool { return out[i].Samples[a].At.Before(out[i].Samples[b].At) })
	}
	return out
}

func roleOf(r probe.Role) probe.Role {
	if r == "" {
		return probe.RoleHypothesis
	}
	return r
}

// phase returns the named phase, or nil.
func phase(rec *journal.Record, name string) *journal.Phase {
	for i := range rec.Phases {
		if rec.Phases[i].Name == name {
			return &rec.Phases[i]
		}
	}
	return nil
}

// injectionWindow is the time the fault was applied: from the start of the
// inject phase to the end of the revert phase. ok is false when nothing was
// injected.
func injectionWindow(rec *journal.Record) (from, to time.Time, ok bool) {
	inj := phase(rec, journal.PhaseInject)
	if inj == nil || len(rec.Injections) == 0 && inj.Ended.IsZero() {
		return time.Time{}, time.Time{}, false
	}
	from = inj.Started
	switch rev := phase(rec, journal.PhaseRevert); {
	case rev != nil && !rev.Ended.IsZero():
		to = rev.Ended
	case rev != nil:
		to = rev.Started
	default:
		to = runEnd(rec)
	}
	if to.Before(from) {
		to = from
	}
	return from, to, true
}

// injectionMarks are the times a fault started: each injection, and each
// kill, eviction or stress start within it.
func injectionMarks(rec *journal.Record) []time.Time {
	seen := map[time.Time]bool{}
	var out []time.Time
	add := func(t time.Time) {
		if !t.IsZero() && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, inj := range rec.Injections {
		add(inj.At)
		for _, o := range inj.Outcomes {
			switch o.Status {
			case inject.StatusKilled, inject.StatusEvicted, inject.StatusStressed:
				add(o.At)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

// runEnd is when the run ended, or its last known instant.
func runEnd(rec *journal.Record) time.Time {
	end := rec.Ended
	for _, p := range rec.Phases {
		if p.Ended.After(end) {
			end = p.Ended
		}
		if p.Started.After(end) {
			end = p.Started
		}
	}
	for _, s := range rec.Samples {
		if s.At.After(end) {
			end = s.At
		}
	}
	if end.IsZero() {
		end = rec.Started
	}
	return end
}

// recoveryTime is how long the recover phase took: the time from the end of
// the revert until the hypothesis held again (or recovery gave up).
func recoveryTime(rec *journal.Record) (time.Duration, bool) {
	p := phase(rec, journal.PhaseRecover)
	if p == nil || p.Ended.IsZero() {
		return 0, false
	}
	return p.Ended.Sub(p.Started), true
}

// describeExpect is the tolerance in words, e.g. "below 0.01".
func describeExpect(e experiment.Expect) string {
	switch {
	case e.Below != nil:
		return "below " + formatValue(*e.Below)
	case e.AtMost != nil:
		return "at most " + formatValue(*e.AtMost)
	case e.Above != nil:
		return "above " + formatValue(*e.Above)
	case e.AtLeast != nil:
		return "at least " + formatValue(*e.AtLeast)
	case len(e.Between) == 2:
		return "between " + formatValue(e.Between[0]) + " and " + formatValue(e.Between[1])
	case e.Equals != nil:
		return "equals " + formatValue(*e.Equals)
	}
	return "(no expectation)"
}

func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(v, 'g', 6, 64)
}

// formatDuration rounds to a tenth of a second below a minute, to the second above.
func formatDuration(d time.Duration) string {
	if d < time.Minute {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// offset is "m:ss" since the start of the run.
func offset(rec *journal.Record, t time.Time) string {
	d := t.Sub(rec.Started).Round(time.Second)
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	return fmt.Sprintf("%s%d:%02d", sign, int(d.Minutes()), int(d.Seconds())%60)
}

// Injected says how much of a run's fault was put in place: "1 of 3
// targets", and with repeated kills how many rounds touched nothing. It is
// "" when no injection reached the injector (a dry run, a run skipped
// before injecting, a journal older than the count).
func Injected(rec *journal.Record) string {
	touched, targets, ok := rec.Injected()
	if !ok {
		return ""
	}
	s := fmt.Sprintf("%d of %d targets", touched, targets)
	if n := len(rec.Rounds); n > 1 {
		empty := 0
		for _, r := range rec.Rounds {
			if r.Touched == 0 {
				empty++
			}
		}
		switch empty {
		case 0:
			s += fmt.Sprintf(" in the first round; %d rounds, every one touched a target", n)
		case 1:
			s += fmt.Sprintf(" in the first round; %d rounds, 1 touched nothing", n)
		default:
			s += fmt.Sprintf(" in the first round; %d rounds, %d touched nothing", n, empty)
		}
	}
	return s
}

// Leftover describes one thing a failed revert left in effect, and until
// when: "WHAT: ends by itself by T (ERROR)".
func Leftover(l journal.Leftover) string {
	until := "no deadline known: remove it by hand"
	if !l.Until.IsZero() {
		until = "ends by itself by " + l.Until.UTC().Format(time.RFC3339)
	}
	return fmt.Sprintf("%s: %s (%s)", l.What, until, l.Error)
}

// counts tallies verdicts in a fixed order for summaries; RevertFailed
// counts, across verdicts, the runs that left something in effect.
type counts struct {
	Experiment                                    string
	Runs, Held, Deviated, Aborted, Skipped, Other int
	RevertFailed                                  int
}

func (c *counts) addRecord(r *journal.Record) {
	c.add(r.Verdict)
	if r.RevertFailed() {
		c.RevertFailed++
	}
}

func (c *counts) add(v journal.Verdict) {
	c.Runs++
	switch v {
	case journal.Held:
		c.Held++
	case journal.Deviated:
		c.Deviated++
	case journal.Aborted:
		c.Aborted++
	case journal.Skipped:
		c.Skipped++
	default:
		c.Other++
	}
}

// perExperiment tallies the verdicts of recs per experiment, by name.
func perExperiment(recs []*journal.Record) []counts {
	idx := map[string]int{}
	var out []counts
	for _, r := range recs {
		name := r.Experiment.Metadata.Name
		i, ok := idx[name]
		if !ok {
			i = len(out)
			idx[name] = i
			out = append(out, counts{Experiment: name})
		}
		out[i].addRecord(r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Experiment < out[j].Experiment })
	return out
}

func total(recs []*journal.Record) counts {
	var c counts
	for _, r := range recs {
		c.addRecord(r)
	}
	return c
}

// checkRecords refuses nil records early, with the index.
func checkRecords(recs []*journal.Record) error {
	for i, r := range recs {
		if r == nil {
			return fmt.Errorf("report: record %d is nil", i)
		}
	}
	return nil
}
