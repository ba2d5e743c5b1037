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
