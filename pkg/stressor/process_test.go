package stressor_test

// These tests run the stressor as a real local process and measure it from
// the outside, through /proc, the way an SRE (or Prometheus' cAdvisor)
// would: the test binary re-executes itself as the child, which runs
// stressor.Run exactly as `chaosnight stress` does.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
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
	// tolerance is the acceptance bound, in points of one core.
	tolerance = 5.0
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

// ---- measuring through /proc ----

// cpuSample is one look at the child and at the whole machine.
type cpuSample struct {
	at      time.Time
	process time.Duration         // utime+stime of the whole child
	threads map[int]time.Duration // utime+stime per thread id
	waits   map[int]time.Duration // run-queue wait per thread id (schedstat)
	busy    time.Duration         // the machine's busy time, all CPUs
	steal   time.Duration
}

func sampleCPU(t *testing.T, pid int) cpuSample {
	t.Helper()
	s := cpuSample{at: time.Now(), threads: map[int]time.Duration{}, waits: map[int]time.Duration{}}
	var err error
	if s.process, err = statCPU(fmt.Sprintf("/proc/%d/stat", pid)); err != nil {
		t.Fatal(err)
	}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		tid, _ := strconv.Atoi(task.Name())
		// A runtime thread may come or go between ReadDir and the read.
		if c, err := statCPU(fmt.Sprintf("/proc/%d/task/%d/stat", pid, tid)); err == nil {
			s.threads[tid] = c
		}
		if w, err := runQueueWait(fmt.Sprintf("/proc/%d/task/%d/schedstat", pid, tid)); err == nil {
			s.waits[tid] = w
		}
	}
	if s.busy, s.steal, err = machineBusy(); err != nil {
		t.Fatal(err)
	}
	return s
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

// runQueueWait is the time a thread spent runnable but waiting for a CPU
// (the second field of schedstat, in ns): the direct measure of how much
// the neighbours took from it.
func runQueueWait(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("%s: short", path)
	}
	ns, err := strconv.ParseInt(f[1], 10, 64)
	return time.Duration(ns), err
}

// machineBusy is the non-idle time of all CPUs from /proc/stat: user,
// nice, system, irq, softirq and steal (guest time is already in user).
func machineBusy() (busy, steal time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("/proc/stat: unexpected first line %q", line)
	}
	var v [8]int64
	for i := range v {
		if v[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return 0, 0, err
		}
	}
	// user nice system idle iowait irq softirq steal
	busyTicks := v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
	return time.Duration(busyTicks) * clockTick, time.Duration(v[7]) * clockTick, nil
}

// cpuWindow is what a measurement window found, in percent of one core.
type cpuWindow struct {
	perWorker float64   // the whole process divided by the workers
	threads   []float64 // the busiest threads, one per worker
	waited    []float64 // their run-queue wait since the child was ready
	foreign   float64   // every other process on the machine
	steal     float64
}

// measure computes the window a→b; the workers' run-queue wait counts from
// base (the child's start), because time withheld just before the window
// is made up inside it.
func measure(base, a, b cpuSample, workers int) cpuWindow {
	wall := b.at.Sub(a.at).Seconds()
	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / wall }
	w := cpuWindow{
		perWorker: pct(b.process-a.process) / float64(workers),
		foreign:   pct(b.busy - a.busy - (b.process - a.process)),
		steal:     pct(b.steal - a.steal),
	}
	type th struct {
		cpu, wait float64
	}
	var all []th
	for tid, end := range b.threads {
		all = append(all, th{cpu: pct(end - a.threads[tid]), wait: pct(b.waits[tid] - base.waits[tid])})
	}
	slices.SortFunc(all, func(x, y th) int { return cmp.Compare(y.cpu, x.cpu) })
	for _, x := range all[:min(workers, len(all))] {
		w.threads = append(w.threads, x.cpu)
		w.waited = append(w.waited, x.wait)
	}
	return w
}

func (w cpuWindow) String() string {
	th := make([]string, len(w.threads))
	for i, x := range w.threads {
		th[i] = fmt.Sprintf("%.1f%% (waited %.1f%%)", x, w.waited[i])
	}
	return fmt.Sprintf("process %.1f%% per worker, worker threads [%s], rest of the machine %.1f%% (steal %.1f%%)",
		w.perWorker, strings.Join(th, ", "), w.foreign, w.steal)
}

// off returns how far the worst of the process and per-thread figures is
// from target.
func (w cpuWindow) off(target float64) float64 {
	worst := abs(w.perWorker - target)
	for _, x := range w.threads {
		worst = max(worst, abs(x-target))
	}
	return worst
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// contended reports whether the kernel withheld more CPU from a worker
// than the tolerance (it sat runnable in the run queue for more than 5 %
// of the window) or the hypervisor stole as much: a window like that
// measures the neighbours, not the stressor.
func (w cpuWindow) contended() bool {
	return slices.Max(w.waited) > tolerance || w.steal > tolerance
}

// crowded reports whether the rest of the machine, busy as it was, left
// less room than workers × load needs.
func crowded(foreign float64, workers, load int) bool {
	const headroom = 15 // points of one core the kernel and the test itself need
	return foreign+float64(workers*load) > float64(100*runtime.NumCPU())-headroom
}

// TestCPULoadAccuracy runs the stressor at 25, 50 and 80 % for one and two
// workers and measures, over a 3 s window, the CPU the process and each
// worker thread really had, from utime+stime in /proc. Each must be
// within 5 points of the target. A miss in a window where the kernel kept
// a worker waiting for a CPU longer than the tolerance (schedstat) is
// retried once; if the retry is disturbed as well the test fails and says
// so. It never widens the tolerance, and a miss without such evidence
// fails at once.
//
// The cases run one after the other (not in parallel) so that they do not
// compete with each other for the two cores.
func TestCPULoadAccuracy(t *testing.T) {
	const window = 3 * time.Second
	// Waiting for a quieter machine is bounded for the whole test, so a
	// machine that never calms down costs at most this much extra time.
	waitBudget := 30 * time.Second
	for _, workers := range []int{1, 2} {
		for _, load := range []int{25, 50, 80} {
			t.Run(fmt.Sprintf("%dx%d%%", workers, load), func(t *testing.T) {
				for attempt := 1; ; attempt++ {
					waitBudget -= waitForRoom(t, workers, load, min(waitBudget, 15*time.Second))
					w, rep := measureLoad(t, workers, load, window)
					target := float64(load)
					t.Logf("attempt %d: %s; the stressor's own report: %.2f%% per worker", attempt, w, rep.CPU.AchievedPercent)
					if w.off(target) <= tolerance {
						return
					}
					if !w.contended() {
						t.Fatalf("%d worker(s) at %d%%: off by %.1f points (> %.0f) on a machine with room to spare: %s",
							workers, load, w.off(target), tolerance, w)
					}
					if attempt == 2 {
						t.Fatalf("%d worker(s) at %d%%: off by %.1f points (> %.0f) and the machine was too loaded to measure on both attempts: %s",
							workers, load, w.off(target), tolerance, w)
					}
					t.Logf("the workers waited for a CPU (%.1f%% of the window at worst); retrying once", slices.Max(w.waited))
				}
			})
		}
	}
}

// waitForRoom waits, at most limit, until the rest of the machine leaves
// room for workers × load (judged over 300 ms slices), and returns how long
// it waited. It only delays the measurement; it changes nothing in it.
func waitForRoom(t *testing.T, workers, load int, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < limit {
		a := sampleCPU(t, os.Getpid())
		time.Sleep(300 * time.Millisecond)
		b := sampleCPU(t, os.Getpid())
		if w := measure(a, a, b, 1); !crowded(w.foreign, workers, load) {
			break
		} else if time.Since(start) >= limit {
			t.Logf("the machine stayed busy (%.1f%% besides this test) for %s; measuring anyway", w.foreign, limit)
		}
	}
	return time.Since(start)
}

func measureLoad(t *testing.T, workers, load int, window time.Duration) (cpuWindow, stressor.Report) {
	t.Helper()
	c := startChild(t, childSpec{CPUWorkers: workers, CPULoad: load, Duration: (window + 5*time.Second).String()})
	c.waitLine("stress: cpu:", 5*time.Second)
	base := sampleCPU(t, c.pid)
	// Let the worker threads get going; the stressor aims at the
	// cumulative load since each worker started, so no long warm-up.
	time.Sleep(200 * time.Millisecond)
	a := sampleCPU(t, c.pid)
	time.Sleep(window)
	b := sampleCPU(t, c.pid)
	c.signal(syscall.SIGTERM)
	rep, _ := c.wait(5 * time.Second)
	if rep.CPU == nil || rep.CPU.Workers != workers {
		t.Fatalf("report has no CPU part for %d workers: %+v", workers, rep)
	}
	return measure(base, a, b, workers), rep
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
// reaches the requested memory within 2 s of the process start, stays there,
// and does not overshoot by more than the runtime's own few MiB (the
// mapping is outside the Go heap, so nothing doubles it).
func TestMemoryResidentAndHeld(t *testing.T) {
	t.Parallel()
	const (
		size  = 128 << 20
		reach = 2 * time.Second
		hold  = 2 * time.Second
		extra = 24 << 20 // the test binary's own resident size, generously
	)
	c := startChild(t, childSpec{Memory: size, Duration: "8s"})
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
	rep, _ := c.wait(5 * time.Second)
	m := rep.Memory
	if m == nil || m.RequestedBytes != size || m.ResidentBytes < size || m.ResidentAtEndBytes < size || m.SecondsToResident <= 0 || m.SecondsToResident > reach.Seconds() {
		t.Fatalf("report does not show the memory reached and held: %+v", m)
	}
	t.Logf("the stressor's own report: resident %s after %.3fs, %s at the end, baseline %s",
		stressor.FormatBytes(m.ResidentBytes), m.SecondsToResident, stressor.FormatBytes(m.ResidentAtEndBytes), stressor.FormatBytes(m.BaselineResidentBytes))
}

// TestDeadlineEndsTheProcess checks that nobody needs to stop the
// stressor: with both loads running it exits by itself at its deadline.
func TestDeadlineEndsTheProcess(t *testing.T) {
	t.Parallel()
	const (
		duration = 1500 * time.Millisecond
		grace    = 700 * time.Millisecond // process start and exit, on a busy machine
	)
	c := startChild(t, childSpec{CPUWorkers: 2, CPULoad: 100, Memory: 32 << 20, Duration: duration.String()})
	rep, took := c.wait(duration + 5*time.Second)
	if took < duration || took > duration+grace {
		t.Fatalf("exited %s after start, want between %s and %s", took.Round(time.Millisecond), duration, duration+grace)
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
			// The watchdog's grace is the most the process may overrun;
			// the hour of --duration must never count.
			if limit := until.Add(5 * time.Second); exited.After(limit) && tt.until > 0 {
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

// TestSignalEndsTheProcess checks that SIGTERM and SIGINT end the stress
// at once, also in the middle of a large allocation, and that the report
// says which signal it was.
func TestSignalEndsTheProcess(t *testing.T) {
	t.Parallel()
	const prompt = 500 * time.Millisecond
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
			c.waitLine(tt.waitFor, 5*time.Second)
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
