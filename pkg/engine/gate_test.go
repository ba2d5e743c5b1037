package engine

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/gate"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/podkill"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/probe"
)

// scriptedGate answers round by round; a round without an answer is open.
// It records the requests it got.
type scriptedGate struct {
	mu     sync.Mutex
	closed map[int]string // round -> reason
	asked  []gate.Request
}

func (g *scriptedGate) Check(_ context.Context, req gate.Request) gate.Check {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.asked = append(g.asked, req)
	c := gate.Check{Round: req.Round, At: time.Now(), Open: true}
	if why, ok := g.closed[req.Round]; ok {
		c.Open, c.Reasons = false, []string{why}
	}
	return c
}

func (g *scriptedGate) rounds() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []int
	for _, r := range g.asked {
		out = append(out, r.Round)
	}
	return out
}

func TestGateDecidesBeforeEachInjection(t *testing.T) {
	healthy := answers{"errors": constant(0.001), "available": constant(3)}
	repeat := func(e *experiment.Experiment) {
		e.Spec.Action.Spec.(*podkill.Spec).Every.Duration = 100 * time.Millisecond
		// Room for three rounds however busy the machine is: with 400 ms,
		// a loaded CI machine once fitted only the first.
		e.Spec.Duration.Duration = 2 * time.Second
	}
	const alert = "gate: alert KubePodCrashLooping firing in shop"
	tests := []struct {
		name        string
		mutate      func(*experiment.Experiment)
		closed      map[int]string
		dryRun      bool
		want        journal.Verdict
		wantReason  string
		wantInjects int // -1: at least two
		wantChecks  int // -1: at least three
	}{
		{name: "open: the run goes on", want: journal.Held, wantInjects: 1, wantChecks: 1},
		{name: "closed: skipped, nothing injected, the gate's reason is the verdict's",
			closed: map[int]string{1: alert}, want: journal.Skipped, wantReason: alert, wantInjects: 0, wantChecks: 1},
		{name: "closed in a dry run: skipped as well (the plan's answer)",
			closed: map[int]string{1: alert}, dryRun: true, want: journal.Skipped, wantReason: alert, wantInjects: 0, wantChecks: 1},
		{name: "closed on a repeat: that round touches nothing, the run goes on",
			mutate: repeat, closed: map[int]string{2: "gate: deployment shop/checkout is rolling out (1 of 3 replicas updated)"},
			want: journal.Held, wantReason: "round 2 touched nothing: gate: deployment shop/checkout is rolling out (1 of 3 replicas updated)",
			wantInjects: -1, wantChecks: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			exp := testExperiment(tc.mutate)
			inj := &recordingInjector{}
			g := &scriptedGate{closed: tc.closed}
			q := &scriptedQuerier{start: time.Now(), answer: func(query string, since time.Duration) ([]probe.Sample, error) {
				return healthy[query](query, since)
			}}
			e := &Engine{
				Prom:     q,
				Targets:  &fakeLister{pods: pods(3)},
				Guard:    passGuard{dryRun: tc.dryRun},
				Injector: func(*experiment.Experiment) (inject.Injector, error) { return inj, nil },
				Gate:     g,
				Journal:  journal.Discard{},
			}
			rec := e.Run(t.Context(), exp, Options{RunID: "r1", Seed: 7, DryRun: tc.dryRun})
			if rec.Verdict != tc.want {
				t.Fatalf("verdict %s, want %s (reasons %q)", rec.Verdict, tc.want, rec.Reasons)
			}
			if tc.wantReason != "" && !slices.Contains(rec.Reasons, tc.wantReason) {
				t.Errorf("reasons %q, want one that is %q", rec.Reasons, tc.wantReason)
			}
			injects, _ := inj.counts()
			switch {
			case tc.wantInjects == -1 && injects < 2:
				t.Errorf("%d injections, want at least 2 (the rounds after the closed one)", injects)
			case tc.wantInjects >= 0 && injects != tc.wantInjects:
				t.Errorf("%d injections, want %d", injects, tc.wantInjects)
			}
			rounds := g.rounds()
			switch {
			case tc.wantChecks == -1 && len(rounds) < 3:
				t.Errorf("gate asked for rounds %v, want at least 3 checks", rounds)
			case tc.wantChecks >= 0 && len(rounds) != tc.wantChecks:
				t.Errorf("gate asked for rounds %v, want %d checks", rounds, tc.wantChecks)
			}
			// The journal holds every check, in order, with its answer.
			if len(rec.Gate) != len(rounds) {
				t.Fatalf("journal holds %d gate checks, the gate answered %d", len(rec.Gate), len(rounds))
			}
			for i, c := range rec.Gate {
				if c.Round != rounds[i] {
					t.Errorf("gate check %d is round %d, want %d", i, c.Round, rounds[i])
				}
				_, closed := tc.closed[c.Round]
				if c.Open == closed {
					t.Errorf("gate check of round %d: open %v, want %v", c.Round, c.Open, !closed)
				}
			}
			// Round 1's check got the picked targets and the detections.
			if first := g.asked[0]; len(first.Targets) == 0 {
				t.Errorf("the gate got no targets: %+v", first)
			}
			if rec.Verdict == journal.Skipped && len(rec.Rounds) != 0 {
				t.Errorf("a closed gate must leave no round: %+v", rec.Rounds)
			}
			for _, r := range rec.Reasons {
				if strings.HasPrefix(r, "gate: ") && rec.Verdict != journal.Skipped {
					t.Errorf("a first-round gate reason on a %s run: %q", rec.Verdict, r)
				}
			}
		})
	}
}

func TestGateGetsTheExpectedAlerts(t *testing.T) {
	exp := testExperiment(func(e *experiment.Experiment) {
		e.Spec.Detect = []experiment.Detection{{Alert: "ShopHighErrorRate", Labels: map[string]string{"namespace": "shop"}}}
	})
	inj := &recordingInjector{}
	g := &scriptedGate{}
	e := &Engine{
		// spec.detect needs range queries, and a quiet ALERTS at preflight.
		Prom: &rangeQuerier{
			scriptedQuerier: &scriptedQuerier{start: time.Now(), answer: func(q string, d time.Duration) ([]probe.Sample, error) {
				known := answers{"errors": constant(0.001), "available": constant(3)}
				if a, ok := known[q]; ok {
					return a(q, d)
				}
				return nil, nil // ALERTS: nothing firing
			}},
			rangeAnswer: func(string, time.Time, time.Time, time.Duration) ([]probe.Series, error) { return nil, nil },
		},
		Targets:  &fakeLister{pods: pods(3)},
		Guard:    passGuard{},
		Injector: func(*experiment.Experiment) (inject.Injector, error) { return inj, nil },
		Gate:     g,
	}
	// Only preflight and the gate matter here: cancel right after the injection.
	ctx, cancel := context.WithCancel(t.Context())
	e.Observe = func(p Progress) {
		if p.Phase == journal.PhaseInject && p.Injection != nil {
			cancel()
		}
	}
	_ = e.Run(ctx, exp, Options{RunID: "r1", Seed: 1})
	if len(g.asked) == 0 || len(g.asked[0].Detect) != 1 || g.asked[0].Detect[0].Alert != "ShopHighErrorRate" {
		t.Fatalf("the gate must get spec.detect to exempt the expected alerts, got %+v", g.asked)
	}
}
