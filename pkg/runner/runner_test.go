package runner

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaosnight/chaosnight/pkg/engine"
	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/faults"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/killswitch"
	"github.com/chaosnight/chaosnight/pkg/schedule"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// The ConfigMap state's MarkDone is a claim: the second claim of the same
// experiment in the same window is refused with an AlreadyDoneError.
func TestConfigMapStateClaims(t *testing.T) {
	ctx := context.Background()
	s := &ConfigMapState{Client: fake.NewClientset(), Namespace: "chaosnight"}
	steps := []struct {
		name, window, experiment string
		forget                   bool
		wantAlready              bool
	}{
		{name: "first claim creates the ConfigMap", window: "n@2026-12-07T22:00:00Z", experiment: "a"},
		{name: "another experiment", window: "n@2026-12-07T22:00:00Z", experiment: "b"},
		{name: "the same again", window: "n@2026-12-07T22:00:00Z", experiment: "a", wantAlready: true},
		{name: "the same in another window", window: "n@2026-12-08T22:00:00Z", experiment: "a"},
		{name: "after the window is forgotten", window: "n@2026-12-07T22:00:00Z", experiment: "a", forget: true},
	}
	for _, st := range steps {
		if st.forget {
			if err := s.Forget(ctx, st.window); err != nil {
				t.Fatal(err)
			}
		}
		err := s.MarkDone(ctx, st.window, st.experiment)
		var already *AlreadyDoneError
		if got := errors.As(err, &already); got != st.wantAlready || (!got && err != nil) {
			t.Errorf("%s: %v, want already done: %v", st.name, err, st.wantAlready)
		}
		if st.wantAlready && (already.Experiment != st.experiment || already.Window != st.window) {
			t.Errorf("%s: %+v", st.name, already)
		}
	}
	state, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(state[stateKey("n@2026-12-08T22:00:00Z")], ","); got != "a" {
		t.Errorf("state of the second window: %q", got)
	}
}

// fakeState is a StateStore whose answers the test decides.
type fakeState struct {
	loadErr, markErr error
	done             map[string][]string
	marks            int
}

func (f *fakeState) Load(context.Context) (map[string][]string, error) {
	return f.done, f.loadErr
}

func (f *fakeState) MarkDone(_ context.Context, window, exp string) error {
	f.marks++
	if f.markErr != nil {
		return f.markErr
	}
	for _, n := range f.done[stateKey(window)] {
		if n == exp {
			return &AlreadyDoneError{Window: window, Experiment: exp}
		}
	}
	return nil
}

func (f *fakeState) Forget(context.Context, string) error { return nil }

// countingGuard counts the injections that reach the guard.
type countingGuard struct{ n atomic.Int64 }

func (g *countingGuard) Inject(context.Context, inject.Request) (inject.Injection, error) {
	g.n.Add(1)
	return inject.Injection{}, errors.New("unit test: no injection")
}

func forbidden(verb string) error {
	return apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "chaosnight-state",
		errors.New(verb+" is not allowed"))
}

const unitExperiment = `apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata: {name: unit}
spec:
  hypothesis:
    probes:
      - {name: ok, query: vector(1), expect: {atLeast: 1}}
  target: {namespaces: [shop], selector: app=checkout}
  action: {podKill: {method: evict}}
  duration: 10s
`

// An experiment is played only when the shared state could be read and
// the claim written; otherwise it is recorded as skipped with the reason,
// and the engine is never called.
func TestUnusableStateIsNeverPlayedAnyway(t *testing.T) {
	exps, err := experiment.Load(faults.Must().Formats(), "unit.yaml", []byte(unitExperiment))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 22, 0, 30, 0, time.UTC)
	night := schedule.Night{Name: "n", Opens: "0 22 * * *", Timezone: "UTC", Lasts: experiment.NewDuration(time.Hour),
		Experiments: schedule.Selection{Names: []string{"unit"}}}
	window, ok := night.OpenAt(now)
	if !ok {
		t.Fatal("the night is not open")
	}
	tests := []struct {
		name        string
		state       *fakeState
		wantReason  string // "" : nothing recorded
		wantSkipped bool
	}{
		{name: "state unreadable", state: &fakeState{loadErr: forbidden("get")}, wantSkipped: true, wantReason: "cannot be read"},
		{name: "state unwritable", state: &fakeState{markErr: forbidden("update")}, wantSkipped: true, wantReason: "cannot be written"},
		{name: "already played by another leader", state: &fakeState{done: map[string][]string{stateKey(windowKey(window)): {"unit"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			guard := &countingGuard{}
			dir := t.TempDir()
			r, err := New(Config{
				Load: func(time.Time) (Setup, error) {
					return Setup{Nights: []schedule.Night{night}, Experiments: exps, Fingerprint: "x"}, nil
				},
				Engine: &engine.Engine{Guard: guard}, State: tt.state, Journals: dir,
				Now: func() time.Time { return now },
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := r.Reload(); err != nil {
				t.Fatal(err)
			}
			for range 3 { // three decision points: a skip is recorded once
				r.decide(ctx)
			}
			if guard.n.Load() != 0 {
				t.Errorf("%d injection(s) reached the guard, want none", guard.n.Load())
			}
			runs := r.Recent(10)
			if !tt.wantSkipped {
				if len(runs) != 0 {
					t.Errorf("%d run(s) recorded, want none: %+v", len(runs), runs)
				}
				return
			}
			if len(runs) != 1 || runs[0].Verdict != journal.Skipped || !strings.Contains(strings.Join(runs[0].Reasons, " "), tt.wantReason) ||
				!strings.Contains(strings.Join(runs[0].Reasons, " "), "forbidden") {
				t.Errorf("runs %+v, want one skipped with %q and the API's refusal", runs, tt.wantReason)
			}
		})
	}
}

// Run forgets the windows it remembers: a runner that leads again reads
// the shared state, where another leader recorded what it played.
func TestRunRereadsTheStateWhenLeadingAgain(t *testing.T) {
	exps, err := experiment.Load(faults.Must().Formats(), "unit.yaml", []byte(unitExperiment))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 22, 0, 30, 0, time.UTC)
	night := schedule.Night{Name: "n", Opens: "0 22 * * *", Timezone: "UTC", Lasts: experiment.NewDuration(time.Hour),
		Experiments: schedule.Selection{Names: []string{"unit"}}}
	window, _ := night.OpenAt(now)
	state := &fakeState{done: map[string][]string{}}
	guard := &countingGuard{}
	r, err := New(Config{
		Load: func(time.Time) (Setup, error) {
			return Setup{Nights: []schedule.Night{night}, Experiments: exps, Fingerprint: "x"}, nil
		},
		Engine: &engine.Engine{Guard: guard}, State: state, Journals: t.TempDir(),
		Now: func() time.Time { return now }, Tick: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	// This runner led once, saw the window open and played nothing yet.
	r.mu.Lock()
	r.windows[windowKey(window)] = &windowState{night: night, window: window, done: map[string]bool{}, synced: true}
	r.mu.Unlock()
	// Meanwhile another leader played "unit".
	state.done[stateKey(windowKey(window))] = []string{"unit"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = r.Run(ctx); close(done) }() // leads again: one decision point, then waits a tick
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		r.mu.Lock()
		ws := r.windows[windowKey(window)]
		seen := ws != nil && ws.synced && ws.done["unit"]
		r.mu.Unlock()
		if seen {
			break
		}
	}
	cancel()
	<-done
	if guard.n.Load() != 0 || state.marks != 0 {
		t.Errorf("%d injection(s), %d claim(s): the experiment another leader played was played again", guard.n.Load(), state.marks)
	}
}

// recordingInjector records the calls that reach it.
type recordingInjector struct{ calls atomic.Int64 }

func (*recordingInjector) Kind() string { return "podKill" }
func (i *recordingInjector) Inject(_ context.Context, run inject.Run, targets []target.Pod) (inject.Injection, error) {
	i.calls.Add(1)
	inj := inject.Injection{Run: run, Kind: "podKill", At: time.Now()}
	for _, p := range targets {
		inj.Outcomes = append(inj.Outcomes, inject.Outcome{Pod: p, Status: inject.StatusKilled})
	}
	return inj, nil
}
func (*recordingInjector) Revert(context.Context, inject.Injection) error { return nil }

// The guard of every injection uses the settings in force at that moment:
// a reload that switches dryRun on makes the next injection dry, and a run
// that started dry stays dry whatever the settings say later.
func TestLiveGuardAppliesTheSettingsInForce(t *testing.T) {
	client := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}})
	pod := target.Pod{Namespace: "shop", Name: "checkout-1", UID: "u1", Phase: "Running", Ready: true}
	tests := []struct {
		name      string
		runDryRun bool
		steps     []bool // the setup's dryRun before each injection
		wantCalls int64
	}{
		{name: "live, then switched to dry", steps: []bool{false, true, true}, wantCalls: 1},
		{name: "live throughout", steps: []bool{false, false}, wantCalls: 2},
		{name: "a run that started dry stays dry", runDryRun: true, steps: []bool{false, false}, wantCalls: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dry atomic.Bool
			var reloads atomic.Int64
			r, err := New(Config{
				Load: func(time.Time) (Setup, error) {
					reloads.Add(1)
					d := dry.Load()
					return Setup{DryRun: d, Policy: inject.Policy{DenyNamespaces: []string{"kube-system"}}, Fingerprint: map[bool]string{true: "dry", false: "live"}[d]}, nil
				},
				Engine: &engine.Engine{},
				Guard:  &inject.Guard{Client: client},
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Reload(); err != nil {
				t.Fatal(err)
			}
			g := &liveGuard{r: r, runDryRun: tt.runDryRun, log: r.log}
			inj := &recordingInjector{}
			for i, d := range tt.steps {
				dry.Store(d) // the file changes; the guard reloads before injecting
				got, err := g.Inject(context.Background(), inject.Request{Run: inject.Run{ID: "r"}, Targets: []target.Pod{pod}, Injector: inj})
				if err != nil {
					t.Fatalf("injection %d: %v", i+1, err)
				}
				wantDry := d || tt.runDryRun
				if status := got.Outcomes[0].Status; (status == inject.StatusDryRun) != wantDry {
					t.Errorf("injection %d: %s, want dry run %v", i+1, status, wantDry)
				}
			}
			if inj.calls.Load() != tt.wantCalls {
				t.Errorf("the injector was called %d times, want %d", inj.calls.Load(), tt.wantCalls)
			}
			if reloads.Load() < int64(len(tt.steps))+1 {
				t.Errorf("%d reloads for %d injections: the guard must reload before each", reloads.Load(), len(tt.steps))
			}
		})
	}
}

// /status and the index page say which dryRun and policy are in force,
// and since when: the start, then the reload that changed them.
func TestStatusShowsTheSettingsInForce(t *testing.T) {
	clock := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	var dry atomic.Bool
	dry.Store(true)
	r, err := New(Config{
		Load: func(time.Time) (Setup, error) {
			d := dry.Load()
			return Setup{DryRun: d, Policy: inject.Policy{DenyNamespaces: []string{"kube-system", "payments"}, RequireOptIn: true},
				Fingerprint: map[bool]string{true: "dry", false: "live"}[d]}, nil
		},
		Engine: &engine.Engine{}, Journals: t.TempDir(),
		Now: func() time.Time { return clock },
	})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name      string
		dry       bool
		at        time.Time
		wantSince time.Time
		wantPage  string
	}{
		{name: "at start", dry: true, at: clock, wantSince: clock, wantPage: `id="dry-run">Dry run: <strong>dryRun true</strong>`},
		{name: "unchanged reload", dry: true, at: clock.Add(time.Minute), wantSince: clock, wantPage: "in force since 2026-12-07 10:00:00 UTC"},
		{name: "switched off", dry: false, at: clock.Add(2 * time.Minute), wantSince: clock.Add(2 * time.Minute), wantPage: `id="dry-run">Injecting: <strong>dryRun false</strong> (in force since 2026-12-07 10:02:00 UTC)`},
	}
	for _, st := range steps {
		dry.Store(st.dry)
		clock = st.at
		if err := r.Reload(); err != nil {
			t.Fatal(err)
		}
		code, body, _ := get(t, r.Handler(prometheus.NewRegistry()), "/status")
		if code != http.StatusOK {
			t.Fatalf("%s: GET /status %d", st.name, code)
		}
		var got Status
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		if got.DryRun != st.dry || got.Policy.DryRun != st.dry || !got.SettingsSince.Equal(st.wantSince) ||
			!got.Policy.RequireOptIn || strings.Join(got.Policy.DenyNamespaces, ",") != "kube-system,payments" {
			t.Errorf("%s: /status %+v, want dryRun %v since %v", st.name, got, st.dry, st.wantSince)
		}
		_, page, _ := get(t, r.Handler(prometheus.NewRegistry()), "/")
		if !strings.Contains(page, st.wantPage) || !strings.Contains(page, "payments") {
			t.Errorf("%s: the index lacks %q or the policy", st.name, st.wantPage)
		}
	}
}

// The chart's grace period is checked against this budget (test/chart):
// it must cover the revert, the verdict, the release of the Lease and the
// rest of the shutdown.
func TestShutdownBudgetCoversTheRevert(t *testing.T) {
	if ShutdownBudget() <= RevertTimeout+LeaseReleaseTimeout {
		t.Errorf("budget %v does not cover the revert (%v) and the release (%v)", ShutdownBudget(), RevertTimeout, LeaseReleaseTimeout)
	}
	if got := MinTerminationGracePeriod(); got != 115*time.Second {
		t.Errorf("MinTerminationGracePeriod = %v; update the chart's terminationGracePeriodSeconds and docs/nights.md with it", got)
	}
}

// countingSwitch is a kill switch that counts its reads.
type countingSwitch struct {
	engaged bool
	reads   int
}

func (k *countingSwitch) Engaged(context.Context) (bool, string, error) {
	k.reads++
	return k.engaged, "test", nil
}

func (k *countingSwitch) Abort(ctx context.Context, _ time.Duration, _ func(killswitch.State)) (context.Context, context.CancelFunc) {
	return context.WithCancel(ctx)
}

// TestKillSwitchIdlePoll: with no window open the decision loop reads the
// kill switch every KillSwitchIdlePoll, not every tick (an idle runner
// cost 86,400 reads a day), and a pause engaged then shows within that
// period; once a window opens, every tick reads it.
func TestKillSwitchIdlePoll(t *testing.T) {
	exps, err := experiment.Load(faults.Must().Formats(), "unit.yaml", []byte(unitExperiment))
	if err != nil {
		t.Fatal(err)
	}
	night := schedule.Night{Name: "n", Opens: "0 22 * * *", Timezone: "UTC", Lasts: experiment.NewDuration(time.Hour),
		Experiments: schedule.Selection{Names: []string{"unit"}}}
	now := time.Date(2026, 12, 7, 21, 58, 0, 0, time.UTC)
	ks := &countingSwitch{}
	r, err := New(Config{
		Load: func(time.Time) (Setup, error) {
			return Setup{Nights: []schedule.Night{night}, Experiments: exps, Fingerprint: "x"}, nil
		},
		Engine: &engine.Engine{Guard: &countingGuard{}}, State: &fakeState{}, Journals: t.TempDir(),
		KillSwitch: ks, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	pausedSeen := time.Time{}
	engagedAt := now.Add(10 * time.Second)
	for range 120 { // 21:58:00 to 21:59:59, one decision a second, idle
		if !now.Before(engagedAt) {
			ks.engaged = true
		}
		r.decide(ctx)
		if r.Status().Paused && pausedSeen.IsZero() {
			pausedSeen = now
		}
		now = now.Add(time.Second)
	}
	if ks.reads != 4 {
		t.Errorf("%d reads in 2 idle minutes, want 4 (every 30 s)", ks.reads)
	}
	if pausedSeen.IsZero() || pausedSeen.Sub(engagedAt) > 30*time.Second {
		t.Errorf("pause engaged at %s seen at %v: want within the idle poll", engagedAt.Format(time.TimeOnly), pausedSeen)
	}
	// 22:00: the window is open; every decision reads the switch (still
	// engaged, so nothing starts).
	before := ks.reads
	for range 10 {
		r.decide(ctx)
		now = now.Add(time.Second)
	}
	if got := ks.reads - before; got != 10 {
		t.Errorf("%d reads in 10 decisions with the window open, want 10", got)
	}
}
