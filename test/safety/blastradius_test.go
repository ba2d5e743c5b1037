package safety_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/test/safety"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// Sizes. The CI size runs in `make test`; CHAOSNIGHT_SAFETY_RUNS sets
// another (make safety-soak: 1000), CHAOSNIGHT_SAFETY_SEED replays one case.
const (
	ciRuns   = 100
	baseSeed = 1
)

// replay is the one-line command that replays the case of seed.
func replay(seed uint64) string {
	return fmt.Sprintf("CHAOSNIGHT_SAFETY_SEED=%d CHAOSNIGHT_SANDBOX=require go test -count=1 ./test/safety -run 'TestBlastRadius$' -v", seed)
}

// seeds are the cases to run: one replayed seed, or runs seeds from
// baseSeed (CHAOSNIGHT_SAFETY_FROM moves the start).
func seeds(t *testing.T) []uint64 {
	if s := os.Getenv("CHAOSNIGHT_SAFETY_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CHAOSNIGHT_SAFETY_SEED=%q: %v", s, err)
		}
		return []uint64{seed}
	}
	runs, from := ciRuns, uint64(baseSeed)
	if s := os.Getenv("CHAOSNIGHT_SAFETY_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("CHAOSNIGHT_SAFETY_RUNS=%q: a positive number", s)
		}
		runs = n
	}
	if s := os.Getenv("CHAOSNIGHT_SAFETY_FROM"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("CHAOSNIGHT_SAFETY_FROM=%q: %v", s, err)
		}
		from = n
	}
	out := make([]uint64, runs)
	for i := range out {
		out[i] = from + uint64(i)
	}
	return out
}

// tally is what the cases did, for the summary line.
type tally struct {
	cases, touched, planned, pdbRefused, violations, skipped int
	// pdbSeeds are the first cases whose dry run planned a pod a PDB then
	// refused (by design: see docs/safety-property.md), to replay one.
	pdbSeeds []uint64
}

// TestBlastRadius runs, per seed, a generated cluster and experiment: a
// dry run, then the real run with the same --seed on the unchanged
// cluster, and checks every invariant of the oracle (Check) against the
// API server, the journals and the Events.
func TestBlastRadius(t *testing.T) {
	s := sandbox.Require(t, sb)
	env := safety.Env{Kubeconfig: s.Kubeconfig, PrometheusURL: s.PrometheusURL, Dir: t.TempDir()}
	var sum tally
	start := time.Now()
	for _, seed := range seeds(t) {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			n, v, _, _ := runCase(t, s, env, safety.Generate(seed))
			sum.cases++
			sum.touched += n.touched
			sum.planned += n.planned
			sum.pdbRefused += n.pdbRefused
			if n.pdbRefused > 0 && len(sum.pdbSeeds) < 5 {
				sum.pdbSeeds = append(sum.pdbSeeds, seed)
			}
			sum.skipped += n.skipped
			sum.violations += len(v)
			for _, line := range v {
				t.Errorf("violation: %s", line)
			}
			if len(v) > 0 || t.Failed() {
				t.Logf("case:\n%s\nflags: %s\nreplay: %s", safety.YAML(safety.Generate(seed)), strings.Join(safety.Flags(safety.Generate(seed)), " "), replay(seed))
			}
		})
	}
	t.Logf("blast radius: %d cases, %d pods planned by dry runs, %d touched, %d refused by PDBs at eviction (seeds %v...), %d runs skipped, %d violations, %s",
		sum.cases, sum.planned, sum.touched, sum.pdbRefused, sum.pdbSeeds, sum.skipped, sum.violations, time.Since(start).Round(time.Second))
}

// runCase creates case k, runs it dry then real, observes, cleans up, and
// returns its figures, the invariants it breaks, the observation and the
// oracle.
func runCase(t *testing.T, s *sandbox.Sandbox, env safety.Env, k safety.Case) (tally, []string, safety.Observation, safety.Oracle) {
	ctx := t.Context()
	c := s.Client()
	o := safety.Compute(k)
	defer func() {
		// Cleanup with its own context: a failed case still cleans up.
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := safety.Cleanup(cctx, c, k); err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		if k.UsesSystem() {
			sandbox.WaitFor(t, time.Minute, "kube-public cleared", func() error { return safety.SystemClear(cctx, c, k) })
		}
	}()
	if err := safety.Create(ctx, c, k); err != nil {
		t.Fatal(err)
	}
	sandbox.WaitFor(t, 90*time.Second, "the generated cluster ready", func() error { return safety.Ready(ctx, c, k, o) })
	if err := safety.Terminate(ctx, c, k); err != nil {
		t.Fatal(err)
	}
	sandbox.WaitFor(t, 30*time.Second, "the terminating pods terminating", func() error { return safety.Terminated(ctx, c, k) })

	var ob safety.Observation
	var err error
	if ob.BeforeDry, err = safety.Pods(ctx, c, k); err != nil {
		t.Fatal(err)
	}
	_, dryOut, dry, err := safety.Run(ctx, env, k, true)
	if err != nil {
		t.Fatal(err)
	}
	if ob.Before, err = safety.Pods(ctx, c, k); err != nil {
		t.Fatal(err)
	}
	tr, err := safety.StartTrack(ctx, c, k)
	if err != nil {
		t.Fatal(err)
	}
	_, out, rec, err := safety.Run(ctx, env, k, false)
	if err != nil {
		t.Fatal(err)
	}
	if ob.InitialReady, ob.LeastReady, err = tr.Stop(ctx, c, k); err != nil {
		t.Fatal(err)
	}
	if ob.After, err = safety.Pods(ctx, c, k); err != nil {
		t.Fatal(err)
	}
	if ob.Events, err = safety.EventUIDs(ctx, c, rec.RunID); err != nil {
		t.Fatal(err)
	}
	real, planned := safety.Outcomes(rec), safety.Outcomes(dry)
	ob.Journal = union(real["evicted"], real["killed"])
	ob.PDBRefused = union(real["protected-by-pdb"])
	ob.Planned = union(planned["dry-run"])
	ob.Verdict, ob.DryVerdict = string(rec.Verdict), string(dry.Verdict)
	v := safety.Check(k, o, ob)
	if len(v) > 0 || os.Getenv("CHAOSNIGHT_SAFETY_SEED") != "" { // a replay shows everything
		t.Logf("case:\n%s\nflags: %s\noracle: may %v, why not %v, caps %v, maxTargets %d, pick %d of %d", safety.YAML(k), strings.Join(safety.Flags(k), " "),
			o.May, o.Why, o.GroupCap, o.MaxTargets, o.PickN, o.Selected)
		t.Logf("dry run output:\n%s\nreal run output:\n%s", dryOut, out)
	}
	n := tally{touched: len(ob.Journal), planned: len(ob.Planned), pdbRefused: len(ob.PDBRefused)}
	if rec.Verdict == "skipped" {
		n.skipped = 1
	}
	return n, v, ob, o
}

func union(sets ...map[string]bool) map[string]bool {
	out := map[string]bool{}
	for _, s := range sets {
		for k := range s {
			out[k] = true
		}
	}
	return out
}

// The invariants catch a wrong result in the real pipeline too, not only
// in the checker's unit test: seed 19 evicts pods of w19-d1 (5 ready,
// minHealthy 0, a PDB allowing 2 at a time, pick all; how many depends on
// how fast the replacements become Ready). Checked against an oracle made
// deliberately wrong, the same observation must break the invariants: the
// journal, the UIDs and the Events really hold the touched pods, and the
// watch really saw the ready pods dip.
func TestBlastRadiusCatchesAWrongOracle(t *testing.T) {
	s := sandbox.Require(t, sb)
	env := safety.Env{Kubeconfig: s.Kubeconfig, PrometheusURL: s.PrometheusURL, Dir: t.TempDir()}
	k := safety.GenerateNamed(19, "w19") // TestBlastRadius's seed 19 may still be deleting its namespaces
	_, v, ob, o := runCase(t, s, env, k)
	if len(v) > 0 {
		t.Fatalf("seed 19 breaks the right oracle: %v", v)
	}
	// How many of the 5 are evicted depends on how fast kwok's
	// replacements become Ready (the PDB allows 2 at a time): at least one,
	// and the ready pods dipped; the spoiled oracles are built from what
	// was seen.
	n, initial := len(ob.Journal), ob.InitialReady["w19-d1"]
	if n == 0 || ob.LeastReady["w19-d1"] >= initial {
		t.Fatalf("seed 19 no longer evicts pods of w19-d1 (journal %v, ready %d → least %d): pick another case", ob.Journal, initial, ob.LeastReady["w19-d1"])
	}
	t.Logf("seed 19 evicted %d pods of w19-d1, ready %d → least %d", n, initial, ob.LeastReady["w19-d1"])
	wrong := []struct {
		name  string
		spoil func(o *safety.Oracle)
		want  string
	}{
		{"w19-d1 not in the may-set", func(o *safety.Oracle) { delete(o.May, "w19-d1"); o.Why["w19-d1"] = "wrong on purpose" }, "decoy touched: w19-shop-staging/w19-d1-"},
		{"a stricter PDB", func(o *safety.Oracle) { o.PDBDesired["w19-d1"] = initial }, "the PodDisruptionBudget of w19-d1 fell to"},
		{"a higher minHealthy", func(o *safety.Oracle) { o.MinHealthy = initial }, "w19-d1 fell to"},
		{"a lower maxTargets", func(o *safety.Oracle) { o.MaxTargets = n - 1 }, fmt.Sprintf("%d pods touched, maxTargets is %d", n, n-1)},
	}
	for _, w := range wrong {
		bad := o
		bad.May, bad.Why, bad.PDBDesired = maps.Clone(o.May), maps.Clone(o.Why), maps.Clone(o.PDBDesired)
		w.spoil(&bad)
		if got := strings.Join(safety.Check(k, bad, ob), "\n"); !strings.Contains(got, w.want) {
			t.Errorf("%s: violations %q, want %q", w.name, got, w.want)
		}
	}
}
