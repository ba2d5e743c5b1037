package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/podkill"
	"github.com/chaosnight/chaosnight/pkg/inject/stress"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/probe"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// outcomeInjector answers each target with a scripted outcome, optionally
// records revert state, and can fail its revert: it stands for podkill and
// stress with the API server's answers (those are proven against the
// sandbox in pkg/cli and pkg/inject/...).
type outcomeInjector struct {
	// outcome returns the status and detail of target i in round n (1...).
	outcome   func(round, i int) (string, string)
	state     map[string]string
	injectErr error
	revertErr error

	mu      sync.Mutex
	rounds  int
	reverts int
}

func (o *outcomeInjector) Kind() string { return "podKill" }

func (o *outcomeInjector) Inject(_ context.Context, run inject.Run, targets []target.Pod) (inject.Injection, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.rounds++
	inj := inject.Injection{Run: run, Kind: o.Kind(), At: time.Now(), State: o.state}
	for i, t := range targets {
		status, detail := o.outcome(o.rounds, i)
		inj.Outcomes = append(inj.Outcomes, inject.Outcome{Pod: t, Status: status, Detail: detail, At: time.Now()})
	}
	return inj, o.injectErr
}

func (o *outcomeInjector) Revert(context.Context, inject.Injection) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.reverts++
	return o.revertErr
}

func (o *outcomeInjector) counts() (int, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.rounds, o.reverts
}

// every target gets the same outcome in every round.
func every(status, detail string) func(int, int) (string, string) {
	return func(int, int) (string, string) { return status, detail }
}

// firstOnly touches target 0 and gives the others status/detail.
func firstOnly(status, detail string) func(int, int) (string, string) {
	return func(_, i int) (string, string) {
		if i == 0 {
			return inject.StatusEvicted, "evicted"
		}
		return status, detail
	}
}

const pdbDetail = "protected by PodDisruptionBudget shop/checkout: 0 disruptions allowed"

func TestVerdictIsEarned(t *testing.T) {
	healthy := answers{"errors": constant(0.001), "available": constant(3)}
	deviates := answers{"errors": after(150*time.Millisecond, 0.001, 0.2), "available": constant(3)}
	stops := answers{"errors": constant(0.001), "available": after(150*time.Millisecond, 3, 0)}
	deadline := time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)
	notStopped := &stress.NotStoppedError{Deadline: deadline, Items: []stress.NotStopped{
		{What: "ephemeral container c of pod shop/checkout-0", Err: errors.New("pods/exec is forbidden")},
		{What: "ephemeral container c of pod shop/checkout-1", Err: errors.New("pods/exec is forbidden")},
	}}
	stressState := map[string]string{stress.StateScope: "pod", stress.StateDeadline: deadline.Format(time.RFC3339)}
	tests := []struct {
		name        string
		answers     answers
		injector    *outcomeInjector
		every       time.Duration
		dryRun      bool
		want        journal.Verdict
		wantExit    int
		wantReasons []string // each must appear in some reason
		wantReverts int      // -1: at least one
		wantRounds  []journal.Round
		wantLeft    []journal.Leftover
	}{
		{name: "every eviction refused by a PDB: skipped, not held",
			answers: healthy, injector: &outcomeInjector{outcome: every(inject.StatusProtected, pdbDetail), state: map[string]string{"method": "evict"}},
			want: journal.Skipped, wantExit: 2, wantReverts: 1,
			wantReasons: []string{"nothing was injected: shop/checkout-", "shop/checkout-0: " + pdbDetail, "shop/checkout-1: " + pdbDetail, "shop/checkout-2: " + pdbDetail},
			wantRounds:  []journal.Round{{Round: 1, Targets: 3, Touched: 0}}},
		{name: "RBAC 403 on every target: skipped with the reason",
			answers: healthy, injector: &outcomeInjector{outcome: every(inject.StatusFailed, "cannot evict: forbidden: no right (RBAC)")},
			want: journal.Skipped, wantExit: 2, wantReverts: 0,
			wantReasons: []string{"nothing was injected: shop/checkout-", "shop/checkout-0: cannot evict: forbidden: no right (RBAC)"},
			wantRounds:  []journal.Round{{Round: 1, Targets: 3, Touched: 0}}},
		{name: "every pod gone: skipped",
			answers: healthy, injector: &outcomeInjector{outcome: every(inject.StatusGone, "the pod no longer exists")},
			want: journal.Skipped, wantExit: 2, wantReverts: 0,
			wantReasons: []string{"shop/checkout-1: the pod no longer exists"}},
		{name: "one of three: held, and says so",
			answers: healthy, injector: &outcomeInjector{outcome: firstOnly(inject.StatusProtected, pdbDetail)},
			want: journal.Held, wantExit: 0, wantReverts: 1,
			wantReasons: []string{"injected 1 of 3: shop/checkout-", ": " + pdbDetail + "; shop/checkout-", "held for"},
			wantRounds:  []journal.Round{{Round: 1, Targets: 3, Touched: 1}}},
		{name: "one of three, hypothesis violated: deviated, and says so",
			answers: deviates, injector: &outcomeInjector{outcome: firstOnly(inject.StatusFailed, "cannot evict: forbidden (RBAC)")},
			want: journal.Deviated, wantExit: 1, wantReverts: 1,
			wantReasons: []string{"injected 1 of 3", "violated after"}},
		{name: "stress added but never started: skipped, and its state is reverted",
			answers: healthy, injector: &outcomeInjector{outcome: every(inject.StatusFailed, "ephemeral container c was added but did not start"), state: stressState},
			want: journal.Skipped, wantExit: 2, wantReverts: 1,
			wantReasons: []string{"nothing was injected"}},
		{name: "injector error after leaving state: error, reverted",
			answers: healthy, injector: &outcomeInjector{outcome: every(inject.StatusFailed, "boom"), state: stressState, injectErr: errors.New("boom")},
			want: journal.Error, wantExit: 3, wantReverts: 1,
			wantReasons: []string{"injection failed: boom"}},
		{name: "revert fails after a deviation: deviated kept, exit 3, leftovers with their deadline",
			answers: deviates, injector: &outcomeInjector{outcome: every(inject.StatusStressed, "stressed"), state: stressState, revertErr: notStopped},
			want: journal.Deviated, wantExit: 3, wantReverts: 1,
			wantReasons: []string{"violated after", "revert of podKill failed"},
			wantLeft:    notStoppedLeft(deadline)},
		{name: "revert fails after an abort: aborted kept, exit 3",
			answers: stops, injector: &outcomeInjector{outcome: every(inject.StatusKilled, "deleted"), revertErr: errors.New("connection refused")},
			want: journal.Aborted, wantExit: 3, wantReverts: 1,
			wantReasons: []string{"stop condition", "revert of podKill failed: connection refused"},
			wantLeft:    []journal.Leftover{{Injection: "podKill", Error: "connection refused"}}},
		{name: "revert fails after a hold: error, exit 3",
			answers: healthy, injector: &outcomeInjector{outcome: every(inject.StatusStressed, "stressed"), state: stressState, revertErr: notStopped},
			want: journal.Error, wantExit: 3, wantReverts: 1,
			wantReasons: []string{"could not be stopped early"}, wantLeft: notStoppedLeft(deadline)},
		{name: "revert fails on a skipped run: skipped kept, exit 3",
			answers: healthy, injector: &outcomeInjector{outcome: every(inject.StatusFailed, "did not start"), state: stressState, revertErr: notStopped},
			want: journal.Skipped, wantExit: 3, wantReverts: 1,
			wantReasons: []string{"nothing was injected", "could not be stopped early"}, wantLeft: notStoppedLeft(deadline)},
		{name: "repeats that touch nothing are recorded, the run still held",
			answers: healthy, every: 100 * time.Millisecond,
			injector: &outcomeInjector{outcome: func(round, _ int) (string, string) {
				if round == 1 {
					return inject.StatusEvicted, "evicted"
				}
				return inject.StatusProtected, pdbDetail
			}},
			want: journal.Held, wantExit: 0, wantReverts: 1,
			wantReasons: []string{"round 2 touched nothing: shop/checkout-", "shop/checkout-0: " + pdbDetail}},
		{name: "a first round that touches nothing ends the run: no repeat",
			answers: healthy, every: 100 * time.Millisecond, injector: &outcomeInjector{outcome: every(inject.StatusProtected, pdbDetail)},
			want: journal.Skipped, wantExit: 2, wantReverts: 0,
			wantRounds: []journal.Round{{Round: 1, Targets: 3, Touched: 0}}},
		{name: "dry run is unchanged",
			answers: healthy, dryRun: true, injector: &outcomeInjector{outcome: every(inject.StatusEvicted, "")},
			want: journal.DryRun, wantExit: 0, wantReverts: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			exp := testExperiment(func(e *experiment.Experiment) {
				e.Spec.Target.Pick = experiment.Pick{All: true}
				e.Spec.Action.Spec.(*podkill.Spec).Every.Duration = tt.every
			})
			rec := runScripted(t, exp, tt.answers, tt.injector, tt.dryRun)
			reasons := strings.Join(rec.Reasons, "\n")
			if rec.Verdict != tt.want {
				t.Fatalf("verdict %s, want %s; reasons:\n%s", rec.Verdict, tt.want, reasons)
			}
			if got := ExitCodeOf(rec); got != tt.wantExit {
				t.Errorf("exit code %d, want %d", got, tt.wantExit)
			}
			for _, want := range tt.wantReasons {
				if !strings.Contains(reasons, want) {
					t.Errorf("reasons do not say %q:\n%s", want, reasons)
				}
			}
			rounds, reverts := tt.injector.counts()
			switch {
			case tt.wantReverts == -1 && reverts == 0:
				t.Error("no revert")
			case tt.wantReverts >= 0 && reverts != tt.wantReverts:
				t.Errorf("%d reverts, want %d", reverts, tt.wantReverts)
			}
			if tt.wantRounds != nil {
				if len(rec.Rounds) != len(tt.wantRounds) || rounds != len(tt.wantRounds) {
					t.Fatalf("rounds %+v (%d injections), want %+v", rec.Rounds, rounds, tt.wantRounds)
				}
				for i, w := range tt.wantRounds {
					g := rec.Rounds[i]
					if g.Round != w.Round || g.Targets != w.Targets || g.Touched != w.Touched {
						t.Errorf("round %d = %+v, want %+v", i, g, w)
					}
					if (g.Touched < g.Targets) != (g.Note != "") {
						t.Errorf("round %d: note %q does not match %d of %d", i, g.Note, g.Touched, g.Targets)
					}
				}
			}
			if tt.dryRun && len(rec.Rounds) != 0 {
				t.Errorf("a dry run recorded rounds %+v", rec.Rounds)
			}
			if len(rec.Leftovers) != len(tt.wantLeft) {
				t.Fatalf("leftovers %+v, want %+v", rec.Leftovers, tt.wantLeft)
			}
			for i, w := range tt.wantLeft {
				g := rec.Leftovers[i]
				if (w.What != "" && g.What != w.What) || !g.Until.Equal(w.Until) || g.Error != w.Error || g.Injection != w.Injection {
					t.Errorf("leftover %d = %+v, want %+v", i, g, w)
				}
			}
			if rec.RevertFailed() && !hasPhase(rec, journal.PhaseRevert, "revert failed") {
				t.Errorf("phases %+v do not show the failed revert", rec.Phases)
			}
		})
	}
}

// notStoppedLeft is what the NotStoppedError of TestVerdictIsEarned leaves.
func notStoppedLeft(deadline time.Time) []journal.Leftover {
	return []journal.Leftover{
		{Injection: "podKill", What: "ephemeral container c of pod shop/checkout-0", Until: deadline, Error: "pods/exec is forbidden"},
		{Injection: "podKill", What: "ephemeral container c of pod shop/checkout-1", Until: deadline, Error: "pods/exec is forbidden"},
	}
}

func TestRepeatRoundsAreCounted(t *testing.T) {
	inj := &outcomeInjector{outcome: func(round, i int) (string, string) {
		switch {
		case round == 1 && i == 0, round == 2:
			return inject.StatusEvicted, "evicted"
		}
		return inject.StatusProtected, pdbDetail
	}}
	exp := testExperiment(func(e *experiment.Experiment) {
		e.Spec.Target.Pick = experiment.Pick{All: true}
		e.Spec.Action.Spec.(*podkill.Spec).Every.Duration = 100 * time.Millisecond
	})
	rec := runScripted(t, exp, answers{"errors": constant(0.001), "available": constant(3)}, inj, false)
	if rec.Verdict != journal.Held || len(rec.Rounds) < 3 || len(rec.Rounds) != len(rec.Injections) {
		t.Fatalf("verdict %s, rounds %+v, %d injections", rec.Verdict, rec.Rounds, len(rec.Injections))
	}
	if r := rec.Rounds[0]; r.Touched != 1 || r.Targets != 3 || !strings.HasPrefix(r.Note, "injected 1 of 3: ") {
		t.Errorf("round 1 %+v", r)
	}
	if r := rec.Rounds[1]; r.Touched != 3 || r.Note != "" {
		t.Errorf("round 2 %+v", r)
	}
	if r := rec.Rounds[2]; r.Touched != 0 || !strings.HasPrefix(r.Note, "round 3 touched nothing: shop/checkout-0: ") {
		t.Errorf("round 3 %+v", r)
	}
	if !hasPhase(rec, journal.PhaseInject, "round 3 touched nothing") {
		t.Errorf("no inject phase note for round 3: %+v", rec.Phases)
	}
}

func TestCoverageNoteListsAFewAndCountsTheRest(t *testing.T) {
	var inj inject.Injection
	for i := range 9 {
		inj.Outcomes = append(inj.Outcomes, inject.Outcome{Pod: target.Pod{Namespace: "shop", Name: fmt.Sprint("p", i)}, Status: inject.StatusRefused, Detail: "minHealthy: 2 would remain"})
	}
	inj.Outcomes[0].Status = inject.StatusKilled
	tests := []struct {
		round, touched int
		want           string
	}{
		{1, 1, "injected 1 of 9: shop/p1: minHealthy: 2 would remain; "},
		{4, 1, "round 4 injected 1 of 9: "},
	}
	for _, tt := range tests {
		got := coverageNote(tt.round, tt.touched, 9, inj)
		if !strings.HasPrefix(got, tt.want) || !strings.HasSuffix(got, "and 3 more (the journal's outcomes list every target)") {
			t.Errorf("coverageNote(%d) = %q", tt.round, got)
		}
	}
	if got := coverageNote(1, 9, 9, inject.Injection{}); got != "" {
		t.Errorf("a full round has a note: %q", got)
	}
}

func TestExitCodeOf(t *testing.T) {
	left := []journal.Leftover{{What: "x"}}
	tests := []struct {
		verdict   journal.Verdict
		leftovers []journal.Leftover
		want      int
	}{
		{journal.Held, nil, 0}, {journal.DryRun, nil, 0}, {journal.Deviated, nil, 1},
		{journal.Aborted, nil, 2}, {journal.Skipped, nil, 2}, {journal.Error, nil, 3},
		{journal.Deviated, left, 3}, {journal.Aborted, left, 3}, {journal.Skipped, left, 3}, {journal.Error, left, 3},
	}
	for _, tt := range tests {
		if got := ExitCodeOf(&journal.Record{Verdict: tt.verdict, Leftovers: tt.leftovers}); got != tt.want {
			t.Errorf("ExitCodeOf(%s, %d leftovers) = %d, want %d", tt.verdict, len(tt.leftovers), got, tt.want)
		}
	}
}

// runScripted runs exp with inj behind the pass-through guard.
func runScripted(t *testing.T, exp *experiment.Experiment, a answers, inj *outcomeInjector, dryRun bool) *journal.Record {
	t.Helper()
	q := &scriptedQuerier{start: time.Now(), answer: func(query string, since time.Duration) ([]probe.Sample, error) {
		f, ok := a[query]
		if !ok {
			return nil, fmt.Errorf("unexpected query %q", query)
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
	return e.Run(context.Background(), exp, Options{RunID: "r1", Seed: 7, DryRun: dryRun, File: "unit.yaml"})
}

// hasPhase says whether a phase called name has a note containing note.
func hasPhase(rec *journal.Record, name, note string) bool {
	for _, p := range rec.Phases {
		if p.Name == name && strings.Contains(p.Note, note) {
			return true
		}
	}
	return false
}

// refusingGuard admits the first injection and refuses every later one, as
// the real guard does when minHealthy holds every remaining pod.
type refusingGuard struct {
	mu    sync.Mutex
	calls int
}

func (g *refusingGuard) Inject(ctx context.Context, req inject.Request) (inject.Injection, error) {
	g.mu.Lock()
	g.calls++
	n := g.calls
	g.mu.Unlock()
	if n == 1 {
		return req.Injector.Inject(ctx, req.Run, req.Targets)
	}
	inj := inject.Injection{Run: req.Run, Kind: req.Injector.Kind(), At: time.Now()}
	for _, p := range req.Targets {
		inj.Outcomes = append(inj.Outcomes, inject.Outcome{Pod: p, Status: inject.StatusRefused, Detail: "minHealthy: 1 ready pod would remain"})
	}
	return inj, &inject.RefusedError{Rule: "minHealthy", Detail: "minHealthy: 1 ready pod would remain", Refused: len(req.Targets), Targets: len(req.Targets)}
}

func TestRepeatRefusedByTheGuardIsRecorded(t *testing.T) {
	inj := &outcomeInjector{outcome: every(inject.StatusEvicted, "evicted")}
	e := &Engine{
		Prom: &scriptedQuerier{start: time.Now(), answer: func(q string, _ time.Duration) ([]probe.Sample, error) {
			return []probe.Sample{{Value: map[string]float64{"errors": 0.001, "available": 3}[q]}}, nil
		}},
		Targets:  &fakeLister{pods: pods(3)},
		Guard:    &refusingGuard{},
		Injector: func(*experiment.Experiment) (inject.Injector, error) { return inj, nil },
	}
	exp := testExperiment(func(e *experiment.Experiment) {
		e.Spec.Action.Spec.(*podkill.Spec).Every.Duration = 100 * time.Millisecond
	})
	rec := e.Run(context.Background(), exp, Options{RunID: "g"})
	if rec.Verdict != journal.Held {
		t.Fatalf("verdict %s %v", rec.Verdict, rec.Reasons)
	}
	reasons := strings.Join(rec.Reasons, "\n")
	if !strings.Contains(reasons, "round 2 touched nothing: injection refused") || strings.Contains(reasons, "touched nothing: nothing was injected") {
		t.Errorf("reasons:\n%s", reasons)
	}
	if len(rec.Rounds) < 2 || rec.Rounds[1].Touched != 0 || !strings.HasPrefix(rec.Rounds[1].Note, "round 2 touched nothing: shop/checkout-") {
		t.Errorf("rounds %+v", rec.Rounds)
	}
}
