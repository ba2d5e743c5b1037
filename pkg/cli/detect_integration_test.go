package cli

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/probe/prometheus"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// These tests run spec.detect against the sandbox's real Prometheus and
// its real rule evaluation (docs/detection.md): an alert that fires, with
// its time to detect checked against the truth; a detection gap; an alert
// already firing before the fault.

// sandboxInterval is the sandbox's scrape and rule evaluation interval
// (sandbox.Config.ScrapeInterval's default, which TestMain keeps).
const sandboxInterval = time.Second

// unavailableRule is an alert on one namespace's unavailable replicas,
// with a for: like the shop's ShopReplicasUnavailable.
func unavailableRule(alert, ns string, forDur time.Duration) string {
	return fmt.Sprintf(`groups:
  - name: %s
    rules:
      - alert: %s
        expr: kube_deployment_status_replicas_unavailable{namespace=%q} > 0
        for: %s
        labels: {severity: warning}
`, alert, alert, ns, forDur)
}

// detectYAML is a pod kill of one pod of ns/web whose hypothesis (the
// desired replicas) holds throughout, with a detect block.
func detectYAML(name, ns, duration, detect string) string {
	probe := fmt.Sprintf(`      - name: web-replicas
        query: kube_deployment_spec_replicas{namespace=%q,deployment="web"}
        expect: {atLeast: 3}`, ns)
	return verdictYAML(name, ns, "web", probe, "{count: 1}", "    podKill: {method: evict}", "{minHealthy: 1}", duration) +
		"  detect:\n" + detect
}

// waitScraped waits until Prometheus has ns/web's deployment series with
// every replica available, so that the hypothesis probe has data at
// preflight and a rule on unavailable replicas starts from false (not
// pending since the pods started: the truth would be before the fault).
func waitScraped(t *testing.T, s *sandbox.Sandbox, ns string) {
	t.Helper()
	sandbox.WaitFor(t, 60*time.Second, ns+"/web scraped, all available", func() error {
		v, err := s.Query(t.Context(), fmt.Sprintf(`kube_deployment_spec_replicas{namespace=%q,deployment="web"} >= 3 and on() (max(kube_deployment_status_replicas_unavailable{namespace=%q,deployment="web"}) == 0)`, ns, ns))
		if err != nil {
			return err
		}
		if len(v) != 1 {
			return fmt.Errorf("%d series", len(v))
		}
		return nil
	})
}

// setRules loads a rule group for the test and removes it afterwards.
func setRules(t *testing.T, s *sandbox.Sandbox, name, rules string) {
	t.Helper()
	if err := s.SetAlertRules(t.Context(), name, rules); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.SetAlertRules(context.Background(), name, ""); err != nil {
			t.Errorf("removing rule group %s: %v", name, err)
		}
	})
}

// TestDetectTimeToDetect kills one pod whose replacement stays unready
// for 8 s: the deployment has an unavailable replica, the test's rule
// (for: 2s) fires, and resolves once the replacement is ready. The
// journaled firing instant must be within one evaluation interval plus
// one scrape interval of the truth: the instant the rule's expression
// first became true (a range query of the expression at 100 ms) plus for.
func TestDetectTimeToDetect(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	const ns, alert, forDur = "detect-ttd", "DetectTestUnavailable", 2 * time.Second
	workload(t, s, ns, "web", 3, 0, "8s")
	waitScraped(t, s, ns)
	setRules(t, s, "detect-ttd", unavailableRule(alert, ns, forDur))
	// Two evaluations with the expression false: the alert is inactive.
	time.Sleep(2 * sandboxInterval)
	sandbox.WaitFor(t, 30*time.Second, alert+" inactive", func() error {
		st, err := s.AlertState(ctx, alert, map[string]string{"namespace": ns})
		if err != nil || st != "" {
			return fmt.Errorf("state %q (%v)", st, err)
		}
		return nil
	})
	detect := fmt.Sprintf("    - {alert: %s, labels: {namespace: %s}, within: 15s, resolveWithin: 20s}\n", alert, ns)
	code, out, rec := runExp(ctx, t, s, detectYAML("detect-ttd", ns, "4s", detect))
	t.Logf("output:\n%s", out)
	if code != ExitHeld || rec.Verdict != journal.Held {
		t.Fatalf("exit %d, verdict %s %q; want held", code, rec.Verdict, rec.Reasons)
	}
	if len(rec.Detections) != 1 {
		t.Fatalf("detections %+v, want 1", rec.Detections)
	}
	d := rec.Detections[0]
	ttd, ok := d.TimeToDetect()
	if !ok || d.Gap || d.FirstPending.IsZero() || d.FirstPending.After(d.FirstFiring) {
		t.Fatalf("detection %+v: want pending, then firing, no gap", d)
	}
	if _, ok := d.TimeToResolve(); !ok || d.NotResolved {
		t.Errorf("detection %+v: want resolved within resolveWithin", d)
	}
	if !strings.Contains(out, "time to detect") {
		t.Errorf("the run's output does not show the time to detect:\n%s", out)
	}

	truth := expressionTrue(t, s, fmt.Sprintf("kube_deployment_status_replicas_unavailable{namespace=%q} > 0", ns), d.FaultStarted, d.FirstFiring)
	if truth.Sub(d.FaultStarted) < 50*time.Millisecond {
		t.Fatalf("the expression was already true when the fault started (%s): the steady state was not quiet", truth.Sub(d.FaultStarted))
	}
	wantFiring := truth.Add(forDur)
	lag := d.FirstFiring.Sub(wantFiring)
	truthTTD := wantFiring.Sub(d.FaultStarted)
	t.Logf("fault %s; expression true %s after; firing journaled %s after (TTD %s, truth %s, lag %s, step %gs)",
		d.FaultStarted.Format(time.RFC3339Nano), truth.Sub(d.FaultStarted), d.FirstFiring.Sub(d.FaultStarted), ttd, truthTTD, lag, d.StepSeconds)
	// The rule sees the sample at its next evaluation (< 1 interval) and
	// the range query's step rounds the instant up (< 1 s): the bound of
	// the issue, one evaluation interval plus one scrape interval. The
	// truth itself is rounded up by its 100 ms step.
	if lag < -100*time.Millisecond || lag > 2*sandboxInterval {
		t.Errorf("firing journaled %s after expression-true + for, want within [0, %s]", lag, 2*sandboxInterval)
	}
	if ttr, ok := rec.TimeToRecover(); !ok || ttr < 0 {
		t.Errorf("time to recover %s %v", ttr, ok)
	}
}

// expressionTrue is the first instant in [from, to] at which expr had a
// result, from a range query at 100 ms.
func expressionTrue(t *testing.T, s *sandbox.Sandbox, expr string, from, to time.Time) time.Time {
	t.Helper()
	c, err := prometheus.New(prometheus.Config{URL: s.PrometheusURL, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	series, err := c.QueryRange(t.Context(), expr, from, to, 100*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var first time.Time
	for _, sr := range series {
		for _, p := range sr.Points {
			if !math.IsNaN(p.V) && (first.IsZero() || p.T.Before(first)) {
				first = p.T
			}
		}
	}
	if first.IsZero() {
		t.Fatalf("%s never had a result between %s and %s", expr, from, to)
	}
	return first
}

// TestDetectGap expects an alert whose rule never triggers: the system
// holds, the monitoring does not notice, and the verdict is deviated.
func TestDetectGap(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	const ns, alert = "detect-gap", "DetectTestNeverFires"
	workload(t, s, ns, "web", 3, 0, "")
	waitScraped(t, s, ns)
	setRules(t, s, "detect-gap", fmt.Sprintf(`groups:
  - name: detect-gap
    rules:
      - alert: %s
        expr: kube_deployment_spec_replicas{namespace=%q} > 100
        for: 1s
`, alert, ns))
	detect := fmt.Sprintf("    - {alert: %s, labels: {namespace: %s}, within: 4s}\n", alert, ns)
	start := time.Now()
	code, out, rec := runExp(ctx, t, s, detectYAML("detect-gap", ns, "2s", detect))
	if code != ExitFailed || rec.Verdict != journal.Deviated {
		t.Fatalf("exit %d, verdict %s %q; want deviated\n%s", code, rec.Verdict, rec.Reasons, out)
	}
	want := "detection gap: " + alert + " did not fire within 4s"
	if !hasReason(rec.Reasons, want) || !strings.Contains(out, want) {
		t.Errorf("reasons %q (output below) lack %q\n%s", rec.Reasons, want, out)
	}
	if len(rec.Detections) != 1 || !rec.Detections[0].Gap || !rec.Detections[0].FirstFiring.IsZero() {
		t.Errorf("detections %+v, want one gap", rec.Detections)
	}
	if d := rec.Detections[0]; time.Since(d.FaultStarted) < 4*time.Second {
		t.Errorf("the run ended %s after the fault, before within elapsed", time.Since(d.FaultStarted))
	}
	t.Logf("run took %s", time.Since(start).Round(time.Millisecond))
}

// TestDetectAlreadyFiringSkips: an expected alert that fires before the
// fault means the steady state was not quiet; nothing is injected.
func TestDetectAlreadyFiringSkips(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	const ns, alert = "detect-firing", "DetectTestAlreadyFiring"
	workload(t, s, ns, "web", 3, 0, "")
	waitScraped(t, s, ns)
	setRules(t, s, "detect-firing", fmt.Sprintf(`groups:
  - name: detect-firing
    rules:
      - alert: %s
        expr: kube_deployment_spec_replicas{namespace=%q} > 0
        for: 1s
`, alert, ns))
	sandbox.WaitFor(t, 30*time.Second, alert+" to fire", func() error {
		st, err := s.AlertState(ctx, alert, map[string]string{"namespace": ns})
		if err != nil {
			return err
		}
		if st != "firing" {
			return fmt.Errorf("state %q", st)
		}
		return nil
	})
	before := podUIDsIn(ctx, t, s.Client(), ns)
	detect := fmt.Sprintf("    - {alert: %s, labels: {namespace: %s}, within: 4s}\n", alert, ns)
	code, out, rec := runExp(ctx, t, s, detectYAML("detect-firing", ns, "2s", detect))
	if code != ExitAborted || rec.Verdict != journal.Skipped {
		t.Fatalf("exit %d, verdict %s %q; want skipped\n%s", code, rec.Verdict, rec.Reasons, out)
	}
	want := fmt.Sprintf("the steady state was not quiet: alert %s{namespace=%q} already firing", alert, ns)
	if !hasReason(rec.Reasons, want) {
		t.Errorf("reasons %q lack %q", rec.Reasons, want)
	}
	if len(rec.Injections) != 0 || len(rec.Detections) != 0 {
		t.Errorf("injections %d, detections %d: want none", len(rec.Injections), len(rec.Detections))
	}
	if after := podUIDsIn(ctx, t, s.Client(), ns); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("pods changed: %v -> %v", before, after)
	}
}

func hasReason(reasons []string, prefix string) bool {
	for _, r := range reasons {
		if strings.HasPrefix(r, prefix) {
			return true
		}
	}
	return false
}
