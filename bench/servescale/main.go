// Command servescale measures `chaosnight serve` at scale (#19 point 4):
// against the 10,000-pod sandbox of bench/plan (bench/internal/cluster),
// with 100 experiments loaded, it plays one night of 20 experiments back to
// back, each a real kill of 1 pod among the 10,000 with a short
// observation, and writes bench/results-servescale.md:
//
//	flock /tmp/chaosnight-sandbox.lock go run ./bench/servescale   # about 10 minutes on 2 cores
//
// It builds ./cmd/chaosnight into a temporary directory, starts a sandbox,
// fills it (100 opted-in namespaces of 100 app=bench pods, 10,300 pods in
// all), writes 100 experiments (20 selected by the night, 80 loaded and
// never played), and starts serve (--dry-run=false, no leader election)
// before a window that opens on the next whole minute at least -lead away
// (no clock offset: every time below is real time). It measures:
//
//   - decision latency: the opening → the first experiment's journal
//     `started`, and each next `started` − the previous `ended`;
//   - per-experiment overhead: journal `ended` − `started` − the declared
//     duration and recovery;
//   - memory over the night: VmRSS from /proc/PID/status every 250 ms and
//     the Go heap from serve's /metrics every second, per experiment;
//   - API requests: kube-apiserver's counters (bench/plan's reading) over
//     the night, divided by 20, by verb and resource; and the same counters
//     over serve's idle time before the window, the background rate.
//
// A killed pod is replaced by its ReplicaSet and made Ready by kwok (the
// sandbox has no kubelet); the 10,000 pods are whole again after the
// night, which the bench checks.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/bench/internal/cluster"
	"github.com/chaosnight/chaosnight/pkg/target"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

type options struct {
	out         string
	played      int
	loaded      int
	duration    time.Duration
	recovery    time.Duration
	lead        time.Duration
	namespaces  int
	scrape      time.Duration
	ctrlQPS     int
	keep        bool
	nightBudget time.Duration // per experiment, to give up waiting
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("servescale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.out, "out", "bench/results-servescale.md", "where to write the results (empty: print only)")
	fs.IntVar(&o.played, "experiments", 20, "experiments the night plays, back to back")
	fs.IntVar(&o.loaded, "loaded", 100, "experiments loaded in all (the others are never selected)")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "each experiment's observation (spec.duration)")
	fs.DurationVar(&o.recovery, "recovery", 3*time.Second, "each experiment's recovery (spec.recovery)")
	fs.DurationVar(&o.lead, "lead", 20*time.Second, "least time between serve's start and the window's opening")
	fs.IntVar(&o.namespaces, "namespaces", 100, "bench namespaces of 100 app=bench pods each")
	fs.DurationVar(&o.scrape, "scrape-interval", 30*time.Second, "Prometheus scrape interval of the sandbox (the exporter exports every pod)")
	fs.IntVar(&o.ctrlQPS, "controller-qps", 400, "kube-controller-manager and scheduler client rate")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (serve's log, journals)")
	fs.DurationVar(&o.nightBudget, "per-experiment-timeout", 45*time.Second, "give up when the night takes longer than this per experiment")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.played < 1 || o.loaded < o.played || o.namespaces < 1 {
		fmt.Fprintln(stderr, "servescale: need 1 <= -experiments <= -loaded, and -namespaces >= 1")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{opts: o, log: stderr, started: time.Now()}
	r, err := b.measure(ctx)
	if len(r.runs) > 0 {
		report := render(r)
		fmt.Fprint(stdout, report)
		if o.out != "" {
			if werr := os.WriteFile(o.out, []byte(report), 0o644); werr != nil {
				err = errors.Join(err, fmt.Errorf("writing %s: %w", o.out, werr))
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "servescale: %v\n", err)
		return 1
	}
	return 0
}

type bench struct {
	opts    options
	log     io.Writer
	started time.Time
	tmp     string
	bin     string
	sb      *sandbox.Sandbox
	admin   kubernetes.Interface
	filler  *cluster.Filler
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "[%6.1fs] "+format+"\n", append([]any{time.Since(b.started).Seconds()}, args...)...)
}

// measure builds chaosnight, starts and fills the sandbox, and plays the
// night. Whatever happens, serve and the sandbox are stopped.
func (b *bench) measure(ctx context.Context) (_ results, err error) {
	r := results{env: environment(), opts: b.opts}
	root, err := sandbox.FindRepoRoot(mustGetwd())
	if err != nil {
		return r, fmt.Errorf("repository root: %w", err)
	}
	if b.tmp, err = os.MkdirTemp("", "chaosnight-bench-servescale-"); err != nil {
		return r, fmt.Errorf("temporary directory: %w", err)
	}
	defer func() {
		if b.opts.keep {
			b.logf("kept %s", b.tmp)
			return
		}
		_ = os.RemoveAll(b.tmp)
	}()
	b.bin = filepath.Join(b.tmp, "chaosnight")
	b.logf("building ./cmd/chaosnight")
	build := exec.CommandContext(ctx, "go", "build", "-o", b.bin, "./cmd/chaosnight")
	build.Dir, build.Stdout, build.Stderr = root, b.log, b.log
	if err := build.Run(); err != nil {
		return r, fmt.Errorf("go build: %w", err)
	}
	r.env.commit = gitDescribe(root)

	b.logf("starting the sandbox")
	sb, err := sandbox.Start(ctx, sandbox.Config{Nodes: 3, ScrapeInterval: b.opts.scrape, ControllerQPS: b.opts.ctrlQPS, Log: b.log})
	if err != nil {
		return r, fmt.Errorf("start sandbox: %w", err)
	}
	b.sb = sb
	defer func() {
		b.logf("stopping the sandbox")
		if stopErr := sb.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stop sandbox: %w", stopErr))
		}
	}()
	b.admin = sb.Client()
	fast, err := target.NewClientset(sb.RESTConfig, 1000, 2000)
	if err != nil {
		return r, fmt.Errorf("admin clientset: %w", err)
	}
	b.filler = &cluster.Filler{Admin: b.admin, Fast: fast, Logf: b.logf}
	if v, err := b.admin.Discovery().ServerVersion(); err == nil {
		r.env.versions = fmt.Sprintf("kube-apiserver %s, sandbox tools %s", v.GitVersion, sandbox.DefaultVersions().Key())
	}
	b.logf("filling the sandbox: %d namespaces", b.opts.namespaces)
	fillStart := time.Now()
	if err := b.filler.Fill(ctx, b.opts.namespaces); err != nil {
		return r, err
	}
	r.fillTook = time.Since(fillStart)

	n, err := b.playNight(ctx, &r)
	if err != nil {
		return r, err
	}
	r.night, r.runs = n, n.runs
	for _, run := range n.runs {
		if run.verdict != "held" || run.killed != 1 {
			err = errors.Join(err, fmt.Errorf("%s: verdict %s, %d killed, want held and 1: %v", run.name, run.verdict, run.killed, run.reasons))
		}
	}
	if err != nil {
		return r, err
	}
	// The night's kills are replaced and made ready: the cluster is whole.
	if err := b.filler.WaitReady(ctx, b.opts.namespaces); err != nil {
		return r, fmt.Errorf("after the night: %w", err)
	}
	r.env.loadAfter = loadAvg()
	r.env.total = time.Since(b.started)
	return r, nil
}

func mustGetwd() string {
	wd, err := os.Getwd()
	if err != nil {
		return "."
	}
	return wd
}

func gitDescribe(root string) string {
	git := exec.Command("git", "describe", "--always", "--dirty")
	git.Dir = root
	out, err := git.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// env describes the machine and the run.
type env struct {
	date       time.Time
	cpu        string
	cores      int
	goVersion  string
	commit     string
	versions   string
	loadBefore string
	loadAfter  string
	total      time.Duration
}

func environment() env {
	e := env{date: time.Now().UTC(), cores: runtime.NumCPU(), goVersion: runtime.Version(), loadBefore: loadAvg()}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				e.cpu = strings.TrimSpace(v)
				break
			}
		}
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
