// Command plan measures what planning and killing cost chaosnight on a big
// cluster: it starts a sandbox (test/sandbox), fills it with 1,000 and then
// 10,000 matching pods, and runs the real `chaosnight run --dry-run` binary
// as a child process several times, measuring the wall time of the whole
// process, the select phase (from the journal), the API requests (the
// select phase's own count, and the API server's request counters) and the
// peak RSS of the child (rusage). Then it runs 100 real pod kills at two
// client rates and times the inject phase. It prints Markdown tables.
//
//	go run ./bench/plan                         # everything, about 5 minutes on 2 cores
//	go run ./bench/plan -compare /tmp/chaosnight-old -profile /tmp/prof
//
// -compare BIN measures another chaosnight binary (say, built from an older
// commit) in the same dry runs, interleaved with this tree's. -chaoskube BIN
// measures chaoskube's equivalent dry pass after each of chaosnight's runs
// of the default scenarios, and its one pass of 100 real kills beside
// chaosnight's at 5 requests/s (chaoskube.go says what is measured).
// -only-kills skips the dry runs. -profile DIR
// also runs target.Selector in this process against the 10,000 pods and
// writes cpu.pprof and allocs.pprof there. -hold keeps the 10,000-pod
// sandbox up after the dry runs, until SIGINT, for profiling by hand.
//
// The peak RSS is the child's ru_maxrss, read through a tiny launcher
// (bench/plan/rusage): see there why a child started straight from this
// process would report this process's memory instead.
package main

import (
	"bytes"
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
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/bench/internal/cluster"
	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/target"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

const (
	optInLabel     = cluster.OptInLabel
	benchApp       = cluster.BenchApp
	podsPerNS      = cluster.PodsPerNS
	childTimeout   = 2 * time.Minute
	nsSmall, nsBig = 10, 100
)

func (b *bench) apiRequests(ctx context.Context) (map[string]int, error) {
	return cluster.APIRequests(ctx, b.admin)
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

type options struct {
	runs       int
	killRuns   int
	profileDir string
	scrape     time.Duration
	ctrlQPS    int
	skipKills  bool
	onlyKills  bool
	hold       bool
	compare    string
	chaoskube  string
}

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.runs, "runs", 7, "dry runs per experiment and binary")
	fs.IntVar(&o.killRuns, "kill-runs", 2, "runs of 100 kills per client rate")
	fs.StringVar(&o.profileDir, "profile", "", "also profile target.Selector in-process against 10,000 pods; write cpu.pprof and allocs.pprof here")
	fs.DurationVar(&o.scrape, "scrape-interval", 30*time.Second, "Prometheus scrape interval of the sandbox (the exporter exports every pod)")
	fs.IntVar(&o.ctrlQPS, "controller-qps", 400, "kube-controller-manager and scheduler client rate")
	fs.BoolVar(&o.skipKills, "skip-kills", false, "skip the 100-kill measurement")
	fs.BoolVar(&o.onlyKills, "only-kills", false, "skip the dry runs: only the 100-kill measurement")
	fs.BoolVar(&o.hold, "hold", false, "after the dry runs, keep the 10,000-pod sandbox up until SIGINT (to profile by hand)")
	fs.StringVar(&o.compare, "compare", "", "another chaosnight binary (e.g. built from an older commit) to measure in the same dry runs, interleaved")
	fs.StringVar(&o.chaoskube, "chaoskube", "", "a chaoskube binary to measure in the same dry runs, interleaved (its equivalent dry pass; see chaoskube.go)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.runs < 1 || o.killRuns < 0 {
		fmt.Fprintln(stderr, "plan: -runs must be at least 1 and -kill-runs at least 0")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	b := &bench{opts: o, log: stderr}
	r, err := b.measureAll(ctx)
	if len(r.plans) > 0 || len(r.kills) > 0 {
		// Even when stopping the sandbox failed afterwards: the figures
		// were measured.
		report(stdout, r)
	}
	if err != nil {
		fmt.Fprintf(stderr, "plan: %v\n", err)
		return 1
	}
	return 0
}

// results is what one session measured, for report.
type results struct {
	runs     int    // dry runs per experiment and binary
	versions string // the sandbox's components
	cpus     int
	bins     []binary
	plans    []planResult
	raw      []rawList
	kills    []killResult
	profile  string // the in-process profile's summary, if one was taken

	chaoskubeVersion string // empty without -chaoskube
	chaoskubeFloor   int64  // peak RSS of `chaoskube --version`
	chaoskubeRuns    []chaoskubeRun
	chaoskubeKills   []chaoskubeRun
}

// bench is one benchmark session.
type bench struct {
	opts     options
	log      io.Writer
	root     string
	tmp      string
	bins     []binary // bins[0] is built from this tree
	launcher string   // bench/plan/rusage, see there why
	sb       *sandbox.Sandbox
	admin    kubernetes.Interface // JSON admin client from the sandbox
	fast     kubernetes.Interface // protobuf admin client, for the readiness checks
	filler   *cluster.Filler
	started  time.Time
	plans    []planResult
	raw      []rawList
	kills    []killResult
	profile  string
	versions string

	chaoskube        binary // -chaoskube, path empty without it
	chaoskubeVersion string
	chaoskubeRuns    []chaoskubeRun
	chaoskubeKills   []chaoskubeRun
}

// rawList is the reference of a scenario: the same pods read by one
// in-process protobuf LIST per listed scope (no process start, no
// filters, no guard): what the API server itself costs.
type rawList struct {
	scenario scenario
	took     time.Duration
	pods     int
}

// binary is one chaosnight binary under test.
type binary struct {
	label string
	path  string
	floor int64 // peak RSS of `chaosnight version`: what the binary costs before doing anything
}

// scenario is one dry-run experiment.
type scenario struct {
	label      string
	namespaces int
	safety     string
	flags      string // extra chaosnight flags, space-separated
	env        string // extra environment, space-separated NAME=value (see measureKills for why a rate is set in both)
	chaoskube  bool   // -chaoskube runs its equivalent of this scenario (the default-settings ones)
}

func scenarios(n int) []scenario {
	if n == nsSmall {
		return []scenario{
			{label: "1,000 pods, 10 namespaces", namespaces: nsSmall, safety: "{maxTargets: 100}", chaoskube: true},
			// How much of the peak is the garbage collector's headroom.
			{label: "1,000 pods, 10 namespaces, GOGC=50", namespaces: nsSmall, safety: "{maxTargets: 100}", env: "GOGC=50"},
		}
	}
	return []scenario{
		{label: "10,000 pods, 100 namespaces", namespaces: nsBig, safety: "{maxTargets: 100}", chaoskube: true},
		// The guard's minHealthy reads are client-rate bound: the same run
		// with a higher rate, and without them.
		{label: "10,000 pods, 100 namespaces, --kube-qps 200", namespaces: nsBig, safety: "{maxTargets: 100}",
			flags: "--kube-qps 200", env: "CHAOSNIGHT_KUBE_QPS=200"},
		{label: "10,000 pods, 100 namespaces, minHealthy 0", namespaces: nsBig, safety: "{maxTargets: 100, minHealthy: 0}"},
		// A target that is a tenth of the matching pods: the cluster-scoped
		// listing gives up after one page and lists per namespace.
		{label: "1,000 of the 10,000 pods (10 of 100 namespaces)", namespaces: nsSmall, safety: "{maxTargets: 100}", chaoskube: true},
	}
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "[%6.1fs] "+format+"\n", append([]any{time.Since(b.started).Seconds()}, args...)...)
}

// measureAll runs the whole session: the sandbox, the dry runs, the profile
// and the kills; it logs progress to b.log and returns the figures.
func (b *bench) measureAll(ctx context.Context) (_ results, err error) {
	b.started = time.Now()
	wd, err := os.Getwd()
	if err != nil {
		return results{}, fmt.Errorf("working directory: %w", err)
	}
	if b.root, err = sandbox.FindRepoRoot(wd); err != nil {
		return results{}, fmt.Errorf("repository root: %w", err)
	}
	if b.tmp, err = os.MkdirTemp("", "chaosnight-bench-plan-"); err != nil {
		return results{}, fmt.Errorf("temporary directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(b.tmp) }()

	if err := b.buildBinaries(ctx); err != nil {
		return results{}, err
	}

	b.logf("starting the sandbox")
	sb, err := sandbox.Start(ctx, sandbox.Config{
		Nodes:          3,
		ScrapeInterval: b.opts.scrape,
		ControllerQPS:  b.opts.ctrlQPS,
		Log:            b.log,
	})
	if err != nil {
		return results{}, fmt.Errorf("start sandbox: %w", err)
	}
	b.sb = sb
	defer func() {
		b.logf("stopping the sandbox")
		if stopErr := sb.Stop(); stopErr != nil {
			err = errors.Join(err, fmt.Errorf("stop sandbox: %w", stopErr))
		}
	}()
	b.admin = sb.Client()
	if b.fast, err = target.NewClientset(sb.RESTConfig, 1000, 2000); err != nil {
		return results{}, fmt.Errorf("admin clientset: %w", err)
	}
	b.filler = &cluster.Filler{Admin: b.admin, Fast: b.fast, Logf: b.logf}
	if b.versions, err = b.serverVersions(); err != nil {
		return results{}, err
	}
	b.logf("sandbox up: %s", b.versions)

	if b.opts.onlyKills {
		if err := b.filler.Fill(ctx, nsBig); err != nil {
			return results{}, err
		}
	} else if err := b.measureAllPlans(ctx); err != nil {
		return results{}, err
	}
	if b.opts.profileDir != "" {
		if err := b.profileSelector(ctx, nsBig); err != nil {
			return results{}, err
		}
	}
	if b.opts.hold {
		if err := b.holdOpen(ctx); err != nil {
			return results{}, err
		}
	}
	if !b.opts.skipKills {
		if err := b.measureAllKills(ctx); err != nil {
			return results{}, err
		}
	}
	b.logf("done")
	return results{runs: b.opts.runs, versions: b.versions, cpus: runtime.NumCPU(), bins: b.bins, plans: b.plans, raw: b.raw, kills: b.kills, profile: b.profile,
		chaoskubeVersion: b.chaoskubeVersion, chaoskubeFloor: b.chaoskube.floor, chaoskubeRuns: b.chaoskubeRuns, chaoskubeKills: b.chaoskubeKills}, nil
}

// buildBinaries builds chaosnight from this tree and the rusage launcher,
// adds the -compare binary, and measures each binary's RSS floor.
func (b *bench) buildBinaries(ctx context.Context) error {
	b.bins = []binary{{label: "this tree", path: filepath.Join(b.tmp, "chaosnight")}}
	b.launcher = filepath.Join(b.tmp, "rusage")
	for _, bin := range []struct{ out, pkg string }{{b.bins[0].path, "./cmd/chaosnight"}, {b.launcher, "./bench/plan/rusage"}} {
		b.logf("building %s", bin.pkg)
		build := exec.CommandContext(ctx, "go", "build", "-o", bin.out, bin.pkg)
		build.Dir, build.Stdout, build.Stderr = b.root, b.log, b.log
		if err := build.Run(); err != nil {
			return fmt.Errorf("build %s: %w", bin.pkg, err)
		}
	}
	if b.opts.compare != "" {
		path, err := filepath.Abs(b.opts.compare)
		if err != nil {
			return fmt.Errorf("-compare: %w", err)
		}
		b.bins = append(b.bins, binary{label: filepath.Base(path), path: path})
	}
	for i := range b.bins {
		var err error
		if b.bins[i].floor, err = b.versionRSS(ctx, b.bins[i]); err != nil {
			return err
		}
	}
	if b.opts.chaoskube != "" {
		var err error
		if b.chaoskube, b.chaoskubeVersion, err = chaoskubeBinary(ctx, b.opts.chaoskube); err != nil {
			return err
		}
		if b.chaoskube.floor, err = b.versionRSS(ctx, b.chaoskube, "--version"); err != nil {
			return err
		}
	}
	return nil
}

// measureAllPlans measures every plan scenario at both namespace counts,
// beside a namespace that is not opted in: the experiment never names it,
// so it must cost nothing.
func (b *bench) measureAllPlans(ctx context.Context) error {
	if err := b.filler.CreateNamespace(ctx, cluster.OffNamespace, false); err != nil {
		return err
	}
	for _, size := range []int{nsSmall, nsBig} {
		for i := range size {
			if err := b.filler.CreateNamespace(ctx, cluster.NSName(i), true); err != nil {
				return err
			}
		}
		if err := b.filler.WaitReady(ctx, size); err != nil {
			return err
		}
		for _, sc := range scenarios(size) {
			if err := b.measurePlans(ctx, sc); err != nil {
				return err
			}
		}
	}
	return nil
}

// measureAllKills measures the kills at three client rate limits, killRuns
// times each, waiting for the workloads to be whole again between runs:
// chaosnight's default (50/s, burst 100), a faster one, and chaoskube's
// default (5/s, burst 10), so that a comparison with chaoskube's ~40 s for
// 100 kills compares the same client rate.
func (b *bench) measureAllKills(ctx context.Context) error {
	for _, rate := range []struct {
		qps   float64
		burst int
	}{{50, 100}, {200, 100}, {5, 10}} {
		for range b.opts.killRuns {
			if err := b.measureKills(ctx, nsBig, rate.qps, rate.burst); err != nil {
				return err
			}
			if err := b.filler.WaitReady(ctx, nsBig); err != nil {
				return err
			}
			// chaoskube's pass for real, beside chaosnight at its rate.
			if rate.qps == 5 && b.chaoskube.path != "" {
				if err := b.measureChaoskubeKills(ctx); err != nil {
					return err
				}
				if err := b.filler.WaitReady(ctx, nsBig); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (b *bench) serverVersions() (string, error) {
	v, err := b.admin.Discovery().ServerVersion()
	if err != nil {
		return "", fmt.Errorf("server version: %w", err)
	}
	rev := "unknown revision"
	git := exec.Command("git", "describe", "--always", "--dirty")
	git.Dir = b.root
	if out, err := git.Output(); err == nil {
		rev = "chaosnight " + strings.TrimSpace(string(out))
	}
	return fmt.Sprintf("%s, kube-apiserver %s, %s, sandbox tools %s", rev, v.GitVersion, runtime.Version(), sandbox.DefaultVersions().Key()), nil
}

// experimentYAML is the benchmark experiment: app=bench in the first n
// namespaces, a probe that always holds.
func experimentYAML(name string, n int, pick, safety, duration string) string {
	return fmt.Sprintf(`apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata:
  name: %s
spec:
  description: bench/plan
  hypothesis:
    probes:
      - name: always
        query: vector(1)
        expect: {equals: 1}
  target:
    namespaces: [%s]
    selector: app=%s
    pick: %s
  action:
    podKill: {method: delete}
  duration: %s
  probeInterval: 1s
  recovery: 30s
  safety: %s
`, name, strings.Join(cluster.Namespaces(n), ", "), benchApp, pick, duration, safety)
}

// record is what the benchmark reads of a journal.
type record struct {
	Verdict string   `json:"verdict"`
	Reasons []string `json:"reasons"`
	Phases  []struct {
		Name    string    `json:"name"`
		Started time.Time `json:"started"`
		Ended   time.Time `json:"ended"`
		Note    string    `json:"note"`
	} `json:"phases"`
	Injections []struct {
		Outcomes []struct {
			Status string `json:"status"`
		} `json:"outcomes"`
	} `json:"injections"`
}

// phaseEnd is when the phase ended (zero if absent).
func (r *record) phaseEnd(name string) time.Time {
	for _, p := range r.Phases {
		if p.Name == name {
			return p.Ended
		}
	}
	return time.Time{}
}

func (r *record) phase(name string) (time.Duration, string, bool) {
	for _, p := range r.Phases {
		if p.Name == name {
			return p.Ended.Sub(p.Started), p.Note, true
		}
	}
	return 0, "", false
}

func (r *record) outcomes() map[string]int {
	m := map[string]int{}
	for _, inj := range r.Injections {
		for _, o := range inj.Outcomes {
			m[o.Status]++
		}
	}
	return m
}

// childRun is one chaosnight process.
type childRun struct {
	start    time.Time // when the launcher was started
	load     float64   // 1-minute load average before the run
	wall     time.Duration
	maxRSS   int64 // bytes
	rec      record
	requests map[string]int // API server request counters, delta over the run
}

// runChild runs chaosnight with args and returns its measurements. exp is
// written to a file first.
func (b *bench) runChild(ctx context.Context, bin binary, exp string, env []string, extra ...string) (childRun, error) {
	var cr childRun
	file := filepath.Join(b.tmp, "experiment.yaml")
	if err := os.WriteFile(file, []byte(exp), 0o644); err != nil {
		return cr, fmt.Errorf("write experiment: %w", err)
	}
	args := append([]string{"run", file, "-o", "json",
		"--kubeconfig", b.sb.Kubeconfig,
		"--prometheus-url", b.sb.PrometheusURL,
		"--journal", filepath.Join(b.tmp, "journal.json"),
		"--log-level", "warn",
	}, extra...)
	before, err := b.apiRequests(ctx)
	if err != nil {
		return cr, err
	}
	var stdout, stderr bytes.Buffer
	cr.load = loadAverage()
	cr.start = time.Now()
	cr.maxRSS, err = b.measure(ctx, bin, &stdout, &stderr, env, args...)
	cr.wall = time.Since(cr.start)
	if err != nil {
		return cr, fmt.Errorf("chaosnight %s: %w\n%s", strings.Join(args, " "), err, tail(stderr.String(), 2000))
	}
	if err := json.Unmarshal(stdout.Bytes(), &cr.rec); err != nil {
		return cr, fmt.Errorf("decode the journal on stdout: %w\n%s", err, tail(stdout.String(), 2000))
	}
	after, err := b.apiRequests(ctx)
	if err != nil {
		return cr, err
	}
	cr.requests = cluster.Delta(before, after)
	return cr, nil
}

// measure runs chaosnight with args through the rusage launcher and
// returns its peak RSS in bytes. The wall time the caller measures includes
// the launcher's own start, about a millisecond.
func (b *bench) measure(ctx context.Context, bin binary, stdout, stderr io.Writer, env []string, args ...string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, childTimeout)
	defer cancel()
	out := filepath.Join(b.tmp, "maxrss")
	_ = os.Remove(out)
	cmd := exec.CommandContext(ctx, b.launcher, append([]string{out, "--", bin.path}, args...)...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = b.tmp, stdout, stderr
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("run: %w", err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		return 0, fmt.Errorf("read peak RSS: %w", err)
	}
	kib, err := strconv.ParseInt(strings.TrimSpace(string(raw)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse peak RSS: %w", err)
	}
	return kib * 1024, nil
}

// versionRSS is the peak RSS of `chaosnight version`: what the binary costs
// before it does anything.
func (b *bench) versionRSS(ctx context.Context, bin binary, args ...string) (int64, error) {
	if len(args) == 0 {
		args = []string{"version"}
	}
	var rss int64
	for range 3 {
		r, err := b.measure(ctx, bin, io.Discard, b.log, nil, args...)
		if err != nil {
			return 0, fmt.Errorf("%s version: %w", bin.path, err)
		}
		rss = max(rss, r)
	}
	b.logf("%s %s: peak RSS %.1f MiB", bin.path, strings.Join(args, " "), mib(rss))
	return rss, nil
}

// loadAverage is the 1-minute load average (0 if unknown): the machine is
// shared, and the numbers mean more with it.
func loadAverage() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	first, _, _ := strings.Cut(string(raw), " ")
	f, _ := strconv.ParseFloat(first, 64)
	return f
}

// holdOpen keeps the sandbox up, with the 10,000-pod experiment written
// out, until ctx ends (SIGINT).
func (b *bench) holdOpen(ctx context.Context) error {
	file := filepath.Join(b.tmp, "experiment-10000.yaml")
	if err := os.WriteFile(file, []byte(experimentYAML("bench-plan", nsBig, "{percent: 1}", "{maxTargets: 100}", "1m")), 0o644); err != nil {
		return fmt.Errorf("write experiment: %w", err)
	}
	b.logf("holding the sandbox until SIGINT:\n  %s run %s --dry-run -o json --kubeconfig %s --prometheus-url %s --journal %s",
		b.bins[0].path, file, b.sb.Kubeconfig, b.sb.PrometheusURL, filepath.Join(b.tmp, "journal.json"))
	<-ctx.Done()
	return nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// planResult is one dry run.
type planResult struct {
	scenario scenario
	bin      binary
	childRun
	selectTook  time.Duration
	planReady   time.Duration // process start → the select phase's end (the plan made, the guard not yet run)
	selectNote  string
	injectTook  time.Duration // the guard's dry run: opt-in and minHealthy reads
	selectReqs  int
	planned     int
	apiRequests int
}

// measurePlans runs the dry run of sc b.opts.runs times with every binary,
// interleaved, so that the machine's noise hits them alike.
func (b *bench) measurePlans(ctx context.Context, sc scenario) error {
	exp := experimentYAML("bench-plan", sc.namespaces, "{percent: 1}", sc.safety, "1m")
	for i := range b.opts.runs {
		for _, bin := range b.bins {
			cr, err := b.runChild(ctx, bin, exp, strings.Fields(sc.env), append([]string{"--dry-run"}, strings.Fields(sc.flags)...)...)
			if err != nil {
				return err
			}
			if cr.rec.Verdict != string(journal.DryRun) {
				return fmt.Errorf("dry run did not plan: verdict %s: %s", cr.rec.Verdict, strings.Join(cr.rec.Reasons, "; "))
			}
			p := planResult{scenario: sc, bin: bin, childRun: cr, apiRequests: cluster.Sum(cr.requests)}
			p.selectTook, p.selectNote, _ = cr.rec.phase(journal.PhaseSelect)
			p.planReady = cr.rec.phaseEnd(journal.PhaseSelect).Sub(cr.start)
			p.injectTook, _, _ = cr.rec.phase(journal.PhaseInject)
			p.selectReqs = requestsInNote(p.selectNote)
			p.planned = cr.rec.outcomes()[inject.StatusDryRun]
			b.plans = append(b.plans, p)
			if bin.path == b.bins[0].path {
				raw, err := b.rawList(ctx, sc)
				if err != nil {
					return err
				}
				b.raw = append(b.raw, raw)
				b.logf("%s, raw protobuf LIST of the same pods: %s, %d pods", sc.label, raw.took.Round(time.Millisecond), raw.pods)
			}
			b.logf("%s, %s, run %d/%d: wall %s, select %s (%s), guard %s, %d API requests (%s), peak RSS %.1f MiB, load %.1f",
				sc.label, bin.label, i+1, b.opts.runs, cr.wall.Round(time.Millisecond), p.selectTook.Round(time.Millisecond), p.selectNote,
				p.injectTook.Round(time.Millisecond), p.apiRequests, cluster.Describe(cr.requests), mib(cr.maxRSS), cr.load)
		}
		if sc.chaoskube && b.chaoskube.path != "" {
			if err := b.measureChaoskube(ctx, sc, i); err != nil {
				return err
			}
		}
	}
	return nil
}

// rawList lists the scenario's matching pods with the protobuf client:
// one cluster-wide LIST when the experiment names every namespace, else one
// LIST per namespace, one after the other.
func (b *bench) rawList(ctx context.Context, sc scenario) (rawList, error) {
	opts := metav1.ListOptions{LabelSelector: "app=" + benchApp}
	scopes := cluster.Namespaces(sc.namespaces)
	if sc.namespaces == nsBig {
		scopes = []string{metav1.NamespaceAll}
	}
	r := rawList{scenario: sc}
	start := time.Now()
	for _, ns := range scopes {
		list, err := b.fast.CoreV1().Pods(ns).List(ctx, opts)
		if err != nil {
			return rawList{}, fmt.Errorf("raw LIST: %w", err)
		}
		r.pods += len(list.Items)
	}
	r.took = time.Since(start)
	return r, nil
}

// requestsInNote reads "N list requests" from the select phase's note
// (-1 when absent).
func requestsInNote(note string) int {
	_, after, ok := strings.Cut(note, "(")
	if !ok {
		return -1
	}
	num, _, ok := strings.Cut(after, " list request")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(num))
	if err != nil {
		return -1
	}
	return n
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// killResult is one run of 100 real kills.
type killResult struct {
	qps   float64
	burst int
	childRun
	injectTook time.Duration
	outcomes   map[string]int
}

func (b *bench) measureKills(ctx context.Context, n int, qps float64, burst int) error {
	exp := experimentYAML("bench-kill", n, "{count: 100}", "{maxTargets: 100, minHealthy: 0}", "2s")
	q, bu := strconv.FormatFloat(qps, 'f', -1, 64), strconv.Itoa(burst)
	// The rate goes in both the flags and the environment: when run and
	// serve bind the same setting, viper only honours the flag of the
	// command bound last, while the environment always works.
	env := []string{"CHAOSNIGHT_KUBE_QPS=" + q, "CHAOSNIGHT_KUBE_BURST=" + bu}
	cr, err := b.runChild(ctx, b.bins[0], exp, env, "--kube-qps", q, "--kube-burst", bu)
	if err != nil {
		return err
	}
	k := killResult{qps: qps, burst: burst, childRun: cr, outcomes: cr.rec.outcomes()}
	k.injectTook, _, _ = cr.rec.phase(journal.PhaseInject)
	b.kills = append(b.kills, k)
	b.logf("100 kills at qps %g burst %d: verdict %s, inject %s, outcomes %v, wall %s, peak RSS %.1f MiB",
		qps, burst, cr.rec.Verdict, k.injectTook.Round(time.Millisecond), k.outcomes, cr.wall.Round(time.Millisecond), mib(cr.maxRSS))
	if killed := k.outcomes[inject.StatusKilled]; killed != 100 {
		return fmt.Errorf("100 kills at qps %g: %d killed (%v): %s", qps, killed, k.outcomes, strings.Join(cr.rec.Reasons, "; "))
	}
	return nil
}

// profileSelector runs target.Selector in this process against the first
// n namespaces with a CPU profile, and writes an allocation profile.
func (b *bench) profileSelector(ctx context.Context, n int) error {
	if err := os.MkdirAll(b.opts.profileDir, 0o755); err != nil {
		return fmt.Errorf("profile directory: %w", err)
	}
	// No client-side throttling (5 rounds of 100 requests would hit it),
	// and no Prometheus: its scrapes make the in-process exporter allocate.
	client, err := target.NewClientset(b.sb.RESTConfig, 10000, 10000)
	if err != nil {
		return fmt.Errorf("profile clientset: %w", err)
	}
	sel := &target.Selector{Client: client}
	t := experiment.Target{Namespaces: cluster.Namespaces(n), Selector: "app=" + benchApp}
	if err := b.sb.StopPrometheus(); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer func() {
		if err := b.sb.StartPrometheus(ctx); err != nil {
			b.logf("restarting Prometheus: %v", err)
		}
	}()
	if _, _, err := sel.List(ctx, t); err != nil { // warm up connections
		return fmt.Errorf("profile warm-up: %w", err)
	}
	cpu, err := os.Create(filepath.Join(b.opts.profileDir, "cpu.pprof"))
	if err != nil {
		return fmt.Errorf("cpu profile: %w", err)
	}
	defer func() { _ = cpu.Close() }()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := pprof.StartCPUProfile(cpu); err != nil {
		return fmt.Errorf("start cpu profile: %w", err)
	}
	start := time.Now()
	const rounds = 5
	var pods []target.Pod
	var st target.Stats
	for range rounds {
		if pods, st, err = sel.List(ctx, t); err != nil {
			pprof.StopCPUProfile()
			return fmt.Errorf("profile list: %w", err)
		}
	}
	took := time.Since(start) / rounds
	pprof.StopCPUProfile()
	runtime.ReadMemStats(&after)
	allocs, err := os.Create(filepath.Join(b.opts.profileDir, "allocs.pprof"))
	if err != nil {
		return fmt.Errorf("allocs profile: %w", err)
	}
	defer func() { _ = allocs.Close() }()
	if err := pprof.Lookup("allocs").WriteTo(allocs, 0); err != nil {
		return fmt.Errorf("write allocs profile: %w", err)
	}
	b.profile = fmt.Sprintf("in-process target.Selector.List, %d pods, %d requests: %s per list, %.1f MiB allocated per list; profiles in %s",
		len(pods), st.Requests, took.Round(time.Millisecond), mib(int64(after.TotalAlloc-before.TotalAlloc)/rounds), b.opts.profileDir)
	b.logf("%s", b.profile)
	return nil
}
