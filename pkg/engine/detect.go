package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/probe"
)

// Detection (spec.detect, docs/detection.md): the alerts the monitoring
// must raise because of the fault are read from the ALERTS series of the
// experiment's own Prometheus. Nothing is read while the fault is in
// place: Prometheus keeps the history, so after recover one range query
// from the fault's start gives every instant, and the detect phase polls
// only as long as a bound has not elapsed yet.

// alertState values of the ALERTS series.
const (
	alertPending = "pending"
	alertFiring  = "firing"
)

// finalReadTimeout bounds the last read of ALERTS after an interruption:
// the run's context is gone, and the journal should still say what was seen.
const finalReadTimeout = 10 * time.Second

// DetectionError says why spec.detect could not be read.
type DetectionError struct {
	Alert string
	Err   error
}

func (e *DetectionError) Error() string {
	return fmt.Sprintf("alert %s could not be read from ALERTS: %v", e.Alert, e.Err)
}

func (e *DetectionError) Unwrap() error { return e.Err }

// errNoRangeQueries is the cause when the engine's Prometheus client cannot
// run range queries (detection needs them for the exact instants).
var errNoRangeQueries = errors.New("the Prometheus client does not run range queries")

// alertSelector is the PromQL selector of d's ALERTS series, in state
// state ("" for every state). strconv.Quote's escapes are PromQL's.
func alertSelector(d experiment.Detection, state string) string {
	parts := []string{"alertname=" + strconv.Quote(d.Alert)}
	if state != "" {
		parts = append(parts, "alertstate="+strconv.Quote(state))
	}
	for _, k := range slices.Sorted(maps.Keys(d.Labels)) {
		parts = append(parts, k+"="+strconv.Quote(d.Labels[k]))
	}
	return "ALERTS{" + strings.Join(parts, ",") + "}"
}

// detectionName is the alert with its labels, for messages that must tell
// two detections of the same alert apart.
func detectionName(d experiment.Detection) string {
	if len(d.Labels) == 0 {
		return d.Alert
	}
	parts := make([]string, 0, len(d.Labels))
	for _, k := range slices.Sorted(maps.Keys(d.Labels)) {
		parts = append(parts, k+"="+strconv.Quote(d.Labels[k]))
	}
	return d.Alert + "{" + strings.Join(parts, ",") + "}"
}

// detectPreflight refuses to inject while an expected alert is already
// firing: the fault could not be told from what is already wrong, and the
// steady state was not quiet. A Prometheus that cannot answer is never
// read as quiet. It returns "" when the run may go on.
func (r *run) detectPreflight(ctx context.Context) (journal.Verdict, []string) {
	spec := &r.exp.Spec
	if len(spec.Detect) == 0 {
		return "", nil
	}
	if _, ok := r.e.Prom.(probe.RangeQuerier); !ok {
		return journal.Error, []string{fmt.Sprintf("spec.detect cannot be measured: %v; nothing was injected", errNoRangeQueries)}
	}
	var firing []string
	for _, d := range spec.Detect {
		samples, err := r.e.Prom.Query(ctx, alertSelector(d, alertFiring), r.e.now())
		if err != nil {
			return journal.Skipped, []string{fmt.Sprintf("the steady state could not be checked, nothing was injected: %v", &DetectionError{Alert: d.Alert, Err: err})}
		}
		if len(samples) > 0 {
			firing = append(firing, fmt.Sprintf("the steady state was not quiet: alert %s already firing, nothing was injected", detectionName(d)))
		}
	}
	if len(firing) > 0 {
		return journal.Skipped, firing
	}
	return "", nil
}

// detectStep is the range query's step, the precision of every instant:
// 1 s or the probe interval, whichever is smaller (the rule evaluation
// interval is not known to chaosnight).
func detectStep(spec *experiment.Spec) time.Duration {
	return min(time.Second, max(spec.ProbeInterval.Duration, time.Millisecond))
}

// faultWindow is when the fault started (the first round's injection) and
// when it ended (the end of the revert, or of the observation when nothing
// needed a revert). ok is false when nothing was injected.
func (r *run) faultWindow() (started, reverted time.Time, ok bool) {
	for _, rd := range r.rec.Rounds {
		if rd.Touched > 0 {
			started = rd.At
			break
		}
	}
	if started.IsZero() {
		return started, reverted, false
	}
	for _, p := range r.rec.Phases {
		switch p.Name {
		case journal.PhaseRevert:
			reverted = p.Ended
		case journal.PhaseObserve:
			if reverted.IsZero() || p.Ended.After(reverted) {
				reverted = p.Ended
			}
		}
	}
	return started, reverted, true
}

// detectPhase reads what the monitoring did and adds it to the verdict:
// a detection gap or an alert that did not resolve makes a held run
// deviated; deviated and aborted runs keep their verdict and gain the
// reason. It waits (polling every step) while a bound has not elapsed:
// within since the fault started for an alert that has not fired,
// resolveWithin since the revert for one that still fires. ctx ends the
// wait; what was seen until then is journaled, and the bounds left open
// are marked unchecked.
func (r *run) detectPhase(ctx context.Context, verdict journal.Verdict, reasons []string) (journal.Verdict, []string) {
	spec := &r.exp.Spec
	if len(spec.Detect) == 0 || r.opts.DryRun {
		return verdict, reasons
	}
	started, reverted, ok := r.faultWindow()
	if !ok {
		return verdict, reasons
	}
	rq, ok := r.e.Prom.(probe.RangeQuerier)
	if !ok { // refused at preflight; kept for engines built around it
		return verdict, reasons
	}
	end := r.phase(journal.PhaseDetect)
	step := detectStep(spec)
	w := &watcher{rq: rq, spec: spec, started: started, reverted: reverted, step: step}
	tick := time.NewTicker(step)
	defer tick.Stop()
	var dets []journal.Detection
	for {
		now := r.e.now()
		if ctx.Err() != nil {
			// One last read with a context of its own: the journal says
			// what was seen before the interruption.
			rctx, cancel := context.WithTimeout(context.Background(), finalReadTimeout)
			dets, _ = w.read(rctx, now, "interrupted before the bound elapsed")
			cancel()
			break
		}
		var done bool
		dets, done = w.read(ctx, now, "")
		if done {
			break
		}
		r.observe(Progress{Phase: journal.PhaseDetect, Message: "waiting for " + strings.Join(waitingFor(dets), ", ")})
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	r.rec.Detections = dets
	note, verdict, reasons := detectionVerdict(dets, verdict, reasons)
	end(note)
	return verdict, reasons
}

// watcher reads the ALERTS series of spec.detect over the run.
type watcher struct {
	rq                probe.RangeQuerier
	spec              *experiment.Spec
	started, reverted time.Time
	step              time.Duration
	// seen is the last successful read per detection: a read that fails
	// (a Prometheus restart) keeps what was already seen.
	seen map[int]journal.Detection
}

// read returns the detections as seen at now, and whether every bound is
// decided (fired or within elapsed; resolved, not checked, or
// resolveWithin elapsed). A read that fails leaves the detection
// undecided until its bound elapses, then unchecked. interrupted, when
// set, marks every open bound unchecked with that text.
func (w *watcher) read(ctx context.Context, now time.Time, interrupted string) ([]journal.Detection, bool) {
	all := true
	out := make([]journal.Detection, 0, len(w.spec.Detect))
	if w.seen == nil {
		w.seen = map[int]journal.Detection{}
	}
	for i, d := range w.spec.Detect {
		step := rangeStep(w.step, now.Sub(w.started))
		det := journal.Detection{
			Alert: d.Alert, Labels: d.Labels, WithinSeconds: d.Within.Seconds(), ResolveWithinSeconds: d.ResolveWithin.Seconds(),
			FaultStarted: w.started, Reverted: w.reverted, StepSeconds: step.Seconds(),
		}
		var readErr error
		if now.After(w.started) {
			series, err := w.rq.QueryRange(ctx, alertSelector(d, ""), w.started, now, step)
			if err != nil {
				readErr = &DetectionError{Alert: d.Alert, Err: err}
				if last, ok := w.seen[i]; ok {
					det = last
				}
			} else {
				instants(&det, series, lastStep(w.started, now, step))
				w.seen[i] = det
			}
		}
		fireBy := w.started.Add(d.Within.Duration)
		resolveBy := w.reverted.Add(d.ResolveWithin.Duration)
		fired := !det.FirstFiring.IsZero()
		switch {
		case fired && !det.FirstFiring.After(fireBy):
		case fired: // fired, but later than within
			det.Gap = true
		case !now.Before(fireBy) && readErr == nil:
			det.Gap = true
		case interrupted != "":
			det.Unchecked = interrupted
		case !now.Before(fireBy):
			det.Unchecked = readErr.Error()
		default:
			all = false
		}
		if d.ResolveWithin.Duration > 0 && fired {
			resolved := !det.Resolved.IsZero()
			switch {
			case resolved && !det.Resolved.After(resolveBy):
			case resolved:
				det.NotResolved = true
			case !now.Before(resolveBy) && readErr == nil:
				det.NotResolved = true
			case interrupted != "":
				det.Unchecked = interrupted
			case !now.Before(resolveBy):
				det.Unchecked = readErr.Error()
			default:
				all = false
			}
		}
		out = append(out, det)
	}
	return out, all
}

// instants fills det's first pending, first firing and resolved instants
// from the range query's series (its last step at lastStep), and the
// derived durations. Several series can match (an alert per service):
// the earliest pending and firing count, and the alert is resolved once
// no series fires any more.
func instants(det *journal.Detection, series []probe.Series, lastStep time.Time) {
	var lastFiring time.Time
	for _, s := range series {
		if len(s.Points) == 0 {
			continue
		}
		first := s.Points[0].T
		switch s.Labels["alertstate"] {
		case alertPending:
			if det.FirstPending.IsZero() || first.Before(det.FirstPending) {
				det.FirstPending = first
			}
		case alertFiring:
			if det.FirstFiring.IsZero() || first.Before(det.FirstFiring) {
				det.FirstFiring = first
			}
			if last := s.Points[len(s.Points)-1].T; last.After(lastFiring) {
				lastFiring = last
			}
		}
	}
	if det.FirstFiring.IsZero() {
		return
	}
	ttd := det.FirstFiring.Sub(det.FaultStarted).Seconds()
	det.TimeToDetectSeconds = &ttd
	// A series ends when its rule stops firing (Prometheus writes a stale
	// marker): the next step is the first without it. One that reaches
	// the query's last step still fires (half a step of slack: Prometheus
	// rounds the query's instants to milliseconds).
	step := time.Duration(det.StepSeconds * float64(time.Second))
	if lastFiring.After(lastStep.Add(-step / 2)) {
		return
	}
	det.Resolved = lastFiring.Add(step)
	if !det.Reverted.IsZero() {
		// An alert that resolved while the fault was still in place (the
		// pods were replaced) took no time after the revert.
		ttr := max(0, det.Resolved.Sub(det.Reverted).Seconds())
		det.TimeToResolveSeconds = &ttr
	}
}

// maxPoints is Prometheus' limit of points per series in a range query
// (11,000); a run longer than that many steps (3 hours at 1 s) is read at
// a coarser step, and the journal's stepSeconds says so.
const maxPoints = 11000

// rangeStep is step, or the smallest whole second that keeps a query over
// span within maxPoints.
func rangeStep(step, span time.Duration) time.Duration {
	if span/step < maxPoints {
		return step
	}
	return (span/maxPoints + time.Second).Truncate(time.Second)
}

// lastStep is the last instant a range query from start to end at step
// evaluates.
func lastStep(start, end time.Time, step time.Duration) time.Time {
	return start.Add(end.Sub(start) / step * step)
}

// waitingFor names the detections whose bound is still open.
func waitingFor(dets []journal.Detection) []string {
	var out []string
	for _, d := range dets {
		switch {
		case d.FirstFiring.IsZero() && !d.Gap && d.Unchecked == "":
			out = append(out, d.Alert+" to fire")
		case d.ResolveWithinSeconds > 0 && !d.FirstFiring.IsZero() && d.Resolved.IsZero() && !d.NotResolved && d.Unchecked == "":
			out = append(out, d.Alert+" to resolve")
		}
	}
	return out
}

// detectionVerdict turns the detections into the phase's note, the
// verdict and its reasons. Gaps and unresolved alerts are findings: held
// becomes deviated. A bound that could not be checked leaves a held run
// unverified (error), as an unreadable probe would.
func detectionVerdict(dets []journal.Detection, verdict journal.Verdict, reasons []string) (string, journal.Verdict, []string) {
	var notes []string
	for _, d := range dets {
		name := d.Alert
		switch {
		case d.Gap:
			reasons = append(reasons, fmt.Sprintf("detection gap: %s did not fire within %s", name, secondsWords(d.WithinSeconds)))
			notes = append(notes, name+": gap")
			if verdict == journal.Held {
				verdict = journal.Deviated
			}
		case d.Unchecked != "" && d.FirstFiring.IsZero():
			reasons = append(reasons, fmt.Sprintf("detection of %s not verified: %s", name, d.Unchecked))
			notes = append(notes, name+": not verified")
			if verdict == journal.Held {
				verdict = journal.Error
			}
			continue
		default:
			ttd, _ := d.TimeToDetect()
			notes = append(notes, fmt.Sprintf("%s: detected in %s", name, roundWords2(ttd)))
		}
		switch {
		case d.NotResolved:
			reasons = append(reasons, fmt.Sprintf("%s did not resolve within %s of the revert", name, secondsWords(d.ResolveWithinSeconds)))
			notes = append(notes, name+": not resolved")
			if verdict == journal.Held {
				verdict = journal.Deviated
			}
		case d.Unchecked != "":
			reasons = append(reasons, fmt.Sprintf("resolution of %s not verified: %s", name, d.Unchecked))
			if verdict == journal.Held {
				verdict = journal.Error
			}
		}
		if ttd, ok := d.TimeToDetect(); ok && !d.Gap {
			line := fmt.Sprintf("detected: %s fired %s after the fault started (time to detect)", name, roundWords2(ttd))
			if ttr, ok := d.TimeToResolve(); ok {
				line += fmt.Sprintf(", resolved %s after the revert (time to resolve)", roundWords2(ttr))
			}
			reasons = append(reasons, line)
		}
	}
	return strings.Join(notes, "; "), verdict, reasons
}

// secondsWords writes a bound as the user would ("2m", "90s").
func secondsWords(s float64) string {
	return experiment.Duration{Duration: time.Duration(s * float64(time.Second))}.String()
}

// roundWords2 writes a measured duration to the precision it has (the
// step is at most a second; tenths are shown below a minute).
func roundWords2(d time.Duration) string {
	if d < time.Minute {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// recovered journals the time to recover: from the end of the revert to
// the first recover round in which the hypothesis held again.
func (r *run) recovered(elapsed time.Duration) {
	s := elapsed.Seconds()
	r.rec.TimeToRecoverSeconds = &s
}
