package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chaosnight/chaosnight/pkg/engine"
	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/faults"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/killswitch"
	"github.com/chaosnight/chaosnight/pkg/metrics"
	"github.com/chaosnight/chaosnight/pkg/probe/prometheus"
	"github.com/chaosnight/chaosnight/pkg/schedule"
	"github.com/chaosnight/chaosnight/pkg/target"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// The runner runs in-process here, with the real engine, guard and pod
// kill against the sandbox's API server and Prometheus. Its clock is real
// time shifted by an offset the test controls, so a night opens seconds
// after the test starts and a test can make the clock reach the close.
var sb *sandbox.Sandbox

func TestMain(m *testing.M) {
	os.Exit(sandbox.RunTests(m, sandbox.Config{SeedWorkload: true}, func(s *sandbox.Sandbox) { sb = s }))
}

type testClock struct{ offset atomic.Int64 }

func (c *testClock) Now() time.Time           { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *testClock) shift(d time.Duration)    { c.offset.Add(int64(d)) }
func (c *testClock) set(offset time.Duration) { c.offset.Store(int64(offset)) }

// clockOpeningIn returns a clock on which the next even minute (when
// "*/2 * * * *" opens) is d away.
func clockOpeningIn(d time.Duration) *testClock {
	now := time.Now()
	next := now.Truncate(2 * time.Minute).Add(2 * time.Minute)
	c := &testClock{}
	c.set(next.Sub(now) - d)
	return c
}

// clockInsideWindow returns a clock that reads `into` after a whole minute.
func clockInsideWindow(into time.Duration) *testClock {
	now := time.Now()
	c := &testClock{}
	c.set(now.Truncate(time.Minute).Add(time.Minute + into).Sub(now))
	return c
}

func everyMinute(names []string, lasts, cooldown time.Duration) schedule.Night {
	return schedule.Night{
		Name: "test-night", Opens: "* * * * *", Timezone: "UTC",
		Lasts:       experiment.NewDuration(lasts),
		Cooldown:    experiment.NewDuration(cooldown),
		Experiments: schedule.Selection{Names: names},
	}
}

// evictExperiment is a short eviction of one checkout pod with a
// hypothesis on the sandbox's checkout traffic.
func evictExperiment(name string, duration, recovery time.Duration) string {
	return fmt.Sprintf(`apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata:
  name: %s
spec:
  hypothesis:
    probes:
      - name: checkout-error-ratio
        query: sum(rate(http_requests_total{namespace="shop",service="checkout",code=~"5.."}[10s])) / sum(rate(http_requests_total{namespace="shop",service="checkout"}[10s]))
        expect: {below: 0.01}
  target:
    namespaces: [shop]
    selector: app=checkout
  action:
    podKill: {method: evict}
  duration: %s
  probeInterval: 1s
  recovery: %s
  safety: {minHealthy: 2}
`, name, duration, recovery)
}

// fixture is one runner under test.
type fixture struct {
	dir      string // experiments
	journals string
	runner   *Runner
	reg      *promclient.Registry
	metrics  *metrics.Metrics
	ks       *killswitch.Switch
}

func writeExperiments(t *testing.T, dir string, exps map[string]string) {
	t.Helper()
	for name, body := range exps {
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// dirLoader loads the experiments directory; the nights come from Go.
func dirLoader(dir string, nights []schedule.Night) Loader {
	return func(time.Time) (Setup, error) {
		exps, err := experiment.LoadPaths(faults.Must().Formats(), dir)
		if err != nil {
			return Setup{}, err
		}
		h := sha256.New()
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			h.Write([]byte(e.Name()))
			h.Write(b)
		}
		return Setup{Nights: nights, Experiments: exps, Fingerprint: hex.EncodeToString(h.Sum(nil))}, nil
	}
}

func newFixture(t *testing.T, s *sandbox.Sandbox, clock *testClock, nights []schedule.Night, exps map[string]string, state StateStore) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), journals: t.TempDir(), reg: promclient.NewRegistry()}
	writeExperiments(t, f.dir, exps)
	f.metrics = metrics.New(f.reg)
	prom, err := prometheus.New(prometheus.Config{URL: s.PrometheusURL, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	client := s.Client()
	f.ks = &killswitch.Switch{Client: client, Namespace: "default", Name: "ks-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))}
	eng := &engine.Engine{
		Prom:    prom,
		Targets: &target.Selector{Client: client},
		Guard:   &inject.Guard{Client: client, Policy: inject.Policy{RequireOptIn: true}, KillSwitch: f.ks},
		Injector: func(e *experiment.Experiment) (inject.Injector, error) {
			return faults.Must().Injector(inject.Env{Client: client}, e)
		},
		Metrics: f.metrics,
	}
	r, err := New(Config{
		Load: dirLoader(f.dir, nights), Engine: eng, KillSwitch: f.ks, State: state,
		Journals: f.journals, Metrics: f.metrics, Now: clock.Now, Tick: 200 * time.Millisecond, ReloadEvery: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.runner = r
	return f
}

// records reads every journal of the given directories, by experiment name.
func records(t *testing.T, dirs ...string) map[string][]*journal.Record {
	t.Helper()
	out := map[string][]*journal.Record{}
	for _, dir := range dirs {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		for _, f := range files {
			rec, err := journal.Read(f)
			if err != nil {
				continue // being written
			}
			out[rec.Experiment.Metadata.Name] = append(out[rec.Experiment.Metadata.Name], rec)
		}
	}
	return out
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func inPhase(rec *journal.Record, phase string) bool {
	return len(rec.Phases) > 0 && rec.Phases[len(rec.Phases)-1].Name == phase
}

func finished(rec *journal.Record) bool {
	return rec.Verdict != journal.Running && rec.Verdict != ""
}

func start(t *testing.T, run func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); run(ctx) }()
	return func() { cancel(); wg.Wait() }
}

func TestNightPlaysInOrderThenClosesMidRun(t *testing.T) {
	s := sandbox.Require(t, sb)
	clock := clockOpeningIn(3 * time.Second)
	exps := map[string]string{
		"a": evictExperiment("a", 4*time.Second, 10*time.Second),
		"b": evictExperiment("b", 4*time.Second, 10*time.Second),
		"c": evictExperiment("c", 20*time.Second, 5*time.Second),
		"d": evictExperiment("d", 50*time.Second, 5*time.Second),
	}
	night := everyMinute([]string{"a", "b", "c", "d"}, 59*time.Second, 2*time.Second)
	night.Opens = "*/2 * * * *" // after the close, no window for a minute
	f := newFixture(t, s, clock, []schedule.Night{night}, exps, nil)
	stop := start(t, func(ctx context.Context) { _ = f.runner.Run(ctx) })
	defer stop()

	// Nothing before the window opens.
	time.Sleep(2 * time.Second)
	if n := len(records(t, f.journals)); n != 0 {
		t.Fatalf("%d journals before the window opened", n)
	}
	waitFor(t, 60*time.Second, "c to be injecting", func() bool {
		rs := records(t, f.journals)["c"]
		return len(rs) == 1 && inPhase(rs[0], journal.PhaseObserve)
	})
	// Let the runner's clock reach the close while c is in flight.
	w, _ := night.OpenAt(clock.Now())
	closedAt := time.Now()
	clock.shift(w.Closes.Sub(clock.Now()))
	waitFor(t, 10*time.Second, "c to end", func() bool {
		rs := records(t, f.journals)["c"]
		return len(rs) == 1 && finished(rs[0])
	})
	rs := records(t, f.journals)
	a, b, c := rs["a"][0], rs["b"][0], rs["c"][0]
	if a.Verdict != journal.Held || b.Verdict != journal.Held {
		t.Errorf("a %s %v, b %s %v: want held", a.Verdict, a.Reasons, b.Verdict, b.Reasons)
	}
	if !a.Ended.Before(b.Started) || b.Started.Sub(a.Ended) < 2*time.Second {
		t.Errorf("b started %v after a ended, want the 2s cooldown", b.Started.Sub(a.Ended))
	}
	if !b.Ended.Before(c.Started) {
		t.Error("c started before b ended")
	}
	if c.Verdict != journal.Aborted || !strings.Contains(strings.Join(c.Reasons, " "), "window closed") {
		t.Errorf("c: %s %v, want aborted because the window closed", c.Verdict, c.Reasons)
	}
	var reverted time.Time
	for _, p := range c.Phases {
		if p.Name == journal.PhaseRevert {
			reverted = p.Ended
		}
	}
	if reverted.IsZero() || reverted.Sub(closedAt) > 2*time.Second {
		t.Errorf("c reverted %v after the close (phases %+v)", reverted.Sub(closedAt), c.Phases)
	}
	// d could never fit in what was left: recorded as skipped, with the reason.
	waitFor(t, 5*time.Second, "d to be recorded", func() bool { return len(records(t, f.journals)["d"]) == 1 })
	d := records(t, f.journals)["d"][0]
	if d.Verdict != journal.Skipped || !strings.Contains(strings.Join(d.Reasons, " "), "cannot finish before the window closes") {
		t.Errorf("d: %s %v", d.Verdict, d.Reasons)
	}
}

// The runner wakes at a night's opening, not at its next tick: with a tick
// of an hour, the first experiment still starts when the window opens.
func TestRunnerWakesAtTheOpening(t *testing.T) {
	s := sandbox.Require(t, sb)
	clock := clockOpeningIn(2 * time.Second)
	night := everyMinute([]string{"wake"}, 50*time.Second, 0)
	night.Opens = "*/2 * * * *"
	f := newFixture(t, s, clock, []schedule.Night{night}, map[string]string{"wake": evictExperiment("wake", 2*time.Second, 3*time.Second)}, nil)
	f.runner.cfg.Tick = time.Hour
	stop := start(t, func(ctx context.Context) { _ = f.runner.Run(ctx) })
	defer stop()
	waitFor(t, 30*time.Second, "the experiment to start without a tick", func() bool {
		return len(records(t, f.journals)["wake"]) == 1
	})
	rec := records(t, f.journals)["wake"][0]
	w, ok := night.OpenAt(clock.Now())
	if !ok || rec.Started.Add(time.Until(clock.Now())).Before(w.Opens) {
		t.Errorf("started %v (runner clock), window %+v open %t: want inside the window", rec.Started, w, ok)
	}
}

func TestPauseAbortsWithin2sAndBlocksTheNext(t *testing.T) {
	s := sandbox.Require(t, sb)
	clock := clockInsideWindow(time.Second)
	exps := map[string]string{
		"long":  evictExperiment("long", 40*time.Second, 5*time.Second),
		"short": evictExperiment("short", 3*time.Second, 5*time.Second),
	}
	f := newFixture(t, s, clock, []schedule.Night{everyMinute([]string{"long", "short"}, 59*time.Second, time.Second)}, exps, nil)
	defer func() { _ = f.ks.Set(context.Background(), killswitch.State{}) }()
	stop := start(t, func(ctx context.Context) { _ = f.runner.Run(ctx) })
	defer stop()

	waitFor(t, 20*time.Second, "long to be injecting", func() bool {
		rs := records(t, f.journals)["long"]
		return len(rs) == 1 && inPhase(rs[0], journal.PhaseObserve)
	})
	pausedAt := time.Now()
	if err := f.ks.Set(context.Background(), killswitch.State{Engaged: true, Reason: "test", Since: pausedAt}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "long to end", func() bool { return finished(records(t, f.journals)["long"][0]) })
	long := records(t, f.journals)["long"][0]
	var reverted time.Time
	for _, p := range long.Phases {
		if p.Name == journal.PhaseRevert {
			reverted = p.Ended
		}
	}
	if long.Verdict != journal.Aborted || reverted.IsZero() || reverted.Sub(pausedAt) > 2*time.Second {
		t.Errorf("long: %s, reverted %v after the pause; reasons %v", long.Verdict, reverted.Sub(pausedAt), long.Reasons)
	}
	// The gauge follows at the next decision point (one tick).
	waitFor(t, 3*time.Second, "chaosnight_kill_switch_engaged to be 1 while paused", func() bool {
		return testutil.ToFloat64(f.metrics.Paused) == 1
	})
	// Paused: the next experiment does not start.
	time.Sleep(3 * time.Second)
	if n := len(records(t, f.journals)["short"]); n != 0 {
		t.Fatalf("short started while paused")
	}
	if err := f.ks.Set(context.Background(), killswitch.State{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "short to run after resume", func() bool {
		rs := records(t, f.journals)["short"]
		return len(rs) == 1 && finished(rs[0])
	})
}

func TestTwoRunnersInjectOnceAndHandOver(t *testing.T) {
	s := sandbox.Require(t, sb)
	clock := clockInsideWindow(time.Second)
	exps := map[string]string{
		"one":   evictExperiment("one", 3*time.Second, 5*time.Second),
		"two":   evictExperiment("two", 3*time.Second, 5*time.Second),
		"three": evictExperiment("three", 3*time.Second, 5*time.Second),
	}
	night := everyMinute([]string{"one", "two", "three"}, 59*time.Second, time.Second)
	state := &ConfigMapState{Client: s.Client(), Namespace: "default", Name: "state-handover"}
	fa := newFixture(t, s, clock, []schedule.Night{night}, exps, state)
	fb := newFixture(t, s, clock, []schedule.Night{night}, exps, state)
	lease := LeaderConfig{Client: s.Client(), Namespace: "default", Name: "lease-handover",
		LeaseDuration: 4 * time.Second, RenewDeadline: 3 * time.Second, RetryPeriod: 500 * time.Millisecond}
	la, lb := lease, lease
	la.Identity, lb.Identity = "runner-a", "runner-b"
	la.Metrics, lb.Metrics = fa.metrics, fb.metrics
	stopA := start(t, func(ctx context.Context) { _ = RunAsLeader(ctx, la, func(c context.Context) { _ = fa.runner.Run(c) }) })
	defer stopA()
	time.Sleep(time.Second) // a campaigns first
	stopB := start(t, func(ctx context.Context) { _ = RunAsLeader(ctx, lb, func(c context.Context) { _ = fb.runner.Run(c) }) })
	defer stopB()

	waitFor(t, 30*time.Second, "one to finish", func() bool {
		rs := records(t, fa.journals, fb.journals)["one"]
		return len(rs) >= 1 && finished(rs[0])
	})
	leaderA := testutil.ToFloat64(fa.metrics.Leader) == 1
	leaderB := testutil.ToFloat64(fb.metrics.Leader) == 1
	if leaderA == leaderB {
		t.Fatalf("leaders: a=%v b=%v, want exactly one", leaderA, leaderB)
	}
	// Kill the leader; the other takes over the schedule.
	if leaderA {
		stopA()
	} else {
		stopB()
	}
	waitFor(t, 45*time.Second, "two and three to finish", func() bool {
		rs := records(t, fa.journals, fb.journals)
		return len(rs["two"]) >= 1 && finished(rs["two"][0]) && len(rs["three"]) >= 1 && finished(rs["three"][0])
	})
	time.Sleep(2 * time.Second) // a duplicate would start now
	rs := records(t, fa.journals, fb.journals)
	for _, name := range []string{"one", "two", "three"} {
		if len(rs[name]) != 1 {
			t.Errorf("%s ran %d times across the two runners, want exactly once", name, len(rs[name]))
		}
	}
	var injections int
	for _, list := range rs {
		for _, rec := range list {
			injections += len(rec.Injections)
		}
	}
	if injections != 3 {
		t.Errorf("%d injections, want 3", injections)
	}
}

func TestBrokenExperimentKeepsTheLastGoodSet(t *testing.T) {
	s := sandbox.Require(t, sb)
	clock := clockOpeningIn(30 * time.Second) // no window during this test
	f := newFixture(t, s, clock, []schedule.Night{everyMinute([]string{"good"}, 20*time.Second, 0)},
		map[string]string{"good": evictExperiment("good", 3*time.Second, 5*time.Second)}, nil)
	if err := f.runner.Reload(); err != nil {
		t.Fatal(err)
	}
	writeExperiments(t, f.dir, map[string]string{"broken": "apiVersion: chaosnight.dev/v1alpha1\nkind: Experiment\nmetadata: {name: broken}\nspec: {duration: soon}\n"})
	err := f.runner.Reload()
	var problems experiment.Problems
	if !errors.As(err, &problems) || !strings.Contains(err.Error(), "broken.yaml") {
		t.Fatalf("reload of a broken file: %v", err)
	}
	if !f.runner.Ready() || len(f.runner.setup.Experiments) != 1 || f.runner.setup.Experiments[0].Metadata.Name != "good" {
		t.Errorf("the last good set was not kept: %+v", f.runner.setup.Experiments)
	}
	if testutil.ToFloat64(f.metrics.ConfigValid) != 0 || testutil.ToFloat64(f.metrics.ConfigReloads.WithLabelValues("failure")) != 1 {
		t.Error("the failed reload does not show in the metrics")
	}
	if st := f.runner.Status(); !strings.Contains(st.ConfigErr, "broken.yaml") {
		t.Errorf("status does not show the problem: %+v", st)
	}
	// Fixing the file applies at the next reload.
	if err := os.Remove(filepath.Join(f.dir, "broken.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := f.runner.Reload(); err != nil || testutil.ToFloat64(f.metrics.ConfigValid) != 1 {
		t.Errorf("reload after the fix: %v", err)
	}
}

func TestPrometheusScrapesTheRunner(t *testing.T) {
	s := sandbox.Require(t, sb)
	clock := clockOpeningIn(30 * time.Second)
	f := newFixture(t, s, clock, []schedule.Night{everyMinute([]string{"x"}, 20*time.Second, 0)},
		map[string]string{"x": evictExperiment("x", 3*time.Second, 5*time.Second)}, nil)
	if err := f.runner.Reload(); err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f.runner.Handler(f.reg)}
	go func() { _ = srv.Serve(lis) }()
	defer func() { _ = srv.Close() }()
	if err := s.AddScrapeTarget(t.Context(), "chaosnight-runner", lis.Addr().String()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "Prometheus to have scraped the runner", func() bool {
		v, err := s.Query(t.Context(), `chaosnight_experiments_loaded{job="chaosnight-runner"}`)
		if err != nil {
			return false
		}
		for _, val := range v {
			return val == 1
		}
		return false
	})
	for _, path := range []string{"/healthz", "/readyz", "/runs", "/status"} {
		resp, err := http.Get("http://" + lis.Addr().String() + path)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("GET %s: %v %v", path, err, resp)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
}
