//go:build linux

package prometheus_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/probe"
	"github.com/chaosnight/chaosnight/pkg/probe/prometheus"
)

func fp(v float64) *float64 { return &v }

// testCheckEndToEnd runs probe.Check through the real client and server,
// in both roles, so that the whole path from PromQL to verdict is covered.
func testCheckEndToEnd(t *testing.T, tp *testPrometheus) {
	c := newClient(t, prometheus.Config{URL: tp.URL})
	dead := newClient(t, prometheus.Config{URL: "http://" + mustFreeAddr(t), Timeout: 2 * time.Second})

	tests := []struct {
		name    string
		q       probe.Querier
		probe   experiment.Probe
		role    probe.Role
		wantOK  bool
		value   float64 // checked unless NaN is wanted via wantNaN
		wantNaN bool
		reason  []string // substrings
		err     string   // substring; empty means no error
	}{
		{
			name: "hypothesis holds", q: c, role: probe.RoleHypothesis, wantOK: true, value: 0.002,
			probe: experiment.Probe{Name: "error-ratio", Query: "shop_errors_ratio", Expect: experiment.Expect{Below: fp(0.01)}},
		},
		{
			name: "hypothesis violated by one series of two", q: c, role: probe.RoleHypothesis, value: 2,
			probe:  experiment.Probe{Name: "ready", Query: "shop_ready", Expect: experiment.Expect{AtLeast: fp(3)}},
			reason: []string{`ready = 2 shop_ready{instance="` + tp.Instance + `", job="shop", service="cart"}: expected at least 3; 1 of 2 series violate the hypothesis`},
		},
		{
			name: "hypothesis: NaN violates", q: c, role: probe.RoleHypothesis, wantNaN: true,
			probe:  experiment.Probe{Name: "broken", Query: "shop_nan_ratio", Expect: experiment.Expect{Below: fp(1)}},
			reason: []string{"broken = NaN shop_nan_ratio{", "NaN never meets an expectation"},
		},
		{
			name: "hypothesis: empty fails by default", q: c, role: probe.RoleHypothesis, wantNaN: true,
			probe:  experiment.Probe{Name: "gone", Query: `shop_ready{service="gone"}`, Expect: experiment.Expect{AtLeast: fp(1)}},
			reason: []string{"no data: query returned no series (onEmpty: fail)"},
		},
		{
			name: "hypothesis: empty passes with onEmpty pass", q: c, role: probe.RoleHypothesis, wantOK: true, wantNaN: true,
			probe:  experiment.Probe{Name: "gone", Query: `shop_ready{service="gone"}`, Expect: experiment.Expect{AtLeast: fp(1)}, OnEmpty: "pass"},
			reason: []string{"(onEmpty: pass)"},
		},
		{
			name: "hypothesis: syntax error cannot be evaluated", q: c, role: probe.RoleHypothesis, wantNaN: true,
			probe:  experiment.Probe{Name: "typo", Query: "sum(shop_ready", Expect: experiment.Expect{AtLeast: fp(1)}, OnEmpty: "pass"},
			reason: []string{"could not evaluate: query \"sum(shop_ready\""},
			err:    "parse error",
		},
		{
			name: "hypothesis: unreachable server is never healthy", q: dead, role: probe.RoleHypothesis, wantNaN: true,
			probe: experiment.Probe{Name: "error-ratio", Query: "shop_errors_ratio", Expect: experiment.Expect{Below: fp(0.01)}, OnEmpty: "pass"},
			err:   "connection refused",
		},
		{
			name: "stop quiet", q: c, role: probe.RoleStop, wantOK: true, value: 5,
			probe: experiment.Probe{Name: "all-gone", Query: "sum(shop_ready)", Expect: experiment.Expect{Below: fp(1)}},
		},
		{
			name: "stop fires on one series", q: c, role: probe.RoleStop, value: 2,
			probe:  experiment.Probe{Name: "low", Query: "shop_ready", Expect: experiment.Expect{Below: fp(3)}},
			reason: []string{`low = 2 shop_ready{`, `service="cart"}: stop condition met (below 3); 1 of 2 series meet the stop condition`},
		},
		{
			name: "stop fires on a scalar", q: c, role: probe.RoleStop, value: 5,
			probe:  experiment.Probe{Name: "total", Query: "scalar(sum(shop_ready))", Expect: experiment.Expect{Between: []float64{4, 6}}},
			reason: []string{"total = 5: stop condition met (between 4 and 6)"},
		},
		{
			name: "stop: +Inf is unknown and fires", q: c, role: probe.RoleStop, value: math.Inf(1),
			probe:  experiment.Probe{Name: "inf", Query: "shop_inf_value", Expect: experiment.Expect{Below: fp(0)}},
			reason: []string{"inf = +Inf shop_inf_value{", "value unknown, stop condition treated as met (below 0)"},
		},
		{
			name: "stop: empty fires by default", q: c, role: probe.RoleStop, wantNaN: true,
			probe:  experiment.Probe{Name: "gone", Query: `shop_ready{service="gone"}`, Expect: experiment.Expect{Below: fp(1)}},
			reason: []string{"no data: query returned no series (onEmpty: fail)"},
		},
		{
			name: "stop: empty with onEmpty pass stays quiet", q: c, role: probe.RoleStop, wantOK: true, wantNaN: true,
			probe:  experiment.Probe{Name: "gone", Query: `shop_ready{service="gone"}`, Expect: experiment.Expect{Below: fp(1)}, OnEmpty: "pass"},
			reason: []string{"no data: query returned no series (onEmpty: pass)"},
		},
		{
			name: "stop: unreachable server fires", q: dead, role: probe.RoleStop, wantNaN: true,
			probe: experiment.Probe{Name: "all-gone", Query: "sum(shop_ready)", Expect: experiment.Expect{Below: fp(1)}, OnEmpty: "pass"},
			err:   "connection refused",
		},
		{
			name: "stop: range vector cannot be evaluated and fires", q: c, role: probe.RoleStop, wantNaN: true,
			probe: experiment.Probe{Name: "range", Query: "shop_ready[1m]", Expect: experiment.Expect{Below: fp(1)}},
			err:   "range vector",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := time.Now()
			got := probe.Check(context.Background(), tt.q, tt.probe, tt.role, at)
			if got.OK != tt.wantOK {
				t.Errorf("OK = %v, want %v (reason %q)", got.OK, tt.wantOK, got.Reason)
			}
			switch {
			case tt.wantNaN && !math.IsNaN(got.Value):
				t.Errorf("Value = %v, want NaN", got.Value)
			case !tt.wantNaN && got.Value != tt.value:
				t.Errorf("Value = %v, want %v", got.Value, tt.value)
			}
			for _, r := range tt.reason {
				if !strings.Contains(got.Reason, r) {
					t.Errorf("Reason %q does not contain %q", got.Reason, r)
				}
			}
			if tt.reason == nil && got.Reason != "" && tt.err == "" {
				t.Errorf("Reason = %q, want none", got.Reason)
			}
			if tt.err == "" && got.Err != "" {
				t.Errorf("Err = %q, want none", got.Err)
			}
			if tt.err != "" && !strings.Contains(got.Err, tt.err) {
				t.Errorf("Err = %q, want it to contain %q", got.Err, tt.err)
			}
			if got.Probe != tt.probe.Name || got.Role != tt.role || !got.At.Equal(at) {
				t.Errorf("identity = (%q, %q, %v)", got.Probe, got.Role, got.At)
			}
		})
	}
}

func mustFreeAddr(t *testing.T) string {
	t.Helper()
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
