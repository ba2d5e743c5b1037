package probe

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

var at = time.Date(2026, 7, 14, 22, 30, 0, 0, time.UTC)

func probe(expect experiment.Expect, onEmpty string) experiment.Probe {
	return experiment.Probe{Name: "error-ratio", Query: "shop_errors_ratio", Expect: expect, OnEmpty: onEmpty}
}

func s(v float64, kv ...string) Sample {
	var labels map[string]string
	if len(kv) > 0 {
		labels = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			labels[kv[i]] = kv[i+1]
		}
	}
	return Sample{Labels: labels, Value: v}
}

// sameFloat compares floats treating NaN as equal to NaN.
func sameFloat(a, b float64) bool {
	return a == b || (math.IsNaN(a) && math.IsNaN(b))
}

func TestEvaluate(t *testing.T) {
	below := experiment.Expect{Below: f(0.01)}
	stopBelow1 := experiment.Expect{Below: f(1)}
	tests := []struct {
		name       string
		probe      experiment.Probe
		role       Role
		samples    []Sample
		wantOK     bool
		wantValue  float64
		wantReason string
		wantErr    string // substring
	}{
		// Hypothesis: every series must meet Expect.
		{
			name: "hypothesis holds, one series", probe: probe(below, ""), role: RoleHypothesis,
			samples: []Sample{s(0.002)}, wantOK: true, wantValue: 0.002,
		},
		{
			name: "hypothesis violated, labelled series", probe: probe(below, ""), role: RoleHypothesis,
			samples: []Sample{s(0.034, "service", "checkout")}, wantOK: false, wantValue: 0.034,
			wantReason: `error-ratio = 0.034 {service="checkout"}: expected below 0.01`,
		},
		{
			name: "hypothesis: value on the below bound violates", probe: probe(below, ""), role: RoleHypothesis,
			samples: []Sample{s(0.01)}, wantOK: false, wantValue: 0.01,
			wantReason: `error-ratio = 0.01: expected below 0.01`,
		},
		{
			name: "hypothesis: between bounds are inclusive", probe: probe(experiment.Expect{Between: []float64{0.5, 2}}, ""), role: RoleHypothesis,
			samples: []Sample{s(0.5), s(2)}, wantOK: true, wantValue: 0.5,
		},
		{
			name: "hypothesis: one bad series of three fails it", probe: probe(experiment.Expect{AtLeast: f(2)}, ""), role: RoleHypothesis,
			samples: []Sample{
				s(3, "__name__", "shop_ready", "service", "checkout"),
				s(1, "__name__", "shop_ready", "service", "cart"),
				s(2, "__name__", "shop_ready", "service", "search"),
			},
			wantOK: false, wantValue: 1,
			wantReason: `error-ratio = 1 shop_ready{service="cart"}: expected at least 2; 1 of 3 series violate the hypothesis`,
		},
		{
			name: "hypothesis: value is the first offending series", probe: probe(experiment.Expect{Equals: f(3)}, ""), role: RoleHypothesis,
			samples: []Sample{s(3, "i", "0"), s(4, "i", "1"), s(5, "i", "2")},
			wantOK:  false, wantValue: 4,
			wantReason: `error-ratio = 4 {i="1"}: expected equal to 3; 2 of 3 series violate the hypothesis`,
		},
		{
			name: "hypothesis: NaN violates", probe: probe(below, ""), role: RoleHypothesis,
			samples: []Sample{s(nan)}, wantOK: false, wantValue: nan,
			wantReason: `error-ratio = NaN: expected below 0.01 (NaN never meets an expectation)`,
		},
		{
			name: "hypothesis: +Inf violates even above", probe: probe(experiment.Expect{Above: f(0)}, ""), role: RoleHypothesis,
			samples: []Sample{s(posInf)}, wantOK: false, wantValue: posInf,
			wantReason: `error-ratio = +Inf: expected above 0 (+Inf never meets an expectation)`,
		},
		{
			name: "hypothesis: -Inf violates even below", probe: probe(below, ""), role: RoleHypothesis,
			samples: []Sample{s(0.001), s(negInf, "pod", "a")}, wantOK: false, wantValue: negInf,
			wantReason: `error-ratio = -Inf {pod="a"}: expected below 0.01 (-Inf never meets an expectation); 1 of 2 series violate the hypothesis`,
		},
		{
			name: "hypothesis: empty, onEmpty unset means fail", probe: probe(below, ""), role: RoleHypothesis,
			samples: nil, wantOK: false, wantValue: nan,
			wantReason: "no data: query returned no series (onEmpty: fail)",
		},
		{
			name: "hypothesis: empty, onEmpty fail", probe: probe(below, "fail"), role: RoleHypothesis,
			samples: []Sample{}, wantOK: false, wantValue: nan,
			wantReason: "no data: query returned no series (onEmpty: fail)",
		},
		{
			name: "hypothesis: empty, onEmpty pass", probe: probe(below, "pass"), role: RoleHypothesis,
			samples: nil, wantOK: true, wantValue: nan,
			wantReason: "no data: query returned no series (onEmpty: pass)",
		},
		{
			name: "hypothesis: empty, unknown onEmpty is read as fail", probe: probe(below, "Pass"), role: RoleHypothesis,
			samples: nil, wantOK: false, wantValue: nan,
			wantReason: "no data: query returned no series (onEmpty: fail)",
		},

		// Stop: fires (OK=false) when any series meets Expect.
		{
			name: "stop does not fire", probe: probe(stopBelow1, ""), role: RoleStop,
			samples: []Sample{s(3, "deployment", "checkout")}, wantOK: true, wantValue: 3,
		},
		{
			name: "stop fires", probe: probe(stopBelow1, ""), role: RoleStop,
			samples: []Sample{s(0, "deployment", "checkout")}, wantOK: false, wantValue: 0,
			wantReason: `error-ratio = 0 {deployment="checkout"}: stop condition met (below 1)`,
		},
		{
			name: "stop: one matching series of three fires", probe: probe(stopBelow1, ""), role: RoleStop,
			samples: []Sample{s(2, "d", "a"), s(0, "d", "b"), s(5, "d", "c")}, wantOK: false, wantValue: 0,
			wantReason: `error-ratio = 0 {d="b"}: stop condition met (below 1); 1 of 3 series meet the stop condition`,
		},
		{
			name: "stop: value on the bound of below does not fire", probe: probe(stopBelow1, ""), role: RoleStop,
			samples: []Sample{s(1)}, wantOK: true, wantValue: 1,
		},
		{
			name: "stop: atLeast on the bound fires", probe: probe(experiment.Expect{AtLeast: f(0.5)}, ""), role: RoleStop,
			samples: []Sample{s(0.5)}, wantOK: false, wantValue: 0.5,
			wantReason: `error-ratio = 0.5: stop condition met (at least 0.5)`,
		},
		{
			name: "stop: NaN is unknown and fires", probe: probe(stopBelow1, ""), role: RoleStop,
			samples: []Sample{s(5), s(nan, "d", "x")}, wantOK: false, wantValue: nan,
			wantReason: `error-ratio = NaN {d="x"}: value unknown, stop condition treated as met (below 1); 1 of 2 series meet the stop condition`,
		},
		{
			name: "stop: +Inf fires", probe: probe(stopBelow1, ""), role: RoleStop,
			samples: []Sample{s(posInf)}, wantOK: false, wantValue: posInf,
			wantReason: `error-ratio = +Inf: value unknown, stop condition treated as met (below 1)`,
		},
		{
			name: "stop: -Inf fires", probe: probe(experiment.Expect{Above: f(100)}, ""), role: RoleStop,
			samples: []Sample{s(negInf)}, wantOK: false, wantValue: negInf,
			wantReason: `error-ratio = -Inf: value unknown, stop condition treated as met (above 100)`,
		},
		{
			name: "stop: empty, onEmpty unset fires", probe: probe(stopBelow1, ""), role: RoleStop,
			samples: nil, wantOK: false, wantValue: nan,
			wantReason: "no data: query returned no series (onEmpty: fail)",
		},
		{
			name: "stop: empty, onEmpty fail fires", probe: probe(stopBelow1, "fail"), role: RoleStop,
			samples: nil, wantOK: false, wantValue: nan,
			wantReason: "no data: query returned no series (onEmpty: fail)",
		},
		{
			name: "stop: empty, onEmpty pass does not fire", probe: probe(stopBelow1, "pass"), role: RoleStop,
			samples: nil, wantOK: true, wantValue: nan,
			wantReason: "no data: query returned no series (onEmpty: pass)",
		},

		// Could not evaluate.
		{
			name: "no comparator is an error, not a pass", probe: probe(experiment.Expect{}, ""), role: RoleStop,
			samples: []Sample{s(1)}, wantOK: false, wantValue: nan,
			wantErr: "invalid expect of probe error-ratio: no comparator set",
		},
		{
			name: "unknown role is an error", probe: probe(below, ""), role: "canary",
			samples: []Sample{s(0)}, wantOK: false, wantValue: nan,
			wantErr: `unknown probe role "canary"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Evaluate(tt.probe, tt.role, tt.samples, at)
			if got.OK != tt.wantOK {
				t.Errorf("OK = %v, want %v (reason %q)", got.OK, tt.wantOK, got.Reason)
			}
			if !sameFloat(got.Value, tt.wantValue) {
				t.Errorf("Value = %v, want %v", got.Value, tt.wantValue)
			}
			if tt.wantErr != "" {
				if !strings.Contains(got.Err, tt.wantErr) {
					t.Errorf("Err = %q, want it to contain %q", got.Err, tt.wantErr)
				}
				if got.Reason != "could not evaluate: "+got.Err {
					t.Errorf("Reason = %q, want %q", got.Reason, "could not evaluate: "+got.Err)
				}
			} else {
				if got.Err != "" {
					t.Errorf("Err = %q, want none", got.Err)
				}
				if got.Reason != tt.wantReason {
					t.Errorf("Reason =\n  %s\nwant\n  %s", got.Reason, tt.wantReason)
				}
			}
			if got.Probe != tt.probe.Name || got.Role != tt.role || !got.At.Equal(at) {
				t.Errorf("identity = (%q, %q, %v), want (%q, %q, %v)", got.Probe, got.Role, got.At, tt.probe.Name, tt.role, at)
			}
			if got.Series != len(tt.samples) {
				t.Errorf("Series = %d, want %d", got.Series, len(tt.samples))
			}
			if tt.wantErr == "" && len(got.Samples) != len(tt.samples) {
				t.Errorf("kept %d samples, want all %d", len(got.Samples), len(tt.samples))
			}
		})
	}
}

func TestEvaluateUnnamedProbeIsNamedByItsQuery(t *testing.T) {
	p := experiment.Probe{Query: `sum(up{job="shop"})`, Expect: experiment.Expect{AtLeast: f(3)}}
	got := Evaluate(p, RoleHypothesis, []Sample{s(2)}, at)
	want := `"sum(up{job=\"shop\"})" = 2: expected at least 3`
	if got.Reason != want {
		t.Errorf("Reason = %s, want %s", got.Reason, want)
	}
}

func TestEvaluateBoundsEvidenceAndKeepsOffendersFirst(t *testing.T) {
	const n = 100
	samples := make([]Sample, n)
	for i := range samples {
		samples[i] = s(0, "pod", fmt.Sprintf("p%03d", i))
	}
	// Three offenders at the very end, which a plain "first 20" would drop.
	for _, i := range []int{97, 98, 99} {
		samples[i].Value = 0.5
	}
	got := Evaluate(probe(experiment.Expect{Below: f(0.01)}, ""), RoleHypothesis, samples, at)
	if got.OK {
		t.Fatal("OK = true, want false")
	}
	if len(got.Samples) != MaxSamples {
		t.Fatalf("kept %d samples, want %d", len(got.Samples), MaxSamples)
	}
	if got.Series != n {
		t.Errorf("Series = %d, want %d", got.Series, n)
	}
	// Query order is preserved: 17 good ones first, then the 3 offenders.
	for i, smp := range got.Samples {
		want := fmt.Sprintf("p%03d", i)
		if i >= MaxSamples-3 {
			want = fmt.Sprintf("p%03d", n-MaxSamples+i)
		}
		if smp.Labels["pod"] != want {
			t.Errorf("Samples[%d] is %s, want %s", i, smp.Labels["pod"], want)
		}
	}
	wantReason := `error-ratio = 0.5 {pod="p097"}: expected below 0.01; 3 of 100 series violate the hypothesis; 80 of 100 series not recorded`
	if got.Reason != wantReason {
		t.Errorf("Reason =\n  %s\nwant\n  %s", got.Reason, wantReason)
	}

	// The Result must not alias the caller's label maps: the journal keeps
	// it while the querier's memory may be reused.
	samples[0].Labels["pod"] = "changed"
	if got.Samples[0].Labels["pod"] != "p000" {
		t.Errorf("Result shares label maps with its input")
	}
}

func TestFormatLabels(t *testing.T) {
	tests := []struct {
		labels map[string]string
		want   string
	}{
		{nil, "{}"},
		{map[string]string{"service": "checkout"}, `{service="checkout"}`},
		{map[string]string{"b": "2", "a": "1", "c": "3"}, `{a="1", b="2", c="3"}`},
		{map[string]string{"__name__": "up"}, `up`},
		{map[string]string{"__name__": "up", "job": "node", "instance": "a:9100"}, `up{instance="a:9100", job="node"}`},
		{map[string]string{"path": `C:\x "y"`}, `{path="C:\\x \"y\""}`},
	}
	for _, tt := range tests {
		if got := FormatLabels(tt.labels); got != tt.want {
			t.Errorf("FormatLabels(%v) = %s, want %s", tt.labels, got, tt.want)
		}
	}
}

// fakeQuerier records its call and returns canned samples or an error.
type fakeQuerier struct {
	samples []Sample
	err     error

	gotQuery string
	gotAt    time.Time
	calls    int
}

func (q *fakeQuerier) Query(_ context.Context, query string, at time.Time) ([]Sample, error) {
	q.calls++
	q.gotQuery, q.gotAt = query, at
	return q.samples, q.err
}

func TestCheck(t *testing.T) {
	unreachable := errors.New(`query "shop_errors_ratio" at http://prometheus:9090: dial tcp: connection refused`)
	tests := []struct {
		name       string
		q          *fakeQuerier
		role       Role
		onEmpty    string
		wantOK     bool
		wantErr    string
		wantReason string
	}{
		{name: "hypothesis holds", q: &fakeQuerier{samples: []Sample{s(0.001)}}, role: RoleHypothesis, wantOK: true},
		{
			name: "hypothesis violated", q: &fakeQuerier{samples: []Sample{s(0.2)}}, role: RoleHypothesis,
			wantReason: "error-ratio = 0.2: expected below 0.01",
		},
		{
			name: "querier error never reads as healthy", q: &fakeQuerier{err: unreachable}, role: RoleHypothesis, onEmpty: "pass",
			wantErr: unreachable.Error(), wantReason: "could not evaluate: " + unreachable.Error(),
		},
		{
			name: "querier error fires a stop condition", q: &fakeQuerier{err: unreachable}, role: RoleStop, onEmpty: "pass",
			wantErr: unreachable.Error(), wantReason: "could not evaluate: " + unreachable.Error(),
		},
		{name: "stop condition quiet", q: &fakeQuerier{samples: []Sample{s(0.2)}}, role: RoleStop, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := probe(experiment.Expect{Below: f(0.01)}, tt.onEmpty)
			got := Check(context.Background(), tt.q, p, tt.role, at)
			if tt.q.calls != 1 || tt.q.gotQuery != p.Query || !tt.q.gotAt.Equal(at) {
				t.Errorf("querier called %d times with (%q, %v), want once with (%q, %v)", tt.q.calls, tt.q.gotQuery, tt.q.gotAt, p.Query, at)
			}
			if got.OK != tt.wantOK {
				t.Errorf("OK = %v, want %v", got.OK, tt.wantOK)
			}
			if got.Err != tt.wantErr {
				t.Errorf("Err = %q, want %q", got.Err, tt.wantErr)
			}
			if got.Reason != tt.wantReason {
				t.Errorf("Reason = %q, want %q", got.Reason, tt.wantReason)
			}
			if tt.wantErr != "" && !math.IsNaN(got.Value) {
				t.Errorf("Value = %v, want NaN when the query failed", got.Value)
			}
			if got.Probe != p.Name || got.Role != tt.role || !got.At.Equal(at) {
				t.Errorf("identity = (%q, %q, %v)", got.Probe, got.Role, got.At)
			}
		})
	}
}

func TestCheckWithoutQuerier(t *testing.T) {
	got := Check(context.Background(), nil, probe(experiment.Expect{Below: f(1)}, "pass"), RoleHypothesis, at)
	if got.OK || got.Err == "" {
		t.Fatalf("Check(nil querier) = OK %v, Err %q; want a could-not-evaluate result", got.OK, got.Err)
	}
}

// BenchmarkEvaluate measures one evaluation of a 1,000-series result, the
// size of an `up` probe over a mid-sized cluster. It runs every probe
// interval for every probe, so it must stay far below a millisecond.
func BenchmarkEvaluate(b *testing.B) {
	samples := make([]Sample, 1000)
	for i := range samples {
		samples[i] = s(float64(i%7)/1000, "__name__", "shop_errors_ratio", "namespace", "shop", "pod", fmt.Sprintf("checkout-%04d", i))
	}
	samples[999].Value = 0.5 // one offender at the end: a full scan, a reason, copied evidence
	for _, bc := range []struct {
		name string
		role Role
	}{{"hypothesis", RoleHypothesis}, {"stop", RoleStop}} {
		p := probe(experiment.Expect{Below: f(0.01)}, "")
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r := Evaluate(p, bc.role, samples, at)
				if r.OK {
					b.Fatal("expected a bad outcome")
				}
			}
		})
	}
}
