package cli

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/chaosnight/chaosnight/pkg/gate"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// The incident-aware gate against the sandbox's real Prometheus (which
// evaluates the alerting rule a test writes) and real API server (whose
// deployment controller rolls a Deployment out): a closed gate skips the
// run and nothing is touched; the alert an experiment expects does not
// close it; a finished rollout opens it again.

const gateTestAlert = "ChaosnightGateTestIncident"

// gateIncident makes the sandbox's Prometheus fire an always-true alert
// labelled severity=critical in namespace shop, waits until the gate's own
// query sees it firing, and removes it (waiting until it is gone) when the
// test ends.
func gateIncident(t *testing.T, s *sandbox.Sandbox) {
	t.Helper()
	ctx := t.Context()
	rules := fmt.Sprintf(`groups:
  - name: gate-test
    rules:
      - alert: %s
        expr: vector(1)
        labels: {severity: critical, namespace: shop}
`, gateTestAlert)
	if err := s.SetAlertRules(ctx, "gate-test", rules); err != nil {
		t.Fatal(err)
	}
	query := fmt.Sprintf(`ALERTS{alertname=%q,alertstate="firing"}`, gateTestAlert)
	t.Cleanup(func() {
		ctx := context.Background()
		if err := s.SetAlertRules(ctx, "gate-test", ""); err != nil {
			t.Errorf("removing the test rule: %v", err)
			return
		}
		sandbox.WaitFor(t, 30*time.Second, "the test alert gone", func() error {
			v, err := s.Query(ctx, query)
			if err == nil && len(v) > 0 {
				err = fmt.Errorf("still firing: %v", v)
			}
			return err
		})
	})
	sandbox.WaitFor(t, 30*time.Second, "the test alert firing", func() error {
		v, err := s.Query(ctx, query)
		if err == nil && len(v) == 0 {
			err = fmt.Errorf("not firing yet")
		}
		return err
	})
}

// gateCheck returns the journal's only gate check.
func gateCheck(t *testing.T, rec *journal.Record) gate.Check {
	t.Helper()
	if len(rec.Gate) != 1 {
		t.Fatalf("the journal holds %d gate checks, want 1: %+v", len(rec.Gate), rec.Gate)
	}
	return rec.Gate[0]
}

func TestGateCriticalAlertSkipsTheRun(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	gateIncident(t, s)
	before := podUIDs(ctx, t, s.Client())

	start := time.Now()
	code, out, rec := runExp(ctx, t, s, experimentYAML("gate-alert", evictOne, ""))
	t.Logf("run took %s", time.Since(start).Round(time.Millisecond))
	want := "gate: alert " + gateTestAlert + " firing in shop"
	if code != 2 || rec.Verdict != journal.Skipped || !slices.Contains(rec.Reasons, want) {
		t.Fatalf("exit %d, verdict %s, reasons %q; want 2, skipped, %q\n%s", code, rec.Verdict, rec.Reasons, want, out)
	}
	if !strings.Contains(out, want) {
		t.Errorf("the summary must say why:\n%s", out)
	}
	// Nothing touched: no injection reached the guard, and every pod of
	// the cluster is the one that was there.
	if len(rec.Injections) != 0 || len(rec.Rounds) != 0 || len(rec.Targets) != 0 {
		t.Errorf("a closed gate injected: injections %v rounds %v targets %v", rec.Injections, rec.Rounds, rec.Targets)
	}
	if after := podUIDs(ctx, t, s.Client()); !maps.Equal(before, after) {
		t.Errorf("pods changed under a closed gate")
	}
	// The journal says what was checked and the answer.
	c := gateCheck(t, rec)
	if c.Open || c.Round != 1 || c.Alerts == nil || c.Alerts.Query != `ALERTS{alertstate="firing",severity="critical"}` {
		t.Fatalf("gate check %+v", c)
	}
	found := false
	for _, a := range c.Alerts.Firing {
		if a.Name == gateTestAlert && a.Labels["namespace"] == "shop" && !a.Expected {
			found = true
		}
	}
	if !found {
		t.Errorf("the journal's alert check does not list %s: %+v", gateTestAlert, c.Alerts.Firing)
	}
	if c.Rollouts == nil || len(c.Rollouts.Workloads) != 1 || c.Rollouts.Workloads[0].Kind != "Deployment" || c.Rollouts.Workloads[0].Name != "checkout" || c.Rollouts.Workloads[0].RollingOut {
		t.Errorf("the rollout check must have read shop/checkout, at rest: %+v", c.Rollouts)
	}

	// The same alert with the gate narrowed to another severity: open.
	_, out, rec = runExp(ctx, t, s, experimentYAML("gate-alert-narrowed", evictOne, ""), "--dry-run", "--gate-alert-selector", `severity="page"`)
	if c := gateCheck(t, rec); !c.Open || len(c.Alerts.Firing) != 0 || rec.Verdict != journal.DryRun {
		t.Errorf("a selector the alert does not match must leave the gate open: verdict %s, check %+v\n%s", rec.Verdict, c, out)
	}
}

// An alert the experiment's spec.detect expects is the fault's intended
// effect, not an incident: it does not close the gate. Before the fault
// the detection's own rule applies (an expected alert already firing skips
// the run: the steady state was not quiet), so the exemption shows in the
// repeat rounds of podKill.every: the alert fires after round 2, and the
// later rounds still inject, their gate checks open and listing the alert
// as expected.
func TestGateExpectedAlertDoesNotClose(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	workload(t, s, "gate-expected", "web", 3, 0, "")
	exp := strings.NewReplacer("gate-rollout", "gate-expected", "podKill: {method: evict}", "podKill: {method: evict, every: 2s}",
		"duration: 2s", "duration: 14s").Replace(rolloutExperiment) +
		fmt.Sprintf("  detect:\n    - {alert: %s, labels: {namespace: shop}, within: 30s}\n", gateTestAlert)
	_, out, rec, firing := repeatThenIncident(ctx, t, s, exp)
	t.Logf("verdict %s, reasons %q", rec.Verdict, rec.Reasons)
	var expectedSeen int
	for _, c := range rec.Gate {
		if !c.Open {
			t.Errorf("round %d: the gate closed on an expected alert: %q", c.Round, c.Reasons)
		}
		if c.Alerts == nil {
			continue
		}
		for _, a := range c.Alerts.Firing {
			if a.Name != gateTestAlert {
				continue
			}
			if !a.Expected {
				t.Errorf("round %d: the journal lists %s as not expected", c.Round, a.Name)
			}
			expectedSeen++
		}
	}
	if expectedSeen == 0 {
		t.Errorf("no gate check saw the alert firing (gate %+v)\n%s", rec.Gate, out)
	}
	injectedAfter := 0
	for _, r := range rec.Rounds {
		if r.At.After(firing) && r.Touched > 0 {
			injectedAfter++
		}
	}
	if injectedAfter == 0 {
		t.Errorf("no round injected after the expected alert fired: rounds %+v", rec.Rounds)
	}
	for _, r := range rec.Reasons {
		if strings.Contains(r, gate.ReasonPrefix) {
			t.Errorf("a gate reason on an open gate: %q", r)
		}
	}
}

// rolloutExperiment evicts one pod of gate-rollout/web.
const rolloutExperiment = `apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata:
  name: gate-rollout
spec:
  hypothesis:
    probes:
      - name: checkout-error-ratio
        query: sum(rate(http_requests_total{namespace="shop",service="checkout",code=~"5.."}[10s])) / sum(rate(http_requests_total{namespace="shop",service="checkout"}[10s]))
        expect: {below: 0.01}
  target:
    namespaces: [gate-rollout]
    selector: app=web
    pick: {count: 1}
  action:
    podKill: {method: evict}
  duration: 2s
  probeInterval: 1s
  recovery: 20s
`

// rollout reads the Deployment and says what the gate would.
func rollout(ctx context.Context, s *sandbox.Sandbox) (bool, string, error) {
	d, err := s.Client().AppsV1().Deployments("gate-rollout").Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		return false, "", err
	}
	rolling, detail := gate.DeploymentRollout(d)
	return rolling, detail, nil
}

func patchDeployment(ctx context.Context, t *testing.T, s *sandbox.Sandbox, patch string) {
	t.Helper()
	if _, err := s.Client().AppsV1().Deployments("gate-rollout").Patch(ctx, "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestGateRolloutSkipsTheRunUntilItCompletes(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	workload(t, s, "gate-rollout", "web", 3, 0, "")

	// 1. Paused after a template change: the controller observed the new
	// generation and rolls nothing out while paused.
	patchDeployment(ctx, t, s, `{"spec":{"paused":true}}`)
	patchDeployment(ctx, t, s, `{"spec":{"template":{"metadata":{"annotations":{"chaosnight.dev/gate-test":"v2"}}}}}`)
	sandbox.WaitFor(t, 30*time.Second, "the template change observed while paused", func() error {
		d, err := s.Client().AppsV1().Deployments("gate-rollout").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Status.ObservedGeneration < d.Generation {
			return fmt.Errorf("generation %d, observed %d", d.Generation, d.Status.ObservedGeneration)
		}
		return nil
	})
	before := podUIDs(ctx, t, s.Client())
	code, out, rec := runExp(ctx, t, s, rolloutExperiment)
	want := "gate: deployment gate-rollout/web is paused mid-rollout (0 of 3 replicas updated)"
	if code != 2 || rec.Verdict != journal.Skipped || !slices.Contains(rec.Reasons, want) {
		t.Fatalf("paused mid-rollout: exit %d, verdict %s, reasons %q; want 2, skipped, %q\n%s", code, rec.Verdict, rec.Reasons, want, out)
	}
	if len(rec.Injections) != 0 || len(rec.Rounds) != 0 {
		t.Errorf("a closed gate injected: %v %v", rec.Injections, rec.Rounds)
	}
	if after := podUIDs(ctx, t, s.Client()); !maps.Equal(before, after) {
		t.Errorf("pods changed under a closed gate")
	}
	c := gateCheck(t, rec)
	if w := c.Rollouts.Workloads; len(w) != 1 || w[0].Kind != "Deployment" || w[0].Namespace != "gate-rollout" || w[0].Name != "web" || !w[0].RollingOut {
		t.Errorf("the journal's rollout check: %+v", c.Rollouts)
	}

	// 2. Resumed with new pods that take 10 s to become ready: the new
	// ReplicaSet is not ready yet and old pods still run. (The rollout of
	// 3 pods one by one lasts at least 30 s; the run reaches its gate
	// within a few.)
	patchDeployment(ctx, t, s, fmt.Sprintf(`{"spec":{"paused":false,"template":{"metadata":{"annotations":{%q:"10s"}}}}}`, sandbox.ReadyDelayAnnotation))
	sandbox.WaitFor(t, 30*time.Second, "the rollout under way", func() error {
		d, err := s.Client().AppsV1().Deployments("gate-rollout").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if d.Spec.Paused || d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas == 0 {
			return fmt.Errorf("not started: observed %d of %d, %d updated", d.Status.ObservedGeneration, d.Generation, d.Status.UpdatedReplicas)
		}
		return nil
	})
	started := time.Now()
	_, out, rec = runExp(ctx, t, s, rolloutExperiment)
	t.Logf("run during the rollout: %s after it started, %q", time.Since(started).Round(time.Millisecond), rec.Reasons)
	prefix := "gate: deployment gate-rollout/web is rolling out ("
	if rec.Verdict != journal.Skipped || len(rec.Reasons) != 1 || !strings.HasPrefix(rec.Reasons[0], prefix) {
		t.Fatalf("rolling out: verdict %s, reasons %q; want skipped, %q...\n%s", rec.Verdict, rec.Reasons, prefix, out)
	}
	if len(rec.Injections) != 0 {
		t.Errorf("a closed gate injected: %v", rec.Injections)
	}

	// 3. Once the rollout completed, the run goes on and injects.
	sandbox.WaitFor(t, 120*time.Second, "the rollout complete", func() error {
		rolling, detail, err := rollout(ctx, s)
		if err == nil && rolling {
			err = fmt.Errorf("%s", detail)
		}
		return err
	})
	code, out, rec = runExp(ctx, t, s, rolloutExperiment)
	if c := gateCheck(t, rec); !c.Open || len(c.Rollouts.Workloads) != 1 || c.Rollouts.Workloads[0].Detail != "rollout complete (3 of 3 replicas updated)" {
		t.Fatalf("after the rollout: gate %+v\n%s", c, out)
	}
	if touched, _, ok := rec.Injected(); !ok || touched != 1 || code != 0 || rec.Verdict != journal.Held {
		t.Fatalf("after the rollout: exit %d, verdict %s, reasons %q, rounds %+v; want a held run that evicted 1 pod\n%s", code, rec.Verdict, rec.Reasons, rec.Rounds, out)
	}
}

// doctor shows the gate's answer now (the same query a run makes) and asks
// for the rollout check's right to read the targets' Deployment.
func TestGateDoctor(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	file := writeExperiment(t, t.TempDir(), "evict.yaml", experimentYAML("gate-doctor", evictOne, ""))
	_, out := doctorRun(ctx, t, s, file)
	wantLines(t, out, `  ✔ gate: no alert matching ALERTS{alertstate="firing",severity="critical"} fires now`)
	if !strings.Contains(out, "get deployments.apps") {
		t.Errorf("doctor does not check the right to read the targets' Deployment:\n%s", out)
	}
	gateIncident(t, s)
	_, out = doctorRun(ctx, t, s, file)
	wantLines(t, out, "  ! the gate is closed now: gate: alert "+gateTestAlert+" firing in shop",
		"    fix: a run now would be skipped; wait for the incident to end, or narrow gate.alertSelector")
}

// A repeating fault asks the gate before every round: a repeat after a pod
// kill is not a rollout (the gate stays open), and once a critical alert
// fires, every later round touches nothing while the run goes on.
func TestGateClosesRepeatRounds(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	workload(t, s, "gate-repeat", "web", 3, 0, "")
	exp := strings.NewReplacer("gate-rollout", "gate-repeat", "podKill: {method: evict}", "podKill: {method: evict, every: 2s}",
		"duration: 2s", "duration: 14s").Replace(rolloutExperiment)
	code, out, rec, firing := repeatThenIncident(ctx, t, s, exp)
	t.Logf("exit %d, verdict %s, reasons %q", code, rec.Verdict, rec.Reasons)
	var closedAfter, openAfter int
	for _, c := range rec.Gate {
		switch {
		case c.Round <= 2 && !c.Open:
			t.Errorf("round %d: gate closed before the alert: %q", c.Round, c.Reasons)
		case c.At.After(firing) && c.Open:
			openAfter++
		case c.At.After(firing):
			closedAfter++
			want := fmt.Sprintf("round %d touched nothing: gate: alert %s firing in shop", c.Round, gateTestAlert)
			if !slices.Contains(rec.Reasons, want) {
				t.Errorf("reasons %q lack %q", rec.Reasons, want)
			}
		}
	}
	if closedAfter == 0 || openAfter != 0 {
		t.Errorf("after the alert fired: %d closed and %d open gate checks, want at least one closed and none open", closedAfter, openAfter)
	}
	for _, r := range rec.Rounds {
		if r.At.After(firing) {
			t.Errorf("round %d injected after the alert fired: %+v", r.Round, r)
		}
	}
	if rec.Verdict != journal.Held {
		t.Errorf("the run must go on and hold (the closed rounds added nothing): %s %q\n%s", rec.Verdict, rec.Reasons, out)
	}
}

// repeatThenIncident runs exp (a podKill.every experiment) with a journal,
// waits until its round 2 injected with the gate open, raises the test's
// critical alert, and returns the finished run and when the alert was
// raised.
func repeatThenIncident(ctx context.Context, t *testing.T, s *sandbox.Sandbox, exp string) (code int, out string, rec *journal.Record, firing time.Time) {
	t.Helper()
	jpath := t.TempDir() + "/journal.json"
	type result struct {
		code int
		out  string
		rec  *journal.Record
	}
	done := make(chan result, 1)
	go func() {
		code, out, rec := runExp(ctx, t, s, exp, "--journal", jpath)
		done <- result{code, out, rec}
	}()
	// Round 2 injected with the gate open: the pod killed in round 1 is
	// being replaced, which is not a rollout.
	sandbox.WaitFor(t, 60*time.Second, "round 2 injected", func() error {
		rec, err := journal.Read(jpath)
		if err != nil {
			return err
		}
		if len(rec.Rounds) < 2 {
			return fmt.Errorf("%d rounds, gate %+v", len(rec.Rounds), rec.Gate)
		}
		return nil
	})
	gateIncident(t, s)
	firing = time.Now()
	res := <-done
	return res.code, res.out, res.rec, firing
}
