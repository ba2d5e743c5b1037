// Command ttd measures the accuracy of the time to detect that chaosnight
// journals for spec.detect (docs/detection.md), against the sandbox's real
// Prometheus and its real rule evaluation. Each run is a real `chaosnight
// run` (in-process) that evicts one pod of a Deployment whose replacement
// stays unready for a few seconds; a rule on the Deployment's unavailable
// replicas (for: 2s) fires and resolves. Per run it compares the firing
// instant in the journal with two truths:
//
//   - the instant the rule's expression first became true in the stored
//     samples (a range query of the expression at 100 ms), plus for;
//   - the instant Prometheus itself made the alert active (activeAt of
//     /api/v1/alerts, polled every 100 ms during the run: the evaluation's
//     own timestamp, exact), plus for: the rule's firing evaluation.
//     (ALERTS_FOR_STATE holds activeAt too, but truncated to the second.)
//
// It prints a Markdown table per probe interval (the range query's step is
// min(1 s, probeInterval)) for BENCHMARKS.md.
//
//	go run ./bench/ttd -runs 20 -probe-intervals 1s,250ms
//
// Run it under the machine's sandbox lock:
//
//	flock /tmp/chaosnight-sandbox.lock go run ./bench/ttd
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaosnight/chaosnight/pkg/cli"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/probe/prometheus"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

const (
	ns       = "bench-ttd"
	app      = "web"
	alert    = "BenchUnavailable"
	forDur   = 2 * time.Second
	interval = time.Second // the sandbox's scrape and evaluation interval
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// sample is one run's figures.
type sample struct {
	verdict            journal.Verdict
	ttd                time.Duration // journaled
	lagExpr, lagActive time.Duration // journaled firing - (truth + for)
	pendingLag         time.Duration // journaled first pending - activeAt
	step               time.Duration
}

func run(ctx context.Context, args []string, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("ttd", flag.ContinueOnError)
	fs.SetOutput(errOut)
	runs := fs.Int("runs", 20, "runs per probe interval")
	intervals := fs.String("probe-intervals", "1s,250ms", "probe intervals to measure (the step is min(1s, interval))")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	sb, err := sandbox.Start(ctx, sandbox.Config{})
	if err != nil {
		fmt.Fprintf(errOut, "ttd: sandbox: %v (%s)\n", err, sandbox.FixHint)
		return 1
	}
	defer func() {
		if err := sb.Stop(); err != nil {
			fmt.Fprintf(errOut, "ttd: stopping the sandbox: %v\n", err)
		}
	}()
	if err := setup(ctx, sb); err != nil {
		fmt.Fprintf(errOut, "ttd: %v\n", err)
		return 1
	}
	prom, err := prometheus.New(prometheus.Config{URL: sb.PrometheusURL, Timeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintf(errOut, "ttd: %v\n", err)
		return 1
	}
	load := loadAverage()
	var tables []string
	for _, iv := range strings.Split(*intervals, ",") {
		pi, err := time.ParseDuration(strings.TrimSpace(iv))
		if err != nil {
			fmt.Fprintf(errOut, "ttd: %v\n", err)
			return 2
		}
		var got []sample
		for i := range *runs {
			if ctx.Err() != nil {
				return 1
			}
			s, err := oneRun(ctx, sb, prom, pi)
			if err != nil {
				fmt.Fprintf(errOut, "ttd: run %d (probe interval %s): %v\n", i+1, pi, err)
				continue
			}
			fmt.Fprintf(errOut, "probe interval %s run %d: %s ttd %s, lag vs expression %s, vs activeAt %s, pending lag %s\n",
				pi, i+1, s.verdict, s.ttd, s.lagExpr, s.lagActive, s.pendingLag)
			got = append(got, s)
		}
		tables = append(tables, table(pi, got, *runs))
	}
	fmt.Fprintf(out, "\n%s, load average %s, sandbox scrape and evaluation interval %s, rule for: %s\n\n",
		time.Now().UTC().Format("2006-01-02"), load, interval, forDur)
	fmt.Fprintln(out, "| probe interval (step) | runs | measured (detected, quiet start) | TTD (median, min–max) | firing − (expression true + for) (median, p95, max) | within eval + scrape (2 s) | firing − (activeAt + for) (min, median, max) | first pending − activeAt (min, max) |")
	fmt.Fprintln(out, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, t := range tables {
		fmt.Fprintln(out, t)
	}
	return 0
}

// setup creates the workload (pods that take 4 s to become ready after
// a restart) and the rule.
func setup(ctx context.Context, sb *sandbox.Sandbox) error {
	c := sb.Client()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Labels: map[string]string{inject.OptInLabel: "true"}}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	replicas := int32(3)
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: sel, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: sel.MatchLabels, Annotations: map[string]string{sandbox.ReadyDelayAnnotation: "4s"}},
			Spec:       sandbox.PodSpec(app)}},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	rules := fmt.Sprintf(`groups:
  - name: bench
    rules:
      - alert: %s
        expr: kube_deployment_status_replicas_unavailable{namespace=%q} > 0
        for: %s
`, alert, ns, forDur)
	return sb.SetAlertRules(ctx, "bench", rules)
}

// quiet waits until the Deployment is fully available in Prometheus and
// the alert is inactive, so the next run starts from a quiet steady state.
func quiet(ctx context.Context, sb *sandbox.Sandbox) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		v, err := sb.Query(ctx, fmt.Sprintf(`kube_deployment_status_replicas_available{namespace=%q} >= 3 and on() (max(kube_deployment_status_replicas_unavailable{namespace=%q}) == 0)`, ns, ns))
		st, err2 := sb.AlertState(ctx, alert, map[string]string{"namespace": ns})
		if err == nil && err2 == nil && len(v) == 1 && st == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("no quiet steady state within 2m")
}

func oneRun(ctx context.Context, sb *sandbox.Sandbox, prom *prometheus.Client, probeInterval time.Duration) (sample, error) {
	if err := quiet(ctx, sb); err != nil {
		return sample{}, err
	}
	dir, err := os.MkdirTemp("", "bench-ttd-")
	if err != nil {
		return sample{}, err
	}
	defer func() { _ = os.RemoveAll(dir) }() // a temp directory; nothing to do if it stays
	exp := fmt.Sprintf(`apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata: {name: bench-ttd}
spec:
  hypothesis:
    probes:
      - name: replicas
        query: kube_deployment_spec_replicas{namespace=%q}
        expect: {atLeast: 3}
  target: {namespaces: [%s], selector: app=%s, pick: {count: 1}}
  action:
    podKill: {method: evict}
  duration: 3s
  probeInterval: %s
  recovery: 20s
  safety: {minHealthy: 1}
  detect:
    - {alert: %s, labels: {namespace: %s}, within: 15s, resolveWithin: 20s}
`, ns, ns, app, probeInterval, alert, ns)
	file, jpath := filepath.Join(dir, "exp.yaml"), filepath.Join(dir, "journal.json")
	if err := os.WriteFile(file, []byte(exp), 0o600); err != nil {
		return sample{}, err
	}
	var buf bytes.Buffer
	pollCtx, stopPoll := context.WithCancel(ctx)
	activeCh := make(chan time.Time, 1)
	go func() { activeCh <- pollActiveAt(pollCtx, sb.PrometheusURL) }()
	cli.RunContext(ctx, cli.Streams{In: strings.NewReader(""), Out: &buf, Err: &buf}, cli.BuildInfo{Version: "bench"},
		[]string{"run", file, "--kubeconfig", sb.Kubeconfig, "--prometheus-url", sb.PrometheusURL, "--journal", jpath, "--log-level", "error"})
	stopPoll()
	activeAt := <-activeCh
	rec, err := journal.Read(jpath)
	if err != nil {
		return sample{}, fmt.Errorf("%w\n%s", err, buf.String())
	}
	if len(rec.Detections) != 1 {
		return sample{}, fmt.Errorf("verdict %s %q, no detection", rec.Verdict, rec.Reasons)
	}
	d := rec.Detections[0]
	ttd, ok := d.TimeToDetect()
	if !ok {
		return sample{}, fmt.Errorf("verdict %s %q: not detected", rec.Verdict, rec.Reasons)
	}
	s := sample{verdict: rec.Verdict, ttd: ttd, step: time.Duration(d.StepSeconds * float64(time.Second))}
	expr := fmt.Sprintf("kube_deployment_status_replicas_unavailable{namespace=%q} > 0", ns)
	truth, err := firstPoint(ctx, prom, expr, d.FaultStarted, d.FirstFiring, 100*time.Millisecond)
	if err != nil {
		return sample{}, err
	}
	if truth.Sub(d.FaultStarted) < 50*time.Millisecond {
		return sample{}, fmt.Errorf("the expression was already true when the fault started: not a quiet start, left out")
	}
	s.lagExpr = d.FirstFiring.Sub(truth.Add(forDur))
	if activeAt.IsZero() {
		return sample{}, fmt.Errorf("the alert's activeAt was never seen in /api/v1/alerts")
	}
	s.lagActive = d.FirstFiring.Sub(activeAt.Add(forDur))
	s.pendingLag = d.FirstPending.Sub(activeAt)
	return s, nil
}

// pollActiveAt polls Prometheus' /api/v1/alerts until ctx ends and
// returns the activeAt of the benchmark's alert (zero if never seen).
func pollActiveAt(ctx context.Context, promURL string) time.Time {
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		var body struct {
			Data struct {
				Alerts []struct {
					Labels   map[string]string `json:"labels"`
					ActiveAt time.Time         `json:"activeAt"`
				} `json:"alerts"`
			} `json:"data"`
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, promURL+"/api/v1/alerts", nil)
		if err == nil {
			if resp, err := client.Do(req); err == nil {
				err = json.NewDecoder(resp.Body).Decode(&body)
				_ = resp.Body.Close()
				if err == nil {
					for _, a := range body.Data.Alerts {
						if a.Labels["alertname"] == alert && a.Labels["namespace"] == ns {
							return a.ActiveAt
						}
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return time.Time{}
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// firstPoint is the first instant in [from, to] at which expr had a result.
func firstPoint(ctx context.Context, prom *prometheus.Client, expr string, from, to time.Time, step time.Duration) (time.Time, error) {
	series, err := prom.QueryRange(ctx, expr, from, to, step)
	if err != nil {
		return time.Time{}, err
	}
	var first time.Time
	for _, s := range series {
		for _, p := range s.Points {
			if first.IsZero() || p.T.Before(first) {
				first = p.T
			}
		}
	}
	if first.IsZero() {
		return first, fmt.Errorf("%s had no result between the fault and the firing", expr)
	}
	return first, nil
}

// table is one Markdown row; attempted counts the runs left out (an
// error, no detection, not a quiet start: printed on stderr).
func table(pi time.Duration, got []sample, attempted int) string {
	if len(got) == 0 {
		return fmt.Sprintf("| %s | %d | 0 | – | – | – | – | – |", pi, attempted)
	}
	var ttd, lagE, lagA, pend []time.Duration
	within := 0
	for _, s := range got {
		ttd, lagE, lagA, pend = append(ttd, s.ttd), append(lagE, s.lagExpr), append(lagA, s.lagActive), append(pend, s.pendingLag)
		if s.lagExpr >= -100*time.Millisecond && s.lagExpr <= 2*interval {
			within++
		}
	}
	for _, xs := range [][]time.Duration{ttd, lagE, lagA, pend} {
		slices.Sort(xs)
	}
	r := func(d time.Duration) string { return d.Round(10 * time.Millisecond).String() }
	return fmt.Sprintf("| %s (%s) | %d | %d | %s, %s–%s | %s, %s, %s | %d of %d | %s, %s, %s | %s, %s |", pi, got[0].step, attempted, len(got),
		r(q(ttd, 0.5)), r(ttd[0]), r(ttd[len(ttd)-1]),
		r(q(lagE, 0.5)), r(q(lagE, 0.95)), r(lagE[len(lagE)-1]), within, len(got),
		r(lagA[0]), r(q(lagA, 0.5)), r(lagA[len(lagA)-1]), r(pend[0]), r(pend[len(pend)-1]))
}

// q is the nearest-rank quantile of sorted xs.
func q(xs []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(xs)))) - 1
	return xs[max(0, min(i, len(xs)-1))]
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
