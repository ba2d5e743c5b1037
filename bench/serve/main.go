// Command serve measures `chaosnight serve` as a child process against a
// seeded sandbox (test/sandbox) and writes bench/results-serve.md:
//
//	go run ./bench/serve                  # about 4-8 minutes on 2 cores
//	go run ./bench/serve -cycles 2 -out /tmp/r.md
//
// It builds ./cmd/chaosnight into a temporary directory, starts one
// sandbox, and runs:
//
//  1. Idle memory: 100 valid experiments, a night that opens in 12 hours,
//     serve as deployed (leader election on); after -mem-window, VmRSS and
//     VmHWM from /proc/PID/status and the Go heap from /metrics.
//  2. -cycles windows of a `* * * * *` night lasting 28 s, each played by a
//     fresh serve (--leader-elect=false) started -lead before the opening:
//     - start latency: journal `started` of the first experiment (pause-a)
//     minus the opening T, in real time;
//     - pause: `chaosnight pause` 2 s into pause-a's observation; revert
//     end (journal) minus the moment the command returned; then resume;
//     - close: close-b (10 s + 5 s recovery) starts after the resume and
//     fits the window; a proxy in front of Prometheus holds its preflight
//     queries until T+21 s (a slow Prometheus), so its observation runs
//     past the close at T+28 s; revert end minus T+28 s.
//
// The clock offset is explained at latencyBench.cycle. Every process the
// bench starts is stopped (serve by SIGTERM, the sandbox by Stop), and the
// kill switch is released at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chaosnight/chaosnight/test/sandbox"
)

type options struct {
	out       string
	cycles    int
	lead      time.Duration
	memWindow time.Duration
	memGoal   int64 // MiB
	keep      bool
}

func main() {
	var o options
	flag.StringVar(&o.out, "out", "bench/results-serve.md", "where to write the results (empty: print only)")
	flag.IntVar(&o.cycles, "cycles", 5, "windows to play (each gives one sample of each latency)")
	flag.DurationVar(&o.lead, "lead", 5*time.Second, "how long before a window opens serve is started")
	flag.DurationVar(&o.memWindow, "mem-window", 15*time.Second, "how long serve idles before its memory is read")
	flag.Int64Var(&o.memGoal, "mem-goal", 40, "idle RSS goal, MiB")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (logs, journals)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/serve:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench/serve: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// run measures, then prints the results and writes them to o.out.
func run(ctx context.Context, o options) error {
	if o.cycles < 1 {
		return errors.New("-cycles must be at least 1")
	}
	r, err := measure(ctx, o)
	if len(r.cycles) == 0 {
		return err
	}
	// Even when a clean-up failed afterwards (err): the figures were measured.
	report := render(o, r.env, r.mem, r.cycles)
	fmt.Print(report)
	if o.out != "" {
		if werr := os.WriteFile(o.out, []byte(report), 0o644); werr != nil {
			return errors.Join(err, fmt.Errorf("writing %s: %w", o.out, werr))
		}
		logf("wrote %s", o.out)
	}
	if err != nil {
		return err
	}
	var failed int
	for _, c := range r.cycles {
		if c.err != nil {
			failed++
		}
	}
	if failed == len(r.cycles) {
		return errors.New("no window gave a measurement")
	}
	return nil
}

// results is what one run of the benchmark measured, for render.
type results struct {
	env    env // the machine, its load before and after, the total time
	mem    memResult
	cycles []cycleResult
}

// measure builds chaosnight, starts the sandbox, measures serve's idle
// memory and then its latencies over o.cycles windows; it only logs
// progress. Whatever happens, the kill switch is left released and the
// sandbox stopped.
func measure(ctx context.Context, o options) (_ results, err error) {
	env := environment()
	began := time.Now()
	root, err := moduleRoot(ctx)
	if err != nil {
		return results{}, err
	}
	tmp, err := os.MkdirTemp("", "chaosnight-bench-serve-")
	if err != nil {
		return results{}, fmt.Errorf("temporary directory: %w", err)
	}
	defer func() {
		if o.keep {
			logf("kept %s", tmp)
			return
		}
		if rmErr := os.RemoveAll(tmp); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("removing %s: %w", tmp, rmErr))
		}
	}()

	bin := filepath.Join(tmp, "chaosnight")
	logf("building %s", bin)
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/chaosnight")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return results{}, fmt.Errorf("go build: %w\n%s", err, out)
	}

	logf("starting the sandbox")
	sb, err := sandbox.Start(ctx, sandbox.Config{SeedWorkload: true, Log: os.Stderr})
	if err != nil {
		return results{}, fmt.Errorf("sandbox: %w", err)
	}
	defer func() {
		if stopErr := sb.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stopping the sandbox: %w", stopErr))
		}
		logf("sandbox stopped")
	}()
	logf("sandbox ready in %v", sb.Timings.PrometheusReady.Round(time.Millisecond))

	g, err := newGate(sb.PrometheusURL)
	if err != nil {
		return results{}, err
	}
	defer func() { err = errors.Join(err, g.close()) }()

	logf("idle memory: 100 experiments, %v", o.memWindow)
	mb := &memBench{bin: bin, kubeconfig: sb.Kubeconfig, promURL: sb.PrometheusURL, dir: filepath.Join(tmp, "memory"), window: o.memWindow}
	mem, err := mb.run(ctx)
	if err != nil {
		return results{}, fmt.Errorf("idle memory: %w", err)
	}
	logf("idle memory: VmRSS %.1f MiB, VmHWM %.1f MiB, heap in use %.1f MiB", mib(mem.last.rss<<10), mib(mem.last.hwm<<10), mib(int64(mem.heapInuse)))

	lb := &latencyBench{bin: bin, kubeconfig: sb.Kubeconfig, dir: filepath.Join(tmp, "latency"), gate: g, lead: o.lead, cycles: o.cycles, log: logf}
	defer func() {
		// Whatever happened, leave the kill switch released.
		if rErr := lb.killSwitch(context.WithoutCancel(ctx), "resume"); rErr != nil {
			err = errors.Join(err, rErr)
		}
	}()
	logf("latency: %d window(s)", o.cycles)
	cycles, err := lb.run(ctx)
	if err != nil {
		return results{}, err
	}

	if pids := processesOf(bin); len(pids) > 0 {
		return results{}, fmt.Errorf("processes of %s still running: %v", bin, pids)
	}
	logf("no process of %s is left", bin)

	env.loadAfter = loadAvg()
	env.total = time.Since(began)
	return results{env: env, mem: mem, cycles: cycles}, nil
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run from inside the chaosnight module")
	}
	return filepath.Dir(mod), nil
}

// env describes the machine.
type env struct {
	date       time.Time
	cpu        string
	cores      int
	memory     string
	kernel     string
	goVersion  string
	loadBefore string
	loadAfter  string
	total      time.Duration
}

func environment() env {
	e := env{date: time.Now().UTC(), cores: runtime.NumCPU(), goVersion: runtime.Version(), loadBefore: loadAvg()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				e.cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "MemTotal:") {
				var kb int64
				if _, err := fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(line, "MemTotal:"), "kB")), &kb); err == nil {
					e.memory = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
				}
			}
		}
	}
	if data, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.kernel = strings.TrimSpace(string(data))
	}
	return e
}

func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// processesOf lists the processes whose command line starts with bin: the
// bench's own serve children (its binary lives in its temporary directory).
func processesOf(bin string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.HasPrefix(string(cmdline), bin+"\x00") {
			pids = append(pids, pid)
		}
	}
	return pids
}

func mib(bytes int64) float64 { return float64(bytes) / (1 << 20) }
