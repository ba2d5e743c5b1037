// Command stress compares chaosnight's stressor with Debian's stress-ng, side
// by side in one run on this machine, and writes bench/results-stress.md:
//
//	bash bench/stress/run.sh                 # installs stress-ng if missing; about 5 minutes on 2 cores
//	go run ./bench/stress -reps 1 -window 3s # quicker, noisier
//
// Everything is measured from the outside, through /proc, identically for
// both tools: CPU is the utime+stime delta of the whole process tree over
// a window (per worker = tree / workers), memory is the sum of VmRSS (and
// of Pss, which does not double-count shared pages) over the tree, polled
// every 5 ms from the moment the process is started.
//
// Cases: CPU at 25/50/80 % for 1 and 2 workers (stress-ng --cpu N
// --cpu-load P); memory 256 MiB (stress-ng --vm 1 --vm-bytes 256M
// --vm-keep, and the same with --vm-hang 0, which holds instead of
// re-dirtying); overhead: the CPU the tools use besides their workers and
// their resident size without memory stress. Ours and stress-ng alternate
// within each repetition so that both see the same machine; the CPU the
// rest of the machine used in each window is recorded, and a window where
// it left too little room for the target is marked.
//
// Our side is a fresh build of ./cmd/chaosnight-stress, the binary the
// stress containers run (or -chaosnight BIN, run as `BIN stress`),
// otherwise this program re-executed in -child mode, which calls
// stressor.Run exactly as the command does.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chaosnight/chaosnight/pkg/stressor"
)

const (
	clockTick = 10 * time.Millisecond // USER_HZ
	memTarget = 256 << 20
	headroom  = 15.0 // points of one core the kernel and this program need
)

type options struct {
	reps   int
	window time.Duration
	settle time.Duration
	out    string
	bin    string
	wait   time.Duration
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-child" {
		os.Exit(child(os.Args[2:]))
	}
	var o options
	flag.IntVar(&o.reps, "reps", 3, "repetitions of every case")
	flag.DurationVar(&o.window, "window", 5*time.Second, "CPU measurement window")
	flag.DurationVar(&o.settle, "settle", 500*time.Millisecond, "time between the start of a stressor and its CPU window")
	flag.StringVar(&o.out, "out", "bench/results-stress.md", "where to write the results")
	flag.DurationVar(&o.wait, "wait", 30*time.Second, "before each CPU window, wait at most this long for the rest of the machine to leave room for the target")
	flag.StringVar(&o.bin, "chaosnight", "", "a chaosnight binary to run as `BIN stress` (default: build ./cmd/chaosnight-stress, fall back to -child mode)")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/stress:", err)
		os.Exit(1)
	}
}

// child is our stressor without cobra: the fallback while the command is
// not registered in the binary.
func child(args []string) int {
	fs := flag.NewFlagSet("child", flag.ContinueOnError)
	workers := fs.Int("cpu-workers", 0, "")
	load := fs.Int("cpu-load", 100, "")
	memory := fs.String("memory", "0", "")
	duration := fs.Duration("duration", 0, "")
	if err := fs.Parse(args); err != nil {
		return 3
	}
	mem, err := stressor.ParseMemory(*memory)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() { cancel(&stressor.SignalError{Signal: <-sigs}) }()
	rep, err := stressor.Run(ctx, stressor.Config{CPUWorkers: *workers, CPULoad: *load, Memory: mem, Duration: *duration})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	_ = json.NewEncoder(os.Stdout).Encode(rep)
	return 0
}

// tool starts one kind of stressor.
type tool struct {
	name string
	cmd  func(workers, load int, memory int64, extra ...string) []string
}

// run measures, then writes the results to o.out.
func run(o options) error {
	r, err := measure(o)
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.out, []byte(report(r)), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	fmt.Fprintf(os.Stderr, "wrote %s\n", o.out)
	return nil
}

// results is what one run of the benchmark measured, for report.
type results struct {
	opts      options
	machine   machine
	oursHow   string // how our side was run
	ngVersion string
	cpu       []cpuRow
	mem       []memRow
}

// measure runs every case, ours and stress-ng alternating, and returns the
// rows; it only logs progress to stderr.
func measure(o options) (results, error) {
	m := thisMachine()
	stressNG, err := exec.LookPath("stress-ng")
	if err != nil {
		return results{}, errors.New("stress-ng not found: apt-get install -y stress-ng (or run bench/stress/run.sh)")
	}
	ngVersion, _ := exec.Command(stressNG, "--version").Output()

	ours, oursHow, cleanup, err := ourCommand(o.bin)
	if err != nil {
		return results{}, err
	}
	defer cleanup()
	chaos, ng := stressTools(o, ours, stressNG)
	fmt.Fprintf(os.Stderr, "ours: %s\nstress-ng: %s", oursHow, ngVersion)
	cpuRows, err := measureAllCPU(o, chaos, ng)
	if err != nil {
		return results{}, err
	}
	memRows, err := measureAllMemory(o, chaos, ng)
	if err != nil {
		return results{}, err
	}
	return results{opts: o, machine: m, oursHow: oursHow, ngVersion: strings.TrimSpace(string(ngVersion)), cpu: cpuRows, mem: memRows}, nil
}

// stressTools are the two tools' command lines: ours (the command that
// runs our stressor) and stress-ng, both told to outlive the measurement.
func stressTools(o options, ours []string, stressNG string) (chaos, ng tool) {
	long := (o.settle + o.window + 30*time.Second).String()
	chaos = tool{name: "chaosnight", cmd: func(workers, load int, memory int64, _ ...string) []string {
		args := slices.Clone(ours)
		if workers > 0 {
			args = append(args, "--cpu-workers", strconv.Itoa(workers), "--cpu-load", strconv.Itoa(load))
		}
		if memory > 0 {
			args = append(args, "--memory", strconv.FormatInt(memory, 10))
		}
		return append(args, "--duration", long)
	}}
	ng = tool{name: "stress-ng", cmd: func(workers, load int, memory int64, extra ...string) []string {
		args := []string{stressNG, "--quiet", "--timeout", strconv.Itoa(int((o.settle + o.window + 30*time.Second).Seconds()))}
		if workers > 0 {
			args = append(args, "--cpu", strconv.Itoa(workers), "--cpu-load", strconv.Itoa(load))
		}
		if memory > 0 {
			args = append(args, "--vm", "1", "--vm-bytes", fmt.Sprintf("%dM", memory>>20), "--vm-keep")
		}
		return append(args, extra...)
	}}

	return chaos, ng
}

// measureAllCPU measures every CPU case, reps times, the tools alternating.
func measureAllCPU(o options, chaos, ng tool) ([]cpuRow, error) {
	var cpuRows []cpuRow
	for rep := 1; rep <= o.reps; rep++ {
		for _, workers := range []int{1, 2} {
			for _, load := range []int{25, 50, 80} {
				for _, t := range []tool{chaos, ng} {
					r, err := measureCPU(t, workers, load, o)
					if err != nil {
						return nil, err
					}
					r.rep = rep
					fmt.Fprintf(os.Stderr, "rep %d %-10s %dx%d%%: %.2f%% per worker (workers only %.2f%%), overhead %.2f%%, RSS %s, rest of machine %.0f%%, workers waited %.1f%%\n",
						rep, t.name, workers, load, r.perWorker, r.workersOnly, r.overhead, mib(r.rss), r.foreign, r.waited)
					cpuRows = append(cpuRows, r)
				}
			}
		}
	}
	return cpuRows, nil
}

// measureAllMemory measures the memory cases, reps times, the tools
// alternating.
func measureAllMemory(o options, chaos, ng tool) ([]memRow, error) {
	var memRows []memRow
	for rep := 1; rep <= o.reps; rep++ {
		for _, c := range []struct {
			t     tool
			label string
			extra []string
		}{
			{chaos, "chaosnight --memory 256Mi", nil},
			{ng, "stress-ng --vm 1 --vm-bytes 256M --vm-keep", nil},
			{ng, "stress-ng … --vm-keep --vm-hang 0", []string{"--vm-hang", "0"}},
		} {
			r, err := measureMemory(c.t, c.label, c.extra, o)
			if err != nil {
				return nil, err
			}
			r.rep = rep
			fmt.Fprintf(os.Stderr, "rep %d %-45s reached in %s, steady RSS %s (Pss %s), peak %s, CPU while holding %.1f%%\n",
				rep, c.label, fmtDur(r.reach), mib(r.steady), mib(r.pss), mib(r.peak), r.holdCPU)
			memRows = append(memRows, r)
		}
	}
	return memRows, nil
}

// ourCommand builds chaosnight-stress (what the stress containers run)
// and checks that it answers; otherwise it falls back to this program's
// -child mode. A -chaosnight binary given instead is run as `BIN stress`
// when it has that command (the main binary).
func ourCommand(bin string) (args []string, how string, cleanup func(), err error) {
	cleanup = func() {}
	if bin == "" {
		dir, err := os.MkdirTemp("", "bench-stress-")
		if err != nil {
			return nil, "", cleanup, fmt.Errorf("temp dir: %w", err)
		}
		cleanup = func() { _ = os.RemoveAll(dir) }
		bin = filepath.Join(dir, "chaosnight-stress")
		build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/chaosnight-stress")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			return nil, "", cleanup, fmt.Errorf("build chaosnight-stress: %w", err)
		}
		if exec.Command(bin, "--help").Run() == nil {
			return []string{bin}, "`chaosnight-stress` (" + bin + ", the binary the stress containers run)", cleanup, nil
		}
	}
	if exec.Command(bin, "stress", "--help").Run() == nil {
		return []string{bin, "stress"}, "`chaosnight stress` (" + bin + ")", cleanup, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, "", cleanup, fmt.Errorf("find this program: %w", err)
	}
	return []string{self, "-child"}, "stressor.Run in this program's -child mode (the binary at hand has no `stress` command yet)", cleanup, nil
}

// ---- /proc ----

type procStat struct {
	pid, ppid int
	cpu       time.Duration // utime+stime
	rss       int64
}

// readStat reads /proc/PID/stat and statm.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 22 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected", pid)
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	s := procStat{pid: pid, ppid: ppid, cpu: time.Duration(ut+st) * clockTick}
	if m, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid)); err == nil {
		if g := strings.Fields(string(m)); len(g) > 1 {
			pages, _ := strconv.ParseInt(g[1], 10, 64)
			s.rss = pages * int64(os.Getpagesize())
		}
	}
	return s, nil
}

// tree returns root and all its descendants.
func tree(root int) []procStat {
	entries, _ := os.ReadDir("/proc")
	all := map[int]procStat{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if s, err := readStat(pid); err == nil {
			all[pid] = s
		}
	}
	in := map[int]bool{root: true}
	for changed := true; changed; {
		changed = false
		for pid, s := range all {
			if !in[pid] && in[s.ppid] {
				in[pid], changed = true, true
			}
		}
	}
	var out []procStat
	for pid := range in {
		if s, ok := all[pid]; ok {
			out = append(out, s)
		}
	}
	return out
}

// threadCPU is the CPU of every thread of every process in the tree,
// keyed "pid/tid", to tell workers from control threads and processes,
// and the time each spent runnable but waiting for a CPU (schedstat).
func threadCPU(procs []procStat) (cpu, wait map[string]time.Duration) {
	out := map[string]time.Duration{}
	wait = map[string]time.Duration{}
	for _, p := range procs {
		tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", p.pid))
		for _, t := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", p.pid, t.Name()))
			if err != nil {
				continue
			}
			i := bytes.LastIndexByte(b, ')')
			f := strings.Fields(string(b[i+1:]))
			if i < 0 || len(f) < 13 {
				continue
			}
			ut, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			key := fmt.Sprintf("%d/%s", p.pid, t.Name())
			out[key] = time.Duration(ut+st) * clockTick
			if ss, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", p.pid, t.Name())); err == nil {
				if g := strings.Fields(string(ss)); len(g) > 1 {
					ns, _ := strconv.ParseInt(g[1], 10, 64)
					wait[key] = time.Duration(ns)
				}
			}
		}
	}
	return out, wait
}

func pss(procs []procStat) int64 {
	var sum int64
	for _, p := range procs {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", p.pid))
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
				f := strings.Fields(rest)
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				sum += kb * 1024
			}
		}
	}
	return sum
}

func machineBusy() time.Duration {
	b, _ := os.ReadFile("/proc/stat")
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for _, idx := range []int{1, 2, 3, 6, 7, 8} { // user nice system irq softirq steal
		if idx < len(f) {
			v, _ := strconv.ParseInt(f[idx], 10, 64)
			busy += v
		}
	}
	return time.Duration(busy) * clockTick
}

func sumCPU(ps []procStat) (cpu time.Duration, rss int64) {
	for _, p := range ps {
		cpu += p.cpu
		rss += p.rss
	}
	return cpu, rss
}

// ---- runs ----

type running struct {
	cmd    *exec.Cmd
	start  time.Time
	exited chan struct{}
}

func start(args []string) (*running, error) {
	c := exec.Command(args[0], args[1:]...)
	c.Stdout, c.Stderr = io.Discard, io.Discard
	// Own process group, so that whatever stress-ng forks can be found
	// and cleaned up even if a child outlives its parent.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	r := &running{cmd: c, exited: make(chan struct{})}
	r.start = time.Now()
	if err := c.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", args[0], err)
	}
	go func() { _ = c.Wait(); close(r.exited) }()
	return r, nil
}

// stop sends SIGTERM, waits, and kills the process group if anything is
// left after 5 s.
func (r *running) stop() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
		<-r.exited
	}
	// stress-ng's workers are gone with their parent; make sure.
	_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
}

type cpuRow struct {
	tool          string
	rep           int
	workers, load int
	perWorker     float64 // tree CPU / workers, percent of one core
	workersOnly   float64 // the busiest N threads, per worker
	overhead      float64 // everything but the workers, percent of one core
	rss           int64   // tree VmRSS without memory stress
	pss           int64   // tree Pss without memory stress: shared pages counted once
	foreign       float64 // the rest of the machine, percent of one core
	waited        float64 // the most a worker waited in the run queue, percent of the window
}

// crowded: the rest of the machine left less room than the target needs,
// so the neighbours, not the tool, decided the result. It is judged by
// the neighbours' use rather than by the workers' run-queue wait, which
// depends on the tool itself (a worker that makes up lost time stays
// runnable longer, and so waits more).
func (r cpuRow) crowded() bool {
	return r.foreign+float64(r.workers*r.load) > float64(100*runtime.NumCPU())-headroom
}

// waitForRoom waits, at most limit, until the rest of the machine has left
// room for workers × load over a 500 ms slice. It only delays a
// measurement, so that a busy neighbour does not decide the comparison;
// windows that are still crowded are marked in the results.
func waitForRoom(workers, load int, limit time.Duration) {
	need := float64(workers*load) + headroom
	for start := time.Now(); time.Since(start) < limit; {
		a, at := machineBusy(), time.Now()
		time.Sleep(500 * time.Millisecond)
		busy := 100 * (machineBusy() - a).Seconds() / time.Since(at).Seconds()
		if busy+need <= float64(100*runtime.NumCPU()) {
			return
		}
	}
}

func measureCPU(t tool, workers, load int, o options) (cpuRow, error) {
	waitForRoom(workers, load, o.wait)
	r, err := start(t.cmd(workers, load, 0))
	if err != nil {
		return cpuRow{}, err
	}
	defer r.stop()
	pid := r.cmd.Process.Pid
	time.Sleep(o.settle)
	a0 := tree(pid)
	ath, aw := threadCPU(a0)
	am, at := machineBusy(), time.Now()
	time.Sleep(o.window)
	b0 := tree(pid)
	bth, bw := threadCPU(b0)
	bm, bt := machineBusy(), time.Now()
	select {
	case <-r.exited:
		return cpuRow{}, fmt.Errorf("%s %dx%d%% exited during the window", t.name, workers, load)
	default:
	}
	wall := bt.Sub(at).Seconds()
	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / wall }
	ca, _ := sumCPU(a0)
	cb, rss := sumCPU(b0)
	type th struct{ cpu, wait float64 }
	var threads []th
	for k, v := range bth {
		threads = append(threads, th{cpu: pct(v - ath[k]), wait: pct(bw[k] - aw[k])})
	}
	slices.SortFunc(threads, func(x, y th) int { return cmp.Compare(y.cpu, x.cpu) })
	var work, waited float64
	for _, x := range threads[:min(workers, len(threads))] {
		work += x.cpu
		waited = max(waited, x.wait)
	}
	total := pct(cb - ca)
	return cpuRow{
		tool: t.name, workers: workers, load: load,
		waited:      waited,
		perWorker:   total / float64(workers),
		workersOnly: work / float64(workers),
		overhead:    max(total-work, 0),
		rss:         rss,
		pss:         pss(b0),
		foreign:     pct(bm-am) - total,
	}, nil
}

type memRow struct {
	label   string
	rep     int
	reach   time.Duration // start to tree VmRSS >= 256 MiB; 0 = never
	peak    int64
	steady  int64 // median tree VmRSS over 2 s after reaching
	pss     int64
	holdCPU float64 // tree CPU while holding, percent of one core
}

func measureMemory(t tool, label string, extra []string, o options) (memRow, error) {
	row := memRow{label: label}
	r, err := start(t.cmd(0, 0, memTarget, extra...))
	if err != nil {
		return row, err
	}
	defer r.stop()
	pid := r.cmd.Process.Pid
	for time.Since(r.start) < 10*time.Second {
		_, rss := sumCPU(tree(pid))
		row.peak = max(row.peak, rss)
		if rss >= memTarget {
			row.reach = time.Since(r.start)
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if row.reach == 0 {
		return row, fmt.Errorf("%s did not reach %s within 10 s", label, mib(memTarget))
	}
	time.Sleep(200 * time.Millisecond)
	a, at := tree(pid), time.Now()
	var samples []int64
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		_, rss := sumCPU(tree(pid))
		samples = append(samples, rss)
		row.peak = max(row.peak, rss)
	}
	b := tree(pid)
	row.pss = pss(b)
	ca, _ := sumCPU(a)
	cb, _ := sumCPU(b)
	row.holdCPU = 100 * (cb - ca).Seconds() / time.Since(at).Seconds()
	slices.Sort(samples)
	row.steady = samples[len(samples)/2]
	return row, nil
}
