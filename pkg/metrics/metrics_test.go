package metrics

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/probe"
)

func TestMetricsOnAnInjectedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	start := time.Date(2026, 11, 23, 22, 0, 0, 0, time.UTC)
	m.ObserveRun(&journal.Record{Experiment: experiment.Experiment{Metadata: experiment.Metadata{Name: "e"}},
		Verdict: journal.Held, Started: start, Ended: start.Add(90 * time.Second)})
	m.ObserveInjection("e", inject.Injection{Kind: "podKill", Outcomes: []inject.Outcome{{Status: inject.StatusEvicted}, {Status: inject.StatusProtected}}})
	m.ObserveProbes("e", []probe.Result{{Probe: "p", Role: probe.RoleHypothesis, OK: true, Value: 0.5}, {Probe: "s", Role: probe.RoleStop, Err: "down", Value: 3}})
	m.SetPaused(true)
	m.ObserveReload(false, 0)

	if got := testutil.ToFloat64(m.Runs.WithLabelValues("e", "held")); got != 1 {
		t.Errorf("runs held = %v", got)
	}
	if got := testutil.ToFloat64(m.Targets.WithLabelValues("e", "podKill", "protected-by-pdb")); got != 1 {
		t.Errorf("protected targets = %v", got)
	}
	if got := testutil.ToFloat64(m.ProbeValue.WithLabelValues("e", "s", "stop")); !math.IsNaN(got) {
		t.Errorf("a probe that could not be evaluated must read NaN, got %v", got)
	}
	if got := testutil.ToFloat64(m.ProbeOK.WithLabelValues("e", "p", "hypothesis")); got != 1 {
		t.Errorf("probe ok = %v", got)
	}
	if testutil.ToFloat64(m.Paused) != 1 || testutil.ToFloat64(m.ConfigValid) != 0 {
		t.Error("paused or config-valid gauge wrong")
	}
	// Everything is on the injected registry, nothing on the default one.
	n, err := testutil.GatherAndCount(reg)
	if err != nil || n < 8 {
		t.Errorf("gathered %d series (%v)", n, err)
	}
	lint, err := testutil.GatherAndLint(reg)
	if err != nil || len(lint) > 0 {
		var msgs []string
		for _, p := range lint {
			msgs = append(msgs, p.Metric+": "+p.Text)
		}
		t.Errorf("metric lint: %v %s", err, strings.Join(msgs, "; "))
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.ObserveRun(&journal.Record{})
	m.ObserveInjection("e", inject.Injection{})
	m.ObserveProbes("e", nil)
	m.SetPaused(true)
	m.SetLeader(true)
	m.SetWindow("n", true, time.Now())
	m.ObserveReload(true, 1)
	m.RunStarted()
	m.RunEnded()
}

// A run's coverage and a failed revert are visible to alerting: rounds by
// coverage, revert failures, and until when the leftovers run.
func TestRoundsAndLeftovers(t *testing.T) {
	until := time.Date(2026, 11, 23, 22, 10, 0, 0, time.UTC)
	tests := []struct {
		name         string
		rec          journal.Record
		full, part   float64
		none         float64
		failures     float64
		wantUntil    float64
		checkedUntil bool
	}{
		{name: "every target touched", rec: journal.Record{Rounds: []journal.Round{{Targets: 3, Touched: 3}}}, full: 1},
		{name: "partial and empty rounds",
			rec:  journal.Record{Rounds: []journal.Round{{Targets: 3, Touched: 1}, {Targets: 2, Touched: 0}, {Targets: 1, Touched: 1}}},
			full: 1, part: 1, none: 1},
		{name: "failed revert with a deadline",
			rec:  journal.Record{Rounds: []journal.Round{{Targets: 1, Touched: 1}}, Leftovers: []journal.Leftover{{What: "a", Until: until}, {What: "b", Until: until.Add(-time.Minute)}}},
			full: 1, failures: 1, wantUntil: float64(until.Unix()), checkedUntil: true},
		{name: "failed revert without a known end",
			rec:  journal.Record{Rounds: []journal.Round{{Targets: 1, Touched: 1}}, Leftovers: []journal.Leftover{{What: "a", Until: until}, {What: "b"}}},
			full: 1, failures: 1, wantUntil: math.Inf(1), checkedUntil: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := New(prometheus.NewRegistry())
			tt.rec.Experiment.Metadata.Name = "e"
			tt.rec.Verdict = journal.Deviated
			m.ObserveRun(&tt.rec)
			for coverage, want := range map[string]float64{"full": tt.full, "partial": tt.part, "none": tt.none} {
				if got := testutil.ToFloat64(m.Rounds.WithLabelValues("e", coverage)); got != want {
					t.Errorf("rounds %s = %v, want %v", coverage, got, want)
				}
			}
			if got := testutil.ToFloat64(m.RevertFailures.WithLabelValues("e")); got != tt.failures {
				t.Errorf("revert failures = %v, want %v", got, tt.failures)
			}
			if tt.checkedUntil {
				if got := testutil.ToFloat64(m.LeftoversUntil.WithLabelValues("e")); got != tt.wantUntil {
					t.Errorf("leftovers until = %v, want %v", got, tt.wantUntil)
				}
			}
		})
	}
}
