package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/probe"
)

// alertTimeline is a Prometheus whose hypothesis probes answer healthy and
// whose ALERTS series follow a script, relative to the start of the test:
// pending from pending, firing from firing until resolved (a zero bound
// is "never"; a negative firing fires before the run).
type alertTimeline struct {
	start                      time.Time
	pending, firing, resolved  time.Duration
	rangeErr                   error
	failAfter                  int // range queries after this many fail (0: none)
	hypothesis                 func(since time.Duration) float64
	rangeQueries, firingChecks int
}

func (a *alertTimeline) state(at time.Time) string {
	since := at.Sub(a.start)
	switch {
	case a.firing != 0 && since >= a.firing && (a.resolved == 0 || since < a.resolved):
		return alertFiring
	case a.pending != 0 && since >= a.pending && (a.firing == 0 || since < a.firing):
		return alertPending
	}
	return ""
}

func (a *alertTimeline) Query(_ context.Context, query string, at time.Time) ([]probe.Sample, error) {
	if strings.HasPrefix(query, "ALERTS{") {
		a.firingChecks++
		if a.state(at) == alertFiring {
			return []probe.Sample{{Value: 1}}, nil
		}
		return nil, nil
	}
	v := 0.001
	if a.hypothesis != nil {
		v = a.hypothesis(time.Since(a.start))
	}
	if query == "available" {
		v = 3
	}
	return []probe.Sample{{Value: v}}, nil
}

func (a *alertTimeline) QueryRange(_ context.Context, query string, start, end time.Time, step time.Duration) ([]probe.Series, error) {
	a.rangeQueries++
	if a.rangeErr != nil {
		return nil, a.rangeErr
	}
	if a.failAfter > 0 && a.rangeQueries > a.failAfter {
		return nil, errors.New("connection refused")
	}
	if !strings.HasPrefix(query, `ALERTS{alertname="ShopDown"`) {
		return nil, errors.New("unexpected query " + query)
	}
	byState := map[string]*probe.Series{}
	var out []probe.Series
	for t := start; !t.After(end); t = t.Add(step) {
		st := a.state(t)
		if st == "" {
			continue
		}
		s, ok := byState[st]
		if !ok {
			out = append(out, probe.Series{Labels: map[string]string{"alertname": "ShopDown", "alertstate": st}})
			s = &out[len(out)-1]
			byState[st] = s
		}
		s.Points = append(s.Points, probe.Point{T: t, V: 1})
	}
	return out, nil
}

// noRange is a Prometheus client without range queries.
type noRange struct{ probe.Querier }

func detectExperiment(within, resolveWithin time.Duration) *experiment.Experiment {
	return testExperiment(func(e *experiment.Experiment) {
		e.Spec.Detect = []experiment.Detection{{
			Alert: "ShopDown", Labels: map[string]string{"namespace": "shop"},
			Within: experiment.NewDuration(within), ResolveWithin: experiment.NewDuration(resolveWithin),
		}}
	})
}

func runDetect(t *testing.T, exp *experiment.Experiment, prom probe.Querier, inj *recordingInjector) *journal.Record {
	t.Helper()
	e := &Engine{
		Prom:     prom,
		Targets:  &fakeLister{pods: pods(3)},
		Guard:    passGuard{},
		Injector: func(*experiment.Experiment) (inject.Injector, error) { return inj, nil },
		Journal:  journal.Discard{},
	}
	return e.Run(context.Background(), exp, Options{RunID: "r1", Seed: 7})
}

// The experiment observes 400ms, recovers within 300ms, probes every
// 50ms: the step of ALERTS is 50ms, and the instants are late by less
// than that.
func TestDetection(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name                      string
		within, resolveWithin     time.Duration
		pending, firing, resolved time.Duration
		rangeErr                  error
		failAfter                 int
		hypothesis                func(time.Duration) float64
		want                      journal.Verdict
		wantReasons               []string // each must be a reason (prefix match)
		wantGap, wantNotResolved  bool
		wantTTD                   time.Duration // 0: not detected
		wantInjects               int
	}{
		{name: "fires within: held, TTD journaled", within: 300 * ms, resolveWithin: 300 * ms,
			pending: 50 * ms, firing: 150 * ms, resolved: 450 * ms,
			want: journal.Held, wantReasons: []string{"detected: ShopDown fired"}, wantTTD: 150 * ms, wantInjects: 1},
		{name: "never fires: detection gap makes held deviated", within: 300 * ms,
			want: journal.Deviated, wantReasons: []string{"detection gap: ShopDown did not fire within 300ms"}, wantGap: true, wantInjects: 1},
		{name: "pending only: still a gap", within: 300 * ms, pending: 100 * ms,
			want: journal.Deviated, wantReasons: []string{"detection gap: ShopDown did not fire within 300ms"}, wantGap: true, wantInjects: 1},
		{name: "fires after the run's end but within: the run waits for it", within: 1200 * ms,
			firing: 1000 * ms, resolved: 1100 * ms,
			want: journal.Held, wantReasons: []string{"detected: ShopDown fired"}, wantTTD: 1000 * ms, wantInjects: 1},
		{name: "fires later than within: gap", within: 200 * ms, firing: 300 * ms,
			want: journal.Deviated, wantReasons: []string{"detection gap: ShopDown did not fire within 200ms"}, wantGap: true, wantTTD: 300 * ms, wantInjects: 1},
		{name: "does not resolve within resolveWithin: deviated", within: 300 * ms, resolveWithin: 100 * ms,
			firing: 100 * ms,
			want:   journal.Deviated, wantReasons: []string{"ShopDown did not resolve within 100ms of the revert"}, wantNotResolved: true, wantTTD: 100 * ms, wantInjects: 1},
		{name: "already firing before the fault: skipped, nothing injected", within: 300 * ms, firing: -time.Hour,
			want: journal.Skipped, wantReasons: []string{`the steady state was not quiet: alert ShopDown{namespace="shop"} already firing`}, wantInjects: 0},
		{name: "hypothesis refuted and a gap: deviated keeps its verdict and gains the reason", within: 300 * ms,
			hypothesis: func(since time.Duration) float64 {
				if since > 100*ms && since < 250*ms {
					return 0.5
				}
				return 0.001
			},
			want: journal.Deviated, wantReasons: []string{"the hypothesis was violated", "detection gap: ShopDown did not fire within 300ms"}, wantGap: true, wantInjects: 1},
		{name: "ALERTS lost after firing: the firing is kept, the resolution is unverified", within: 300 * ms, resolveWithin: 300 * ms,
			firing: 100 * ms, failAfter: 1,
			want: journal.Error, wantReasons: []string{"resolution of ShopDown not verified: alert ShopDown could not be read from ALERTS: connection refused", "detected: ShopDown fired"},
			wantTTD: 100 * ms, wantInjects: 1},
		{name: "ALERTS unreadable: held becomes error (unverified)", within: 300 * ms, rangeErr: errors.New("connection refused"),
			want: journal.Error, wantReasons: []string{"detection of ShopDown not verified: alert ShopDown could not be read from ALERTS: connection refused"}, wantInjects: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prom := &alertTimeline{start: time.Now(), pending: tt.pending, firing: tt.firing, resolved: tt.resolved,
				rangeErr: tt.rangeErr, failAfter: tt.failAfter, hypothesis: tt.hypothesis}
			inj := &recordingInjector{}
			rec := runDetect(t, detectExperiment(tt.within, tt.resolveWithin), prom, inj)
			if rec.Verdict != tt.want {
				t.Fatalf("verdict %s, want %s; reasons %q", rec.Verdict, tt.want, rec.Reasons)
			}
			for _, want := range tt.wantReasons {
				if !hasReason(rec.Reasons, want) {
					t.Errorf("reasons %q lack %q", rec.Reasons, want)
				}
			}
			if injects, _ := inj.counts(); injects != tt.wantInjects {
				t.Errorf("%d injections, want %d", injects, tt.wantInjects)
			}
			if tt.wantInjects == 0 {
				if len(rec.Detections) != 0 {
					t.Errorf("detections journaled for a skipped run: %+v", rec.Detections)
				}
				return
			}
			if len(rec.Detections) != 1 {
				t.Fatalf("%d detections journaled, want 1", len(rec.Detections))
			}
			d := rec.Detections[0]
			t.Logf("detection: %+v", d)
			if d.Gap != tt.wantGap || d.NotResolved != tt.wantNotResolved {
				t.Errorf("gap %v notResolved %v, want %v %v", d.Gap, d.NotResolved, tt.wantGap, tt.wantNotResolved)
			}
			if d.FaultStarted.IsZero() || d.Reverted.Before(d.FaultStarted) {
				t.Errorf("fault window %s .. %s", d.FaultStarted, d.Reverted)
			}
			checkTTD(t, d, prom.start, tt.wantTTD, tt.firing)
			if tt.pending > 0 && tt.rangeErr == nil {
				truth := prom.start.Add(tt.pending)
				if lag := d.FirstPending.Sub(truth); lag < 0 || lag > 50*ms {
					t.Errorf("first pending %s after the truth, want within one step", lag)
				}
			}
			if tt.resolved > 0 && tt.resolveWithin > 0 {
				if _, ok := d.TimeToResolve(); !ok || d.Resolved.IsZero() {
					t.Errorf("resolved %s, time to resolve missing", d.Resolved)
				}
			}
			if _, ok := rec.TimeToRecover(); !ok {
				t.Error("time to recover not journaled")
			}
			if phase := lastPhase(rec); phase.Name != journal.PhaseDetect || phase.Ended.IsZero() {
				t.Errorf("last phase %+v, want an ended detect phase", phase)
			}
		})
	}
}

// checkTTD compares the journaled time to detect with the script: the
// alert fired at start+firing, the fault started a little after start,
// and the instant is late by less than one step.
func checkTTD(t *testing.T, d journal.Detection, start time.Time, want, firing time.Duration) {
	t.Helper()
	ttd, ok := d.TimeToDetect()
	if want == 0 {
		if ok {
			t.Errorf("time to detect %s, want none", ttd)
		}
		return
	}
	if !ok {
		t.Fatal("time to detect missing")
	}
	truth := start.Add(firing)
	if lag := d.FirstFiring.Sub(truth); lag < 0 || lag > 50*time.Millisecond {
		t.Errorf("first firing %s after the truth, want within one step (50ms)", lag)
	}
	if got := d.FirstFiring.Sub(d.FaultStarted); got != ttd {
		t.Errorf("time to detect %s, firing - fault start %s", ttd, got)
	}
}

func hasReason(reasons []string, prefix string) bool {
	for _, r := range reasons {
		if strings.HasPrefix(r, prefix) {
			return true
		}
	}
	return false
}

func lastPhase(rec *journal.Record) journal.Phase {
	if len(rec.Phases) == 0 {
		return journal.Phase{}
	}
	return rec.Phases[len(rec.Phases)-1]
}

func TestDetectionNeedsRangeQueries(t *testing.T) {
	inj := &recordingInjector{}
	prom := &alertTimeline{start: time.Now()}
	rec := runDetect(t, detectExperiment(300*time.Millisecond, 0), noRange{prom}, inj)
	if rec.Verdict != journal.Error || !hasReason(rec.Reasons, "spec.detect cannot be measured") {
		t.Fatalf("verdict %s %q, want error: spec.detect cannot be measured", rec.Verdict, rec.Reasons)
	}
	if injects, _ := inj.counts(); injects != 0 {
		t.Errorf("%d injections, want none", injects)
	}
}

// An interrupted run journals what ALERTS showed so far and marks the
// open bound unchecked; the verdict stays aborted.
func TestDetectionInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	prom := &alertTimeline{start: time.Now(), pending: 50 * time.Millisecond}
	inj := &recordingInjector{}
	e := &Engine{Prom: prom, Targets: &fakeLister{pods: pods(3)}, Guard: passGuard{},
		Injector: func(*experiment.Experiment) (inject.Injector, error) { return inj, nil }, Journal: journal.Discard{}}
	time.AfterFunc(200*time.Millisecond, cancel)
	rec := e.Run(ctx, detectExperiment(600*time.Millisecond, 0), Options{RunID: "r1", Seed: 7})
	if rec.Verdict != journal.Aborted {
		t.Fatalf("verdict %s, want aborted; %q", rec.Verdict, rec.Reasons)
	}
	if len(rec.Detections) != 1 {
		t.Fatalf("detections %+v", rec.Detections)
	}
	d := rec.Detections[0]
	if d.Gap || d.Unchecked == "" || d.FirstPending.IsZero() {
		t.Errorf("detection %+v, want pending seen, no gap, unchecked", d)
	}
	if !hasReason(rec.Reasons, "detection of ShopDown not verified: interrupted") {
		t.Errorf("reasons %q", rec.Reasons)
	}
}

func TestAlertSelector(t *testing.T) {
	d := experiment.Detection{Alert: "A", Labels: map[string]string{"namespace": "shop", "b": `x"y`}}
	if got, want := alertSelector(d, alertFiring), `ALERTS{alertname="A",alertstate="firing",b="x\"y",namespace="shop"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got, want := alertSelector(experiment.Detection{Alert: "A"}, ""), `ALERTS{alertname="A"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestRangeStep(t *testing.T) {
	for _, tt := range []struct {
		step, span, want time.Duration
	}{
		{time.Second, time.Minute, time.Second},
		{250 * time.Millisecond, 30 * time.Minute, 250 * time.Millisecond},
		{250 * time.Millisecond, time.Hour, time.Second},
		{time.Second, 3 * time.Hour, time.Second},
		{time.Second, 4 * time.Hour, 2 * time.Second},
		{250 * time.Millisecond, 2*time.Hour + 10*time.Minute, 1 * time.Second},
	} {
		got := rangeStep(tt.step, tt.span)
		if got != tt.want {
			t.Errorf("rangeStep(%s, %s) = %s, want %s", tt.step, tt.span, got, tt.want)
		}
		if tt.span/got > maxPoints {
			t.Errorf("rangeStep(%s, %s) = %s: %d points", tt.step, tt.span, got, tt.span/got)
		}
	}
}
