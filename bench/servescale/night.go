package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chaosnight/chaosnight/bench/internal/cluster"
	"github.com/chaosnight/chaosnight/bench/internal/proc"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
)

const nightName = "scale"

// experimentYAML is one experiment of the night: a real kill of 1 pod
// among the app=bench pods of every bench namespace (10,000 at the
// default size), a probe that always holds, short observation.
func experimentYAML(name, group string, nss int, duration, recovery time.Duration) string {
	return fmt.Sprintf(`apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata:
  name: %s
  labels: {bench: servescale, group: %s}
spec:
  description: bench/servescale
  hypothesis:
    probes:
      - name: always
        query: vector(1)
        expect: {equals: 1}
  target:
    namespaces: [%s]
    selector: app=%s
    pick: {count: 1}
  action:
    podKill: {method: delete}
  duration: %s
  probeInterval: 1s
  recovery: %s
  safety: {maxTargets: 1}
`, name, group, strings.Join(cluster.Namespaces(nss), ", "), cluster.BenchApp, duration, recovery)
}

// nightConfig is one night opening at opens (UTC, a whole minute), 30
// minutes long, that plays the experiments of group "night" in name order.
func nightConfig(opens time.Time) string {
	return fmt.Sprintf(`# bench/servescale: one window, the "night" group back to back
experiments: experiments
nights:
  - name: %s
    opens: "%d %d * * *"
    lasts: 30m
    timezone: UTC
    experiments: {selector: group=night}
`, nightName, opens.Minute(), opens.Hour())
}

// writeExperiments writes o.loaded experiments: night-001… (played) and
// idle-001… (loaded, never selected).
func writeExperiments(dir string, o options) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("experiments directory: %w", err)
	}
	for i := range o.loaded {
		group, idx := "night", i+1
		if i >= o.played {
			group, idx = "idle", i-o.played+1
		}
		name := fmt.Sprintf("%s-%03d", group, idx)
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(experimentYAML(name, group, o.namespaces, o.duration, o.recovery)), 0o644); err != nil {
			return fmt.Errorf("write experiment: %w", err)
		}
	}
	return nil
}

// nightOpening is the first whole minute at least lead after now.
func nightOpening(now time.Time, lead time.Duration) time.Time {
	return now.Add(lead).Truncate(time.Minute).Add(time.Minute).UTC()
}

// sample is one reading of serve's memory.
type sample struct {
	at        time.Time
	rssKiB    int64 // VmRSS
	heapInuse float64
	heapAlloc float64
	heapOK    bool // the heap fields were read (from /metrics)
}

// nightResult is what the night measured.
type nightResult struct {
	opens       time.Time
	serveReady  time.Duration // exec → /readyz 200
	idle        time.Duration // serve's idle time before the opening over which idleReqs were counted
	idleReqs    map[string]int
	nightReqs   map[string]int // from the opening to the last experiment's end
	nightEnd    time.Time
	runs        []runResult
	samples     []sample
	loaded      float64 // chaosnight_experiments_loaded
	serveLog    string
	goroutines0 float64
	goroutines1 float64
}

// runResult is one experiment's journal, as the bench reads it.
type runResult struct {
	name           string
	verdict        string
	started, ended time.Time
	declared       time.Duration // duration + recovery
	killed         int
	phases         map[string]time.Duration
	reasons        []string
	rssEnd, rssMax int64 // KiB, at its end (first sample after) and peak during it
	heapEnd        float64
	heapEndOK      bool
	selectNote     string
}

// playNight writes the night, starts serve, waits for the 20 experiments
// and reads their journals.
func (b *bench) playNight(ctx context.Context, r *results) (nightResult, error) {
	var n nightResult
	dir := filepath.Join(b.tmp, "night")
	if err := writeExperiments(filepath.Join(dir, "experiments"), b.opts); err != nil {
		return n, err
	}
	n.opens = nightOpening(time.Now(), b.opts.lead)
	cfg := filepath.Join(dir, "chaosnight.yaml")
	if err := os.WriteFile(cfg, []byte(nightConfig(n.opens)), 0o644); err != nil {
		return n, fmt.Errorf("write config: %w", err)
	}
	jdir := filepath.Join(dir, "journals")
	r.env.loadBefore = loadAvg()
	b.logf("serve: %d experiments loaded, %d in the night opening at %s", b.opts.loaded, b.opts.played, n.opens.Format("15:04:05"))
	c, err := startServe(ctx, b.bin, filepath.Join(dir, "serve.log"),
		"--config", cfg,
		"--kubeconfig", b.sb.Kubeconfig,
		"--namespace", "default",
		"--kill-switch-namespace", "default",
		"--prometheus-url", b.sb.PrometheusURL,
		"--dry-run=false",
		"--journal-dir", jdir,
		"--leader-elect=false",
	)
	if err != nil {
		return n, err
	}
	defer func() { _ = c.stop() }()
	n.serveReady = c.ready.Sub(c.started)
	if m, err := c.metrics(ctx); err == nil {
		n.loaded, n.goroutines0 = m["chaosnight_experiments_loaded"], m["go_goroutines"]
	}
	if n.loaded != float64(b.opts.loaded) {
		return n, fmt.Errorf("serve reports %v experiments loaded, want %d:\n%s", n.loaded, b.opts.loaded, proc.Tail(c.logPath, 15))
	}

	sampler := &memSampler{c: c}
	stopSampling := sampler.start(ctx)
	idleFrom := time.Now()
	before, err := cluster.APIRequests(ctx, b.admin)
	if err != nil {
		return n, err
	}
	// Read the counters again just before the opening: the idle rate.
	if err := proc.SleepUntil(ctx, n.opens.Add(-500*time.Millisecond)); err != nil {
		return n, err
	}
	atOpen, err := cluster.APIRequests(ctx, b.admin)
	if err != nil {
		return n, err
	}
	n.idle = time.Since(idleFrom)
	n.idleReqs = cluster.Delta(before, atOpen)
	b.logf("idle %s before the opening: %d API requests (%s)", n.idle.Round(time.Second), cluster.Sum(n.idleReqs), cluster.Describe(n.idleReqs))

	deadline := n.opens.Add(time.Duration(b.opts.played) * b.opts.nightBudget)
	recs, err := waitNight(ctx, jdir, b.opts.played, deadline, b.logf)
	if err != nil {
		stopSampling()
		return n, fmt.Errorf("%w\nserve log:\n%s", err, proc.Tail(c.logPath, 20))
	}
	after, err := cluster.APIRequests(ctx, b.admin)
	if err != nil {
		stopSampling()
		return n, err
	}
	n.nightEnd = time.Now()
	n.nightReqs = cluster.Delta(atOpen, after)
	// A little more memory after the last experiment (idle again).
	_ = proc.Sleep(ctx, 2*time.Second)
	n.samples = stopSampling()
	if m, err := c.metrics(ctx); err == nil {
		n.goroutines1 = m["go_goroutines"]
	}
	for _, rec := range recs {
		n.runs = append(n.runs, runOf(rec, b.opts))
	}
	attachMemory(n.runs, n.samples)
	n.serveLog = proc.Tail(c.logPath, 5)
	if err := c.stop(); err != nil {
		return n, err
	}
	return n, nil
}

// runOf reads what the bench needs of one journal.
func runOf(rec *journal.Record, o options) runResult {
	r := runResult{name: rec.Experiment.Metadata.Name, verdict: string(rec.Verdict), started: rec.Started, ended: rec.Ended,
		declared: o.duration, phases: map[string]time.Duration{}, reasons: rec.Reasons}
	for _, p := range rec.Phases {
		r.phases[p.Name] += p.Ended.Sub(p.Started)
		if p.Name == journal.PhaseSelect {
			r.selectNote = p.Note
		}
	}
	for _, inj := range rec.Injections {
		for _, out := range inj.Outcomes {
			if out.Status == inject.StatusKilled {
				r.killed++
			}
		}
	}
	return r
}

// attachMemory gives each run the memory at its end (the first sample at
// or after it) and the peak VmRSS sampled while it ran.
func attachMemory(runs []runResult, samples []sample) {
	for i := range runs {
		r := &runs[i]
		for _, s := range samples {
			if !s.at.Before(r.started) && !s.at.After(r.ended) {
				r.rssMax = max(r.rssMax, s.rssKiB)
			}
		}
		for _, s := range samples {
			if !s.at.Before(r.ended) {
				r.rssEnd = s.rssKiB
				break
			}
		}
		for _, s := range samples {
			if s.heapOK && !s.at.Before(r.ended) {
				r.heapEnd, r.heapEndOK = s.heapInuse, true
				break
			}
		}
	}
}

// waitNight polls the journal directory until want experiments have
// finished (or deadline), and returns their records by start.
func waitNight(ctx context.Context, dir string, want int, deadline time.Time, logf func(string, ...any)) ([]*journal.Record, error) {
	lastCount := -1
	for {
		recs := finishedRecords(dir)
		if len(recs) != lastCount {
			logf("night: %d of %d experiments finished", len(recs), want)
			lastCount = len(recs)
		}
		if len(recs) >= want {
			return recs, nil
		}
		if time.Now().After(deadline) {
			return recs, fmt.Errorf("night: %d of %d experiments finished by the deadline", len(recs), want)
		}
		if err := proc.Sleep(ctx, 100*time.Millisecond); err != nil {
			return recs, err
		}
	}
}

// finishedRecords reads the finished journals of dir, by start.
func finishedRecords(dir string) []*journal.Record {
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	var recs []*journal.Record
	for _, f := range files {
		rec, err := journal.Read(f)
		if err != nil || rec.Verdict == journal.Running || rec.Verdict == "" || rec.Ended.IsZero() {
			continue // being written, or in progress
		}
		recs = append(recs, rec)
	}
	slices.SortFunc(recs, func(a, b *journal.Record) int { return a.Started.Compare(b.Started) })
	return recs
}

// memSampler reads serve's VmRSS every 250 ms and its heap every second.
type memSampler struct {
	c       *child
	mu      sync.Mutex
	samples []sample
}

func (m *memSampler) start(ctx context.Context) (stop func() []sample) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			s := sample{at: time.Now()}
			if kib, err := vmRSS(m.c.pid()); err == nil {
				s.rssKiB = kib
			}
			if i%4 == 0 {
				if mm, err := m.c.metrics(ctx); err == nil {
					s.heapInuse, s.heapAlloc, s.heapOK = mm["go_memstats_heap_inuse_bytes"], mm["go_memstats_heap_alloc_bytes"], true
				}
			}
			m.mu.Lock()
			m.samples = append(m.samples, s)
			m.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return func() []sample {
		cancel()
		<-done
		m.mu.Lock()
		defer m.mu.Unlock()
		return slices.Clone(m.samples)
	}
}

// vmRSS reads VmRSS (KiB) from /proc/PID/status.
func vmRSS(pid int) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read /proc/%d/status: %w", pid, err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// child is the `chaosnight serve` process.
type child struct {
	cmd     *exec.Cmd
	addr    string
	logPath string
	started time.Time
	ready   time.Time
	done    chan struct{}
	waitErr error
}

// startServe starts `bin serve --listen <free loopback port> ARGS...` in
// its own process group (killed with this program), and waits for /readyz.
func startServe(ctx context.Context, bin, logPath string, args ...string) (*child, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("free port: %w", err)
	}
	addr := lis.Addr().String()
	if err := lis.Close(); err != nil {
		return nil, fmt.Errorf("free port: %w", err)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("serve log: %w", err)
	}
	cmd := exec.Command(bin, append([]string{"serve", "--listen", addr}, args...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	c := &child{cmd: cmd, addr: addr, logPath: logPath, done: make(chan struct{}), started: time.Now()}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("start serve: %w", err)
	}
	go func() {
		c.waitErr = cmd.Wait()
		_ = logf.Close()
		close(c.done)
	}()
	for deadline := time.Now().Add(30 * time.Second); ; {
		select {
		case <-c.done:
			return nil, fmt.Errorf("serve exited before it was ready (%v):\n%s", c.waitErr, proc.Tail(logPath, 20))
		default:
		}
		if _, err := c.get(ctx, "/readyz"); err == nil {
			c.ready = time.Now()
			return c, nil
		}
		if time.Now().After(deadline) {
			return nil, errors.Join(fmt.Errorf("serve not ready after 30 s:\n%s", proc.Tail(logPath, 20)), c.stop())
		}
		if err := proc.Sleep(ctx, 50*time.Millisecond); err != nil {
			return nil, errors.Join(err, c.stop())
		}
	}
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// stop sends SIGTERM, waits up to 15 s, then kills the process group.
func (c *child) stop() error {
	select {
	case <-c.done:
		return nil
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGTERM to serve: %w", err)
	}
	select {
	case <-c.done:
		return nil
	case <-time.After(15 * time.Second):
	}
	_ = syscall.Kill(-c.pid(), syscall.SIGKILL)
	<-c.done
	return errors.New("serve did not stop within 15 s of SIGTERM; killed")
}

func (c *child) get(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.addr+path, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return body, nil
}

// metrics reads serve's unlabelled /metrics samples.
func (c *child) metrics(ctx context.Context) (map[string]float64, error) {
	body, err := c.get(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	return proc.MetricValues(string(body)), nil
}
