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

// rangeQuerier is a scriptedQuerier that also answers range queries.
type rangeQuerier struct {
	*scriptedQuerier
	rangeAnswer func(query string, start, end time.Time, step time.Duration) ([]probe.Series, error)
	calls       int
}

func (q *rangeQuerier) QueryRange(_ context.Context, query string, start, end time.Time, step time.Duration) ([]probe.Series, error) {
	q.calls++
	return q.rangeAnswer(query, start, end, step)
}

// flat is a range answer of one series at v on every step of the window,
// keeping only n points when n >= 0.
func flat(v float64, n int) func(string, time.Time, time.Time, time.Duration) ([]probe.Series, error) {
	return func(_ string, start, end time.Time, step time.Duration) ([]probe.Series, error) {
		s := probe.Series{Labels: map[string]string{"service": "checkout"}}
		for t := start; !t.After(end); t = t.Add(step) {
			if n >= 0 && len(s.Points) == n {
				break
			}
			s.Points = append(s.Points, probe.Point{T: t, V: v})
		}
		return []probe.Series{s}, nil
	}
}

func checkoutAt(v float64) []probe.Sample {
	return []probe.Sample{{Labels: map[string]string{"service": "checkout"}, Value: v}}
}

func TestBaselineVerdicts(t *testing.T) {
	tests := []struct {
		name        string
		rangeAnswer func(string, time.Time, time.Time, time.Duration) ([]probe.Series, error)
		noRange     bool
		latency     func(since time.Duration) float64
		want        journal.Verdict
		wantReason  string
		wantInjects int
	}{
		{name: "within +20% of the baseline: held", rangeAnswer: flat(0.2, -1),
			latency: func(time.Duration) float64 { return 0.23 }, want: journal.Held, wantReason: "held for", wantInjects: 1},
		{name: "above: deviated", rangeAnswer: flat(0.2, -1),
			latency: func(since time.Duration) float64 {
				if since > 150*time.Millisecond {
					return 0.31
				}
				return 0.2
			},
			want:        journal.Deviated,
			wantReason:  `latency = 0.31 {service="checkout"}: expected at most 0.24 (baseline median 0.2 over 1s, +20%)`,
			wantInjects: 1},
		{name: "too few samples: skipped", rangeAnswer: flat(0.2, 4),
			latency: func(time.Duration) float64 { return 0.2 }, want: journal.Skipped,
			wantReason: `the baseline is unknown, nothing was injected: latency: baseline unknown: {service="checkout"}: 4 points, fewer than the 5 a baseline needs`},
		{name: "range query fails: skipped",
			rangeAnswer: func(string, time.Time, time.Time, time.Duration) ([]probe.Series, error) {
				return nil, errors.New("connection refused")
			},
			latency: func(time.Duration) float64 { return 0.2 }, want: journal.Skipped,
			wantReason: "latency: baseline unknown: the range query failed: connection refused"},
		{name: "no range queries: error", noRange: true,
			latency: func(time.Duration) float64 { return 0.2 }, want: journal.Error,
			wantReason: "cannot run range queries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp := testExperiment(func(e *experiment.Experiment) {
				e.Spec.Hypothesis.Probes = append(e.Spec.Hypothesis.Probes, experiment.Probe{
					Name: "latency", Query: "p99", Expect: experiment.Expect{Baseline: &experiment.Baseline{
						Window: experiment.Duration{Duration: time.Second}, MaxIncrease: "20%"}}})
			})
			inj := &recordingInjector{}
			sq := &scriptedQuerier{start: time.Now(), answer: func(query string, since time.Duration) ([]probe.Sample, error) {
				switch query {
				case "errors":
					return []probe.Sample{{Value: 0.001}}, nil
				case "available":
					return []probe.Sample{{Value: 3}}, nil
				case "p99":
					return checkoutAt(tt.latency(since)), nil
				}
				return nil, errors.New("unexpected query " + query)
			}}
			var prom probe.Querier = sq
			rq := &rangeQuerier{scriptedQuerier: sq, rangeAnswer: tt.rangeAnswer}
			if !tt.noRange {
				prom = rq
			}
			e := &Engine{
				Prom: prom, Targets: &fakeLister{pods: pods(3)}, Guard: passGuard{},
				Injector: func(*experiment.Experiment) (inject.Injector, error) { return inj, nil },
				Journal:  journal.Discard{},
			}
			rec := e.Run(t.Context(), exp, Options{RunID: "r1", Seed: 7})
			if rec.Verdict != tt.want || !strings.Contains(strings.Join(rec.Reasons, "\n"), tt.wantReason) {
				t.Fatalf("verdict %s, reasons %q; want %s with %q", rec.Verdict, rec.Reasons, tt.want, tt.wantReason)
			}
			if injects, _ := inj.counts(); injects != tt.wantInjects {
				t.Errorf("%d injections, want %d", injects, tt.wantInjects)
			}
			if tt.noRange {
				if len(rec.Baselines) != 0 {
					t.Errorf("baselines recorded without a range querier: %+v", rec.Baselines)
				}
				return
			}
			// One range query, recorded with its window and step, for the
			// probe at index 1 only.
			if rq.calls != 1 || len(rec.Baselines) != 1 {
				t.Fatalf("%d range queries, %d baselines", rq.calls, len(rec.Baselines))
			}
			b := rec.BaselineOf(1)
			if b == nil || b.Probe != "latency" || b.Window.Duration != time.Second || b.Step.Duration != 50*time.Millisecond ||
				b.Statistic != "median" || b.To.Before(rec.Phases[0].Started) {
				t.Errorf("baseline %+v (preflight started %s)", b, rec.Phases[0].Started)
			}
			if tt.want == journal.Skipped {
				if len(rec.Phases) != 1 || rec.Phases[0].Name != journal.PhasePreflight || rec.Phases[0].Note != "baseline unknown" {
					t.Errorf("phases %+v", rec.Phases)
				}
				if len(rec.Samples) != 0 {
					t.Errorf("probes were evaluated after an unknown baseline: %+v", rec.Samples)
				}
				return
			}
			// Every evaluation of the probe used the baseline: none is an error.
			phases := map[string]int{}
			for _, s := range rec.Samples {
				if s.Probe == "latency" {
					phases[s.Phase]++
					if s.Err != "" {
						t.Errorf("sample %+v", s)
					}
				}
			}
			if phases[journal.PhasePreflight] != 1 || phases[journal.PhaseObserve] == 0 || phases[journal.PhaseRecover] == 0 {
				t.Errorf("samples of the baseline probe per phase: %v", phases)
			}
		})
	}
}
