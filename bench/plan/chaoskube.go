package main

// chaoskube measured in the same sandbox and scenarios as chaosnight's dry
// runs, interleaved with them (-chaoskube BIN; #19 point 3: like with like).
//
// What one chaoskube pass does (chaoskube/chaoskube.go at 58fc0b1,
// Chaoskube.Run → TerminateVictims → Victims → Candidates): one unpaginated
// JSON LIST of the pods matching --labels in every namespace (its client is
// cluster-scoped by default), one LIST of the namespaces matching
// --namespace-labels, then in memory: the --namespaces filter, the
// namespace-label filter, phase Running, not terminating, and one random pod
// per owner (filterByOwnerReference); then up to --max-kill of those at
// random. It logs "found victims" (debug) when the victims are chosen, then
// "terminating pod" for each (in a dry run it stops there), then "sleeping..."
// (debug) and waits for the next --interval tick or --max-runtime. It has no
// opt-in check beyond the namespace label filter and no minHealthy.
//
// Its "plan ready" is therefore the instant its "found victims" line reaches
// the bench (read from its stderr as it is written; chaoskube's own log
// timestamps have whole seconds only). The process itself lives until
// --max-runtime, so its wall time means nothing; its peak RSS (ru_maxrss,
// through the same launcher) and the API server's request counters over its
// life do.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chaosnight/chaosnight/bench/internal/cluster"
)

// chaoskubeMaxRuntime is how long a chaoskube dry run lives: its pass takes
// about a second at 10,000 pods, so this leaves room on a loaded machine
// while costing a few seconds per run. A pass cut short by it is an error.
const chaoskubeMaxRuntime = 6 * time.Second

// chaoskubeKillRuntime is how long a chaoskube kill run lives: 100
// DELETEs and 100 Events at its client's 5 requests/s take about 40 s.
const chaoskubeKillRuntime = 100 * time.Second

// chaoskubeRun is one chaoskube process.
type chaoskubeRun struct {
	scenario  scenario
	load      float64
	planReady time.Duration // process start → "found victims" read
	passDone  time.Duration // process start → "sleeping..." read (every victim logged; in a kill run, every DELETE returned)
	kill      bool          // --no-dry-run
	victims   int           // "terminating pod" lines
	maxRSS    int64
	requests  map[string]int
}

// errChaoskubePass is a chaoskube run that did not finish one pass.
type errChaoskubePass struct {
	reason string
	log    string
}

func (e *errChaoskubePass) Error() string {
	return "chaoskube did not plan: " + e.reason + "\n" + tail(e.log, 2000)
}

// chaoskubeArgs is the selection equivalent to the experiment of sc:
// app=bench, in the experiment's namespaces, opted-in namespaces only,
// victims as many as chaosnight picks; a dry run that makes one pass and
// exits at chaoskubeMaxRuntime; no metrics listener.
func chaoskubeArgs(kubeconfig string, sc scenario, maxKill int) []string {
	return chaoskubeArgsFor(kubeconfig, sc, maxKill, false)
}

// chaoskubeArgsFor is chaoskubeArgs, or with kill its real-kill twin:
// --no-dry-run, living chaoskubeKillRuntime.
func chaoskubeArgsFor(kubeconfig string, sc scenario, maxKill int, kill bool) []string {
	dry, runtime := "--dry-run", chaoskubeMaxRuntime
	if kill {
		dry, runtime = "--no-dry-run", chaoskubeKillRuntime
	}
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--labels=app=" + benchApp,
		"--namespace-labels=" + optInLabel + "=true",
		"--namespaces=" + strings.Join(cluster.Namespaces(sc.namespaces), ","),
		"--max-kill=" + strconv.Itoa(maxKill),
		dry,
		"--debug", // "found victims" and "sleeping..." are debug lines
		"--log-format=json",
		"--interval=1h",
		"--max-runtime=" + runtime.String(),
		"--metrics-address=",
	}
}

// picks is how many pods the experiment picks in sc: 1 % of the matching
// pods, as experimentYAML's `pick: {percent: 1}`.
func picks(sc scenario) int { return sc.namespaces * podsPerNS / 100 }

// stampedLines is an io.Writer that keeps each line with the time it was
// written: the child's stderr, read as the child writes it.
type stampedLines struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines []stampedLine
}

type stampedLine struct {
	at   time.Time
	text string
}

func (s *stampedLines) Write(p []byte) (int, error) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	for {
		line, err := s.buf.ReadString('\n')
		if err != nil { // no newline yet: keep the partial line
			s.buf.Reset()
			s.buf.WriteString(line)
			return len(p), nil
		}
		s.lines = append(s.lines, stampedLine{at: now, text: strings.TrimSuffix(line, "\n")})
	}
}

func (s *stampedLines) snapshot() []stampedLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]stampedLine(nil), s.lines...)
}

func (s *stampedLines) String() string {
	var b strings.Builder
	for _, l := range s.snapshot() {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return b.String()
}

// chaoskubePass reads one pass from chaoskube's JSON log lines: when the
// victims were chosen, when the pass ended, how many victims it logged.
func chaoskubePass(start time.Time, lines []stampedLine, log string) (planReady, passDone time.Duration, victims int, err error) {
	var found, slept bool
	for _, l := range lines {
		var entry struct {
			Msg   string `json:"msg"`
			Level string `json:"level"`
			Err   string `json:"err"`
		}
		if json.Unmarshal([]byte(l.text), &entry) != nil {
			continue
		}
		switch {
		case entry.Level == "error" || entry.Level == "fatal":
			return 0, 0, 0, &errChaoskubePass{reason: entry.Msg + ": " + entry.Err, log: log}
		case entry.Msg == "found victims" && !found:
			found, planReady = true, l.at.Sub(start)
		case entry.Msg == "terminating pod" && found && !slept:
			victims++
		case entry.Msg == "sleeping..." && found && !slept:
			slept, passDone = true, l.at.Sub(start)
		}
	}
	if !found || !slept {
		return 0, 0, 0, &errChaoskubePass{reason: "no whole pass (\"found victims\" … \"sleeping...\") in its log", log: log}
	}
	return planReady, passDone, victims, nil
}

// runChaoskube runs one chaoskube dry run of sc through the rusage launcher.
func (b *bench) runChaoskube(ctx context.Context, sc scenario, kill bool) (chaoskubeRun, error) {
	kr := chaoskubeRun{scenario: sc, kill: kill}
	want := picks(sc)
	before, err := b.apiRequests(ctx)
	if err != nil {
		return kr, err
	}
	var stdout bytes.Buffer
	var stderr stampedLines
	kr.load = loadAverage()
	start := time.Now()
	kr.maxRSS, err = b.measure(ctx, b.chaoskube, &stdout, &stderr, nil, chaoskubeArgsFor(b.sb.Kubeconfig, sc, want, kill)...)
	if err != nil {
		return kr, fmt.Errorf("chaoskube: %w\n%s", err, tail(stderr.String(), 2000))
	}
	if kr.planReady, kr.passDone, kr.victims, err = chaoskubePass(start, stderr.snapshot(), stderr.String()); err != nil {
		return kr, err
	}
	if kr.victims != want {
		return kr, &errChaoskubePass{reason: fmt.Sprintf("%d victims, want %d", kr.victims, want), log: stderr.String()}
	}
	after, err := b.apiRequests(ctx)
	if err != nil {
		return kr, err
	}
	kr.requests = cluster.Delta(before, after)
	return kr, nil
}

// chaoskubeBinary checks BIN and reads its version (`--version`: the
// commit it was built from, when built with -X main.version=COMMIT).
func chaoskubeBinary(ctx context.Context, bin string) (binary, string, error) {
	path, err := filepath.Abs(bin)
	if err != nil {
		return binary{}, "", fmt.Errorf("-chaoskube: %w", err)
	}
	out, err := exec.CommandContext(ctx, path, "--version").CombinedOutput()
	if err != nil {
		return binary{}, "", fmt.Errorf("-chaoskube %s --version: %w: %s", path, err, out)
	}
	version := strings.TrimSpace(string(out))
	if version == "" {
		return binary{}, "", errors.New("-chaoskube: empty --version")
	}
	return binary{label: "chaoskube", path: path}, version, nil
}

// measureChaoskube runs chaoskube's dry run of sc once, after chaosnight's
// run i of the same scenario (interleaved: the machine's noise hits both).
func (b *bench) measureChaoskube(ctx context.Context, sc scenario, i int) error {
	kr, err := b.runChaoskube(ctx, sc, false)
	if err != nil {
		return err
	}
	b.chaoskubeRuns = append(b.chaoskubeRuns, kr)
	b.logf("%s, chaoskube, run %d/%d: plan ready %s, pass done %s, %d victims, %d API requests (%s), peak RSS %.1f MiB, load %.1f",
		sc.label, i+1, b.opts.runs, kr.planReady.Round(time.Millisecond), kr.passDone.Round(time.Millisecond), kr.victims,
		cluster.Sum(kr.requests), cluster.Describe(kr.requests), mib(kr.maxRSS), kr.load)
	return nil
}

// measureChaoskubeKills runs chaoskube's one pass for real: --max-kill 100
// over the 100 namespaces (one pod per ReplicaSet, 100 of them), at its
// client's default rate. The kill time is "found victims" → "sleeping...":
// the 100 DELETEs, one after the other; its Events go out through the same
// client asynchronously and may still be queued at "sleeping...".
func (b *bench) measureChaoskubeKills(ctx context.Context) error {
	sc := scenario{label: "100 kills", namespaces: nsBig}
	kr, err := b.runChaoskube(ctx, sc, true)
	if err != nil {
		return err
	}
	b.chaoskubeKills = append(b.chaoskubeKills, kr)
	b.logf("chaoskube, 100 kills: victims chosen at %s, pass done at %s (%s for the kills), %d victims, %d API requests (%s), peak RSS %.1f MiB",
		kr.planReady.Round(time.Millisecond), kr.passDone.Round(time.Millisecond), (kr.passDone - kr.planReady).Round(time.Millisecond),
		kr.victims, cluster.Sum(kr.requests), cluster.Describe(kr.requests), mib(kr.maxRSS))
	if kr.requests["DELETE pods"] < picks(sc) {
		return fmt.Errorf("chaoskube kills: %d DELETE pods seen by the API server, want %d", kr.requests["DELETE pods"], picks(sc))
	}
	return nil
}
