package chart_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// haValues install a live runner whose hourly night plays three short
// evictions of one shop/frontend pod (2 replicas, minHealthy 1), in this
// order. The window, the cooldown and ha-second's duration leave tens of
// seconds of slack for a busy machine (the steps take about 25 s here). The
// cooldown keeps the first leader from starting the second
// experiment before the test moves leadership (a new leader does not know
// when the last run ended, so it does not wait), and the window is long
// enough for the second experiment to fit after it.
const haValues = `
dryRun: false
rbac:
  namespaces: [shop]
nights:
  - name: hourly
    opens: "0 * * * *"
    lasts: 60s
    timezone: UTC
    cooldown: 12s
    experiments: {names: [ha-first, ha-second, ha-third]}
experiments:
  ha-first: |` + haExperiment + `
  ha-second: |` + haExperiment + `
  ha-third: |` + haExperiment

// haExperiment is one experiment of haValues; the test gives each its name
// and length.
const haExperiment = `
    apiVersion: chaosnight.dev/v1alpha1
    kind: Experiment
    metadata:
      name: NAME
    spec:
      description: Evicting one frontend pod every 3 s leaves frontend available.
      hypothesis:
        probes:
          - name: frontend-available
            query: kube_deployment_status_replicas_available{namespace="shop",deployment="frontend"}
            expect: {atLeast: 1}
      target:
        namespaces: [shop]
        selector: app=frontend
        pick: {count: 1}
      action:
        podKill: {method: evict, every: 3s}
      duration: DURATION
      probeInterval: 1s
      recovery: 2s
      safety: {maxTargets: 1, minHealthy: 1}
`

// haNight returns haValues with each experiment's name and duration: the
// second one lasts long enough to be still injecting when the test stops
// its leader.
func haNight(t *testing.T) map[string]any {
	t.Helper()
	v := vals(t, haValues)
	exps := v["experiments"].(map[string]any)
	for name, duration := range map[string]string{"ha-first": "3s", "ha-second": "15s", "ha-third": "3s"} {
		doc := strings.Replace(exps[name].(string), "name: NAME", "name: "+name, 1)
		exps[name] = strings.Replace(doc, "duration: DURATION", "duration: "+duration, 1)
	}
	return v
}

// TestServeLeadershipABA moves leadership between two real `chaosnight
// serve` processes (same Lease, different --identity, the chart's rights)
// while a window is open: A plays ha-first; SIGTERM A, B leads and starts
// ha-second; A starts again (a new process, same identity) and follows;
// SIGTERM B, which aborts and reverts ha-second before it releases the
// Lease; A leads again and plays ha-third only. The journals (one
// directory per process), the runner state ConfigMap, the Events and the
// Lease must show every experiment played exactly once, and the runs'
// inject-to-end intervals never overlapping across processes.
func TestServeLeadershipABA(t *testing.T) {
	s := sandbox.Require(t, sb)
	// Not parallel: Go runs it before the package's parallel tests, alone.
	// Its runners start at moments spread over the test, and each sweeps
	// shop for orphan stress helpers at start: one of TestStressNight's,
	// whose run Lease this release may not read, would be kept with a
	// "forbidden" warning that checkNotForbidden counts.
	ctx := t.Context()
	admin := s.Client()
	const ns, name = "chaosnight-ha", "chaosnight-ha"
	const idA, idB = "runner-a", "runner-b"

	binDir := t.TempDir()
	bin := filepath.Join(binDir, "chaosnight")
	built := make(chan error, 1)
	go func() { built <- buildChaosnight(ctx, bin) }()

	ensureNamespace(ctx, t, admin, ns)
	inst := action.NewInstall(helmConfig(t, s, ns))
	inst.ReleaseName, inst.Namespace = name, ns
	if _, err := inst.RunWithContext(ctx, loadChart(t), haNight(t)); err != nil {
		t.Fatalf("helm install: %v", err)
	}
	t.Cleanup(func() { _, _ = action.NewUninstall(helmConfig(t, s, ns)).Run(name) })
	files := releaseFiles(ctx, t, s, ns, name)
	decoys, err := sandbox.SnapshotDecoys(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-built; err != nil {
		t.Fatal(err)
	}

	// Every process sees the same clock, shifted so that the window opened
	// a second ago.
	now := time.Now()
	offset := now.Truncate(time.Hour).Add(time.Hour).Sub(now) + time.Second
	journalDir := func(p string) string { return filepath.Join(files.dir, "journals-"+p) }
	start := func(proc, identity string) *serveProcess {
		return startServe(t, s, bin, proc, files, nil, "--identity", identity, "--journal-dir", journalDir(proc),
			"--clock-offset", offset.String(), "--tick", "250ms")
	}

	a1 := start("a1", idA)
	var transitions int32 // of the Lease when A first holds it
	sandbox.WaitFor(t, 20*time.Second, "A to hold the Lease", func() error {
		var err error
		transitions, err = leaseHeldBy(ctx, s, ns, idA)
		return err
	})
	b := start("b", idB)
	sandbox.WaitFor(t, 20*time.Second, "B to follow A", func() error { return following(b, idA) })
	sandbox.WaitFor(t, 30*time.Second, "ha-first to end on A", func() error { return ended(journalDir("a1"), "ha-first") })
	if n := len(readJournals(t, journalDir("a1"))["ha-second"]); n > 0 {
		t.Fatalf("A started ha-second before the test stopped it (cooldown too short for this machine)")
	}

	a1.stop(t) // A to B
	sandbox.WaitFor(t, 20*time.Second, "ha-second to inject on B", func() error {
		return injecting(journalDir("b"), "ha-second")
	})
	a2 := start("a2", idA)
	sandbox.WaitFor(t, 20*time.Second, "the new A to follow B", func() error { return following(a2, idB) })
	if err := injecting(journalDir("b"), "ha-second"); err != nil {
		t.Fatalf("ha-second no longer in flight on B when the test stops B (make it longer): %v", err)
	}
	b.stop(t) // B to A: ha-second aborts and reverts on B first
	sandbox.WaitFor(t, 30*time.Second, "ha-third to end on the new A", func() error {
		return ended(journalDir("a2"), "ha-third")
	})

	// The shared state names each experiment of the window once (read
	// before the window closes: the runner forgets a closed window).
	state, err := admin.CoreV1().ConfigMaps(ns).Get(ctx, "chaosnight-state", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if logged(a2, "window closed", "") {
		t.Fatal("the window closed before the test read the runner state (the machine is too slow for the window)")
	}
	if len(state.Data) != 1 {
		t.Errorf("runner state has %d window(s), want 1: %v", len(state.Data), state.Data)
	}
	for key, v := range state.Data {
		var done []string
		if err := json.Unmarshal([]byte(v), &done); err != nil {
			t.Fatalf("state %s: %v", key, err)
		}
		slices.Sort(done)
		if got := strings.Join(done, ","); got != "ha-first,ha-second,ha-third" {
			t.Errorf("state of window %s: %s, want each experiment once", key, got)
		}
	}

	// Nothing else can be played once the window has closed: the new A
	// records no skip at the close (everything was played) and stops.
	sandbox.WaitFor(t, 75*time.Second, "the window to close on the new A", func() error {
		if logged(a2, "window closed", "") {
			return nil
		}
		return errors.New("not closed")
	})
	a2.stop(t)
	for _, p := range []*serveProcess{a1, b, a2} {
		p.checkNotForbidden(t)
	}

	// The journals: each experiment once, on the process that led.
	want := map[string]map[string]journal.Verdict{
		"a1": {"ha-first": ""},
		"b":  {"ha-second": journal.Aborted},
		"a2": {"ha-third": ""},
	}
	var runs []haRun
	for proc, exps := range want {
		got := readJournals(t, journalDir(proc))
		for exp, recs := range got {
			if _, ok := exps[exp]; !ok {
				t.Errorf("%s journaled %s (%d record(s)): only %v were its to play", proc, exp, len(recs), slices.Sorted(maps.Keys(exps)))
			}
		}
		for exp, verdict := range exps {
			recs := got[exp]
			if len(recs) != 1 {
				t.Errorf("%s: %d journal(s) of %s, want 1", proc, len(recs), exp)
				continue
			}
			rec := recs[0]
			if rec.DryRun {
				t.Errorf("%s: %s was a dry run", proc, exp)
			}
			if verdict != "" && rec.Verdict != verdict {
				t.Errorf("%s: %s ended %s %v, want %s", proc, exp, rec.Verdict, rec.Reasons, verdict)
			}
			run := haRun{proc: proc, rec: rec}
			run.from, run.to = injectingInterval(rec)
			if run.from.IsZero() {
				t.Errorf("%s: %s injected nothing (%s %v)", proc, exp, rec.Verdict, rec.Reasons)
				continue
			}
			runs = append(runs, run)
		}
	}

	// At no moment did two processes inject: from its first injection to
	// its end (revert included), no run overlaps another.
	slices.SortFunc(runs, func(x, y haRun) int { return x.from.Compare(y.from) })
	for i := 1; i < len(runs); i++ {
		prev, next := runs[i-1], runs[i]
		if !prev.to.Before(next.from) {
			t.Errorf("%s on %s (%s to %s) overlaps %s on %s (from %s)",
				prev.rec.Experiment.Metadata.Name, prev.proc, prev.from.Format(time.StampMilli), prev.to.Format(time.StampMilli),
				next.rec.Experiment.Metadata.Name, next.proc, next.from.Format(time.StampMilli))
		}
	}

	// The cluster's record: one start and one verdict Event per experiment,
	// for the run of its journal, and one ChaosInjected Event per pod each
	// run evicted.
	evs, err := admin.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	started, verdicts := map[string][]string{}, map[string][]string{}
	expOf := regexp.MustCompile(`experiment "([^"]+)"`)
	for _, e := range evs.Items {
		m := expOf.FindStringSubmatch(e.Message)
		if m == nil || !strings.HasPrefix(e.Reason, "Experiment") {
			continue
		}
		if e.Reason == "ExperimentStarted" {
			started[m[1]] = append(started[m[1]], e.Message)
		} else {
			verdicts[m[1]] = append(verdicts[m[1]], e.Reason+": "+e.Message)
		}
	}
	for _, run := range runs {
		exp, id := run.rec.Experiment.Metadata.Name, run.rec.RunID
		if len(started[exp]) != 1 || !strings.Contains(started[exp][0], id) {
			t.Errorf("%s: ExperimentStarted events %q, want one for run %s", exp, started[exp], id)
		}
		if len(verdicts[exp]) != 1 || !strings.Contains(verdicts[exp][0], id) {
			t.Errorf("%s: verdict events %q, want one for run %s", exp, verdicts[exp], id)
		}
		victims, err := admin.CoreV1().Events("shop").List(ctx, metav1.ListOptions{LabelSelector: "chaosnight.dev/run=" + id})
		if err != nil {
			t.Fatal(err)
		}
		if touched := touchedOutcomes(run.rec); len(victims.Items) != touched {
			t.Errorf("%s: %d ChaosInjected events in shop, want one per pod evicted (%d)", exp, len(victims.Items), touched)
		}
	}

	// The Lease moved exactly twice after A first took it (A to B, B to
	// A) and is free now.
	lease, err := admin.CoordinationV1().Leases(ns).Get(ctx, "chaosnight-runner", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := deref(lease.Spec.LeaseTransitions); got != transitions+2 {
		t.Errorf("Lease transitions %d, want %d (A to B to A, from %d when A first led)", got, transitions+2, transitions)
	}
	if h := lease.Spec.HolderIdentity; h != nil && *h != "" {
		t.Errorf("Lease still held by %s after every runner stopped", *h)
	}
	if err := decoys.Verify(ctx, admin); err != nil {
		t.Errorf("decoys: %v", err)
	}
}

// haRun is one journaled run and when it could inject.
type haRun struct {
	proc     string
	rec      *journal.Record
	from, to time.Time
}

// injectingInterval is the span of a run during which it injected or could
// have: from the start of its first injection to the end of the run (the
// revert and the recovery check included). Zero if it injected nothing.
func injectingInterval(rec *journal.Record) (from, to time.Time) {
	for _, p := range rec.Phases {
		if p.Name == journal.PhaseInject {
			from = p.Started
			break
		}
	}
	if from.IsZero() || len(rec.Injections) == 0 {
		return time.Time{}, time.Time{}
	}
	return from, rec.Ended
}

func touchedOutcomes(rec *journal.Record) int {
	n := 0
	for _, inj := range rec.Injections {
		for _, o := range inj.Outcomes {
			if inject.Touched(o.Status) {
				n++
			}
		}
	}
	return n
}

// leaseHeldBy returns the leader Lease's transitions once it names
// identity, else an error.
func leaseHeldBy(ctx context.Context, s *sandbox.Sandbox, ns, identity string) (int32, error) {
	l, err := s.Client().CoordinationV1().Leases(ns).Get(ctx, "chaosnight-runner", metav1.GetOptions{})
	if err != nil {
		return 0, err
	}
	if h := deref(l.Spec.HolderIdentity); h != identity {
		return 0, fmt.Errorf("held by %q", h)
	}
	return deref(l.Spec.LeaseTransitions), nil
}

// deref is *p, or the zero value for nil (Lease fields are pointers).
func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// following returns nil once serve has logged that it follows leader.
func following(p *serveProcess, leader string) error {
	if logged(p, "following", `"leader":"`+leader+`"`) {
		return nil
	}
	select {
	case <-p.exited:
		return fmt.Errorf("serve (%s) exited: %v", p.name, p.err)
	default:
	}
	return fmt.Errorf("serve (%s) does not follow %s yet", p.name, leader)
}

// logged reports whether serve logged msg, with attr (a JSON "key":value)
// if not empty.
func logged(p *serveProcess, msg, attr string) bool {
	for line := range strings.Lines(p.out.String()) {
		if strings.Contains(line, `"msg":"`+msg+`"`) && strings.Contains(line, attr) {
			return true
		}
	}
	return false
}

// readJournals returns the readable journals of dir by experiment (a
// checkpoint being replaced is skipped).
func readJournals(t *testing.T, dir string) map[string][]*journal.Record {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*journal.Record{}
	for _, f := range files {
		rec, err := journal.Read(f)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			t.Logf("journal %s: %v", f, err)
			continue
		}
		name := rec.Experiment.Metadata.Name
		out[name] = append(out[name], rec)
	}
	return out
}

// ended returns nil once dir holds one finished journal of exp.
func ended(dir, exp string) error {
	rec, err := onlyJournal(dir, exp)
	if err != nil {
		return err
	}
	if rec.Verdict == journal.Running || rec.Verdict == "" {
		return fmt.Errorf("%s is %s", exp, rec.Verdict)
	}
	return nil
}

// injecting returns nil while dir's only journal of exp is running and
// has injected.
func injecting(dir, exp string) error {
	rec, err := onlyJournal(dir, exp)
	if err != nil {
		return err
	}
	if rec.Verdict != journal.Running || len(rec.Injections) == 0 {
		return fmt.Errorf("%s: verdict %q, %d injection(s)", exp, rec.Verdict, len(rec.Injections))
	}
	return nil
}

func onlyJournal(dir, exp string) (*journal.Record, error) {
	files, _ := filepath.Glob(filepath.Join(dir, "*_"+exp+".json"))
	if len(files) != 1 {
		return nil, fmt.Errorf("%d journal(s) of %s in %s", len(files), exp, dir)
	}
	return journal.Read(files[0])
}
