package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/chaosnight/chaosnight/bench/internal/proc"
	"github.com/chaosnight/chaosnight/pkg/journal"
)

// The latency night: one window a minute, 28 s long. Its plan is
// pause-a (12 s + 3 s recovery) and close-b (10 s + 5 s); both fit the
// window on their own, not one after the other, so close-b starts only
// after pause-a is aborted by the pause.
const (
	nightName   = "bench"
	windowLasts = 28 * time.Second
	expA        = "pause-a"
	expB        = "close-b"
	// gateOpens is when, after the opening, the gate lets close-b's
	// preflight queries through: its observation then runs from about
	// T+21 s to T+31 s, and the window closes at T+28 s in the middle.
	gateOpens = 21 * time.Second
	// pauseAfter is how long pause-a observes before the pause (plus
	// i/cycles of 500 ms in window i: the phase of the kill-switch poll, when the runner polled; it now watches).
	pauseAfter     = 2 * time.Second
	killSwitchPoll = 500 * time.Millisecond
)

func latencyConfig() string {
	return fmt.Sprintf(`# bench/serve: one 28 s window a minute
experiments: experiments
nights:
  - name: %s
    opens: "* * * * *"
    lasts: %s
    timezone: UTC
    experiments: {names: [%s, %s]}
`, nightName, windowLasts, expA, expB)
}

// evictExperiment is the integration tests' experiment: evict one
// checkout pod of three, hypothesis on checkout's 5xx ratio over 10 s.
func evictExperiment(name string, duration, recovery time.Duration) string {
	return fmt.Sprintf(`apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata:
  name: %s
  labels: {bench: serve-latency}
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

// clockMode is what the binary does with --clock-offset, found out in the
// first cycle.
type clockMode struct {
	known   bool
	honored bool
}

// cycleResult is one window: the start latency of pause-a, the pause of
// pause-a, the close in the middle of close-b.
type cycleResult struct {
	offset       time.Duration // --clock-offset given
	honored      bool          // the runner's clock was shifted by it
	opens        time.Time     // the window's opening in real time (T)
	startLatency time.Duration // pause-a's journal "started" − T

	pauseCmd          time.Duration // how long `chaosnight pause` took
	pauseToObserveEnd time.Duration // pause-a's observe end − pause issued (the command's start)
	pauseToRevertEnd  time.Duration // pause-a's revert end − pause issued (the command's start)
	pauseVerdict      string

	closeToObserveEnd time.Duration // close-b's observe end − close (T+28 s)
	closeToRevertEnd  time.Duration // close-b's revert end − close
	closeVerdict      string
	closeInto         time.Duration // how long close-b had observed at the close
	gateHeld          int64         // Prometheus queries the gate held
	err               error
}

// status is the part of serve's /status the bench reads.
type status struct {
	NextNights []struct {
		Night  string    `json:"night"`
		Opens  time.Time `json:"opens"`
		Closes time.Time `json:"closes"`
		Open   bool      `json:"open"`
	} `json:"nextNights"`
}

type latencyBench struct {
	bin        string
	kubeconfig string
	dir        string // config and experiments
	gate       *gate
	lead       time.Duration
	cycles     int
	log        func(format string, args ...any)
}

func (b *latencyBench) prepare() (string, error) {
	exps := filepath.Join(b.dir, "experiments")
	if _, err := writeFile(exps, expA+".yaml", evictExperiment(expA, 12*time.Second, 3*time.Second)); err != nil {
		return "", err
	}
	if _, err := writeFile(exps, expB+".yaml", evictExperiment(expB, 10*time.Second, 5*time.Second)); err != nil {
		return "", err
	}
	return writeFile(b.dir, "chaosnight.yaml", latencyConfig())
}

// run plays b.cycles windows, each with a fresh serve process.
func (b *latencyBench) run(ctx context.Context) ([]cycleResult, error) {
	cfg, err := b.prepare()
	if err != nil {
		return nil, err
	}
	var mode clockMode
	var out []cycleResult
	for i := range b.cycles {
		res := b.cycle(ctx, cfg, i, &mode)
		if res.err != nil {
			b.log("cycle %d: %v", i+1, res.err)
		} else {
			b.log("cycle %d: start %v, pause→revert %v, close→revert %v", i+1,
				res.startLatency.Round(time.Millisecond), res.pauseToRevertEnd.Round(time.Millisecond), res.closeToRevertEnd.Round(time.Millisecond))
		}
		out = append(out, res)
		if ctx.Err() != nil {
			return out, fmt.Errorf("interrupted: %w", ctx.Err())
		}
	}
	return out, nil
}

// cycle runs one serve process through one window.
//
// The clock offset: the runner's clock is real time + offset. Until the
// first cycle has shown whether the binary applies --clock-offset, serve
// starts `lead` before a real minute with an offset of exactly 10 minutes:
// a shifted or unshifted `* * * * *` then opens at the same real instant.
// If the offset is applied, later cycles start at once with
// offset = M − (now + lead), M the next whole minute, so the window opens
// `lead` after the start; if not, every cycle waits for the real minute.
// Either way T (real) = the opening /status reports − the offset the
// runner applies (0 when it ignores the flag). Each cycle's start is
// moved by i/cycles of the 1 s decision tick, so that the samples cover
// the tick's phase instead of repeating one.
func (b *latencyBench) cycle(ctx context.Context, cfg string, i int, mode *clockMode) (res cycleResult) {
	var startAt time.Time
	startAt, res.offset = b.cycleStart(i, mode)
	if err := proc.SleepUntil(ctx, startAt); err != nil {
		res.err = err
		return res
	}
	jdir := filepath.Join(b.dir, fmt.Sprintf("journals-%d", i+1))
	c, err := startServe(ctx, b.bin, filepath.Join(b.dir, fmt.Sprintf("serve-%d.log", i+1)),
		"--config", cfg,
		"--kubeconfig", b.kubeconfig,
		"--namespace", "default",
		// The one kill switch lives in killSwitch.namespace (default
		// "chaosnight", which the sandbox does not have): here, default.
		"--kill-switch-namespace", "default",
		"--prometheus-url", b.gate.url(),
		"--prometheus-timeout", "30s", // the gate holds queries up to ~20 s
		"--dry-run=false",
		"--journal-dir", jdir,
		"--leader-elect=false",
		"--clock-offset", res.offset.String(),
	)
	if err != nil {
		res.err = err
		return res
	}
	defer func() {
		b.gate.disarm()
		if err := c.stop(); err != nil {
			res.err = errors.Join(res.err, err)
		}
		if res.err != nil {
			res.err = fmt.Errorf("%w\nserve log:\n%s", res.err, proc.Tail(c.logPath, 15))
		}
	}()

	applied, err := b.windowOpening(ctx, c, mode, &res)
	if err != nil {
		res.err = err
		return res
	}
	// Journal times come from the engine's clock; if it ever follows the
	// shifted clock, shift them back.
	realOf := func(t time.Time) time.Time {
		if applied > 0 && time.Until(t) > applied/2 {
			return t.Add(-applied)
		}
		return t
	}
	a, err := b.measurePause(ctx, jdir, i, realOf, &res)
	if err != nil {
		res.err = err
		return res
	}
	bRec, err := b.measureClose(ctx, jdir, realOf, &res)
	if err != nil {
		res.err = err
		return res
	}
	res.err = checkCycle(a, bRec)
	return res
}

// cycleStart is when cycle i starts serve and the clock offset it gives
// it: with an honoured --clock-offset, now, and an offset that puts the
// window's opening b.lead (plus a stagger) ahead; otherwise the real minute
// boundary minus the lead, and an offset serve will ignore.
func (b *latencyBench) cycleStart(i int, mode *clockMode) (startAt time.Time, offset time.Duration) {
	stagger := time.Duration(i) * time.Second / time.Duration(b.cycles)
	if mode.known && mode.honored {
		startAt = time.Now()
		target := startAt.Add(b.lead + stagger)
		return startAt, target.Truncate(time.Minute).Add(time.Minute).Sub(target)
	}
	next := time.Now().Truncate(time.Minute).Add(time.Minute)
	startAt = next.Add(-b.lead - stagger)
	if time.Until(startAt) < 200*time.Millisecond {
		startAt = startAt.Add(time.Minute)
	}
	return startAt, 10 * time.Minute
}

// windowOpening reads T, the window's opening in real time, from the
// opening the runner itself computed (res.opens), learns whether serve
// honours the clock offset (the first cycle sets mode), and returns the
// offset applied to the runner's clock.
func (b *latencyBench) windowOpening(ctx context.Context, c *child, mode *clockMode, res *cycleResult) (applied time.Duration, err error) {
	var st status
	if err := c.getJSON(ctx, "/status", &st); err != nil {
		return 0, err
	}
	var opens time.Time
	for _, n := range st.NextNights {
		if n.Night == nightName {
			if n.Open {
				return 0, errors.New("the window is already open at the start")
			}
			opens = n.Opens
		}
	}
	if opens.IsZero() {
		return 0, fmt.Errorf("/status shows no night %q: %+v", nightName, st)
	}
	now := time.Now()
	res.honored = opens.Add(-res.offset).After(now.Add(-2 * time.Second))
	if !mode.known {
		*mode = clockMode{known: true, honored: res.honored}
	}
	if res.honored {
		applied = res.offset
	}
	res.opens = opens.Add(-applied)
	if d := res.opens.Sub(now); d < 0 || d > b.lead+2*time.Second {
		return applied, fmt.Errorf("the window opens %v from now, expected about %v (offset %v, applied %v)", d, b.lead, res.offset, applied)
	}
	return applied, nil
}

// measurePause measures 1. the start latency of the first experiment and
// 2. how fast a pause ends it: the kill switch command and its phases'
// ends. It returns the first experiment's record.
func (b *latencyBench) measurePause(ctx context.Context, jdir string, i int, realOf func(time.Time) time.Time, res *cycleResult) (*journal.Record, error) {
	T := res.opens
	a, err := waitRecord(ctx, jdir, expA, T.Add(15*time.Second), func(r *journal.Record) bool { return inPhase(r, journal.PhaseObserve) })
	if err != nil {
		return nil, err
	}
	res.startLatency = realOf(a.Started).Sub(T)
	if err := proc.Sleep(ctx, pauseAfter+time.Duration(i)*killSwitchPoll/time.Duration(b.cycles)); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if err := b.killSwitch(ctx, "pause", "--reason", "bench/serve pause latency"); err != nil {
		return nil, err
	}
	pausedAt := time.Now()
	res.pauseCmd = pausedAt.Sub(t0)
	a, err = waitRecord(ctx, jdir, expA, pausedAt.Add(10*time.Second), finished)
	if err != nil {
		return nil, errors.Join(err, b.killSwitch(context.WithoutCancel(ctx), "resume"))
	}
	res.pauseVerdict = string(a.Verdict)
	// From the instant the command was issued, as a user who types
	// `chaosnight pause` experiences it: the command's own start (process,
	// client, the ConfigMap update) is part of the latency.
	res.pauseToObserveEnd = realOf(phaseEnd(a, journal.PhaseObserve)).Sub(t0)
	res.pauseToRevertEnd = realOf(phaseEnd(a, journal.PhaseRevert)).Sub(t0)
	return a, nil
}

// measureClose measures 3. how fast the window's close ends the second
// experiment: close-b's preflight is held until T+21 s, then the switch is
// released. It returns the second experiment's record.
func (b *latencyBench) measureClose(ctx context.Context, jdir string, realOf func(time.Time) time.Time, res *cycleResult) (*journal.Record, error) {
	T := res.opens
	b.gate.held.Store(0)
	b.gate.arm(T.Add(gateOpens))
	if err := b.killSwitch(ctx, "resume"); err != nil {
		return nil, err
	}
	closesAt := T.Add(windowLasts)
	bRec, err := waitRecord(ctx, jdir, expB, closesAt.Add(15*time.Second), finished)
	if err != nil {
		return nil, err
	}
	res.gateHeld = b.gate.held.Load()
	res.closeVerdict = string(bRec.Verdict)
	res.closeInto = closesAt.Sub(realOf(phaseStart(bRec, journal.PhaseObserve)))
	res.closeToObserveEnd = realOf(phaseEnd(bRec, journal.PhaseObserve)).Sub(closesAt)
	res.closeToRevertEnd = realOf(phaseEnd(bRec, journal.PhaseRevert)).Sub(closesAt)
	return bRec, nil
}

// checkCycle says what went wrong in a cycle whose figures do not measure
// what they should: the pause must have aborted and reverted the first
// experiment, the close the second.
func checkCycle(a, bRec *journal.Record) error {
	var problems []string
	if a.Verdict != journal.Aborted || phaseEnd(a, journal.PhaseRevert).IsZero() {
		problems = append(problems, fmt.Sprintf("%s: %s %v, want aborted and reverted by the pause", expA, a.Verdict, a.Reasons))
	}
	if bRec.Verdict != journal.Aborted || !strings.Contains(strings.Join(bRec.Reasons, " "), "window closed") ||
		phaseEnd(bRec, journal.PhaseRevert).IsZero() || phaseStart(bRec, journal.PhaseObserve).IsZero() {
		problems = append(problems, fmt.Sprintf("%s: %s %v, want aborted by the close and reverted", expB, bRec.Verdict, bRec.Reasons))
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// killSwitch runs `chaosnight pause|resume` against the sandbox.
func (b *latencyBench) killSwitch(ctx context.Context, verb string, args ...string) error {
	full := append([]string{verb, "--kill-switch-namespace", "default", "--kubeconfig", b.kubeconfig}, args...)
	out, err := exec.CommandContext(ctx, b.bin, full...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("chaosnight %s: %w: %s", verb, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// waitRecord polls dir for the journal of experiment name until cond
// holds, or deadline.
func waitRecord(ctx context.Context, dir, name string, deadline time.Time, cond func(*journal.Record) bool) (*journal.Record, error) {
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*_"+name+".json"))
		var last *journal.Record
		for _, f := range files {
			rec, err := journal.Read(f)
			if err != nil {
				continue // being replaced
			}
			if rec.Experiment.Metadata.Name == name {
				last = rec
				if cond(rec) {
					return rec, nil
				}
			}
		}
		if time.Now().After(deadline) {
			if last != nil {
				return nil, fmt.Errorf("%s: timed out in verdict %q, phases %s, reasons %v", name, last.Verdict, phaseNames(last), last.Reasons)
			}
			entries, _ := os.ReadDir(dir)
			return nil, fmt.Errorf("%s: no journal by the deadline (%d file(s) in %s)", name, len(entries), dir)
		}
		if err := proc.Sleep(ctx, 20*time.Millisecond); err != nil {
			return nil, err
		}
	}
}

func inPhase(rec *journal.Record, phase string) bool {
	return len(rec.Phases) > 0 && rec.Phases[len(rec.Phases)-1].Name == phase
}

func finished(rec *journal.Record) bool {
	return rec.Verdict != journal.Running && rec.Verdict != ""
}

func phaseEnd(rec *journal.Record, name string) time.Time {
	var t time.Time
	for _, p := range rec.Phases {
		if p.Name == name {
			t = p.Ended
		}
	}
	return t
}

func phaseStart(rec *journal.Record, name string) time.Time {
	var t time.Time
	for _, p := range rec.Phases {
		if p.Name == name {
			t = p.Started
		}
	}
	return t
}

func phaseNames(rec *journal.Record) string {
	names := make([]string, 0, len(rec.Phases))
	for _, p := range rec.Phases {
		names = append(names, p.Name)
	}
	return strings.Join(names, ",")
}
