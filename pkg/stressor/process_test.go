package stressor_test

// These tests run the stressor as a real local process and measure it from
// the outside, through /proc, the way an SRE (or Prometheus' cAdvisor)
// would: the test binary re-executes itself as the child, which runs
// stressor.Run exactly as `chaosnight stress` does.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chaosnight/chaosnight/pkg/stressor"
)

const (
	childEnv     = "CHAOSNIGHT_STRESSOR_CHILD"
	childSpecEnv = "CHAOSNIGHT_STRESSOR_SPEC"
	// clockTick is USER_HZ, the unit of utime and stime in /proc. It is
	// 100 on every Linux ABI Go supports.
	clockTick = 10 * time.Millisecond
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(runChild())
	}
	os.Exit(m.Run())
}

// childSpec is the child's configuration, passed as JSON in the
// environment.
type childSpec struct {
	CPUWorkers int    `json:"cpuWorkers"`
	CPULoad    int    `json:"cpuLoad"`
	Memory     int64  `json:"memory"`
	Duration   string `json:"duration"`
	Until      string `json:"until,omitempty"` // RFC 3339 with nanoseconds

	DiskFill        int64  `json:"diskFill,omitempty"`
	DiskFillPercent int    `json:"diskFillPercent,omitempty"`
	DiskIOWorkers   int    `json:"diskIO,omitempty"`
	DiskPath        string `json:"diskPath,omitempty"`
}

// runChild is the stress process: what the command does, minus cobra.
func runChild() int {
	var spec childSpec
	if err := json.Unmarshal([]byte(os.Getenv(childSpecEnv)), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "child: bad spec:", err)
		return 3
	}
	var d time.Duration
	if spec.Duration != "" {
		var err error
		if d, err = time.ParseDuration(spec.Duration); err != nil {
			fmt.Fprintln(os.Stderr, "child: bad duration:", err)
			return 3
		}
	}
	var until time.Time
	if spec.Until != "" {
		var err error
		if until, err = time.Parse(time.RFC3339Nano, spec.Until); err != nil {
			fmt.Fprintln(os.Stderr, "child: bad until:", err)
			return 3
		}
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() { cancel(&stressor.SignalError{Signal: <-sigs}) }()

	cfg := stressor.Config{
		CPUWorkers: spec.CPUWorkers, CPULoad: spec.CPULoad, Memory: spec.Memory, Duration: d, Until: until, Log: os.Stderr,
		DiskFill: spec.DiskFill, DiskFillPercent: spec.DiskFillPercent, DiskIOWorkers: spec.DiskIOWorkers, DiskPath: spec.DiskPath,
	}
	leftovers, err := cfg.RemoveDiskLeftovers()
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
	}
	rep, err := stressor.Run(ctx, cfg)
	rep.DiskLeftovers = leftovers
	if encErr := json.NewEncoder(os.Stdout).Encode(rep); encErr != nil {
		fmt.Fprintln(os.Stderr, "child:", encErr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 3
	}
	return 0
}

// child is a running stress process.
type child struct {
	t       *testing.T
	cmd     *exec.Cmd
	pid     int
	started time.Time
	stdout  bytes.Buffer
	lines   chan string // the child's log lines (stderr)
	exited  chan struct{}
	waitErr error
}

func startChild(t *testing.T, spec childSpec) *child {
	t.Helper()
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, lines: make(chan string, 100), exited: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^$")
	c.cmd.Env = append(os.Environ(), childEnv+"=1", childSpecEnv+"="+string(b))
	c.cmd.Stdout = &c.stdout
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.started = time.Now()
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.pid = c.cmd.Process.Pid
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case c.lines <- sc.Text():
			default: // nobody is waiting for more lines
			}
		}
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-c.exited:
		default:
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
	})
	return c
}

// waitLine waits for a log line starting with prefix.
func (c *child) waitLine(prefix string, timeout time.Duration) {
	c.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l := <-c.lines:
			if strings.HasPrefix(l, prefix) {
				return
			}
		case <-c.exited:
			c.t.Fatalf("child exited before logging %q: %v", prefix, c.waitErr)
		case <-deadline:
			c.t.Fatalf("child did not log %q within %s", prefix, timeout)
		}
	}
}

// wait waits for the child to exit and returns its report.
func (c *child) wait(timeout time.Duration) (stressor.Report, time.Duration) {
	c.t.Helper()
	select {
	case <-c.exited:
	case <-time.After(timeout):
		c.t.Fatalf("child still running %s after start", time.Since(c.started).Round(time.Millisecond))
	}
	took := time.Since(c.started)
	if c.waitErr != nil {
		c.t.Fatalf("child failed: %v; stdout: %s", c.waitErr, c.stdout.String())
	}
	var rep stressor.Report
	if err := json.Unmarshal(c.stdout.Bytes(), &rep); err != nil {
		c.t.Fatalf("child report: %v: %q", err, c.stdout.String())
	}
	return rep, took
}

func (c *child) signal(sig os.Signal) {
	c.t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		c.t.Fatal(err)
	}
}

// TestCPUWorkersRun runs a CPU stress as a real process and checks what no
// load on the machine can change: one thread per worker burns CPU, and the
// report names every worker with the share it really had. How close that
// share comes to the target is a measurement, not a test: bench/stress
// measures it on a quiet machine (BENCHMARKS.md), and TestDutyCycle checks
// the controller's arithmetic exactly with a simulated scheduler.
func TestCPUWorkersRun(t *testing.T) {
	t.Parallel()
	c := startChild(t, childSpec{CPUWorkers: 2, CPULoad: 50, Duration: "30s"})
	c.waitLine("stress: cpu:", 30*time.Second)
	time.Sleep(500 * time.Millisecond)
	before, err := statCPU(fmt.Sprintf("/proc/%d/stat", c.pid))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	after, err := statCPU(fmt.Sprintf("/proc/%d/stat", c.pid))
	if err != nil {
		t.Fatal(err)
	}
	c.signal(syscall.SIGTERM)
	rep, _ := c.wait(30 * time.Second)
	if after <= before {
		t.Errorf("the stressor used no CPU in half a second (utime+stime %s, then %s)", before, after)
	}
	if rep.CPU == nil || rep.CPU.Workers != 2 || rep.CPU.TargetPercent != 50 || len(rep.CPU.WorkerPercent) != 2 {
		t.Fatalf("report has no CPU part for 2 workers at 50%%: %+v", rep.CPU)
	}
	for i, p := range rep.CPU.WorkerPercent {
		if p <= 0 || p > 100 {
			t.Errorf("worker %d reported %.2f%% of a core; want a share in (0, 100]", i, p)
		}
	}
	if rep.CPU.CPUSeconds <= 0 {
		t.Errorf("report says %.3f CPU seconds", rep.CPU.CPUSeconds)
	}
}

// statCPU reads utime+stime (fields 14 and 15) of a /proc stat file. The
// command name may contain spaces, so fields count from the last ')'.
func statCPU(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: no ')'", path)
	}
	f := strings.Fields(string(b[i+1:]))
	// After ")" come state (field 3) ... utime is field 14, stime 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: short", path)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return time.Duration(u+s) * clockTick, nil
}

// vmRSS reads a process's resident size from /proc/PID/status.
func vmRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS")
}

// TestMemoryResidentAndHeld checks from the outside that the resident size
// reaches the requested memory, stays there, and does not overshoot by
// more than the runtime's own few MiB (the mapping is outside the Go heap,
// so nothing doubles it). How fast it gets there is measured in
// bench/stress; the bound here only catches a stressor that never does.
func TestMemoryResidentAndHeld(t *testing.T) {
	t.Parallel()
	const (
		size  = 128 << 20
		reach = 30 * time.Second // liveness, not speed
		hold  = 2 * time.Second
		extra = 24 << 20 // the test binary's own resident size, generously
	)
	c := startChild(t, childSpec{Memory: size, Duration: "60s"})
	var reached time.Duration
	for reached == 0 {
		rss, err := vmRSS(c.pid)
		if err == nil && rss >= size {
			reached = time.Since(c.started)
			break
		}
		select {
		case <-c.exited:
			t.Fatalf("child exited: %v; stdout: %s", c.waitErr, c.stdout.String())
		default:
		}
		if time.Since(c.started) > reach {
			t.Fatalf("VmRSS %s has not reached %s within %s of the start", stressor.FormatBytes(rss), stressor.FormatBytes(size), reach)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var lo, hi int64 = 1 << 62, 0
	for end := time.Now().Add(hold); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		rss, err := vmRSS(c.pid)
		if err != nil {
			t.Fatal(err)
		}
		lo, hi = min(lo, rss), max(hi, rss)
	}
	t.Logf("VmRSS reached %s after %s (from process start); held between %s and %s for %s",
		stressor.FormatBytes(size), reached.Round(time.Millisecond), stressor.FormatBytes(lo), stressor.FormatBytes(hi), hold)
	if lo < size {
		t.Errorf("VmRSS fell to %s, below the requested %s", stressor.FormatBytes(lo), stressor.FormatBytes(size))
	}
	if hi > size+extra {
		t.Errorf("VmRSS rose to %s, more than %s over the requested %s", stressor.FormatBytes(hi), stressor.FormatBytes(extra), stressor.FormatBytes(size))
	}
	c.signal(syscall.SIGTERM)
	rep, _ := c.wait(30 * time.Second)
	m := rep.Memory
	if m == nil || m.RequestedBytes != size || m.ResidentBytes < size || m.ResidentAtEndBytes < size || m.SecondsToResident <= 0 || m.SecondsToResident > reach.Seconds() {
		t.Fatalf("report does not show the memory reached and held: %+v", m)
	}
	t.Logf("the stressor's own report: resident %s after %.3fs, %s at the end, baseline %s",
		stressor.FormatBytes(m.ResidentBytes), m.SecondsToResident, stressor.FormatBytes(m.ResidentAtEndBytes), stressor.FormatBytes(m.BaselineResidentBytes))
}

// TestDeadlineEndsTheProcess checks that nobody needs to stop the
// stressor: with both loads running it exits by itself at its deadline,
// never before (how soon after is a measurement: bench/stress).
func TestDeadlineEndsTheProcess(t *testing.T) {
	t.Parallel()
	const duration = 1500 * time.Millisecond
	c := startChild(t, childSpec{CPUWorkers: 2, CPULoad: 100, Memory: 32 << 20, Duration: duration.String()})
	rep, took := c.wait(duration + 60*time.Second)
	if took < duration {
		t.Fatalf("exited %s after start, before its deadline of %s", took.Round(time.Millisecond), duration)
	}
	if rep.Ended != stressor.EndDeadline {
		t.Fatalf("report says it ended by %q (%s), want %q", rep.Ended, rep.Cause, stressor.EndDeadline)
	}
	assertGone(t, c.pid)
	t.Logf("exited %s after start (deadline %s)", took.Round(time.Millisecond), duration)
}

// TestUntilEndsTheProcess checks the absolute deadline: a process started
// with an hour of --duration but an --until a moment away ends at that
// instant (a container that started late never runs past the deadline the
// injector recorded), and one whose instant is already past ends at once,
// without starting any load.
func TestUntilEndsTheProcess(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		until time.Duration // from the child's start
		cause string        // substring of the report's cause; "" for none
	}{
		{name: "an instant in a moment", until: 1500 * time.Millisecond},
		{name: "an instant already past", until: -time.Minute, cause: "had passed before the start; no load was run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			until := time.Now().Add(tt.until)
			c := startChild(t, childSpec{CPUWorkers: 1, CPULoad: 100, Memory: 16 << 20, Duration: "1h", Until: until.Format(time.RFC3339Nano)})
			rep, _ := c.wait(max(time.Until(until), 0) + 30*time.Second)
			exited := time.Now()
			if rep.Ended != stressor.EndDeadline || !strings.Contains(rep.Cause, tt.cause) {
				t.Fatalf("report says it ended by %q (%s), want %q (%s)", rep.Ended, rep.Cause, stressor.EndDeadline, tt.cause)
			}
			// A liveness bound far below the hour of --duration: the
			// instant ended it (how closely is measured, not asserted:
			// a busy machine may be slow to run the exit).
			if limit := until.Add(20 * time.Second); exited.After(limit) && tt.until > 0 {
				t.Fatalf("exited at %s, after its instant %s and the grace", exited.Format(time.RFC3339Nano), until.Format(time.RFC3339Nano))
			}
			if tt.until < 0 {
				if rep.CPU != nil || rep.Memory != nil || rep.PlannedSeconds != 0 {
					t.Fatalf("a stress past its instant ran a load: %+v", rep)
				}
			} else if rep.CPU == nil || rep.Memory == nil || rep.PlannedSeconds <= 0 || rep.PlannedSeconds > 2 {
				t.Fatalf("report %+v, want both loads, planned until the instant", rep)
			}
			assertGone(t, c.pid)
		})
	}
}

// TestSignalEndsTheProcess checks that SIGTERM and SIGINT end the stress,
// also in the middle of a large allocation, long before its deadline, and
// that the report says which signal it was. (How promptly is measured in
// bench/stress: a tight bound here would fail on a busy machine.)
func TestSignalEndsTheProcess(t *testing.T) {
	t.Parallel()
	const prompt = 15 * time.Second // half the 30 s deadline: the signal ended it, not the deadline
	tests := []struct {
		name    string
		spec    childSpec
		waitFor string // log line after which the signal is sent
		sig     syscall.Signal
		cause   string
		// midAllocation: the memory must not have become resident yet,
		// which proves the signal interrupted the allocation.
		midAllocation bool
	}{
		{
			name:    "SIGTERM while holding",
			spec:    childSpec{CPUWorkers: 2, CPULoad: 100, Memory: 64 << 20, Duration: "30s"},
			waitFor: "stress: memory:",
			sig:     syscall.SIGTERM,
			cause:   "received SIGTERM",
		},
		{
			name:    "SIGINT while holding",
			spec:    childSpec{CPUWorkers: 1, CPULoad: 50, Duration: "30s"},
			waitFor: "stress: cpu:",
			sig:     syscall.SIGINT,
			cause:   "received SIGINT",
		},
		{
			// 2 GiB take about a second to fault in: the signal arrives
			// while the memory is still being made resident.
			name:    "SIGTERM during allocation",
			spec:    childSpec{CPUWorkers: 1, CPULoad: 100, Memory: 2 << 30, Duration: "30s"},
			waitFor: "stress: cpu:",
			sig:     syscall.SIGTERM,
			cause:   "received SIGTERM",

			midAllocation: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startChild(t, tt.spec)
			c.waitLine(tt.waitFor, 30*time.Second)
			sent := time.Now()
			c.signal(tt.sig)
			rep, _ := c.wait(30 * time.Second)
			took := time.Since(sent)
			if took > prompt {
				t.Errorf("exited %s after %s, want within %s", took.Round(time.Millisecond), unix.SignalName(tt.sig), prompt)
			}
			if rep.Ended != stressor.EndSignal || rep.Cause != tt.cause {
				t.Errorf("report says ended %q (%s), want %q (%s)", rep.Ended, rep.Cause, stressor.EndSignal, tt.cause)
			}
			if tt.midAllocation && (rep.Memory == nil || rep.Memory.ResidentBytes != 0) {
				t.Errorf("the signal did not arrive during the allocation (report %+v); make the allocation larger", rep.Memory)
			}
			assertGone(t, c.pid)
			t.Logf("exited %s after %s", took.Round(time.Millisecond), unix.SignalName(tt.sig))
		})
	}
}

// assertGone checks that no process with pid is left (the child was
// reaped by Wait, so a present /proc entry would be a different process
// or a leftover).
func assertGone(t *testing.T, pid int) {
	t.Helper()
	if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid))); err == nil {
		t.Fatalf("process %d is still there", pid)
	}
}
