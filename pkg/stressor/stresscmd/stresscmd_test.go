package stresscmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/stressor"
)

// syncBuffer is a bytes.Buffer safe for the command's log writer and the
// test reading it at the same time.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runStressCmd runs the command in-process with fake process dependencies
// and returns its exit code and output.
func runStressCmd(ctx context.Context, t *testing.T, limits stressor.Limits, args ...string) (code int, stdout string, stderr *syncBuffer) {
	t.Helper()
	var out bytes.Buffer
	errOut := &syncBuffer{}
	deps := Deps{
		Exit:       func(code int) { t.Errorf("watchdog exited with %d", code) },
		Grace:      WatchdogGrace,
		Limits:     func() (stressor.Limits, error) { return limits, nil },
		Notify:     func(chan<- os.Signal, ...os.Signal) {},
		StopNotify: func(chan<- os.Signal) {},
	}
	code = Main(ctx, "chaosnight-stress", Streams{Out: &out, Err: errOut}, deps, args)
	return code, out.String(), errOut
}

func TestStressInvalidInput(t *testing.T) {
	limits := stressor.Limits{
		MemAvailable: 4 << 30,
		Cgroup:       &stressor.CgroupMemory{Version: 2, Dir: "/sys/fs/cgroup", Limit: 512 << 20, Usage: 256 << 20},
	}
	tests := []struct {
		name string
		args []string
		want string // the whole of stderr
	}{
		{
			name: "load over 100",
			args: []string{"--cpu-workers", "1", "--cpu-load", "101", "--duration", "10s"},
			want: "error: invalid stress: --cpu-load must be between 1 and 100 (percent of one core per worker), got 101\n",
		},
		{
			name: "more memory than the cgroup allows",
			args: []string{"--memory", "1Gi", "--duration", "10s"},
			want: "error: invalid stress: --memory 1Gi is more than the cgroup allows (256Mi free: limit 512Mi, 256Mi in use, from /sys/fs/cgroup)\n",
		},
		{
			name: "more memory than the machine has",
			args: []string{"--memory", "5Gi", "--duration", "10s"},
			want: "error: invalid stress: --memory 5Gi is more than the machine has available (4Gi MemAvailable in /proc/meminfo); " +
				"--memory 5Gi is more than the cgroup allows (256Mi free: limit 512Mi, 256Mi in use, from /sys/fs/cgroup)\n",
		},
		{
			name: "duration missing",
			args: []string{"--cpu-workers", "1"},
			want: "error: invalid stress: --duration is required (for example 5m): a stress always ends by itself\n",
		},
		{
			name: "nothing to stress",
			args: []string{"--duration", "1m"},
			want: "error: invalid stress: nothing to stress: set --cpu-workers, --memory, --disk-fill or --disk-io\n",
		},
		{
			name: "bad quantity, with the other problems",
			args: []string{"--memory", "256MB", "--cpu-workers", "99", "--duration", "48h", "--output", "yaml"},
			want: `error: invalid stress: --memory: invalid memory size "256MB": use a Kubernetes quantity such as 256Mi or 1Gi; ` +
				`--output must be text or json, got "yaml"; ` +
				"--cpu-workers must be between 1 and 64 (0 for no CPU stress), got 99; " +
				"--duration must be at most 24h0m0s, got 48h0m0s\n",
		},
		{
			name: "load without workers",
			args: []string{"--cpu-load", "50", "--memory", "1Mi", "--duration", "1m"},
			want: "error: invalid stress: --cpu-load needs --cpu-workers (how many threads burn that load)\n",
		},
		{
			name: "milli is not mega",
			args: []string{"--memory", "100m", "--duration", "1m"},
			want: `error: invalid stress: --memory: invalid memory size "100m": m means milli, a fraction of a byte (did you mean 100M or 100Mi?)` + "\n",
		},
		{
			name: "disk fill percent out of range, no path",
			args: []string{"--disk-fill", "100%", "--duration", "1m"},
			want: `error: invalid stress: --disk-fill: invalid disk fill "100%": a percentage must be between 1% and 99%; ` +
				"--disk-path is required with --disk-fill and --disk-io (the directory to write under)\n",
		},
		{
			name: "disk path that does not exist",
			args: []string{"--disk-io", "1", "--disk-path", "/nonexistent/chaosnight", "--duration", "1m"},
			want: "error: invalid stress: --disk-path /nonexistent/chaosnight: no such file or directory\n",
		},
		{
			name: "unparsable duration",
			args: []string{"--cpu-workers", "1", "--duration", "soon"},
			want: `error: invalid value "soon" for flag --duration: time: invalid duration "soon"` + "\n",
		},
		{
			name: "malformed --until",
			args: []string{"--cpu-workers", "1", "--until", "2026-12-07 22:05"},
			want: `error: invalid value "2026-12-07 22:05" for flag --until: not an RFC 3339 instant such as 2026-12-07T22:05:30Z` + "\n",
		},
		{
			name: "--until too far away",
			args: []string{"--cpu-workers", "1", "--until", "2999-01-01T00:00:00Z"},
			want: "error: invalid stress: --until 2999-01-01T00:00:00Z is more than 24h0m0s away",
		},
		{
			name: "malformed --eviction-threshold",
			args: []string{"--disk-fill", "1Mi", "--disk-path", "/tmp", "--eviction-threshold", "ten", "--duration", "1m"},
			want: `error: invalid stress: --eviction-threshold: invalid percentage "ten": a whole number such as 10%` + "\n",
		},
		{
			name: "unknown flag",
			args: []string{"--cpu-worker", "1", "--duration", "1m"},
			want: "error: flag provided but not defined: --cpu-worker\n",
		},
		{
			name: "flag without its value",
			args: []string{"--duration", "1m", "--memory"},
			want: "error: flag needs an argument: --memory\n",
		},
		{
			name: "a value with a dash is quoted as given",
			args: []string{"--duration", "1m", "--cpu-workers", "- 1"},
			want: `error: invalid value "- 1" for flag --cpu-workers: parse error` + "\n",
		},
		{
			name: "an argument",
			args: []string{"--duration", "1m", "now"},
			want: `error: unexpected argument "now" (chaosnight-stress takes flags only; see --help)` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runStressCmd(context.Background(), t, limits, tt.args...)
			if code != ExitInvalid {
				t.Errorf("exit %d, want %d", code, ExitInvalid)
			}
			if out != "" {
				t.Errorf("nothing may start or be reported, stdout: %q", out)
			}
			if got := errOut.String(); got != tt.want && !(strings.HasPrefix(got, tt.want) && !strings.HasSuffix(tt.want, "\n")) {
				t.Errorf("stderr:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

// --until is absolute: the stress ends at that instant whatever its
// --duration, and a process that starts after it exits at once, 0,
// without checking or touching anything (not even the disk path).
func TestStressUntil(t *testing.T) {
	dir := t.TempDir()
	leftover := filepath.Join(dir, stressor.DiskDirPrefix+"1-0123456789")
	if err := os.Mkdir(leftover, 0o700); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Second).UTC().Format(time.RFC3339)
	code, out, errOut := runStressCmd(context.Background(), t, stressor.Limits{},
		"--disk-fill", "1Mi", "--disk-path", dir, "--until", past, "--duration", "1h", "-o", "json")
	if code != ExitOK {
		t.Fatalf("past: exit %d: %s", code, errOut)
	}
	var rep stressor.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	want := "the deadline " + past + " had passed before the start; no load was run"
	if rep.Ended != stressor.EndDeadline || rep.Cause != want || rep.DiskFill != nil || rep.PlannedSeconds != 0 {
		t.Errorf("past: report %+v, want ended by deadline (%s) without load", rep, want)
	}
	if errOut.String() != "stress: "+want+"\n" {
		t.Errorf("past: stderr %q", errOut)
	}
	if _, err := os.Stat(leftover); err != nil {
		t.Errorf("past: the disk path was touched: %v", err)
	}

	// RFC 3339 has whole seconds: the instant is the next whole second
	// plus one, and --duration an hour that must not count.
	until := time.Now().Truncate(time.Second).Add(2 * time.Second)
	code, out, errOut = runStressCmd(context.Background(), t, stressor.Limits{},
		"--cpu-workers", "1", "--cpu-load", "10", "--until", until.UTC().Format(time.RFC3339), "--duration", "1h", "-o", "json")
	ended := time.Now()
	if code != ExitOK {
		t.Fatalf("near: exit %d: %s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Ended != stressor.EndDeadline || rep.CPU == nil || rep.PlannedSeconds > 2 || ended.Before(until) {
		t.Errorf("near: report %+v, ended at %s, want the CPU load until %s", rep, ended, until)
	}
}

func TestStressReportsJSONAtTheDeadline(t *testing.T) {
	code, out, errOut := runStressCmd(context.Background(), t, stressor.Limits{},
		"--cpu-workers", "1", "--cpu-load", "20", "--memory", "16Mi", "--duration", "400ms", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Count(out, "\n") != 1 {
		t.Fatalf("the JSON report must be one line: %q", out)
	}
	var rep stressor.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Ended != stressor.EndDeadline || rep.PlannedSeconds != 0.4 || rep.CPU == nil || rep.CPU.Workers != 1 ||
		rep.Memory == nil || rep.Memory.ResidentBytes < 16<<20 {
		t.Fatalf("report %+v", rep)
	}
	if !strings.Contains(errOut.String(), "stress: cpu: 1 worker(s) at 20% of one core each") {
		t.Errorf("progress is logged to stderr, got %q", errOut)
	}
}

func TestStressDiskTextReport(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runStressCmd(context.Background(), t, stressor.Limits{},
		"--disk-fill", "4Mi", "--disk-io", "1", "--disk-path", dir, "--duration", "300ms")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"disk fill: 4Mi requested under " + dir + ": 4Mi written in ",
		"removed: true\n",
		"disk io: 1 worker(s) under " + dir + ": wrote ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
		t.Errorf("left behind in %s: %v %v", dir, left, err)
	}
}

// A stress directory without a live owner (what a SIGKILLed stressor
// leaves) is removed before the stress, said on stderr and in the report.
func TestStressDiskRemovesLeftovers(t *testing.T) {
	dir := t.TempDir()
	dead := filepath.Join(dir, stressor.DiskDirPrefix+"1-0123456789")
	if err := os.Mkdir(dead, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dead, "fill-0000"), make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runStressCmd(context.Background(), t, stressor.Limits{},
		"--disk-fill", "1Mi", "--disk-path", dir, "--duration", "200ms")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := "stress: removed " + dead + ", left by a killed disk stress (1Mi)\n"; !strings.Contains(errOut.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, errOut)
	}
	if want := "disk leftover: " + dead + " (1Mi) of a killed disk stress removed before the start\n"; !strings.Contains(out, want) {
		t.Errorf("report lacks %q:\n%s", want, out)
	}
	if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
		t.Errorf("left behind in %s: %v %v", dir, left, err)
	}
}

func TestStressTextReportAndWarning(t *testing.T) {
	limits := stressor.Limits{CPUs: 0.5, CPUSource: "cgroup CPU quota in /sys/fs/cgroup"}
	code, out, errOut := runStressCmd(context.Background(), t, limits,
		"--cpu-workers", "1", "--cpu-load", "60", "--memory", "4Mi", "--duration", "300ms")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"stress ended by deadline after ",
		" (planned 300ms)\n",
		"cpu: 1 worker(s) at 60% of one core: achieved ",
		"memory: 4Mi requested: process resident ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	wantWarn := "warning: --cpu-workers 1 at --cpu-load 60% asks for 0.60 CPUs but this process may use only 0.50 (cgroup CPU quota in /sys/fs/cgroup): the achieved load will be lower\n"
	if !strings.HasPrefix(errOut.String(), wantWarn) {
		t.Errorf("stderr %q does not start with the warning %q", errOut, wantWarn)
	}
}

// TestStressStopsOnSignal delivers SIGTERM or SIGINT through the
// command's signal channel (a real signal would also reach the sandbox's
// handler in this test binary; pkg/stressor's tests send real ones to a
// real process): the stress stops at once, reports which signal, exits 0.
func TestStressStopsOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			registered := make(chan chan<- os.Signal, 1)
			var out bytes.Buffer
			errOut := &syncBuffer{}
			deps := Deps{
				Exit: func(int) {}, Grace: time.Minute,
				Limits: func() (stressor.Limits, error) { return stressor.Limits{}, nil },
				Notify: func(c chan<- os.Signal, sigs ...os.Signal) {
					if len(sigs) != 2 || sigs[0] != syscall.SIGINT || sigs[1] != syscall.SIGTERM {
						t.Errorf("listens to %v, want SIGINT and SIGTERM", sigs)
					}
					registered <- c
				},
				StopNotify: func(chan<- os.Signal) {},
			}
			args := []string{"--cpu-workers", "1", "--cpu-load", "50", "--memory", "8Mi", "--duration", "1m", "-o", "json"}
			res := make(chan int, 1)
			go func() {
				res <- Main(context.Background(), "chaosnight-stress", Streams{Out: &out, Err: errOut}, deps, args)
			}()

			c := <-registered
			for deadline := time.Now().Add(5 * time.Second); !strings.Contains(errOut.String(), "stress: memory:"); time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("the stress did not start: %q", errOut)
				}
			}
			sent := time.Now()
			c <- sig
			var code int
			select {
			case code = <-res:
			case <-time.After(5 * time.Second):
				t.Fatalf("the stress did not stop on %v", sig)
			}
			if took := time.Since(sent); took > 500*time.Millisecond {
				t.Errorf("stopped %s after the signal", took)
			}
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var rep stressor.Report
			if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
				t.Fatal(err)
			}
			if want := "received " + map[syscall.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT"}[sig]; rep.Ended != stressor.EndSignal || rep.Cause != want {
				t.Fatalf("ended %q (%s), want signal (%s)", rep.Ended, rep.Cause, want)
			}
		})
	}
}

// TestStressSignalSeenFirstByCLIRun covers the race with cli.Run's own
// handler (in `chaosnight stress`): the parent context is canceled (cause: the standard
// library's "terminated signal received") and our channel holds the same
// signal; the report must still say "signal".
func TestStressSignalSeenFirstByCLIRun(t *testing.T) {
	parent, cancelParent := context.WithCancelCause(context.Background())
	var sigs chan<- os.Signal
	deps := Deps{
		Notify:     func(c chan<- os.Signal, _ ...os.Signal) { sigs = c },
		StopNotify: func(chan<- os.Signal) {},
	}
	ctx, cancel := signalContext(parent, deps)
	defer cancel(nil)
	cancelParent(errors.New("terminated signal received"))
	sigs <- syscall.SIGTERM
	<-ctx.Done()
	var se *stressor.SignalError
	if cause := context.Cause(ctx); !errors.As(cause, &se) || se.Signal != syscall.SIGTERM {
		t.Fatalf("cause %v, want a SignalError for SIGTERM", cause)
	}
}

// TestStressContextCanceled: a canceled command context (how cli.Run
// reports a signal it caught first, or a test) ends the stress with exit 0.
func TestStressContextCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	code, out, errOut := runStressCmd(ctx, t, stressor.Limits{}, "--cpu-workers", "1", "--cpu-load", "10", "--duration", "1m", "-o", "json")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("took %s", took)
	}
	var rep stressor.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Ended != stressor.EndCanceled || rep.Cause != "context canceled" {
		t.Fatalf("ended %q (%s)", rep.Ended, rep.Cause)
	}
}

func TestStressWatchdog(t *testing.T) {
	const deadline, grace = 100 * time.Millisecond, 50 * time.Millisecond
	tests := []struct {
		name     string
		cancelAt time.Duration // 0: never
		doneAt   time.Duration // 0: never (a stuck stress)
		wantExit bool
		wantWhy  string
		minWait  time.Duration
	}{
		{name: "finished in time", doneAt: 80 * time.Millisecond},
		{name: "finished within the grace", doneAt: 120 * time.Millisecond},
		{name: "stuck past the deadline", wantExit: true, minWait: deadline + grace,
			wantWhy: "stress: watchdog: still running 50ms after its 100ms deadline; exiting now\n"},
		{name: "stuck after a signal", cancelAt: 20 * time.Millisecond, wantExit: true, minWait: 20*time.Millisecond + grace,
			wantWhy: "stress: watchdog: still running 50ms after it was told to stop (received SIGTERM); exiting now\n"},
		{name: "stopped after a signal", cancelAt: 20 * time.Millisecond, doneAt: 40 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			done := make(chan struct{})
			if tt.cancelAt > 0 {
				time.AfterFunc(tt.cancelAt, func() { cancel(&stressor.SignalError{Signal: syscall.SIGTERM}) })
			}
			if tt.doneAt > 0 {
				time.AfterFunc(tt.doneAt, func() { close(done) })
			}
			exited := make(chan int, 1)
			var errw syncBuffer
			start := time.Now()
			go watchdog(ctx, done, deadline, grace, &errw, func(code int) { exited <- code })
			select {
			case code := <-exited:
				took := time.Since(start)
				if !tt.wantExit {
					t.Fatalf("watchdog exited (%d) after %s although the stress finished", code, took)
				}
				if code != ExitInvalid || took < tt.minWait {
					t.Fatalf("exit %d after %s, want %d after at least %s", code, took, ExitInvalid, tt.minWait)
				}
				if errw.String() != tt.wantWhy {
					t.Fatalf("watchdog said %q, want %q", errw.String(), tt.wantWhy)
				}
			case <-time.After(deadline + grace + 300*time.Millisecond):
				if tt.wantExit {
					t.Fatal("watchdog did not exit")
				}
			}
		})
	}
}

// --help prints the usage, every flag with its default, and exits 0.
func TestStressHelp(t *testing.T) {
	code, out, errOut := runStressCmd(context.Background(), t, stressor.Limits{}, "--help")
	if code != ExitOK || errOut.String() != "" {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"Usage: chaosnight-stress --duration D", "chaosnight-stress stop [--timeout D]",
		"--cpu-workers\n", "--cpu-load\n      percent of one core each worker burns, 1..100 (default 100)", "--output, -o\n",
		"--memory\n", "--disk-fill\n", "--disk-io\n", "--disk-path\n", "--duration\n",
		"chaosnight-stress --disk-fill 90% --disk-path /cache --duration 5m",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("usage lacks %q:\n%s", want, out)
		}
	}
}
