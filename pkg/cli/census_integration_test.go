package cli

import (
	"slices"
	"strings"
	"testing"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// TestDryRunPlansWhatTheRunTouches proves, against the API server, that a
// dry run counting minHealthy from the select phase's LIST (the gate read
// checkout's Deployment, whose selector implies app=checkout) plans exactly
// what the real run with the same seed then does, and that the real run
// counted fresh: 3 ready checkout pods, minHealthy 2, every pod picked: one
// is admitted, two are refused.
func TestDryRunPlansWhatTheRunTouches(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	exp := strings.Replace(experimentYAML("census", evictOne, "  safety: {minHealthy: 2, maxTargets: 3}\n"),
		"pick: {count: 1}", "pick: {all: true}", 1)

	outcomes := func(rec *journal.Record) (admitted, refused []string) {
		for _, o := range rec.Injections[0].Outcomes {
			switch o.Status {
			case inject.StatusRefused:
				refused = append(refused, o.Pod.Key())
			default:
				admitted = append(admitted, o.Pod.Key())
			}
		}
		slices.Sort(admitted)
		slices.Sort(refused)
		return admitted, refused
	}
	note := func(rec *journal.Record) string {
		for _, p := range rec.Phases {
			if p.Name == journal.PhaseInject {
				return p.Note
			}
		}
		return ""
	}

	_, out, plan := runExp(ctx, t, s, exp, "--dry-run", "--seed", "5")
	if plan.Verdict != journal.DryRun || len(plan.Injections) != 1 {
		t.Fatalf("dry run: verdict %s, %d injections\n%s", plan.Verdict, len(plan.Injections), out)
	}
	c := plan.Injections[0].Counting
	if c == nil || c.FromCensus != 1 || c.Requests != 0 || !strings.Contains(note(plan), "counted from the select phase's LIST, no request") {
		t.Fatalf("dry run did not count from the select phase's LIST: counting %+v, note %q", c, note(plan))
	}
	planned, planRefused := outcomes(plan)
	if len(planned) != 1 || len(planRefused) != 2 {
		t.Fatalf("plan: admitted %v, refused %v; want 1 and 2 (3 ready, minHealthy 2)", planned, planRefused)
	}

	code, out, rec := runExp(ctx, t, s, exp, "--seed", "5")
	if code != ExitHeld || len(rec.Injections) != 1 {
		t.Fatalf("real run: exit %d, verdict %s %v\n%s", code, rec.Verdict, rec.Reasons, out)
	}
	c = rec.Injections[0].Counting
	if c == nil || c.FromCensus != 0 || c.Requests == 0 || !strings.Contains(note(rec), "read fresh") {
		t.Errorf("real run did not count fresh: counting %+v, note %q", c, note(rec))
	}
	touched, refused := outcomes(rec)
	if !slices.Equal(touched, planned) || !slices.Equal(refused, planRefused) {
		t.Errorf("the run touched %v and refused %v; the dry run planned %v and refused %v", touched, refused, planned, planRefused)
	}
	settle(ctx, t, s)
}
