package realnode

// The real shop on the real node: a shop service as real pods, requests
// from the sandbox's load generator to their ready endpoints, Prometheus
// scraping the pods by IP, and a chaosnight experiment (the CLI, in
// process) whose CPU stress lands in one of those pods: the latency in the
// journal is what the pods measured.

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaosnight/chaosnight/pkg/cli"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// shopRunningPods are the names of the service's pods that run on the
// real node, not terminating.
func shopRunningPods(t *testing.T, ns, app string) []string {
	t.Helper()
	list, err := sb.Client().CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && p.Spec.NodeName == sandbox.RealNodeName && podReady(&p) == nil {
			names = append(names, p.Name)
		}
	}
	sort.Strings(names)
	return names
}

// shopQuery is one instant query's single value (NaN when empty).
func shopQuery(t *testing.T, q string) float64 {
	t.Helper()
	res, err := sb.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range res {
		return v
	}
	return math.NaN()
}

// TestRealShopUnderCPUStress: the shop's checkout runs as two real pods
// under Pod Security restricted; Prometheus' series of it come from
// exactly those pods; the load generator's requests are answered; and a
// chaosnight run with a pod-scope CPU stress on one of them earns a
// verdict from measured latency: every hypothesis sample is a real value,
// the stress outcome says that the pod's CPU limit caps the load, and the
// journal holds the latency before, during and after.
func TestRealShopUnderCPUStress(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := context.Background()
	const ns, svc = "rn-shop", "checkout"
	namespace(t, ns, map[string]string{
		"chaosnight.dev/enabled":             "true",
		"pod-security.kubernetes.io/enforce": "restricted",
	})
	if err := s.DeployRealService(ctx, sandbox.RealService{
		Namespace: ns, Name: svc, Replicas: 2, Work: 3 * time.Millisecond, CPULimit: "200m", RPS: 20,
	}); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	var pods []string
	sandbox.WaitFor(t, 90*time.Second, "2 checkout pods Ready on the real node", func() error {
		if pods = shopRunningPods(t, ns, svc); len(pods) != 2 {
			return fmt.Errorf("ready: %v", pods)
		}
		return nil
	})
	t.Logf("2 shop pods Ready in %s", time.Since(started).Round(time.Millisecond))
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	scraped, err := s.WaitRealServiceScraped(wctx, ns, svc, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(scraped, pods) {
		t.Fatalf("Prometheus scrapes pods %v, the real node runs %v", scraped, pods)
	}
	t.Logf("Prometheus scrapes both pods %s after %s", strings.Join(scraped, ", "), time.Since(started).Round(time.Millisecond))

	// Requests are answered, and the histogram gives a p95 to the probes.
	p95 := fmt.Sprintf(`histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{namespace=%q,service=%q}[10s])))`, ns, svc)
	sandbox.WaitFor(t, 60*time.Second, "answered requests and a p95 latency", func() error {
		ok := shopQuery(t, fmt.Sprintf(`sum(shop_client_requests_total{namespace=%q,service=%q,code="200"})`, ns, svc))
		lat := shopQuery(t, p95)
		if !(ok > 20) || math.IsNaN(lat) {
			return fmt.Errorf("%v answered 200, p95 %v", ok, lat)
		}
		return nil
	})
	t.Logf("idle p95 latency %.1f ms", 1000*shopQuery(t, p95))

	dir := t.TempDir()
	file, jpath := filepath.Join(dir, "exp.yaml"), filepath.Join(dir, "journal.json")
	exp := fmt.Sprintf(`apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata: {name: real-checkout-cpu}
spec:
  hypothesis:
    probes:
      - name: checkout-p95-latency
        query: %q
        expect: {below: 0.05}
  target:
    namespaces: [%s]
    selector: app=%s
    pick: {count: 1}
  action:
    stress: {scope: pod, cpu: {workers: 1, load: 100}}
  duration: 20s
  probeInterval: 2s
  recovery: 20s
  safety: {maxTargets: 1, minHealthy: 1}
`, p95, ns, svc)
	if err := os.WriteFile(file, []byte(exp), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := cli.RunContext(ctx, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &out}, cli.BuildInfo{Version: "test"}, []string{
		"run", file, "--kubeconfig", s.Kubeconfig, "--prometheus-url", s.PrometheusURL, "--journal", jpath,
		"--stress-image", sandbox.StressImage,
	})
	rec, err := journal.Read(jpath)
	if err != nil {
		t.Fatalf("no journal (exit %d): %v\n%s", code, err, out.String())
	}
	t.Logf("exit %d, verdict %s %v", code, rec.Verdict, rec.Reasons)
	if rec.Verdict != journal.Held && rec.Verdict != journal.Deviated {
		t.Fatalf("verdict %s (exit %d), want held or deviated: the run must inject and measure\n%s", rec.Verdict, code, out.String())
	}
	if len(rec.Injections) != 1 || len(rec.Injections[0].Outcomes) != 1 {
		t.Fatalf("injections %+v, want one with one outcome", rec.Injections)
	}
	o := rec.Injections[0].Outcomes[0]
	if o.Status != inject.StatusStressed || !slices.Contains(pods, o.Pod.Name) {
		t.Fatalf("outcome %s on %s (%s), want stressed on one of %v", o.Status, o.Pod.Name, o.Detail, pods)
	}
	if !strings.Contains(o.Detail, "capped by the pod's CPU limit 200m") {
		t.Errorf("outcome detail %q does not say that the pod's 200m limit caps the 1000m asked", o.Detail)
	}

	// Every phase has real measurements: finite, positive latencies.
	byPhase := map[string][]float64{}
	for _, sm := range rec.Samples {
		if sm.Probe != "checkout-p95-latency" {
			continue
		}
		if sm.Err != "" || math.IsNaN(sm.Value) || math.IsInf(sm.Value, 0) || sm.Value <= 0 {
			t.Errorf("%s sample at %s: value %v, error %q: want a measured latency", sm.Phase, sm.At.Format(time.RFC3339), sm.Value, sm.Err)
		}
		byPhase[sm.Phase] = append(byPhase[sm.Phase], sm.Value)
	}
	for _, ph := range []string{journal.PhasePreflight, journal.PhaseObserve, journal.PhaseRecover} {
		if len(byPhase[ph]) == 0 {
			t.Errorf("no %s sample of the latency probe: %v", ph, byPhase)
		}
	}
	// Figures for BENCHMARKS.md; the verdict is the shop's, not asserted.
	ms := func(vs []float64) string {
		var b strings.Builder
		for _, v := range vs {
			fmt.Fprintf(&b, " %.0f", 1000*v)
		}
		return b.String()
	}
	t.Logf("p95 ms before:%s | under stress:%s | recovery:%s", ms(byPhase[journal.PhasePreflight]), ms(byPhase[journal.PhaseObserve]), ms(byPhase[journal.PhaseRecover]))
	t.Logf("client side: %v", func() map[string]float64 {
		r, _ := sb.Query(ctx, fmt.Sprintf(`sum by (code) (shop_client_requests_total{namespace=%q,service=%q})`, ns, svc))
		return r
	}())
}
