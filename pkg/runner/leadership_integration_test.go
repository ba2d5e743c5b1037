package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/podkill"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/schedule"
	"github.com/chaosnight/chaosnight/pkg/target"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// countingInjector counts the calls that reach the real injector: the
// guard calls it only for admitted targets and never in a dry run.
type countingInjector struct {
	inject.Injector
	calls  atomic.Int64
	onCall func(n int64) // after the call, with the call's number (from 1)
}

func (c *countingInjector) Inject(ctx context.Context, run inject.Run, targets []target.Pod) (inject.Injection, error) {
	inj, err := c.Injector.Inject(ctx, run, targets)
	n := c.calls.Add(1)
	if c.onCall != nil {
		c.onCall(n)
	}
	return inj, err
}

func startLeader(t *testing.T, f *fixture, cfg LeaderConfig) (stop func()) {
	t.Helper()
	return start(t, func(ctx context.Context) { _ = RunAsLeader(ctx, cfg, func(c context.Context) { _ = f.runner.Run(c) }) })
}

func leaseConfig(s *sandbox.Sandbox, name, identity string, f *fixture) LeaderConfig {
	return LeaderConfig{Client: s.Client(), Namespace: "default", Name: name, Identity: identity, Metrics: f.metrics,
		LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 300 * time.Millisecond}
}

func leaseHolder(t *testing.T, c kubernetes.Interface, name string) string {
	t.Helper()
	l, err := c.CoordinationV1().Leases("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil {
		return ""
	}
	return *l.Spec.HolderIdentity
}

func isLeader(f *fixture) bool { return testutil.ToFloat64(f.metrics.Leader) == 1 }

// Leadership moves A to B to A while a window is open: A plays "first",
// B plays "second" (still in flight when B stops), A leads again and must
// play only "third". Before the fix, A reused the window it remembered
// (first done) and played "second" again.
func TestLeadershipABANeverReplays(t *testing.T) {
	s := sandbox.Require(t, sb)
	clock := clockInsideWindow(time.Second)
	exps := map[string]string{
		"first":  evictExperiment("first", 2*time.Second, 5*time.Second),
		"second": evictExperiment("second", 20*time.Second, 5*time.Second), // must fit in what is left of the window
		"third":  evictExperiment("third", 2*time.Second, 5*time.Second),
	}
	// The cooldown keeps A from starting "second" before the test moves
	// leadership to B (a new leader does not know when the last run ended).
	night := everyMinute([]string{"first", "second", "third"}, 59*time.Second, 15*time.Second)
	state := &ConfigMapState{Client: s.Client(), Namespace: "default", Name: "state-aba"}
	fa := newFixture(t, s, clock, []schedule.Night{night}, exps, state)
	fb := newFixture(t, s, clock, []schedule.Night{night}, exps, state)
	la, lb := leaseConfig(s, "lease-aba", "runner-a", fa), leaseConfig(s, "lease-aba", "runner-b", fb)
	fa.runner.log, fb.runner.log = testLog(t, "A"), testLog(t, "B")
	la.Log, lb.Log = testLog(t, "LA"), testLog(t, "LB")

	stopA := startLeader(t, fa, la)
	waitFor(t, 10*time.Second, "a to lead", func() bool { return isLeader(fa) })
	stopB := startLeader(t, fb, lb)
	defer func() { stopB() }()
	waitFor(t, 30*time.Second, "first to finish on a", func() bool {
		rs := records(t, fa.journals)["first"]
		return len(rs) == 1 && finished(rs[0])
	})
	stopA() // A to B
	waitFor(t, 20*time.Second, "second to be injecting on b", func() bool {
		rs := records(t, fb.journals)["second"]
		if len(rs) == 1 && finished(rs[0]) {
			t.Fatalf("second ended on b before the switch: %s %v", rs[0].Verdict, rs[0].Reasons)
		}
		return len(rs) == 1 && inPhase(rs[0], journal.PhaseObserve)
	})
	stopA = startLeader(t, fa, la) // A campaigns again, with its memory of the window
	defer func() { stopA() }()
	stopB() // B to A: second aborts and reverts on B
	stopB = func() {}
	waitFor(t, 30*time.Second, "third to finish on a", func() bool {
		if n := len(records(t, fa.journals)["second"]); n > 0 {
			t.Fatalf("a played second again after leading again (%d journal(s))", n)
		}
		rs := records(t, fa.journals)["third"]
		return len(rs) == 1 && finished(rs[0])
	})
	time.Sleep(3 * time.Second) // a replay would start now

	ra, rb := records(t, fa.journals), records(t, fb.journals)
	want := map[string][2]int{"first": {1, 0}, "second": {0, 1}, "third": {1, 0}}
	for name, w := range want {
		if len(ra[name]) != w[0] || len(rb[name]) != w[1] {
			t.Errorf("%s: %d journal(s) on a, %d on b; want %d and %d", name, len(ra[name]), len(rb[name]), w[0], w[1])
		}
	}
	if rec := rb["second"]; len(rec) == 1 && rec[0].Verdict != journal.Aborted {
		t.Errorf("second on b: %s %v, want aborted when b stopped leading", rec[0].Verdict, rec[0].Reasons)
	}
	// The shared state records each experiment once.
	st, err := state.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	w, _ := night.OpenAt(clock.Now())
	if got := strings.Join(st[stateKey(windowKey(w))], ","); got != "first,second,third" {
		t.Errorf("state of the window: %q, want first,second,third", got)
	}
}

// slowRevert is an injector that changes nothing and whose Revert blocks
// until release is closed: a revert that takes as long as the test wants.
type slowRevert struct {
	reverting chan struct{} // closed when Revert starts
	release   chan struct{} // Revert returns once it is closed
	reverted  atomic.Bool   // set when Revert returns
	once      sync.Once
}

func (s *slowRevert) Kind() string { return "slowRevert" }

func (s *slowRevert) Inject(_ context.Context, run inject.Run, targets []target.Pod) (inject.Injection, error) {
	inj := inject.Injection{Run: run, Kind: s.Kind(), At: time.Now()}
	for _, p := range targets {
		inj.Outcomes = append(inj.Outcomes, inject.Outcome{Pod: p, Status: inject.StatusStressed, At: time.Now()})
	}
	return inj, nil
}

func (s *slowRevert) Revert(context.Context, inject.Injection) error {
	s.once.Do(func() { close(s.reverting) })
	<-s.release
	s.reverted.Store(true)
	return nil
}

// SIGTERM (the leader's context ends) while an experiment is injected: the
// run aborts and reverts, and the Lease stays with this replica, renewed,
// until the revert has ended, although another replica campaigns and the
// Lease would have expired several times over. Before the fix, client-go
// released it as soon as the context ended.
func TestLeaseIsReleasedOnlyAfterTheRevert(t *testing.T) {
	s := sandbox.Require(t, sb)
	clock := clockInsideWindow(time.Second)
	fa := newFixture(t, s, clock, []schedule.Night{everyMinute([]string{"slow"}, 59*time.Second, 0)},
		map[string]string{"slow": evictExperiment("slow", 40*time.Second, 5*time.Second)}, nil)
	slow := &slowRevert{reverting: make(chan struct{}), release: make(chan struct{})}
	defer func() {
		select {
		case <-slow.release:
		default:
			close(slow.release)
		}
	}()
	fa.runner.cfg.Engine.Injector = func(*experiment.Experiment) (inject.Injector, error) { return slow, nil }
	const lease = "lease-slow-revert"
	la := leaseConfig(s, lease, "runner-a", fa)
	fa.runner.log, la.Log = testLog(t, "A"), testLog(t, "LA")
	stopA := startLeader(t, fa, la)
	waitFor(t, 10*time.Second, "a to lead", func() bool { return isLeader(fa) })

	// B only campaigns: it records when it starts leading.
	var bLedAfterRevert, bLed atomic.Bool
	lb := la
	lb.Identity, lb.Metrics, lb.Log = "runner-b", nil, testLog(t, "LB")
	stopB := start(t, func(ctx context.Context) {
		_ = RunAsLeader(ctx, lb, func(c context.Context) {
			bLedAfterRevert.Store(slow.reverted.Load())
			bLed.Store(true)
			<-c.Done()
		})
	})
	defer stopB()

	waitFor(t, 30*time.Second, "slow to be injected", func() bool {
		rs := records(t, fa.journals)["slow"]
		return len(rs) == 1 && inPhase(rs[0], journal.PhaseObserve)
	})
	stopped := make(chan struct{})
	go func() { stopA(); close(stopped) }() // SIGTERM: returns once A has released
	select {
	case <-slow.reverting:
	case <-time.After(10 * time.Second):
		t.Fatal("the revert did not start after the leader's context ended")
	}
	// Three lease durations: without renewals the Lease would have expired
	// and B, retrying every 300 ms, would have taken it.
	for end := time.Now().Add(3 * la.LeaseDuration); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		if h := leaseHolder(t, s.Client(), lease); h != "runner-a" {
			t.Fatalf("while a reverts the Lease is held by %q, want runner-a", h)
		}
		if bLed.Load() {
			t.Fatal("b started leading while a was still reverting")
		}
	}
	close(slow.release)
	<-stopped
	waitFor(t, 10*time.Second, "b to lead after a's revert", func() bool { return bLed.Load() })
	if !bLedAfterRevert.Load() {
		t.Error("b started leading before a's revert returned")
	}
	if h := leaseHolder(t, s.Client(), lease); h != "runner-b" {
		t.Errorf("Lease holder after the handover: %q, want runner-b", h)
	}
	rec := records(t, fa.journals)["slow"][0]
	if rec.Verdict != journal.Aborted || !inPhaseEnded(rec, journal.PhaseRevert) {
		t.Errorf("slow: %s, phases %+v: want aborted and reverted", rec.Verdict, rec.Phases)
	}
}

func inPhaseEnded(rec *journal.Record, phase string) bool {
	for _, p := range rec.Phases {
		if p.Name == phase && !p.Ended.IsZero() {
			return true
		}
	}
	return false
}

// A runner whose ServiceAccount cannot write (or not even read) the state
// ConfigMap plays nothing: the experiment is recorded as skipped with the
// reason, in the journal, the metrics and an Event.
func TestUnusableStateSkipsWithTheReason(t *testing.T) {
	s := sandbox.Require(t, sb)
	cases := []struct {
		name       string
		verbs      []string
		wantReason string
	}{
		{name: "read-only", verbs: []string{"get", "list", "watch"}, wantReason: "cannot be written"},
		{name: "no-rights", verbs: nil, wantReason: "cannot be read"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			stateName := "state-rbac-" + tc.name
			var rules []rbacv1.PolicyRule
			if len(tc.verbs) > 0 {
				rules = []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{stateName}, Verbs: tc.verbs}}
			}
			sa := fmt.Sprintf("state-%s-%d", tc.name, time.Now().UnixNano()%100000)
			cfg, err := s.ServiceAccountWithRole(ctx, "default", sa, rules)
			if err != nil {
				t.Fatal(err)
			}
			saClient, err := kubernetes.NewForConfig(cfg)
			if err != nil {
				t.Fatal(err)
			}
			state := &ConfigMapState{Client: saClient, Namespace: "default", Name: stateName}
			if len(tc.verbs) > 0 { // RBAC applies within moments: wait until the read is allowed
				sandbox.WaitFor(t, 10*time.Second, "the state to be readable", func() error { _, err := state.Load(ctx); return err })
			}
			clock := clockInsideWindow(time.Second)
			name := "unplayed-" + tc.name
			f := newFixture(t, s, clock, []schedule.Night{everyMinute([]string{name}, 59*time.Second, 0)},
				map[string]string{name: evictExperiment(name, 2*time.Second, 5*time.Second)}, state)
			counter := &countingInjector{Injector: &podkill.Injector{Client: s.Client(), Method: "evict"}}
			f.runner.cfg.Engine.Injector = func(*experiment.Experiment) (inject.Injector, error) { return counter, nil }
			eventObj := corev1.ObjectReference{Kind: "ConfigMap", APIVersion: "v1", Namespace: "default", Name: stateName}
			f.runner.cfg.Notifier = &Events{Client: s.Client(), Object: eventObj, Component: "chaosnight-test"}
			stop := start(t, func(ctx context.Context) { _ = f.runner.Run(ctx) })
			defer stop()

			waitFor(t, 20*time.Second, name+" to be recorded", func() bool { return len(records(t, f.journals)[name]) > 0 })
			time.Sleep(2 * time.Second) // a play "anyway" would start now
			rs := records(t, f.journals)[name]
			if len(rs) != 1 {
				t.Fatalf("%d journals for %s, want 1", len(rs), name)
			}
			rec := rs[0]
			reasons := strings.Join(rec.Reasons, " ")
			if rec.Verdict != journal.Skipped || !strings.Contains(reasons, tc.wantReason) || !strings.Contains(reasons, "forbidden") {
				t.Errorf("%s: %s %v; want skipped, %q and the API server's refusal", name, rec.Verdict, rec.Reasons, tc.wantReason)
			}
			if len(rec.Injections) != 0 || counter.calls.Load() != 0 {
				t.Errorf("%d injection(s) recorded, %d injector call(s): want none", len(rec.Injections), counter.calls.Load())
			}
			if n := testutil.ToFloat64(f.metrics.Runs.WithLabelValues(name, string(journal.Skipped))); n != 1 {
				t.Errorf("chaosnight runs counter for %s skipped: %v, want 1", name, n)
			}
			sandbox.WaitFor(t, 10*time.Second, "the skip Event", func() error {
				evs, err := s.Client().CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + stateName})
				if err != nil {
					return err
				}
				for _, ev := range evs.Items {
					if ev.Reason == "ExperimentSkipped" && strings.Contains(ev.Message, tc.wantReason) {
						return nil
					}
				}
				return errors.New("no ExperimentSkipped Event with the reason")
			})
		})
	}
}

// The config file switches dryRun on while a podKill.every run is in
// flight (from inside the first injection, so no timing is involved): the
// next round is dry and nothing more is evicted; the status says so.
func TestDryRunSwitchedOnAppliesToTheNextRound(t *testing.T) {
	s := sandbox.Require(t, sb)
	clock := clockInsideWindow(time.Second)
	body := strings.Replace(evictExperiment("rounds", 9*time.Second, 10*time.Second),
		"podKill: {method: evict}", "podKill: {method: evict, every: 2s}", 1)
	f := newFixture(t, s, clock, []schedule.Night{everyMinute([]string{"rounds"}, 59*time.Second, 0)},
		map[string]string{"rounds": body}, nil)
	configFile := filepath.Join(t.TempDir(), "chaosnight.yaml")
	if err := os.WriteFile(configFile, []byte("dryRun: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dirLoad := f.runner.cfg.Load
	f.runner.cfg.Load = func(now time.Time) (Setup, error) {
		setup, err := dirLoad(now)
		if err != nil {
			return setup, err
		}
		data, err := os.ReadFile(configFile)
		if err != nil {
			return Setup{}, err
		}
		var c struct {
			DryRun bool `yaml:"dryRun"`
		}
		if err := yaml.Unmarshal(data, &c); err != nil {
			return Setup{}, err
		}
		setup.DryRun, setup.Policy = c.DryRun, inject.Policy{RequireOptIn: true}
		setup.Fingerprint += string(data)
		return setup, nil
	}
	guard := f.runner.cfg.Engine.Guard.(*inject.Guard)
	f.runner.cfg.Guard = guard
	f.runner.cfg.ReloadEvery = time.Hour // only the reload before each injection
	counter := &countingInjector{Injector: &podkill.Injector{Client: s.Client(), Method: "evict"}}
	counter.onCall = func(n int64) {
		if n == 1 {
			if err := os.WriteFile(configFile, []byte("dryRun: true\n"), 0o600); err != nil {
				t.Error(err)
			}
		}
	}
	f.runner.cfg.Engine.Injector = func(*experiment.Experiment) (inject.Injector, error) { return counter, nil }
	stop := start(t, func(ctx context.Context) { _ = f.runner.Run(ctx) })
	defer stop()

	waitFor(t, 40*time.Second, "rounds to finish", func() bool {
		rs := records(t, f.journals)["rounds"]
		return len(rs) == 1 && finished(rs[0])
	})
	rec := records(t, f.journals)["rounds"][0]
	if rec.DryRun {
		t.Fatal("the run started dry; the test needs it to start live")
	}
	if len(rec.Injections) < 2 {
		t.Fatalf("%d rounds, want at least 2", len(rec.Injections))
	}
	if counter.calls.Load() != 1 {
		t.Errorf("the injector was called %d times, want once (the rounds after the switch are dry)", counter.calls.Load())
	}
	// After the switch nothing is touched; a round is "dry-run" unless a
	// rule before the dry run (minHealthy, while the evicted pod's
	// replacement starts) refused it first.
	var dry int
	for i, inj := range rec.Injections[1:] {
		for _, o := range inj.Outcomes {
			if inject.Touched(o.Status) {
				t.Errorf("round %d after the switch: %s %s (%s), want nothing touched", i+2, o.Pod.Name, o.Status, o.Detail)
			}
			if o.Status == inject.StatusDryRun {
				dry++
			}
		}
	}
	if dry == 0 {
		t.Errorf("no round after the switch was planned as a dry run: %+v", rec.Injections[1:])
	}
	st := f.runner.Status()
	started := rec.Started.Add(time.Until(clock.Now())) // on the runner's clock
	if !st.DryRun || !st.Policy.DryRun || st.SettingsSince.Before(started) {
		t.Errorf("status: dryRun %v, policy %+v, since %v; want dry run in force since the run (started %v)", st.DryRun, st.Policy, st.SettingsSince, started)
	}
}
