package probe

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

func baselineProbe(inc, dec, onEmpty string) experiment.Probe {
	return experiment.Probe{Name: "p99", Query: "p99_latency", OnEmpty: onEmpty, Expect: experiment.Expect{
		Baseline: &experiment.Baseline{Window: experiment.Duration{Duration: 10 * time.Minute, Raw: "10m"}, MaxIncrease: inc, MaxDecrease: dec}}}
}

// points makes a series of the given values at 1-minute steps ending at at.
func series(vals []float64, kv ...string) Series {
	s := Series{Labels: s(0, kv...).Labels}
	for i, v := range vals {
		s.Points = append(s.Points, Point{T: at.Add(time.Duration(i-len(vals)+1) * time.Minute), V: v})
	}
	return s
}

func repeat(v float64, n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestSummarizeBaseline(t *testing.T) {
	p := baselineProbe("20%", "", "")
	// 10m at 1m: 11 steps; 80% is 9 points.
	tests := []struct {
		name        string
		series      []Series
		wantUnknown string // substring; "" means known
		check       func(t *testing.T, b Baseline)
	}{
		{
			name: "median, MAD, min, max of an odd count",
			// sorted 0.1 0.18 0.19 0.2 0.2 0.2 0.21 0.22 0.22 0.3 0.9
			series: []Series{series([]float64{0.2, 0.21, 0.19, 0.9, 0.2, 0.22, 0.18, 0.2, 0.3, 0.1, 0.22}, "service", "checkout")},
			check: func(t *testing.T, b Baseline) {
				sb := b.Series[0]
				// deviations sorted: 0 0 0 .01 .01 .02 .02 .02 .1 .1 .7 -> .02
				if sb.Median != 0.2 || math.Abs(sb.MAD-0.02) > 1e-12 || sb.Min != 0.1 || sb.Max != 0.9 || sb.Count != 11 || sb.Steps != 11 {
					t.Errorf("got %+v", sb)
				}
			},
		},
		{
			name:   "median of an even count (one gap allowed by the 80% coverage)",
			series: []Series{series([]float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})},
			check: func(t *testing.T, b Baseline) {
				if b.Series[0].Median != 5.5 || b.Series[0].Count != 10 {
					t.Errorf("got %+v", b.Series[0])
				}
			},
		},
		{name: "no series", wantUnknown: `p99: baseline unknown: the query returned no series over the 10m before the run`},
		{
			name:        "fewer than MinBaselineSamples",
			series:      []Series{series(repeat(1, 4), "service", "cart")},
			wantUnknown: `p99: baseline unknown: {service="cart"}: 4 points, fewer than the 5 a baseline needs`,
		},
		{
			name:        "gaps: 8 of 11 points",
			series:      []Series{series(repeat(1, 11), "service", "a"), series(repeat(1, 8), "service", "b")},
			wantUnknown: `p99: baseline unknown: {service="b"}: gaps: 8 of 11 points (a baseline needs 80%, 9)`,
		},
		{
			name:        "NaN",
			series:      []Series{series(append(repeat(1, 10), math.NaN()), "service", "a")},
			wantUnknown: `p99: baseline unknown: {service="a"}: 1 of 11 points are NaN or Inf`,
		},
		{
			name:        "Inf",
			series:      []Series{series(append(repeat(1, 10), math.Inf(1)))},
			wantUnknown: `p99: baseline unknown: {}: 1 of 11 points are NaN or Inf`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := SummarizeBaseline(p, tt.series, at, time.Minute)
			if b.Unknown != tt.wantUnknown {
				t.Errorf("Unknown = %q, want %q", b.Unknown, tt.wantUnknown)
			}
			if b.Known() != (tt.wantUnknown == "") {
				t.Errorf("Known() = %v", b.Known())
			}
			if b.Statistic != StatisticMedian || b.Window.String() != "10m" || b.Step.String() != "1m" || !b.From.Equal(at.Add(-10*time.Minute)) || !b.To.Equal(at) {
				t.Errorf("header %+v", b)
			}
			if tt.check != nil {
				tt.check(t, b)
			}
		})
	}
}

func TestBaselineJSONRoundTrip(t *testing.T) {
	b := SummarizeBaseline(baselineProbe("20%", "", ""), []Series{series(append(repeat(1, 10), math.NaN()), "s", "x")}, at, time.Minute)
	raw, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"window":"10m"`) || !strings.Contains(string(raw), `"median":"NaN"`) || !strings.Contains(string(raw), `"v":"NaN"`) {
		t.Errorf("json %s", raw)
	}
	var back Baseline
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back.Window.Duration != 10*time.Minute || !math.IsNaN(back.Series[0].Median) || !math.IsNaN(back.Series[0].Points[10].V) || back.Series[0].Points[0].V != 1 {
		t.Errorf("round trip %+v", back)
	}
}

func TestEvaluateBaseline(t *testing.T) {
	// checkout's median is 0.2, cart's 0.1.
	known := func(p experiment.Probe) *Baseline {
		b := SummarizeBaseline(p, []Series{
			series(repeat(0.2, 11), "service", "checkout"),
			series(repeat(0.1, 11), "service", "cart"),
		}, at, time.Minute)
		return &b
	}
	tests := []struct {
		name       string
		probe      experiment.Probe
		baseline   func(experiment.Probe) *Baseline // nil: known
		samples    []Sample
		wantOK     bool
		wantReason string
		wantErr    string
	}{
		{
			name: "both series within +20%", probe: baselineProbe("20%", "", ""),
			samples: []Sample{s(0.24, "service", "checkout"), s(0.05, "service", "cart")}, wantOK: true,
		},
		{
			name: "relative increase refuted", probe: baselineProbe("20%", "", ""),
			samples: []Sample{s(0.2, "service", "cart"), s(0.31, "service", "checkout")},
			// cart at 0.2 is +100% too: two of two.
			wantReason: `p99 = 0.2 {service="cart"}: expected at most 0.12 (baseline median 0.1 over 10m, +20%); 2 of 2 series violate the hypothesis`,
		},
		{
			name: "the example of the issue", probe: baselineProbe("20%", "", ""),
			samples:    []Sample{s(0.1, "service", "cart"), s(0.31, "service", "checkout")},
			wantReason: `p99 = 0.31 {service="checkout"}: expected at most 0.24 (baseline median 0.2 over 10m, +20%)`,
		},
		{
			name: "absolute decrease refuted", probe: baselineProbe("", "0.05", ""),
			samples:    []Sample{s(0.14, "service", "checkout"), s(0.1, "service", "cart")},
			wantReason: `p99 = 0.14 {service="checkout"}: expected at least 0.15 (baseline median 0.2 over 10m, -0.05)`,
		},
		{
			name: "both margins: the bound is inclusive", probe: baselineProbe("50%", "50%", ""),
			samples: []Sample{s(0.3, "service", "checkout"), s(0.05, "service", "cart")}, wantOK: true,
		},
		{
			name: "both margins refuted", probe: baselineProbe("50%", "10%", ""),
			samples:    []Sample{s(0.2, "service", "checkout"), s(0.08, "service", "cart")},
			wantReason: `p99 = 0.08 {service="cart"}: expected between 0.09 and 0.15 (baseline median 0.1 over 10m, +50%/-10%)`,
		},
		{
			name: "NaN never holds", probe: baselineProbe("20%", "20%", ""),
			samples:    []Sample{s(math.NaN(), "service", "checkout"), s(0.1, "service", "cart")},
			wantReason: `p99 = NaN {service="checkout"}: expected between 0.16 and 0.24 (baseline median 0.2 over 10m, +20%/-20%)`,
		},
		{
			name: "a series appeared", probe: baselineProbe("20%", "", ""),
			samples:    []Sample{s(0.2, "service", "checkout"), s(0.1, "service", "cart"), s(0.01, "service", "payments")},
			wantReason: `p99 = 0.01 {service="payments"}: series not in the baseline, it appeared since (onEmpty: fail)`,
		},
		{
			name: "a series appeared, onEmpty pass", probe: baselineProbe("20%", "", "pass"),
			samples: []Sample{s(0.2, "service", "checkout"), s(0.1, "service", "cart"), s(0.01, "service", "payments")}, wantOK: true,
		},
		{
			name: "a series disappeared", probe: baselineProbe("20%", "", ""),
			samples:    []Sample{s(0.2, "service", "checkout")},
			wantReason: `p99: {service="cart"} in the baseline, no longer in the result: disappeared (onEmpty: fail)`,
		},
		{
			name: "a value and a disappearance are both named", probe: baselineProbe("20%", "", ""),
			samples:    []Sample{s(0.5, "service", "checkout")},
			wantReason: `p99 = 0.5 {service="checkout"}: expected at most 0.24 (baseline median 0.2 over 10m, +20%); 2 of 2 series violate the hypothesis; p99: {service="cart"} in the baseline, no longer in the result: disappeared (onEmpty: fail)`,
		},
		{
			name: "a series disappeared, onEmpty pass: reported, holds", probe: baselineProbe("20%", "", "pass"),
			samples: []Sample{s(0.2, "service", "checkout")}, wantOK: true,
			wantReason: `p99: {service="cart"} disappeared since the baseline (onEmpty: pass)`,
		},
		{
			name: "empty result", probe: baselineProbe("20%", "", ""),
			wantReason: `p99: {service="checkout"}, {service="cart"} in the baseline, no longer in the result: disappeared (onEmpty: fail); 2 of 2 series violate the hypothesis`,
		},
		{
			name: "empty result, onEmpty pass", probe: baselineProbe("20%", "", "pass"), wantOK: true,
			wantReason: "no data: query returned no series (onEmpty: pass)",
		},
		{
			name: "unknown baseline is an error, never a pass", probe: baselineProbe("20%", "", ""),
			baseline: func(p experiment.Probe) *Baseline { b := SummarizeBaseline(p, nil, at, time.Minute); return &b },
			samples:  []Sample{s(0.2, "service", "checkout")},
			wantErr:  "baseline unknown",
		},
		{
			name: "no baseline measured", probe: baselineProbe("20%", "", ""),
			baseline: func(experiment.Probe) *Baseline { return nil },
			samples:  []Sample{s(0.2)}, wantErr: "none was measured",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := known(tt.probe)
			if tt.baseline != nil {
				b = tt.baseline(tt.probe)
			}
			r := EvaluateBaseline(tt.probe, tt.samples, b, at)
			if tt.wantErr != "" {
				if r.OK || !strings.Contains(r.Err, tt.wantErr) {
					t.Fatalf("OK %v, Err %q; want error with %q", r.OK, r.Err, tt.wantErr)
				}
				return
			}
			if r.Err != "" || r.OK != tt.wantOK || r.Reason != tt.wantReason {
				t.Errorf("OK %v, Err %q\nreason %q\nwant   %q", r.OK, r.Err, r.Reason, tt.wantReason)
			}
			if r.Role != RoleHypothesis || r.Series != len(tt.samples) {
				t.Errorf("role %s series %d", r.Role, r.Series)
			}
		})
	}
}

func TestEvaluateRefusesABaselineProbe(t *testing.T) {
	r := Evaluate(baselineProbe("20%", "", ""), RoleHypothesis, []Sample{s(1)}, at)
	if r.OK || !strings.Contains(r.Err, "none was measured") {
		t.Errorf("got %+v", r)
	}
}

type rangeFunc func(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error)

func (f rangeFunc) QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error) {
	return f(ctx, query, start, end, step)
}

func TestMeasureBaseline(t *testing.T) {
	p := baselineProbe("20%", "", "")
	var gotStart, gotEnd time.Time
	var gotStep time.Duration
	q := rangeFunc(func(_ context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error) {
		gotStart, gotEnd, gotStep = start, end, step
		return []Series{series(repeat(3, 11))}, nil
	})
	b := MeasureBaseline(t.Context(), q, p, at, time.Minute)
	if !b.Known() || b.Series[0].Median != 3 || !gotStart.Equal(at.Add(-10*time.Minute)) || !gotEnd.Equal(at) || gotStep != time.Minute {
		t.Errorf("baseline %+v; query [%s, %s] step %s", b, gotStart, gotEnd, gotStep)
	}
	failing := rangeFunc(func(context.Context, string, time.Time, time.Time, time.Duration) ([]Series, error) {
		return nil, errors.New("connection refused")
	})
	b = MeasureBaseline(t.Context(), failing, p, at, time.Minute)
	if b.Known() || b.Unknown != "p99: baseline unknown: the range query failed: connection refused" {
		t.Errorf("Unknown = %q", b.Unknown)
	}
	if b = MeasureBaseline(t.Context(), nil, p, at, time.Minute); b.Known() {
		t.Error("a nil querier gave a known baseline")
	}
}

func TestBoundsAndMargins(t *testing.T) {
	tests := []struct {
		inc, dec string
		median   float64
		want     string
		margins  string
	}{
		{"20%", "", 0.2, "at most 0.24", "+20%"},
		{"", "10%", 100, "at least 90", "-10%"},
		{"0.05", "0.05", 0.2, "between 0.15 and 0.25", "+0.05/-0.05"},
		{"20%", "", -10, "at most -8", "+20%"}, // a percentage of |median|
	}
	for _, tt := range tests {
		b, err := BaselineBounds(experiment.Baseline{MaxIncrease: tt.inc, MaxDecrease: tt.dec}, tt.median)
		if err != nil || b.String() != tt.want {
			t.Errorf("%s/%s around %v: %v %q, want %q", tt.inc, tt.dec, tt.median, err, b, tt.want)
		}
		if m := BaselineMargins(experiment.Baseline{MaxIncrease: tt.inc, MaxDecrease: tt.dec}); m != tt.margins {
			t.Errorf("margins %q, want %q", m, tt.margins)
		}
	}
	if _, err := BaselineBounds(experiment.Baseline{MaxIncrease: "lots"}, 1); err == nil {
		t.Error("a bad margin was accepted")
	}
}
