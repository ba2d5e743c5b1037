package chart_test

import (
	"testing"
)

// The gate's values reach chaosnight.yaml (decoded strictly, as serve
// does), with the runner's defaults when unset.
func TestGateValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, values string
		alerts       bool
		selector     string
		rollouts     bool
	}{
		{name: "defaults", values: `rbac: {namespaces: [shop]}`, alerts: true, selector: `severity="critical"`, rollouts: true},
		{name: "set", values: `
rbac: {namespaces: [shop]}
gate: {alerts: false, alertSelector: 'severity=~"critical|page",team="shop"', rollouts: false}`,
			alerts: false, selector: `severity=~"critical|page",team="shop"`, rollouts: false},
		{name: "every firing alert", values: `
rbac: {namespaces: [shop]}
gate: {alertSelector: ""}`, alerts: true, selector: "", rollouts: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := loadRenderedConfig(t, render(t, vals(t, tc.values)))
			g := cfg.Gate
			if g.Alerts == nil || *g.Alerts != tc.alerts || g.AlertSelector == nil || *g.AlertSelector != tc.selector || g.Rollouts == nil || *g.Rollouts != tc.rollouts {
				t.Errorf("gate in chaosnight.yaml: %+v, want alerts %v selector %q rollouts %v", g, tc.alerts, tc.selector, tc.rollouts)
			}
		})
	}
}
