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

// shopRun runs one experiment file of the repository with the CLI, in
// process, and returns its exit code and journal.
func shopRun(t *testing.T, file string) (int, *journal.Record) {
	t.Helper()
	root, err := sandbox.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	jpath := filepath.Join(t.TempDir(), "journal.json")
	var out bytes.Buffer
	code := cli.RunContext(context.Background(), cli.Streams{In: strings.NewReader(""), Out: &out, Err: &out}, cli.BuildInfo{Version: "test"}, []string{
		"run", filepath.Join(root, file), "--kubeconfig", sb.Kubeconfig, "--prometheus-url", sb.PrometheusURL, "--journal", jpath,
		"--stress-image", sandbox.StressImage,
	})
	rec, err := journal.Read(jpath)
	if err != nil {
		t.Fatalf("%s: no journal (exit %d): %v\n%s", file, code, err, out.String())
	}
	t.Logf("%s: exit %d, verdict %s %v", file, code, rec.Verdict, rec.Reasons)
	if rec.Verdict != journal.Held && rec.Verdict != journal.Deviated {
		t.Fatalf("%s: verdict %s (exit %d), want held or deviated: the run must inject and measure\n%s", file, rec.Verdict, code, out.String())
	}
	return code, rec
}

// shopSamples are one probe's journal values by phase; every one must be
// a measurement (finite, not an error).
func shopSamples(t *testing.T, rec *journal.Record, probe string) map[string][]float64 {
	t.Helper()
	byPhase := map[string][]float64{}
	for _, sm := range rec.Samples {
		if sm.Probe != probe {
			continue
		}
		if sm.Err != "" || math.IsNaN(sm.Value) || math.IsInf(sm.Value, 0) {
			t.Errorf("%s sample at %s: value %v, error %q: want a measurement", sm.Phase, sm.At.Format(time.RFC3339), sm.Value, sm.Err)
		}
		byPhase[sm.Phase] = append(byPhase[sm.Phase], sm.Value)
	}
	for _, ph := range []string{journal.PhasePreflight, journal.PhaseObserve, journal.PhaseRecover} {
		if len(byPhase[ph]) == 0 {
			t.Errorf("no %s sample of %s: %v", ph, probe, byPhase)
		}
	}
	return byPhase
}

// TestRealShop runs make demo's experiments on the real node's shop: the
// seeded checkout is three real pods under Pod Security restricted, the
// series Prometheus has of it come from exactly those pods, and the
// demo's pod kill and CPU stress earn their verdicts from what the pods
// measured — evictions of real pods whose replacements become Ready for
// real, a stress whose outcome says the pod's CPU limit caps it, and a
// latency probe with a real value before, during and after.
func TestRealShop(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := context.Background()
	const ns, svc = sandbox.ShopNamespace, "checkout"
	started := time.Now()
	if err := s.SeedRealShop(ctx); err != nil {
		t.Fatal(err)
	}
	// Leave the real node as the other tests expect it: without the
	// shop's pods (the rest of the seeded workload lives on kwok).
	t.Cleanup(func() { removeShop(t) })
	pods := shopRunningPods(t, ns, svc)
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	scraped, err := s.WaitRealServiceScraped(wctx, ns, svc, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 3 || !slices.Equal(scraped, pods) {
		t.Fatalf("Prometheus scrapes pods %v, the real node runs %v: want the same 3", scraped, pods)
	}
	t.Logf("seeded shop with 3 real checkout pods, scraped, in %s", time.Since(started).Round(time.Millisecond))
	p95 := fmt.Sprintf(`histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{namespace=%q,service=%q}[10s])))`, ns, svc)
	sandbox.WaitFor(t, 60*time.Second, "answered requests and a p95 latency", func() error {
		ok := shopQuery(t, fmt.Sprintf(`sum(shop_client_requests_total{namespace=%q,service=%q,code="200"})`, ns, svc))
		if lat := shopQuery(t, p95); !(ok > 20) || math.IsNaN(lat) {
			return fmt.Errorf("%v answered 200, p95 %v", ok, lat)
		}
		return nil
	})
	t.Logf("idle p95 latency %.1f ms", 1000*shopQuery(t, p95))

	t.Run("evictions", func(t *testing.T) {
		_, rec := shopRun(t, "experiments/sandbox/checkout-evict-one.yaml")
		evicted := 0
		for _, inj := range rec.Injections {
			for _, o := range inj.Outcomes {
				if o.Status != inject.StatusEvicted || o.Pod.Node != sandbox.RealNodeName {
					t.Errorf("outcome %s on %s (node %s): want evicted on the real node", o.Status, o.Pod.Key(), o.Pod.Node)
				}
				evicted++
			}
		}
		if evicted == 0 {
			t.Fatal("nothing evicted")
		}
		shopSamples(t, rec, "checkout-error-ratio")
		sandbox.WaitFor(t, 60*time.Second, "3 checkout pods Ready again", func() error {
			if p := shopRunningPods(t, ns, svc); len(p) != 3 {
				return fmt.Errorf("ready: %v", p)
			}
			return nil
		})
		t.Logf("%d real pods evicted, 3 Ready again; client side: %v", evicted, shopClient(t, ns, svc))
	})

	t.Run("cpu stress", func(t *testing.T) {
		_, rec := shopRun(t, "experiments/sandbox/checkout-cpu-latency.yaml")
		if len(rec.Injections) != 1 || len(rec.Injections[0].Outcomes) != 1 {
			t.Fatalf("injections %+v, want one with one outcome", rec.Injections)
		}
		o := rec.Injections[0].Outcomes[0]
		if o.Status != inject.StatusStressed || o.Pod.Node != sandbox.RealNodeName {
			t.Fatalf("outcome %s on %s (node %s, %s), want stressed on the real node", o.Status, o.Pod.Key(), o.Pod.Node, o.Detail)
		}
		if !strings.Contains(o.Detail, "capped by the pod's CPU limit 200m") {
			t.Errorf("outcome detail %q does not say that the pod's 200m limit caps the 1000m asked", o.Detail)
		}
		byPhase := shopSamples(t, rec, "checkout-p95-latency")
		// Figures for BENCHMARKS.md; the verdict is the shop's, not asserted.
		ms := func(vs []float64) string {
			var b strings.Builder
			for _, v := range vs {
				fmt.Fprintf(&b, " %.1f", 1000*v)
			}
			return b.String()
		}
		t.Logf("p95 ms before:%s | under stress:%s | recovery:%s", ms(byPhase[journal.PhasePreflight]), ms(byPhase[journal.PhaseObserve]), ms(byPhase[journal.PhaseRecover]))
		t.Logf("client side: %v", shopClient(t, ns, svc))
	})
}

// shopClient is the load generator's count of outcomes.
func shopClient(t *testing.T, ns, svc string) map[string]float64 {
	r, err := sb.Query(context.Background(), fmt.Sprintf(`sum by (code) (shop_client_requests_total{namespace=%q,service=%q})`, ns, svc))
	if err != nil {
		t.Log(err)
	}
	return r
}
