package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/chaosnight/chaosnight/bench/internal/proc"
)

// The idle-memory run: 100 experiments (25 each of four kinds, shaped like
// the repository's examples), one night that does not open for hours,
// serve as deployed (leader election on), measured through /proc and
// /metrics.

// memTemplates are the four kinds of experiment, with %[1]s the name
// and %[2]d the index.
func memTemplates() [4]string {
	return [4]string{
		// pod kill, evict, repeated, with a stop condition
		`apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata:
  name: %[1]s
  labels: {team: bench, kind: evict, index: "%[2]d"}
spec:
  description: Losing one checkout pod every 30 seconds keeps the shop's 5xx ratio under 1 %% (%[1]s).
  hypothesis:
    probes:
      - name: error-ratio
        query: |
          sum(rate(http_requests_total{namespace="shop",code=~"5.."}[1m]))
            / sum(rate(http_requests_total{namespace="shop"}[1m]))
        expect: {below: 0.01}
        onEmpty: fail
      - name: checkout-available
        query: kube_deployment_status_replicas_available{namespace="shop",deployment="checkout"}
        expect: {atLeast: 2}
  target:
    namespaces: [shop]
    selector: app=checkout
    pick: {count: 1}
    minAge: 30s
  action:
    podKill: {method: evict, every: 30s}
  duration: 2m
  probeInterval: 5s
  recovery: 1m
  stopWhen:
    - name: checkout-gone
      query: sum(kube_deployment_status_replicas_available{namespace="shop",deployment="checkout"})
      expect: {below: 1}
  safety: {maxTargets: 1, minHealthy: 2}
`,
		// pod kill, delete a percentage, latency hypothesis
		`apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata:
  name: %[1]s
  labels: {team: bench, kind: delete, index: "%[2]d"}
spec:
  description: Deleting 30 %% of the frontend pods every minute keeps p99 under 500 ms (%[1]s).
  hypothesis:
    probes:
      - name: frontend-p99-latency
        query: |
          histogram_quantile(0.99,
            sum by (le) (rate(http_request_duration_seconds_bucket{namespace="shop",service="frontend"}[1m])))
        expect: {below: 0.5}
      - name: frontend-error-ratio
        query: |
          sum(rate(http_requests_total{namespace="shop",service="frontend",code=~"5.."}[1m]))
            / sum(rate(http_requests_total{namespace="shop",service="frontend"}[1m]))
        expect: {below: 0.02}
  target:
    namespaces: [shop]
    selector: app=frontend
    pick: {percent: 30}
    onePerOwner: true
  action:
    podKill:
      method: delete
      gracePeriod: 5s
      every: 1m
  duration: 5m
  probeInterval: 10s
  recovery: 2m
  stopWhen:
    - name: latency-meltdown
      query: |
        histogram_quantile(0.99,
          sum by (le) (rate(http_request_duration_seconds_bucket{namespace="shop",service="frontend"}[1m])))
      expect: {above: 2}
  safety: {maxTargets: 3, minHealthy: 1}
`,
		// CPU stress
		`apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata:
  name: %[1]s
  labels: {team: bench, kind: cpu, index: "%[2]d"}
spec:
  description: Two busy CPU workers in one checkout pod keep p95 under 300 ms (%[1]s).
  hypothesis:
    probes:
      - name: checkout-p95-latency
        query: |
          histogram_quantile(0.95,
            sum by (le) (rate(http_request_duration_seconds_bucket{namespace="shop",service="checkout"}[1m])))
        expect: {below: 0.3}
  target:
    namespaces: [shop]
    selector: app=checkout
    pick: {count: 1}
  action:
    stress:
      scope: pod
      cpu: {workers: 2, load: 80}
  duration: 3m
  probeInterval: 10s
  recovery: 1m
  stopWhen:
    - name: checkout-errors-spike
      query: |
        sum(rate(http_requests_total{namespace="shop",service="checkout",code=~"5.."}[1m]))
          / sum(rate(http_requests_total{namespace="shop",service="checkout"}[1m]))
      expect: {above: 0.05}
  safety: {maxTargets: 1, minHealthy: 2}
`,
		// memory stress
		`apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata:
  name: %[1]s
  labels: {team: bench, kind: memory, index: "%[2]d"}
spec:
  description: 256 MiB more in one cart pod causes no OOM kill (%[1]s).
  hypothesis:
    probes:
      - name: cart-restarts
        query: sum(increase(kube_pod_container_status_restarts_total{namespace="shop",pod=~"cart-.*"}[2m]))
        expect: {atMost: 0}
        onEmpty: fail
      - name: cart-error-ratio
        query: |
          sum(rate(http_requests_total{namespace="shop",service="cart",code=~"5.."}[1m]))
            / sum(rate(http_requests_total{namespace="shop",service="cart"}[1m]))
        expect: {below: 0.01}
  target:
    namespaces: [shop]
    selector: app=cart
    pick: {count: 1}
  action:
    stress:
      scope: pod
      memory: {size: 256Mi}
  duration: 3m
  probeInterval: 10s
  recovery: 2m
  safety: {maxTargets: 1, minHealthy: 1}
`,
	}
}

// memConfig is a night that opens 12 hours from now, so not during the run.
func memConfig(now time.Time) string {
	return fmt.Sprintf(`# bench/serve: idle, 100 experiments, no window during the run
experiments: experiments
nights:
  - name: idle
    opens: "0 %d * * *"
    lasts: 1h
    timezone: UTC
    experiments: {selector: team=bench}
`, now.UTC().Add(12*time.Hour).Hour())
}

// memSample is one reading of /proc/PID/status, in KiB.
type memSample struct {
	at                      time.Duration // since serve was ready
	rss, hwm, anon, file    int64
	rssShmem                int64
	vmSize, vmData, vmStack int64
	threads                 int64
	ticks                   int64 // utime+stime, clock ticks
}

type memResult struct {
	experiments  int
	window       time.Duration
	readyAfter   time.Duration // from exec to /readyz 200
	last         memSample     // at the end of the window
	maxRSS       int64
	heapInuse    float64
	heapAlloc    float64
	goSys        float64
	processRSS   float64
	goroutines   float64
	loaded       float64
	leader       float64
	cpuSeconds   float64 // utime+stime during the window
	binarySize   int64
	samples      int
	goMemLimit   string
	goGC         string
	serveLogTail string
}

type memBench struct {
	bin, kubeconfig, promURL, dir string
	window                        time.Duration
}

func (b *memBench) run(ctx context.Context) (memResult, error) {
	res := memResult{window: b.window, goMemLimit: os.Getenv("GOMEMLIMIT"), goGC: os.Getenv("GOGC")}
	exps := filepath.Join(b.dir, "experiments")
	templates := memTemplates()
	for i := range 100 {
		name := fmt.Sprintf("bench-%03d", i+1)
		if _, err := writeFile(exps, name+".yaml", fmt.Sprintf(templates[i%len(templates)], name, i+1)); err != nil {
			return res, err
		}
	}
	cfg, err := writeFile(b.dir, "chaosnight.yaml", memConfig(time.Now()))
	if err != nil {
		return res, err
	}
	if fi, err := os.Stat(b.bin); err == nil {
		res.binarySize = fi.Size()
	}
	c, err := startServe(ctx, b.bin, filepath.Join(b.dir, "serve.log"),
		"--config", cfg,
		"--kubeconfig", b.kubeconfig,
		"--namespace", "default",
		"--kill-switch-namespace", "default",
		"--prometheus-url", b.promURL,
		"--dry-run=false",
		"--journal-dir", filepath.Join(b.dir, "journals"),
		"--lease-name", "chaosnight-bench-serve-memory",
	)
	if err != nil {
		return res, err
	}
	defer func() { _ = c.stop() }()
	ready := time.Now()
	res.readyAfter = ready.Sub(c.started)
	first, err := readProc(c.pid())
	if err != nil {
		return res, err
	}
	for time.Since(ready) < b.window {
		if err := proc.Sleep(ctx, 250*time.Millisecond); err != nil {
			return res, err
		}
		s, err := readProc(c.pid())
		if err != nil {
			return res, fmt.Errorf("serve %d: %w\n%s", c.pid(), err, proc.Tail(c.logPath, 15))
		}
		s.at = time.Since(ready)
		res.samples++
		res.last = s
		res.maxRSS = max(res.maxRSS, s.rss)
	}
	res.cpuSeconds = float64(res.last.ticks-first.ticks) / 100 // USER_HZ
	body, err := c.get(ctx, "/metrics")
	if err != nil {
		return res, err
	}
	m := proc.MetricValues(string(body), "go_memstats_heap_inuse_bytes", "go_memstats_heap_alloc_bytes", "go_memstats_sys_bytes",
		"process_resident_memory_bytes", "go_goroutines", "chaosnight_experiments_loaded", "chaosnight_leader")
	res.heapInuse, res.heapAlloc, res.goSys = m["go_memstats_heap_inuse_bytes"], m["go_memstats_heap_alloc_bytes"], m["go_memstats_sys_bytes"]
	res.processRSS, res.goroutines = m["process_resident_memory_bytes"], m["go_goroutines"]
	res.loaded, res.leader = m["chaosnight_experiments_loaded"], m["chaosnight_leader"]
	res.experiments = 100
	if res.loaded != 100 {
		return res, fmt.Errorf("serve reports %v experiments loaded, want 100:\n%s", res.loaded, proc.Tail(c.logPath, 15))
	}
	res.serveLogTail = proc.Tail(c.logPath, 5)
	if err := c.stop(); err != nil {
		return res, err
	}
	return res, nil
}

// readProc reads the memory lines of /proc/PID/status and the CPU time of
// /proc/PID/stat.
func readProc(pid int) (memSample, error) {
	var s memSample
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("reading /proc/%d/status: %w", pid, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		switch key {
		case "VmRSS":
			s.rss = n
		case "VmHWM":
			s.hwm = n
		case "RssAnon":
			s.anon = n
		case "RssFile":
			s.file = n
		case "RssShmem":
			s.rssShmem = n
		case "VmSize":
			s.vmSize = n
		case "VmData":
			s.vmData = n
		case "VmStk":
			s.vmStack = n
		case "Threads":
			s.threads = n
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("reading /proc/%d/stat: %w", pid, err)
	}
	// Fields after the command name (which may hold spaces): state is 3,
	// utime 14, stime 15.
	rest := string(stat)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) > 12 {
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		s.ticks = ut + st
	}
	return s, nil
}
