package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/podkill"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/probe"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// These tests cover the phase logic with in-memory parts; the same paths
// run against the sandbox's real API server and Prometheus in pkg/cli.

// scriptedQuerier answers each query with a function of how long the run
// has been going, so a test can make a probe go bad mid-run.
type scriptedQuerier struct {
	start  time.Time
	answer func(query string, since time.Duration) ([]probe.Sample, error)
}

func (q *scriptedQuerier) Query(_ context.Context, query string, _ time.Time) ([]probe.Sample, error) {
	return q.answer(query, time.Since(q.start))
}

func constant(v float64) func(string, time.Duration) ([]probe.Sample, error) {
	return func(string, time.Duration) ([]probe.Sample, error) { return []probe.Sample{{Value: v}}, nil }
}

type fakeLister struct{ pods []target.Pod }

func (l *fakeLister) List(context.Context, experiment.Target) ([]target.Pod, target.Stats, error) {
	return l.pods, target.Stats{}, nil
}

// recordingInjector counts injections and reverts.
type recordingInjector struct {
	mu       sync.Mutex
	injects  int
	reverts  int
	failWith error
}

func (i *recordingInjector) Kind() string { return "podKill" }
func (i *recordingInjector) Inject(_ context.Context, run inject.Run, targets []target.Pod) (inject.Injection, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.injects++
	inj := inject.Injection{Run: run, Kind: "podKill", At: time.Now()}
	for _, t := range targets {
		inj.Outcomes = append(inj.Outcomes, inject.Outcome{Pod: t, Status: inject.StatusKilled, At: time.Now()})
	}
	return inj, i.failWith
}
func (i *recordingInjector) Revert(context.Context, inject.Injection) error {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.reverts++
	return nil
}
func (i *recordingInjector) counts() (int, int) {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.injects, i.reverts
}

// passGuard admits everything (the real guard is tested in pkg/inject).
type passGuard struct{ dryRun bool }

func (g passGuard) Inject(ctx context.Context, req inject.Request) (inject.Injection, error) {
	if g.dryRun {
		inj := inject.Injection{Run: req.Run}
		for _, t := range req.Targets {
			inj.Outcomes = append(inj.Outcomes, inject.Outcome{Pod: t, Status: inject.StatusDryRun})
		}
		return inj, nil
	}
	return req.Injector.Inject(ctx, req.Run, req.Targets)
}

func testExperiment(mutate func(*experiment.Experiment)) *experiment.Experiment {
	below := 0.01
	one := 1.0
	e := &experiment.Experiment{
		APIVersion: experiment.APIVersion, Kind: experiment.Kind,
		Metadata: experiment.Metadata{Name: "unit"},
		Spec: experiment.Spec{
			Hypothesis: experiment.Hypothesis{Probes: []experiment.Probe{
				{Name: "error-ratio", Query: "errors", Expect: experiment.Expect{Below: &below}, OnEmpty: "fail"},
			}},
			StopWhen: []experiment.Probe{
				{Name: "gone", Query: "available", Expect: experiment.Expect{Below: &one}, OnEmpty: "fail"},
			},
			Target: experiment.Target{Namespaces: []string{"shop"}, Selector: "app=checkout"},
			Action: experiment.NewAction(podkill.Fault{}, &podkill.Spec{Method: "evict"}),
		},
	}
	e.Spec.Duration.Duration = 400 * time.Millisecond
	e.Spec.ProbeInterval.Duration = 50 * time.Millisecond
	e.Spec.Recovery.Duration = 300 * time.Millisecond
	experiment.ApplyDefaults(e)
	if mutate != nil {
		mutate(e)
	}
	return e
}

func pods(n int) []target.Pod {
	out := make([]target.Pod, n)
	for i := range out {
		out[i] = target.Pod{Namespace: "shop", Name: fmt.Sprintf("checkout-%d", i), UID: fmt.Sprintf("uid-%d", i),
			Phase: "Running", Ready: true, Created: time.Now().Add(-time.Hour), Labels: map[string]string{"app": "checkout"}}
	}
	return out
}

type answers map[string]func(string, time.Duration) ([]probe.Sample, error)

func runUnit(ctx context.Context, t *testing.T, exp *experiment.Experiment, a answers, inj *recordingInjector, dryRun bool) *journal.Record {
	t.Helper()
	q := &scriptedQuerier{start: time.Now(), answer: func(query string, since time.Duration) ([]probe.Sample, error) {
		f, ok := a[strings.TrimSuffix(query, "#reverted")]
		if !ok {
			return nil, fmt.Errorf("unexpected query %q", query)
		}
		if _, reverts := inj.counts(); reverts > 0 {
			query += "#reverted" // lets a scripted answer change once the fault is gone
		}
		return f(query, since)
	}}
	e := &Engine{
		Prom:     q,
		Targets:  &fakeLister{pods: pods(3)},
		Guard:    passGuard{dryRun: dryRun},
		Injector: func(*experiment.Experiment) (inject.Injector, error) { return inj, nil },
		Journal:  journal.Discard{},
	}
	return e.Run(ctx, exp, Options{RunID: "r1", Seed: 7, DryRun: dryRun, File: "unit.yaml"})
}

func after(d time.Duration, before, later float64) func(string, time.Duration) ([]probe.Sample, error) {
	return func(_ string, since time.Duration) ([]probe.Sample, error) {
		if since >= d {
			return []probe.Sample{{Value: later}}, nil
		}
		return []probe.Sample{{Value: before}}, nil
	}
}

func TestVerdicts(t *testing.T) {
	healthy := answers{"errors": constant(0.001), "available": constant(3)}
	tests := []struct {
		name        string
		answers     answers
		mutate      func(*experiment.Experiment)
		dryRun      bool
		cancelAfter time.Duration
		want        journal.Verdict
		wantReason  string
		wantInjects int // -1: at least one
		wantReverts int
	}{
		{name: "held", answers: healthy, want: journal.Held, wantReason: "held for", wantInjects: 1, wantReverts: 1},
		{name: "steady state broken before: skipped, nothing injected",
			answers: answers{"errors": constant(0.5), "available": constant(3)},
			want:    journal.Skipped, wantReason: "steady state did not hold before injection", wantInjects: 0, wantReverts: 0},
		{name: "prometheus unreachable before: skipped",
			answers: answers{"errors": func(string, time.Duration) ([]probe.Sample, error) { return nil, errors.New("connection refused") }, "available": constant(3)},
			want:    journal.Skipped, wantReason: "connection refused", wantInjects: 0, wantReverts: 0},
		{name: "empty result before: skipped (unknown is not healthy)",
			answers: answers{"errors": func(string, time.Duration) ([]probe.Sample, error) { return nil, nil }, "available": constant(3)},
			want:    journal.Skipped, wantInjects: 0, wantReverts: 0},
		{name: "stop condition already firing: skipped",
			answers: answers{"errors": constant(0.001), "available": constant(0)},
			want:    journal.Skipped, wantInjects: 0},
		{name: "hypothesis violated during injection: deviated and reverted",
			answers: answers{"errors": after(150*time.Millisecond, 0.001, 0.2), "available": constant(3)},
			want:    journal.Deviated, wantReason: "violated after", wantInjects: 1, wantReverts: 1},
		{name: "stop condition fires: aborted and reverted",
			answers: answers{"errors": constant(0.001), "available": after(150*time.Millisecond, 3, 0)},
			want:    journal.Aborted, wantReason: "stop condition", wantInjects: 1, wantReverts: 1},
		{name: "prometheus lost during injection: aborted and reverted",
			answers: answers{"errors": func(_ string, since time.Duration) ([]probe.Sample, error) {
				if since > 150*time.Millisecond {
					return nil, errors.New("connection refused")
				}
				return []probe.Sample{{Value: 0.001}}, nil
			}, "available": constant(3)},
			want: journal.Aborted, wantReason: "could not be verified", wantInjects: 1, wantReverts: 1},
		{name: "no recovery within the window: deviated",
			answers: answers{"errors": func(q string, _ time.Duration) ([]probe.Sample, error) {
				// healthy until the revert, broken from then on
				if q == "errors#reverted" {
					return []probe.Sample{{Value: 0.3}}, nil
				}
				return []probe.Sample{{Value: 0.001}}, nil
			}, "available": constant(3)},
			want: journal.Deviated, wantReason: "did not recover", wantInjects: 1, wantReverts: 1},
		{name: "interrupted: aborted and reverted",
			answers: healthy, cancelAfter: 150 * time.Millisecond,
			want: journal.Aborted, wantReason: "interrupted", wantInjects: 1, wantReverts: 1},
		{name: "dry run touches nothing",
			answers: healthy, dryRun: true, want: journal.DryRun, wantReason: "dry run", wantInjects: 0, wantReverts: 0},
		{name: "every repeats the kill",
			answers: healthy,
			mutate: func(e *experiment.Experiment) {
				e.Spec.Action.Spec.(*podkill.Spec).Every.Duration = 100 * time.Millisecond
			},
			want: journal.Held, wantInjects: -1, wantReverts: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancelAfter > 0 {
				time.AfterFunc(tt.cancelAfter, cancel)
			}
			inj := &recordingInjector{}
			rec := runUnit(ctx, t, testExperiment(tt.mutate), tt.answers, inj, tt.dryRun)
			if rec.Verdict != tt.want {
				t.Fatalf("verdict %s, want %s; reasons: %v", rec.Verdict, tt.want, rec.Reasons)
			}
			if tt.wantReason != "" && !strings.Contains(strings.Join(rec.Reasons, "\n"), tt.wantReason) {
				t.Errorf("reasons %q do not mention %q", rec.Reasons, tt.wantReason)
			}
			injects, reverts := inj.counts()
			switch {
			case tt.wantInjects == -1 && injects < 3:
				t.Errorf("every 100ms over 400ms: %d injections, want at least 3", injects)
			case tt.wantInjects >= 0 && injects != tt.wantInjects:
				t.Errorf("%d injections, want %d", injects, tt.wantInjects)
			}
			switch {
			case tt.wantReverts == -1 && reverts != injects:
				t.Errorf("%d reverts for %d injections", reverts, injects)
			case tt.wantReverts >= 0 && reverts != tt.wantReverts:
				t.Errorf("%d reverts, want %d", reverts, tt.wantReverts)
			}
			if rec.Seed != 7 || rec.Replay != "chaosnight run unit.yaml --seed 7" {
				t.Errorf("seed/replay not recorded: %d %q", rec.Seed, rec.Replay)
			}
			if len(rec.Samples) == 0 {
				t.Error("no samples journaled")
			}
		})
	}
}

func TestEverySampleIsJournaled(t *testing.T) {
	var writes atomic.Int32
	var last *journal.Record
	sink := sinkFunc(func(r *journal.Record) error { writes.Add(1); last = r; return nil })
	inj := &recordingInjector{}
	e := &Engine{
		Prom: &scriptedQuerier{start: time.Now(), answer: func(q string, _ time.Duration) ([]probe.Sample, error) {
			return []probe.Sample{{Value: map[string]float64{"errors": 0.001, "available": 3}[q]}}, nil
		}},
		Targets:  &fakeLister{pods: pods(3)},
		Guard:    passGuard{},
		Injector: func(*experiment.Experiment) (inject.Injector, error) { return inj, nil },
		Journal:  sink,
	}
	var observed atomic.Int32
	e.Observe = func(p Progress) {
		if p.Phase == journal.PhaseObserve && len(p.Results) > 0 {
			observed.Add(1)
		}
	}
	rec := e.Run(context.Background(), testExperiment(nil), Options{RunID: "r2"})
	if rec.Verdict != journal.Held {
		t.Fatalf("verdict %s: %v", rec.Verdict, rec.Reasons)
	}
	if last != rec || writes.Load() < 5 {
		t.Errorf("journal written %d times; want a checkpoint per phase and the final record", writes.Load())
	}
	perPhase := map[string]int{}
	for _, s := range rec.Samples {
		perPhase[s.Phase]++
	}
	// 2 probes (hypothesis + stop) per evaluation; observe runs ~8 ticks.
	if perPhase[journal.PhasePreflight] != 2 || perPhase[journal.PhaseObserve] < 2*int(observed.Load()) || perPhase[journal.PhaseRecover] < 1 {
		t.Errorf("samples per phase %v, observe updates %d", perPhase, observed.Load())
	}
	var names []string
	for _, p := range rec.Phases {
		names = append(names, p.Name)
		if p.Ended.IsZero() {
			t.Errorf("phase %s never ended", p.Name)
		}
	}
	if got := strings.Join(names, ","); got != "preflight,select,inject,observe,revert,recover" {
		t.Errorf("phases %s", got)
	}
}

type sinkFunc func(*journal.Record) error

func (f sinkFunc) Write(r *journal.Record) error { return f(r) }

func TestExitCodes(t *testing.T) {
	for v, want := range map[journal.Verdict]int{
		journal.Held: 0, journal.DryRun: 0, journal.Deviated: 1, journal.Aborted: 2, journal.Skipped: 2, journal.Error: 3,
	} {
		if got := ExitCode(v); got != want {
			t.Errorf("ExitCode(%s) = %d, want %d", v, got, want)
		}
	}
}

// findingInjector reports a finding, as the stress injector does for a pod
// the kubelet evicted.
type findingInjector struct{ recordingInjector }

func (f *findingInjector) Findings(context.Context, inject.Injection) []string {
	return []string{"finding: the kubelet evicted pod shop/checkout-0 while it was stressed"}
}

func TestFindingsAreRecordedNotErrors(t *testing.T) {
	inj := &findingInjector{}
	e := &Engine{
		Prom:     &scriptedQuerier{start: time.Now(), answer: constant(0.001)},
		Targets:  &fakeLister{pods: pods(3)},
		Guard:    passGuard{},
		Injector: func(*experiment.Experiment) (inject.Injector, error) { return inj, nil },
	}
	exp := testExperiment(func(e *experiment.Experiment) { e.Spec.StopWhen = nil })
	rec := e.Run(context.Background(), exp, Options{RunID: "f"})
	if rec.Verdict != journal.Held {
		t.Fatalf("verdict %s %v: a finding must not change the verdict", rec.Verdict, rec.Reasons)
	}
	if !strings.Contains(strings.Join(rec.Reasons, "\n"), "finding: the kubelet evicted pod shop/checkout-0") {
		t.Errorf("finding not recorded: %v", rec.Reasons)
	}
}
