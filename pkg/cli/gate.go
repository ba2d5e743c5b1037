package cli

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/engine"
	"github.com/chaosnight/chaosnight/pkg/gate"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/probe"
)

// Keys of the incident-aware gate (docs/gate.md).
const (
	keyGateAlerts        = "gate.alerts"
	keyGateAlertSelector = "gate.alertSelector"
	keyGateRollouts      = "gate.rollouts"
)

// addGateFlags declares the gate's flags (run and serve).
func (g *globals) addGateFlags(fl *pflag.FlagSet) {
	g.bindBoolFlag(fl, keyGateAlerts, "gate-alerts", true,
		"before each injection, skip while an alert matching --gate-alert-selector fires (unless the experiment's spec.detect expects it)")
	g.bindFlag(fl, keyGateAlertSelector, "gate-alert-selector", gate.DefaultAlertSelector,
		`PromQL label matchers applied to ALERTS{alertstate="firing"} by the gate, e.g. 'severity=~"critical|page"'; empty: every firing alert`)
	g.bindBoolFlag(fl, keyGateRollouts, "gate-rollouts", true,
		"before each injection, skip while a workload of the picked targets (Deployment, StatefulSet, DaemonSet) is rolling out")
}

// gateConfig is the gate's configuration from the settings.
func (g *globals) gateConfig() gate.Config {
	return gate.Config{
		Alerts:        g.v.GetBool(keyGateAlerts),
		AlertSelector: strings.TrimSpace(g.v.GetString(keyGateAlertSelector)),
		Rollouts:      g.v.GetBool(keyGateRollouts),
	}
}

// checkGateSettings validates the gate's settings with the safety ones
// (checkSafety): an alert selector that does not parse stops run and
// serve at start, and a reload keeps the settings in force.
func (g *globals) checkGateSettings() error {
	if err := g.gateConfig().Validate(); err != nil {
		return &SafetyError{Setting: keyGateAlertSelector, Flag: "gate-alert-selector", Problem: err.Error()}
	}
	return nil
}

// newGate is the gate of `run`: nil (no check, nothing journaled) when
// both checks are off.
func (g *globals) newGate(prom probe.Querier, client kubernetes.Interface) engine.Gate {
	cfg := g.gateConfig()
	if !cfg.Enabled() {
		return nil
	}
	g.log.Info("gate", "alerts", cfg.Alerts, "alertSelector", cfg.AlertSelector, "rollouts", cfg.Rollouts)
	return &gate.Gate{Config: cfg, Prom: prom, Client: client}
}

// liveGate is serve's gate: it reads the settings at every check, under
// the lock that reloads take, so that a change of the configuration file
// applies to the next injection as the safety settings do.
type liveGate struct {
	mu     *sync.Mutex
	g      *globals
	prom   probe.Querier
	client kubernetes.Interface
}

func (l *liveGate) Check(ctx context.Context, req gate.Request) gate.Check {
	l.mu.Lock()
	cfg := l.g.gateConfig()
	l.mu.Unlock()
	gt := &gate.Gate{Config: cfg, Prom: l.prom, Client: l.client}
	return gt.Check(ctx, req)
}

// gateAccess is what the rollout check reads in a target namespace, for
// `chaosnight doctor`: a ReplicaSet's Deployment (the ReplicaSet, the
// StatefulSet and the DaemonSet are already read for minHealthy, see
// inject.GuardAccess).
func (g *globals) gateAccess(ns string, ownerKinds []string) []inject.Access {
	if !g.gateConfig().Rollouts {
		return nil
	}
	for _, k := range ownerKinds {
		if k == "ReplicaSet" {
			return []inject.Access{{Verb: "get", Group: "apps", Resource: "deployments", Namespace: ns,
				Why: "read the Deployment of the targets' ReplicaSets: the gate skips a run while it rolls out (gate.rollouts)"}}
		}
	}
	return nil
}

// gateNow is doctor's look at the alert check: the same query the gate
// makes before an injection, and what it would say now.
func (d *doctor) gateNow(ctx context.Context, prom probe.Querier) {
	cfg := d.g.gateConfig()
	if !cfg.Alerts {
		return
	}
	gt := &gate.Gate{Config: gate.Config{Alerts: true, AlertSelector: cfg.AlertSelector}, Prom: prom}
	c := gt.Check(ctx, gate.Request{})
	switch {
	case c.Alerts.Error != "":
		d.report.fail(sectionPrometheus, fmt.Sprintf("the gate cannot read the firing alerts (%s): every run would be skipped", c.Alerts.Error),
			"check that Prometheus answers "+c.Alerts.Query+", or fix gate.alertSelector")
	case !c.Open:
		d.report.warn(sectionPrometheus, fmt.Sprintf("the gate is closed now: %s", strings.Join(c.Reasons, "; ")),
			"a run now would be skipped; wait for the incident to end, or narrow gate.alertSelector")
	default:
		d.report.ok(sectionPrometheus, "gate: no alert matching %s fires now", c.Alerts.Query)
	}
}
