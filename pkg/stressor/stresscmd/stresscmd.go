// Package stresscmd is the stress process's command line: what
// `chaosnight-stress` (the small binary that stress containers run) and
// `chaosnight stress` (the same, inside the main binary) do. It imports
// nothing but the stressor and the standard library, so that the process
// that lives in a target pod weighs a few MiB, not the ~30 MiB of the main
// binary's Kubernetes and reporting libraries (BENCHMARKS.md).
package stresscmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/chaosnight/chaosnight/pkg/stressor"
)

// Exit codes, the same as chaosnight's.
const (
	ExitOK      = 0 // the stress ran until its deadline or a signal; stop stopped it or found none
	ExitInvalid = 3 // invalid input, a load that could not start, a stressor that would not stop
)

// WatchdogGrace is how long after its deadline (or after a signal) the
// stress may take to stop its loads before the watchdog ends the process.
// Stopping takes milliseconds; unmapping tens of GiB takes a second or two,
// so the grace leaves room for that and no more.
const WatchdogGrace = 5 * time.Second

// Streams are where the command writes: the report to Out, progress,
// warnings and errors to Err.
type Streams struct {
	Out, Err io.Writer
}

// Deps are what the command takes from the process, injected so that
// tests can run it in-process without exiting the test binary.
type Deps struct {
	Exit   func(code int)
	Grace  time.Duration
	Limits func() (stressor.Limits, error)
	// Notify and StopNotify are signal.Notify and signal.Stop; tests
	// deliver fake signals through them, because a real SIGTERM to a test
	// binary reaches every handler in it, not only this command's.
	Notify     func(c chan<- os.Signal, sig ...os.Signal)
	StopNotify func(c chan<- os.Signal)
}

// ProcessDeps are the real process's.
func ProcessDeps() Deps {
	return Deps{Exit: os.Exit, Grace: WatchdogGrace, Limits: stressor.DetectLimits, Notify: signal.Notify, StopNotify: signal.Stop}
}

// Help is the command's description, for `--help` and `chaosnight stress`.
const Help = `Burn CPU, hold memory, fill or load a disk in this process until --duration
has passed or the instant --until is reached (the earlier of the two), then
exit, even if nobody tells it to. --until is absolute: a process that starts
late stresses for less, and one that starts after it exits at once without
load. This is the process the
stress injector runs inside a target pod (ephemeral container) or on a node
(helper pod); it needs no external tool.

CPU: each of --cpu-workers threads keeps --cpu-load percent of one core busy
(a 100 ms duty cycle, corrected against the thread's real CPU time, so time
lost to other processes is made up). Memory: --memory is mapped outside the
Go heap and every page is written, so the resident size grows by that much
(plus this process's own few MiB) and is held until the end.

Disk: --disk-fill writes real (incompressible) data under --disk-path, in its
own subdirectory chaosnight-fill-<pid>-<random>, until that size (2Gi) or the
filesystem's used percentage (90%) is reached, and holds it; --disk-io runs
that many workers writing with fsync and reading back files of at most 64Mi
each. Everything written is removed on exit: at the deadline, on SIGTERM or
SIGINT, and when a load fails. Only SIGKILL can leave the subdirectory
behind: the next disk stress on the path removes such leftovers (a live
stressor holds a lock on its own) before it starts.

SIGTERM or SIGINT stop it at once and free everything. On exit it prints what
it achieved (--output json: one JSON object on one line). Values the machine
or this process's cgroup cannot give (more memory than available, a load over
100) are rejected before anything starts.

Exit codes: 0 when the stress ran until its deadline or a signal, 3 on invalid
input or when a load could not be started.`

// Examples are command lines, with this binary's name.
const Examples = `  chaosnight-stress --cpu-workers 2 --cpu-load 80 --duration 5m
  chaosnight-stress --memory 256Mi --duration 2m --output json
  chaosnight-stress --cpu-workers 1 --cpu-load 50 --memory 1Gi --duration 30s
  chaosnight-stress --disk-fill 90% --disk-path /cache --duration 5m
  chaosnight-stress --disk-fill 2Gi --disk-io 2 --disk-path /var/tmp --duration 2m
  chaosnight-stress --cpu-workers 1 --until 2026-12-07T22:05:30Z
  chaosnight-stress --disk-fill 4Gi --disk-path /scratch --eviction-threshold 10% --duration 5m`

type flags struct {
	workers  int
	load     int
	memory   string
	diskFill string
	diskPath string
	diskIO   int
	evict    string
	duration time.Duration
	until    time.Time
	output   string
	set      map[string]bool // the flags given on the command line
}

// untilFlag reads --until, an RFC 3339 instant.
type untilFlag struct{ t *time.Time }

func (f untilFlag) String() string {
	if f.t == nil || f.t.IsZero() {
		return ""
	}
	return f.t.UTC().Format(time.RFC3339)
}

func (f untilFlag) Set(s string) error {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(s))
	if err != nil {
		return errors.New("not an RFC 3339 instant such as 2026-12-07T22:05:30Z")
	}
	*f.t = t
	return nil
}

// durationFlag keeps time.ParseDuration's own error (flag's Duration
// says only "parse error").
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return "0s"
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}

// Main runs the command line args (without the program's name): a stress,
// or "stop" and its flags. It returns the exit code. name is how the
// usage calls the command ("chaosnight-stress", "chaosnight stress").
func Main(ctx context.Context, name string, streams Streams, deps Deps, args []string) int {
	if len(args) > 0 && args[0] == "stop" {
		return mainStop(ctx, name+" stop", streams, args[1:])
	}
	var f flags
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.IntVar(&f.workers, "cpu-workers", 0, fmt.Sprintf("CPU worker threads, %d..%d (0: no CPU stress)", stressor.MinCPUWorkers, stressor.MaxCPUWorkers))
	fs.IntVar(&f.load, "cpu-load", stressor.MaxCPULoad, fmt.Sprintf("percent of one core each worker burns, %d..%d", stressor.MinCPULoad, stressor.MaxCPULoad))
	fs.StringVar(&f.memory, "memory", "0", "memory to allocate and hold, a Kubernetes quantity such as 256Mi (0: no memory stress)")
	fs.StringVar(&f.diskFill, "disk-fill", "", "bytes to write and hold under --disk-path, a quantity such as 2Gi or a used percentage of its filesystem such as 90%")
	fs.IntVar(&f.diskIO, "disk-io", 0, fmt.Sprintf("disk I/O workers (write+fsync, read back) under --disk-path, 1..%d (0: no I/O stress)", stressor.MaxDiskIOWorkers))
	fs.StringVar(&f.diskPath, "disk-path", "", "existing absolute directory the disk stress writes under (in its own subdirectory, removed on exit)")
	// Required, but checked by Validate so that a missing duration is
	// reported together with every other problem.
	fs.Var(durationFlag{&f.duration}, "duration", "how long to stress; the process exits by itself after it (at most 24h); --duration or --until is required")
	fs.Var(untilFlag{&f.until}, "until", "the instant (RFC 3339, such as 2026-12-07T22:05:30Z) the stress ends by, whenever it started; with --duration the earlier end wins; an instant already past exits at once without load")
	fs.StringVar(&f.evict, "eviction-threshold", "", "refuse a disk fill that would leave less than this percent of the filesystem available (the kubelet's hard eviction threshold, such as 10%); empty: no such check")
	fs.StringVar(&f.output, "output", "text", "report format: text or json")
	fs.StringVar(&f.output, "o", "text", "short for --output")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(streams.Out, name, fs)
			return ExitOK
		}
		fmt.Fprintf(streams.Err, "error: %s\n", flagError(err))
		return ExitInvalid
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(streams.Err, "error: unexpected argument %q (%s takes flags only; see --help)\n", fs.Arg(0), name)
		return ExitInvalid
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	if err := runStress(ctx, streams, deps, f); err != nil {
		fmt.Fprintf(streams.Err, "error: %v\n", err)
		return ExitInvalid
	}
	return ExitOK
}

// flagError words a parse error of package flag as the rest of chaosnight
// does, flags with two dashes: "flag provided but not defined: -x",
// "flag needs an argument: -x" and "invalid value … for flag -x: …" name
// the flag after ": -" or "flag -" (a value quoted in the message is left
// alone).
func flagError(err error) string {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "flag provided but not defined: --" + rest
	}
	if rest, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "flag needs an argument: --" + rest
	}
	if i := strings.LastIndex(msg, " for flag -"); i >= 0 {
		return msg[:i] + " for flag --" + msg[i+len(" for flag -"):]
	}
	return msg
}

func usage(w io.Writer, name string, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s --duration D|--until T [--cpu-workers N --cpu-load PERCENT] [--memory SIZE] [--disk-fill SIZE|PERCENT] [--disk-io N] [--disk-path DIR] [--eviction-threshold PERCENT] [-o text|json]\n       %s stop [--timeout D]\n\n%s\n\nFlags:\n", name, name, Help)
	fs.VisitAll(func(fl *flag.Flag) {
		if fl.Name == "o" {
			return
		}
		def := ""
		if fl.DefValue != "" {
			def = fmt.Sprintf(" (default %s)", fl.DefValue)
		}
		short := ""
		if fl.Name == "output" {
			short = ", -o"
		}
		fmt.Fprintf(w, "  --%s%s\n      %s%s\n", fl.Name, short, fl.Usage, def)
	})
	fmt.Fprintf(w, "\nExamples:\n%s\n", strings.ReplaceAll(Examples, "chaosnight-stress", name))
}

func runStress(ctx context.Context, streams Streams, deps Deps, f flags) error {
	cfg, err := config(f)
	if err != nil {
		return err
	}
	if !cfg.Until.IsZero() && !time.Now().Before(cfg.Until) {
		// A container that starts after the instant the injector recorded
		// (a slow image pull, a node that was down) must not stress at
		// all: nothing is checked, removed or started.
		cause := stressor.PastDeadlineCause(cfg.Until)
		fmt.Fprintf(streams.Err, "stress: %s\n", cause)
		return printReport(streams.Out, f.output, stressor.Report{Started: time.Now(), Ended: stressor.EndDeadline, Cause: cause})
	}
	// Before the checks: the space a killed predecessor still holds under
	// the disk path is freed first, and counts as available.
	leftovers, err := cfg.RemoveDiskLeftovers()
	for _, l := range leftovers {
		fmt.Fprintf(streams.Err, "stress: removed %s, left by a killed disk stress (%s)\n", l.Path, stressor.FormatBytes(l.Bytes))
	}
	if err != nil {
		fmt.Fprintf(streams.Err, "warning: %v\n", err)
	}
	limits, err := deps.Limits()
	if err != nil {
		return fmt.Errorf("check what this machine can give: %w", err)
	}
	if err := cfg.Validate(limits); err != nil {
		return err
	}
	for _, w := range cfg.Warnings(limits) {
		fmt.Fprintf(streams.Err, "warning: %s\n", w)
	}
	cfg.Log = streams.Err

	ctx, cancel := signalContext(ctx, deps)
	defer cancel(nil)

	done := make(chan struct{})
	defer close(done)
	go watchdog(ctx, done, time.Until(cfg.End(time.Now())), deps.Grace, streams.Err, deps.Exit)

	rep, err := stressor.Run(ctx, cfg)
	rep.DiskLeftovers = leftovers
	if err != nil {
		// Print what was achieved anyway: the injector reads it.
		if rep.Ended != "" {
			_ = printReport(streams.Out, f.output, rep)
		}
		return err
	}
	return printReport(streams.Out, f.output, rep)
}

// config turns the flags into a Config, collecting every problem the
// flags alone show; Validate adds the ones that need the limits.
func config(f flags) (stressor.Config, error) {
	cfg := stressor.Config{CPUWorkers: f.workers, CPULoad: f.load, Duration: f.duration, Until: f.until,
		DiskIOWorkers: f.diskIO, DiskPath: f.diskPath}
	var problems []string
	if f.evict != "" {
		n, err := stressor.ParsePercent(f.evict)
		if err != nil {
			problems = append(problems, "--eviction-threshold: "+err.Error())
		}
		cfg.EvictionThresholdPercent = n
	}
	if f.diskFill != "" {
		b, pct, err := stressor.ParseDiskFill(f.diskFill)
		if err != nil {
			problems = append(problems, "--disk-fill: "+err.Error())
			b = 1 // present, so that Validate does not also say "nothing to stress"
		}
		cfg.DiskFill, cfg.DiskFillPercent = b, pct
	}
	mem, err := stressor.ParseMemory(f.memory)
	if err != nil {
		problems = append(problems, "--memory: "+err.Error())
		mem = 1 // present, so that Validate does not also say "nothing to stress"
	}
	cfg.Memory = mem
	if f.workers == 0 && f.set["cpu-load"] {
		// A load without workers would silently do nothing.
		problems = append(problems, "--cpu-load needs --cpu-workers (how many threads burn that load)")
	}
	if f.output != "text" && f.output != "json" {
		problems = append(problems, fmt.Sprintf("--output must be text or json, got %q", f.output))
	}
	if len(problems) == 0 {
		return cfg, nil
	}
	// Report the flags' other problems in the same message.
	var ice *stressor.InvalidConfigError
	if err := cfg.Validate(stressor.Limits{}); errors.As(err, &ice) {
		problems = append(problems, ice.Problems...)
	}
	return cfg, &stressor.InvalidConfigError{Problems: problems}
}

// signalContext derives the stress's context from the caller's and
// cancels it with a *stressor.SignalError on SIGINT or SIGTERM, so that
// the report says "signal" and which one. `chaosnight stress` (cli.Run)
// also turns these signals into a cancellation of the parent context, with a
// cause this package cannot recognise; both handlers receive every signal, so when the
// parent ends first the signal is taken from our own channel.
func signalContext(parent context.Context, deps Deps) (context.Context, context.CancelCauseFunc) {
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	sigs := make(chan os.Signal, 1)
	deps.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		defer deps.StopNotify(sigs)
		select {
		case s := <-sigs:
			cancel(&stressor.SignalError{Signal: s})
		case <-parent.Done():
			select {
			case s := <-sigs:
				cancel(&stressor.SignalError{Signal: s})
			case <-time.After(50 * time.Millisecond):
				cancel(context.Cause(parent))
			}
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// watchdog ends the process if the stress has not returned (done
// not closed) grace after its deadline, or grace after ctx was canceled.
// stressor.Run enforces the deadline itself; this is the second line, for
// a stuck load, because a stress that outlives its experiment is the fault
// SREs fear most.
func watchdog(ctx context.Context, done <-chan struct{}, deadline, grace time.Duration, errw io.Writer, exit func(int)) {
	hard := time.NewTimer(deadline + grace)
	defer hard.Stop()
	why := fmt.Sprintf("%s after its %s deadline", grace, deadline)
	select {
	case <-done:
		return
	case <-hard.C:
	case <-ctx.Done():
		soft := time.NewTimer(grace)
		defer soft.Stop()
		select {
		case <-done:
			return
		case <-hard.C:
		case <-soft.C:
			why = fmt.Sprintf("%s after it was told to stop (%v)", grace, context.Cause(ctx))
		}
	}
	select {
	case <-done: // it finished while the timer fired: nothing to do
		return
	default:
	}
	fmt.Fprintf(errw, "stress: watchdog: still running %s; exiting now\n", why)
	exit(ExitInvalid)
}

func printReport(w io.Writer, output string, rep stressor.Report) error {
	if output == "json" {
		// One line, so that it can be picked out of container logs.
		return json.NewEncoder(w).Encode(rep)
	}
	var b strings.Builder
	why := string(rep.Ended)
	if rep.Cause != "" {
		why += " (" + rep.Cause + ")"
	}
	fmt.Fprintf(&b, "stress ended by %s after %.2fs (planned %s)\n", why, rep.ElapsedSeconds,
		time.Duration(rep.PlannedSeconds*float64(time.Second)))
	if c := rep.CPU; c != nil {
		per := make([]string, len(c.WorkerPercent))
		for i, p := range c.WorkerPercent {
			per[i] = fmt.Sprintf("%.1f%%", p)
		}
		fmt.Fprintf(&b, "cpu: %d worker(s) at %d%% of one core: achieved %.1f%% on average [%s], %.2f CPU-seconds\n",
			c.Workers, c.TargetPercent, c.AchievedPercent, strings.Join(per, " "), c.CPUSeconds)
	}
	if m := rep.Memory; m != nil {
		if m.ResidentBytes == 0 {
			fmt.Fprintf(&b, "memory: %s requested, stopped before it was all resident\n", stressor.FormatBytes(m.RequestedBytes))
		} else {
			fmt.Fprintf(&b, "memory: %s requested: process resident %s after %.3fs (%s before), %s at the end, peak %s\n",
				stressor.FormatBytes(m.RequestedBytes), stressor.FormatBytes(m.ResidentBytes), m.SecondsToResident,
				stressor.FormatBytes(m.BaselineResidentBytes), stressor.FormatBytes(m.ResidentAtEndBytes), stressor.FormatBytes(m.PeakResidentBytes))
		}
	}
	if d := rep.DiskFill; d != nil {
		fmt.Fprintf(&b, "disk fill: %s requested under %s: %s written", stressor.FormatBytes(d.RequestedBytes), d.Path, stressor.FormatBytes(d.WrittenBytes))
		if d.SecondsToFill > 0 {
			fmt.Fprintf(&b, " in %.3fs (%.1f MiB/s), filesystem %.1f%% used", d.SecondsToFill, d.FillMiBPerSec, d.UsedPercentFull)
		}
		if d.FilesystemFull {
			b.WriteString(", filesystem full before the target")
		}
		fmt.Fprintf(&b, ", removed: %t\n", d.Removed)
	}
	for _, l := range rep.DiskLeftovers {
		fmt.Fprintf(&b, "disk leftover: %s (%s) of a killed disk stress removed before the start\n", l.Path, stressor.FormatBytes(l.Bytes))
	}
	if d := rep.DiskIO; d != nil {
		fmt.Fprintf(&b, "disk io: %d worker(s) under %s: wrote %.1f MiB/s, read %.1f MiB/s, %d fsyncs, removed: %t\n",
			d.Workers, d.Path, d.WriteMiBPerSec, d.ReadMiBPerSec, d.Fsyncs, d.Removed)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
