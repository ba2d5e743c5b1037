package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/podkill"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/probe"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// baselineFixture is a deviated run of a probe with a relative
// expectation: a checkout throughput baseline of 50 rps over 2 minutes,
// refuted when the rate falls below 35 (maxDecrease 30%).
func baselineFixture() *journal.Record {
	start := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	exp := experiment.Experiment{
		APIVersion: experiment.APIVersion, Kind: experiment.Kind,
		Metadata: experiment.Metadata{Name: "checkout-throughput-baseline"},
		Spec: experiment.Spec{
			Hypothesis: experiment.Hypothesis{Probes: []experiment.Probe{{
				Name: "served-rps", Query: `sum by (service) (rate(http_requests_total{namespace="shop",service="checkout",code="200"}[30s]))`,
				Expect: experiment.Expect{Baseline: &experiment.Baseline{Window: dur(2 * time.Minute), MaxIncrease: "50%", MaxDecrease: "30%"}},
			}}},
			Target:        experiment.Target{Namespaces: []string{"shop"}, Selector: "app=checkout"},
			Action:        experiment.NewAction(podkill.Fault{}, &podkill.Spec{Method: "delete"}),
			Duration:      dur(30 * time.Second),
			ProbeInterval: dur(10 * time.Second),
			Recovery:      dur(time.Minute),
		},
	}
	ps := phases(start, journal.PhasePreflight, time.Second, journal.PhaseSelect, time.Second,
		journal.PhaseInject, time.Second, journal.PhaseObserve, 20*time.Second, journal.PhaseRevert, time.Second, journal.PhaseRecover, 30*time.Second)
	ps[3].Note = "hypothesis violated"
	labels := map[string]string{"service": "checkout"}
	var series []probe.Series
	s := probe.Series{Labels: labels}
	for i, v := range []float64{49, 51, 50, 52, 48, 50, 53, 47, 50, 51, 50, 49, 50} {
		s.Points = append(s.Points, probe.Point{T: start.Add(time.Duration(i-12) * 10 * time.Second), V: v})
	}
	series = append(series, s)
	b := probe.SummarizeBaseline(exp.Spec.Hypothesis.Probes[0], series, start, 10*time.Second)
	victim := pod("shop", "checkout-6d677d7756-gc4w2", "ff18aefb-1", "kwok-node-1")
	injAt := start.Add(2 * time.Second)
	rec := &journal.Record{
		SchemaVersion: journal.SchemaVersion, RunID: "20261123-020000-eeeeee", Experiment: exp,
		File: "experiments/checkout-pod-kill-vs-baseline.yaml", Seed: 5, Started: start, Ended: start.Add(54 * time.Second),
		Verdict: journal.Deviated,
		Reasons: []string{`the hypothesis was violated after 18s of injection: served-rps = 25 {service="checkout"}: expected between 35 and 75 (baseline median 50 over 2m, +50%/-30%)`},
		Phases:  ps, Targets: []target.Pod{victim},
		Injections: []inject.Injection{{Run: inject.Run{ID: "20261123-020000-eeeeee", Experiment: "checkout-throughput-baseline"}, Kind: "podKill", At: injAt,
			Outcomes: []inject.Outcome{{Pod: victim, Status: inject.StatusKilled, At: injAt}}}},
		Rounds:    []journal.Round{{Round: 1, At: injAt, Targets: 1, Touched: 1}},
		Baselines: []journal.Baseline{{Index: 0, Baseline: b}},
		Replay:    "chaosnight run experiments/checkout-pod-kill-vs-baseline.yaml --seed 5",
	}
	for i, v := range []float64{50, 38, 25, 24, 36, 48} {
		at := start.Add(time.Duration(i) * 10 * time.Second)
		smp := []probe.Sample{{Labels: labels, Value: v}}
		r := probe.EvaluateBaseline(exp.Spec.Hypothesis.Probes[0], smp, &b, at)
		rec.Samples = append(rec.Samples, journal.Sample{Phase: phaseFinder(ps)(at), Result: r})
	}
	return rec
}

func TestBaselineGolden(t *testing.T) {
	rec := baselineFixture()
	if rec.Samples[2].OK || !strings.Contains(rec.Samples[2].Reason, "expected between 35 and 75 (baseline median 50 over 2m, +50%/-30%)") {
		t.Fatalf("the fixture's sample is not what its reason says: %+v", rec.Samples[2])
	}
	for _, tt := range []struct {
		name   string
		render func(w *bytes.Buffer) error
		want   []string
	}{
		{"baseline.md", func(w *bytes.Buffer) error { return Markdown(w, []*journal.Record{rec}) }, []string{
			"| served-rps | hypothesis | within +50%/-30% of the baseline median over 2m |",
			`- **served-rps** baseline (median over 2m at 10s, from 01:58:00 to 02:00:00)`,
			`  - {service="checkout"}: median 50, allowed between 35 and 75 (MAD 1, min 47, max 53, 13 of 13 points)`,
		}},
		{"baseline.junit.xml", func(w *bytes.Buffer) error { return JUnit(w, []*journal.Record{rec}) }, []string{
			`violated in 2 of 6 samples (expected within +50%/-30% of the baseline median over 2m)`,
			`<system-out>baseline (median over 2m at 10s, from 01:58:00 to 02:00:00)`,
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.render(&buf); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(buf.String(), w) {
					t.Errorf("%s lacks %q", tt.name, w)
				}
			}
			golden(t, tt.name, buf.Bytes())
		})
	}
}

// The chart of a baseline probe starts at the start of the baseline's
// window, draws the baseline's points, its median and the allowed range;
// the same run without the recorded baseline has none of them.
func TestBaselineChart(t *testing.T) {
	rec := baselineFixture()
	with := probeChart(rec, probes(rec)[0])
	bare := *rec
	bare.Baselines = nil
	without := probeChart(&bare, probes(&bare)[0])
	withSVG, withoutSVG := parseSVG(t, with), parseSVG(t, without)
	// The baseline's points, in grey, each at its value.
	pts := withSVG.linePoints("baseline-points")
	if len(pts) != len(rec.Baselines[0].Series[0].Points) || len(withoutSVG.linePoints("baseline-points")) != 0 {
		t.Errorf("%d baseline points drawn (%d without the baseline), want %d and 0", len(pts), len(withoutSVG.linePoints("baseline-points")), len(rec.Baselines[0].Series[0].Points))
	}
	for i, p := range pts {
		want := rec.Baselines[0].Series[0].Points[i]
		if !withSVG.nearX(p.X, want.T.Sub(rec.Started).Seconds()) || !withSVG.nearY(p.Y, want.V) {
			t.Errorf("baseline point %d drawn at %v, want (%v, %v)", i, p, want.T.Sub(rec.Started).Seconds(), want.V)
		}
	}
	// The x axis reaches back to the window's start: 2 minutes before the run.
	if withSVG.xmin != -120 || withoutSVG.xmin != 0 {
		t.Errorf("the x axis starts at %v with the baseline, %v without; want -120 and 0", withSVG.xmin, withoutSVG.xmin)
	}
	// The allowed range, shaded from the start of the run: median 50, +50%/-30%.
	allowed := withSVG.bands("baseline-allowed")
	if len(allowed) != 1 || len(withoutSVG.bands("baseline-allowed")) != 0 || !withSVG.nearX(allowed[0].x0, 0) || !withSVG.nearY(allowed[0].y0, 35) || !withSVG.nearY(allowed[0].y1, 75) {
		t.Errorf("allowed range drawn as %+v, want x from 0, y 35..75 (and none without the baseline)", allowed)
	}
	median := withSVG.linePoints("baseline-median")
	if len(median) != 2 || !withSVG.nearY(median[0].Y, 50) || !withSVG.nearX(median[0].X, -120) || len(withoutSVG.linePoints("baseline-median")) != 0 {
		t.Errorf("the baseline median is drawn as %v, want at 50 from -120", median)
	}
	var page bytes.Buffer
	if err := HTML(&page, []*journal.Record{rec}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "within +50%/-30% of the baseline median over 2m") {
		t.Error("the page does not say what the probe expects")
	}
	// The fixture survives a journal round trip.
	data, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var back journal.Record
	if err := json.Unmarshal(data, &back); err != nil || back.BaselineOf(0) == nil || back.BaselineOf(0).Series[0].Median != 50 {
		t.Errorf("round trip: %v %+v", err, back.Baselines)
	}
}
