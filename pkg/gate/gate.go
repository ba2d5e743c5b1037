// Package gate is the incident-aware gate: before each injection (and each
// repeat of a repeating fault) it answers whether the cluster is quiet
// enough to add a fault. It is closed while an alert matching the
// operator's selector fires (unless the experiment's spec.detect expects
// that alert) and while a workload of the picked targets is in the middle
// of a rollout. An answer it cannot get (Prometheus unreachable, a
// workload that cannot be read) closes it: an unknown is never read as
// safe.
package gate

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/probe"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// DefaultAlertSelector is the operator's selector unless configured: any
// critical alert is an incident.
const DefaultAlertSelector = `severity="critical"`

// ReasonPrefix starts every reason of a closed gate, so that a journal,
// a status page or a log filter can tell a gate skip from the others.
const ReasonPrefix = "gate: "

// maxReasons bounds the reasons of one check; the journal's check lists
// everything.
const maxReasons = 5

// Config is what the operator sets (gate.* in chaosnight.yaml).
type Config struct {
	// Alerts turns the alert check on.
	Alerts bool
	// AlertSelector is a list of PromQL label matchers applied to
	// ALERTS{alertstate="firing"}; empty selects every firing alert.
	AlertSelector string
	// Rollouts turns the rollout check of the targets' workloads on.
	Rollouts bool
}

// Enabled says whether any check is on.
func (c Config) Enabled() bool { return c.Alerts || c.Rollouts }

// Validate parses the selector (when the alert check is on).
func (c Config) Validate() error {
	if !c.Alerts {
		return nil
	}
	_, err := ParseSelector(c.AlertSelector)
	return err
}

// Gate checks the cluster before an injection. Prom answers the alert
// check, Client the rollout check.
type Gate struct {
	Config
	Prom   probe.Querier
	Client kubernetes.Interface
	Now    func() time.Time
}

// Request is one injection about to happen.
type Request struct {
	Round int // 1 for the first injection, 2... for the repeats
	// Detect are the alerts the experiment expects: they do not close the
	// gate (the fault is meant to raise them).
	Detect []experiment.Detection
	// Targets are the picked pods; their owners' rollouts are checked.
	Targets []target.Pod
}

// Check is what the gate checked and its answer, as the journal keeps it.
type Check struct {
	Round int       `json:"round"`
	At    time.Time `json:"at"`
	Open  bool      `json:"open"`
	// Reasons say why it is closed, each starting with "gate: ".
	Reasons  []string      `json:"reasons,omitempty"`
	Alerts   *AlertCheck   `json:"alerts,omitempty"`   // nil when the alert check is off
	Rollouts *RolloutCheck `json:"rollouts,omitempty"` // nil when the rollout check is off
}

// AlertCheck is the query of the firing alerts and what it returned.
type AlertCheck struct {
	Query  string  `json:"query"`
	Firing []Alert `json:"firing,omitempty"`
	// Error is why Prometheus could not answer; the gate is then closed.
	Error string `json:"error,omitempty"`
}

// Alert is one firing alert the selector matched.
type Alert struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	// Expected is true when the experiment's spec.detect lists it: it
	// does not close the gate.
	Expected bool `json:"expected,omitempty"`
}

// RolloutCheck lists the workloads of the targets and their rollout state.
type RolloutCheck struct {
	Workloads []Workload `json:"workloads,omitempty"`
}

// Workload is one owner of targets, resolved to what rolls out (a
// ReplicaSet to its Deployment).
type Workload struct {
	Kind      string `json:"kind"` // Deployment, StatefulSet, DaemonSet, or the owner kind that has no rollout
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// RollingOut is true when a rollout is in progress (or failed); the
	// gate is then closed.
	RollingOut bool `json:"rollingOut,omitempty"`
	// Detail is the state in words: "1 of 3 replicas updated", "rollout
	// complete (3 of 3 replicas updated)", "no rollout: owned by a Job".
	Detail string `json:"detail"`
	// Error is why it could not be read; the gate is then closed.
	Error string `json:"error,omitempty"`
	// Selector is the pod selector read with it (for a Deployment reached
	// through a ReplicaSet, the ReplicaSet's), "" when unknown; Owners are
	// the targets' owners (target.OwnerKey) resolved to it. With them a
	// dry run can tell whether the select phase's LIST holds every pod of
	// an owner (see inject.Census).
	Selector string   `json:"selector,omitempty"`
	Owners   []string `json:"-"`
}

// Reason is the first reason of a closed check, or "".
func (c Check) Reason() string {
	if len(c.Reasons) == 0 {
		return ""
	}
	return c.Reasons[0]
}

func (g *Gate) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// Check runs the configured checks. It always returns an answer: what it
// could not find out closes the gate with the reason.
func (g *Gate) Check(ctx context.Context, req Request) Check {
	c := Check{Round: req.Round, At: g.now(), Open: true}
	if g.Alerts {
		ac, reasons := g.checkAlerts(ctx, req.Detect, c.At)
		c.Alerts = &ac
		c.Reasons = append(c.Reasons, reasons...)
	}
	if g.Rollouts {
		rc := g.checkRollouts(ctx, req.Targets)
		c.Rollouts = &rc
		c.Reasons = append(c.Reasons, rolloutReasons(rc)...)
	}
	c.Reasons = capReasons(c.Reasons)
	c.Open = len(c.Reasons) == 0
	return c
}

func (g *Gate) checkAlerts(ctx context.Context, detect []experiment.Detection, at time.Time) (AlertCheck, []string) {
	ms, err := ParseSelector(g.AlertSelector)
	if err != nil {
		// Validated at start; a selector that fails here still closes.
		return AlertCheck{Error: err.Error()}, []string{ReasonPrefix + err.Error()}
	}
	ac := AlertCheck{Query: alertsQuery(ms)}
	if g.Prom == nil {
		ac.Error = "no Prometheus configured"
		return ac, []string{ReasonPrefix + "cannot read the firing alerts: no Prometheus configured"}
	}
	samples, err := g.Prom.Query(ctx, ac.Query, at)
	if err != nil {
		ac.Error = err.Error()
		return ac, []string{fmt.Sprintf("%scannot read the firing alerts from Prometheus, so nothing is injected: %v", ReasonPrefix, err)}
	}
	return evaluateAlerts(ac, samples, detect)
}

// evaluateAlerts turns the ALERTS samples into the check and the reasons
// of the alerts that close the gate: one reason per alert name and
// namespace.
func evaluateAlerts(ac AlertCheck, samples []probe.Sample, detect []experiment.Detection) (AlertCheck, []string) {
	seen := map[string]bool{}
	var reasons []string
	for _, s := range samples {
		labels := map[string]string{}
		for k, v := range s.Labels {
			if k != "__name__" && k != "alertstate" {
				labels[k] = v
			}
		}
		a := Alert{Name: labels["alertname"], Labels: labels, Expected: expected(labels, detect)}
		delete(a.Labels, "alertname")
		ac.Firing = append(ac.Firing, a)
		if a.Expected {
			continue
		}
		why := fmt.Sprintf("%salert %s firing", ReasonPrefix, a.Name)
		if ns := labels["namespace"]; ns != "" {
			why += " in " + ns
		}
		if !seen[why] {
			seen[why] = true
			reasons = append(reasons, why)
		}
	}
	sort.SliceStable(ac.Firing, func(i, j int) bool { return ac.Firing[i].Name < ac.Firing[j].Name })
	return ac, reasons
}

// expected says whether spec.detect lists the alert: same name, and every
// label the detection names with the same value.
func expected(labels map[string]string, detect []experiment.Detection) bool {
	for _, d := range detect {
		if d.Alert != labels["alertname"] {
			continue
		}
		ok := true
		for k, v := range d.Labels {
			if labels[k] != v {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func rolloutReasons(rc RolloutCheck) []string {
	var out []string
	for _, w := range rc.Workloads {
		kind := strings.ToLower(w.Kind)
		switch {
		case w.Error != "":
			out = append(out, fmt.Sprintf("%scannot read the %s %s/%s, so nothing of it is touched: %s", ReasonPrefix, kind, w.Namespace, w.Name, w.Error))
		case w.RollingOut:
			out = append(out, fmt.Sprintf("%s%s %s/%s %s", ReasonPrefix, kind, w.Namespace, w.Name, w.Detail))
		}
	}
	return out
}

// capReasons keeps the first maxReasons and says how many more the
// journal's check holds.
func capReasons(rs []string) []string {
	if len(rs) <= maxReasons {
		return rs
	}
	more := len(rs) - maxReasons
	return append(slices.Clip(rs[:maxReasons]), fmt.Sprintf("%sand %d more (the journal's gate check lists them)", ReasonPrefix, more))
}
