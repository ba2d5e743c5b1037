package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/probe"
	"github.com/chaosnight/chaosnight/pkg/probe/prometheus"
	"github.com/chaosnight/chaosnight/test/sandbox"
	"github.com/chaosnight/chaosnight/test/sandbox/exporter"
)

// Relative expectations against the sandbox's real Prometheus, through
// `chaosnight run` and the real Prometheus client: the baseline is one
// range query over the window before preflight, recorded in the journal,
// and every later evaluation is made against it. The demo traffic drifts
// and jitters (exporter.Noise), so the medians are never round numbers.

// baselineYAML is an experiment whose one hypothesis probe compares
// query with its baseline.
func baselineYAML(name, ns, app, query, baseline, action, duration string) string {
	return verdictYAML(name, ns, app, fmt.Sprintf(`      - name: served-rps
        query: %s
        expect:
          baseline: %s`, query, baseline), "{count: 1}", action, "{minHealthy: 1}", duration)
}

// waitBaseline waits until probe p has a known baseline in Prometheus (the
// window is filled), measuring it the way the engine does, and a steady
// one: every point of every series within ±20 % of its median. Right
// after the sandbox starts, the window still holds the services' start-up
// (recommendations takes 10 s to become ready), and a baseline over a
// start-up is not the steady state the test means.
func waitBaseline(t *testing.T, s *sandbox.Sandbox, p experiment.Probe, step time.Duration) {
	t.Helper()
	c, err := prometheus.New(prometheus.Config{URL: s.PrometheusURL})
	if err != nil {
		t.Fatal(err)
	}
	sandbox.WaitFor(t, 2*time.Minute, "a known baseline of "+p.Name, func() error {
		b := probe.MeasureBaseline(t.Context(), c, p, time.Now(), step)
		if !b.Known() {
			return fmt.Errorf("%s", b.Unknown)
		}
		for _, sb := range b.Series {
			if sb.Min < 0.8*sb.Median || sb.Max > 1.2*sb.Median {
				return fmt.Errorf("%s not steady yet: median %v, min %v, max %v", probe.FormatLabels(sb.Labels), sb.Median, sb.Min, sb.Max)
			}
		}
		return nil
	})
}

func baselineProbe(query string, window time.Duration, inc, dec string) experiment.Probe {
	return experiment.Probe{Name: "served-rps", Query: query, Expect: experiment.Expect{Baseline: &experiment.Baseline{
		Window: experiment.NewDuration(window), MaxIncrease: inc, MaxDecrease: dec}}}
}

// annotateTraffic opts ns/app in to the demo traffic model: rps requests
// per second, minReady pods needed to serve them all.
func annotateTraffic(t *testing.T, s *sandbox.Sandbox, ns, app string, rps, minReady int) {
	t.Helper()
	// A merge patch of the annotations: a Get and Update would conflict
	// with the Deployment controller's own status writes.
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		exporter.AnnotationRPS:      fmt.Sprint(rps),
		exporter.AnnotationMinReady: fmt.Sprint(minReady),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client().AppsV1().Deployments(ns).Patch(t.Context(), app, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// checkBaselineRecord checks that the journal holds the baseline of the
// probe (index 0) with its window, step and statistic, and that every
// recorded evaluation of the probe is consistent with it: a verdict that
// can be checked by hand.
func checkBaselineRecord(t *testing.T, rec *journal.Record, window time.Duration) *journal.Baseline {
	t.Helper()
	b := rec.BaselineOf(0)
	if b == nil {
		t.Fatalf("no baseline in the journal: %+v", rec.Baselines)
	}
	if b.Window.Duration != window || b.Step.Duration != time.Second || b.Statistic != probe.StatisticMedian || b.Probe != "served-rps" {
		t.Errorf("baseline header %+v", b.Baseline)
	}
	if len(rec.Phases) == 0 || b.To.After(rec.Phases[0].Started.Add(time.Second)) || !b.From.Equal(b.To.Add(-window)) {
		t.Errorf("baseline over [%s, %s], preflight started %s", b.From, b.To, rec.Phases[0].Started)
	}
	return b
}

// A bound relative to the baseline that holds: an eviction of one checkout
// pod (replaced at once) leaves every shop service's served rate within
// ±30 % of its median, drift and jitter included.
func TestRunBaselineHolds(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	const query = `sum by (service) (rate(http_requests_total{namespace="shop",code="200"}[5s]))`
	waitBaseline(t, s, baselineProbe(query, 20*time.Second, "30%", "30%"), time.Second)

	yaml := baselineYAML("baseline-holds", "shop", "checkout", query, "{window: 20s, maxIncrease: 30%, maxDecrease: 30%}",
		evictOne, "5s")
	code, out, rec := runExp(ctx, t, s, strings.Replace(yaml, "{minHealthy: 1}", "{minHealthy: 2}", 1))
	if code != ExitHeld || rec.Verdict != journal.Held {
		t.Fatalf("exit %d, verdict %s, reasons %v\n%s", code, rec.Verdict, rec.Reasons, out)
	}
	b := checkBaselineRecord(t, rec, 20*time.Second)
	medians := map[string]float64{}
	for _, sb := range b.Series {
		medians[sb.Labels["service"]] = sb.Median
		// 21 steps of 1 s; a point may be missing at the window's edges.
		if sb.Unknown != "" || sb.Count < 17 || sb.Steps != 21 || !(sb.Min <= sb.Median && sb.Median <= sb.Max) || sb.MAD < 0 {
			t.Errorf("series baseline %+v", sb)
		}
	}
	// The model's rates (docs/sandbox.md) times the noise (within ±20 %),
	// with room for rates computed from counters rounded down.
	for svc, rps := range map[string]float64{"checkout": 50, "cart": 30, "frontend": 100, "recommendations": 20} {
		if m := medians[svc]; m < rps*0.75 || m > rps*1.25 {
			t.Errorf("%s: baseline median %v, want about %v", svc, m, rps)
		}
	}
	t.Logf("baseline medians %v", medians)
	n := 0
	for _, smp := range rec.Samples {
		if smp.Probe != "served-rps" {
			continue
		}
		n++
		if !smp.OK || smp.Err != "" || smp.Series != len(b.Series) {
			t.Errorf("sample %+v", smp)
		}
	}
	if n < 3 {
		t.Errorf("%d samples of the baseline probe", n)
	}
}

// A bound relative to the baseline that the fault refutes: api needs its
// 2 pods to serve its 40 rps; killing one (its replacement takes 10 s to
// start) halves the served rate, below the 30 % the hypothesis allows.
func TestRunBaselineRefuted(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	const ns = "base-refuted"
	workload(t, s, ns, "api", 2, 0, "10s")
	annotateTraffic(t, s, ns, "api", 40, 2)
	query := fmt.Sprintf(`sum by (service) (rate(http_requests_total{namespace=%q,code="200"}[5s]))`, ns)
	waitBaseline(t, s, baselineProbe(query, 10*time.Second, "", "30%"), time.Second)

	code, out, rec := runExp(ctx, t, s, baselineYAML("baseline-refuted", ns, "api", query, "{window: 10s, maxDecrease: 30%}",
		`    podKill: {method: delete}`, "20s"))
	if code != ExitFailed || rec.Verdict != journal.Deviated {
		t.Fatalf("exit %d, verdict %s, reasons %v\n%s", code, rec.Verdict, rec.Reasons, out)
	}
	if len(rec.Injections) != 1 || len(rec.Targets) != 1 {
		t.Errorf("injections %+v", rec.Injections)
	}
	b := checkBaselineRecord(t, rec, 10*time.Second)
	if len(b.Series) != 1 || b.Series[0].Labels["service"] != "api" {
		t.Fatalf("baseline series %+v", b.Series)
	}
	median := b.Series[0].Median
	if median < 40*0.75 || median > 40*1.25 {
		t.Errorf("baseline median %v, want about 40", median)
	}
	// The verdict, checked by hand from the journal: the refuting sample is
	// below median × 0.7, and the reason says so in words.
	reasons := strings.Join(rec.Reasons, "\n")
	bounds, err := probe.BaselineBounds(*rec.Experiment.Spec.Hypothesis.Probes[0].Expect.Baseline, median)
	if err != nil || bounds.Lo > median*0.7+1e-9 || bounds.Lo < median*0.7-1e-9 {
		t.Fatalf("bounds %v, %v", bounds, err)
	}
	want := fmt.Sprintf(`expected %s (baseline median %s over 10s, -30%%)`, bounds, probe.FormatValue(median))
	if !strings.Contains(reasons, want) || !strings.Contains(reasons, `served-rps = `) || !strings.Contains(reasons, `{service="api"}`) {
		t.Errorf("reasons %q lack %q", reasons, want)
	}
	var refuting *journal.Sample
	for i := range rec.Samples {
		if smp := rec.Samples[i]; smp.Phase == journal.PhaseObserve && !smp.OK {
			refuting = &rec.Samples[i]
			break
		}
	}
	if refuting == nil || refuting.Err != "" || bounds.Contains(refuting.Value) {
		t.Errorf("refuting sample %+v (median %v)", refuting, median)
	}
	t.Logf("baseline median %v, refuted by %v", median, refuting.Value)
}

// A baseline with too few samples: a service whose traffic started a
// moment ago has no 1-minute baseline, so the run is skipped and nothing
// is injected.
func TestRunBaselineTooFewSamplesIsSkipped(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	const ns = "base-new"
	workload(t, s, ns, "api", 2, 0, "")
	before := podUIDsIn(ctx, t, s.Client(), ns)
	annotateTraffic(t, s, ns, "api", 40, 1)
	query := fmt.Sprintf(`sum by (service) (rate(http_requests_total{namespace=%q,code="200"}[5s]))`, ns)
	sandbox.WaitFor(t, 30*time.Second, "the new service's first rate", func() error {
		v, err := s.Query(ctx, query)
		if err == nil && len(v) == 0 {
			err = fmt.Errorf("no series yet")
		}
		return err
	})
	code, out, rec := runExp(ctx, t, s, baselineYAML("baseline-too-new", ns, "api", query, "{window: 1m, maxDecrease: 30%}",
		`    podKill: {method: delete}`, "5s"))
	if code != ExitAborted || rec.Verdict != journal.Skipped {
		t.Fatalf("exit %d, verdict %s, reasons %v\n%s", code, rec.Verdict, rec.Reasons, out)
	}
	reasons := strings.Join(rec.Reasons, "\n")
	if !strings.Contains(reasons, "the baseline is unknown, nothing was injected: served-rps: baseline unknown: {service=\"api\"}: ") {
		t.Errorf("reasons %q", reasons)
	}
	b := checkBaselineRecord(t, rec, time.Minute)
	if b.Known() || len(b.Series) != 1 || b.Series[0].Count >= 49 || b.Series[0].Steps != 61 {
		t.Errorf("baseline %+v", b.Baseline)
	}
	t.Logf("reasons: %s", reasons)
	if len(rec.Injections) != 0 || len(rec.Targets) != 0 || len(rec.Samples) != 0 {
		t.Errorf("something happened after an unknown baseline: injections %v, samples %v", rec.Injections, rec.Samples)
	}
	time.Sleep(time.Second) // give a wrongly issued delete time to show
	if after := podUIDsIn(context.Background(), t, s.Client(), ns); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("pods changed:\nbefore %v\nafter  %v", before, after)
	}
}
