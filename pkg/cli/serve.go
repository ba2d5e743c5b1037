package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/engine"
	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/stress"
	"github.com/chaosnight/chaosnight/pkg/metrics"
	"github.com/chaosnight/chaosnight/pkg/runner"
	"github.com/chaosnight/chaosnight/pkg/schedule"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// Keys only serve uses.
const (
	keyServeDryRun   = "dryRun"
	keyListen        = "listen"
	keyJournalDir    = "journal.directory"
	keyJournalRetain = "journal.retention"
	keyLeaderElect   = "leaderElection.enabled"
	keyLeaseName     = "leaderElection.leaseName"
)

type serveFlags struct {
	identity    string
	tick        time.Duration
	clockOffset time.Duration
}

func newServeCommand(streams Streams, g *globals) *cobra.Command {
	var f serveFlags
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Play scheduled chaos nights: open windows from cron, run experiments, revert at close",
		Long: `Play the chaos nights of a configuration file (--config): each night opens
windows from a cron expression in a time zone and plays the experiments it
selects, one at a time, through the same guarded engine as chaosnight run.
When a window closes, the experiment in flight is aborted and reverted and the
rest are recorded as skipped; chaosnight pause does the same at once.

serve is safe by default: dryRun is true unless the configuration (or
--dry-run=false) says otherwise. With several replicas, leader election on a
Lease lets only one inject. Changes to the configuration file and the
experiments directory apply at the next decision point; an invalid change keeps
the last good set (see chaosnight_config_last_reload_successful).

Endpoints: /metrics, /healthz, /readyz, /status, /runs, /runs/{id}.`,
		Example: `  chaosnight serve --config chaosnight.yaml
  chaosnight serve --config /etc/chaosnight/config/chaosnight.yaml --log-format json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serve(cmd, streams, g, f)
		},
	}
	fl := cmd.Flags()
	g.bindBoolFlag(fl, keyServeDryRun, "dry-run", true, "plan and journal every experiment but touch nothing (default true; the config's dryRun applies when the flag is not given)")
	g.bindFlag(fl, keyListen, "listen", ":8080", "address of the HTTP endpoints")
	g.bindFlag(fl, keyJournalDir, "journal-dir", "journals", "directory of the run records")
	g.bindDurationFlag(fl, keyJournalRetain, "journal-retention", 30*24*time.Hour, "remove run records older than this (0 keeps them)")
	g.bindBoolFlag(fl, keyLeaderElect, "leader-elect", true, "elect a leader on a Lease so that only one replica injects")
	g.bindFlag(fl, keyLeaseName, "lease-name", "chaosnight-runner", "name of the leader Lease in the runner's namespace")
	g.bindBoolFlag(fl, keyCREnabled, "custom-resources", false, "also play Experiment and ChaosNight custom resources, watched in the cluster (docs/kubernetes-native.md)")
	g.bindStringSliceFlag(fl, keyCRNamespaces, "custom-resources-namespaces", nil, "namespaces whose custom resources are watched (default: every namespace)")
	g.bindFlag(fl, keyExternalURL, "external-url", "", "the runner's page as users reach it: an Experiment's status.lastRun.reportURL is this URL + /runs/ID")
	fl.String("experiments", "", "directory of the experiments (default: the config's experiments, relative to the config file)")
	fl.StringVar(&f.identity, "identity", "", "this replica's name in leader election (default: $POD_NAME, else the host name)")
	fl.DurationVar(&f.tick, "tick", time.Second, "period of the scheduling decisions")
	_ = fl.MarkHidden("tick")
	// Shifts the scheduler's clock: lets a test or a rehearsal see a night
	// open now instead of at 22:00. Window math only; timers are real.
	fl.DurationVar(&f.clockOffset, "clock-offset", 0, "shift the scheduler's clock by this much")
	_ = fl.MarkHidden("clock-offset")
	g.addInjectionFlags(fl)
	return cmd
}

// experimentsDir is the experiments directory of serve and schedule: the
// --experiments flag or $CHAOSNIGHT_EXPERIMENTS as given (relative to the
// working directory), else the configuration's experiments key, relative to
// the configuration file — so a config and its experiments move together.
func experimentsDir(cmd *cobra.Command, g *globals) string {
	if fl := cmd.Flags().Lookup("experiments"); fl != nil && fl.Changed {
		return fl.Value.String()
	}
	if env := os.Getenv(envPrefix + "_EXPERIMENTS"); env != "" {
		return env
	}
	dir := g.v.GetString("experiments")
	if dir != "" && !filepath.IsAbs(dir) && g.settings.ConfigFile != "" {
		dir = filepath.Join(filepath.Dir(g.settings.ConfigFile), dir)
	}
	return dir
}

// loadSetup reads the serve configuration and its experiments directory,
// strictly; any problem is an experiment.Problems.
//
// Without an experiments directory the custom resources must be on
// (resources): they are then the only source of experiments.
func loadSetup(kinds *experiment.Kinds, configFile, dir string, resources bool, now time.Time) (runner.Setup, error) {
	cfg, err := schedule.LoadConfigFile(configFile, now)
	if err != nil {
		return runner.Setup{}, err
	}
	if dir == "" {
		if !resources {
			return runner.Setup{}, experiment.Problems{{File: configFile, Field: "experiments", Message: "is required: the directory of the experiments the nights play (or customResources.enabled: true, to play Experiment objects only)"}}
		}
		fp, err := fingerprint(configFile, "")
		if err != nil {
			return runner.Setup{}, err
		}
		return runner.Setup{Nights: cfg.Nights, Fingerprint: fp}, nil
	}
	exps, err := experiment.LoadPaths(kinds, dir)
	if err != nil {
		return runner.Setup{}, err
	}
	fp, err := fingerprint(configFile, dir)
	if err != nil {
		return runner.Setup{}, err
	}
	return runner.Setup{Nights: cfg.Nights, Experiments: exps, Fingerprint: fp}, nil
}

// reloadSetup is serve's loader: loadSetup, then the settings of the
// configuration file read again through viper (flags and CHAOSNIGHT_*
// variables keep their precedence), so that a change of dryRun or of the
// safety settings applies without a restart. A file viper cannot read keeps
// the last good setup, like any invalid change.
func (g *globals) reloadSetup(configFile, dir string, now time.Time) (runner.Setup, error) {
	setup, err := loadSetup(g.faults.Formats(), configFile, dir, g.v.GetBool(keyCREnabled), now)
	if err != nil {
		return runner.Setup{}, err
	}
	if err := g.v.ReadInConfig(); err != nil {
		return runner.Setup{}, experiment.Problems{{File: configFile, Message: fmt.Sprintf("cannot be read: %v", err)}}
	}
	// Settings the strict decode accepts may still be unsafe together (a
	// lifted namespace that is also excluded, a non-system one): such a
	// change keeps the settings in force, as any invalid change does.
	if err := g.checkSafety(); err != nil {
		return runner.Setup{}, experiment.Problems{{File: configFile, Message: err.Error()}}
	}
	setup.DryRun = g.v.GetBool(keyServeDryRun)
	setup.Policy = g.policy(setup.DryRun)
	return setup, nil
}

// fingerprint hashes the configuration file and every experiment file, so
// a ConfigMap update (an atomic symlink swap) is noticed whatever the
// timestamps say.
func fingerprint(configFile, dir string) (string, error) {
	h := sha256.New()
	files := []string{configFile}
	if dir == "" {
		dir = configFile // nothing else to walk
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if ext := strings.ToLower(filepath.Ext(p)); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", dir, err)
	}
	sort.Strings(files[1:])
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", f, err)
		}
		fmt.Fprintf(h, "%s\x00%d\x00", f, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// serveGCPercent is serve's garbage-collection target unless GOGC says
// otherwise. serve is a daemon that idles for most of the day on a live heap
// of about 2 MiB: Go's default (100, with a 4 MiB minimum heap goal) lets
// garbage double that; 50 keeps the idle RSS about 4 MiB lower
// (BENCHMARKS.md) for a GC cost that is negligible at its allocation rate.
const serveGCPercent = 50

func serve(cmd *cobra.Command, streams Streams, g *globals, f serveFlags) error {
	ctx := cmd.Context()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	configFile := g.settings.ConfigFile
	if configFile == "" {
		return withExitCode(ExitInvalid, errors.New("serve needs a configuration file with nights: --config chaosnight.yaml (or CHAOSNIGHT_CONFIG)"))
	}
	experimentsFlag := experimentsDir(cmd, g)
	// viper is not safe for concurrent use: reloads (which re-read the file
	// into it) and the reads of the injectors hold this lock.
	var settingsMu sync.Mutex
	var crs *crSource // set once connected, before the runner starts
	load := func(now time.Time) (runner.Setup, error) {
		settingsMu.Lock()
		defer settingsMu.Unlock()
		setup, err := g.reloadSetup(configFile, experimentsFlag, now)
		if err != nil || crs == nil {
			return setup, err
		}
		return crs.merge(ctx, setup, now), nil
	}
	// The first load must be valid: a runner that starts on a broken
	// configuration would have nothing to fall back to.
	initial, err := load(time.Now())
	if err != nil {
		return invalidSetup(streams, err)
	}

	if err := g.checkSafety(); err != nil {
		return withExitCode(ExitInvalid, err)
	}
	conn, err := g.connect()
	if err != nil {
		return withExitCode(ExitInvalid, err)
	}
	client, ns := conn.client, conn.namespace
	if crs, err = g.startResources(ctx, conn); err != nil {
		return withExitCode(ExitInvalid, err)
	}
	if crs != nil {
		// The objects count for the start-up work below (the sweep).
		if initial, err = load(time.Now().Add(f.clockOffset)); err != nil {
			return invalidSetup(streams, err)
		}
	}

	// The dry run at start decides the start-up work below (the runner
	// lease, the sweep); after that, the runner applies the one of the
	// latest valid configuration (Setup.DryRun) at every injection.
	dryRun := initial.DryRun
	identity := serveIdentity(f)
	leaseRef := ""
	if !dryRun {
		var stop func()
		leaseRef, stop = g.serveLease(ctx, client, ns, identity)
		defer stop()
	}
	g.sweep(ctx, conn, targetNamespaces(initial.Experiments), dryRun)
	reg := promclient.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := metrics.New(reg)
	ks := g.newKillSwitch(client) // killSwitch.namespace: the chart's release namespace
	g.logSafety(g.policy(dryRun))
	// The guard's template: the runner gives every injection a copy with
	// the policy and dry run in force at that moment (hot reload).
	guard := &inject.Guard{
		Client:     client,
		Policy:     g.policy(dryRun),
		KillSwitch: ks,
		Log:        g.log,
		Component:  "chaosnight",
	}
	injectors := g.injectors(conn, leaseRef)
	eng := &engine.Engine{
		Prom:    conn.prom,
		Targets: &target.Selector{Client: client},
		Guard:   guard,
		Injector: func(exp *experiment.Experiment) (inject.Injector, error) {
			settingsMu.Lock()
			defer settingsMu.Unlock()
			return injectors(exp)
		},
		Gate:    &liveGate{mu: &settingsMu, g: g, prom: conn.prom, client: client},
		Metrics: m,
		Log:     g.log,
		// Explicit, so that the chart's terminationGracePeriodSeconds can
		// be checked against it (runner.ShutdownBudget).
		RevertTimeout: runner.RevertTimeout,
	}
	var notify runner.Notifier = &runner.Events{Client: client, Object: eventObject(ns, g.v.GetString(keyLeaseName)), Component: "chaosnight", Log: g.log}
	if crs != nil {
		notify = notifiers{notify, crs}
	}
	r, err := runner.New(runner.Config{
		Load:       load,
		Engine:     eng,
		Guard:      guard,
		KillSwitch: ks,
		State:      &runner.ConfigMapState{Client: client, Namespace: ns},
		Now:        func() time.Time { return time.Now().Add(f.clockOffset) },
		Notifier:   notify,
		Journals:   g.v.GetString(keyJournalDir),
		Retention:  g.v.GetDuration(keyJournalRetain),
		Metrics:    m,
		Log:        g.log,
		Tick:       f.tick,
	})
	if err != nil {
		return withExitCode(ExitInvalid, err)
	}
	if crs != nil {
		crs.runner.Store(r)
	}
	if err := r.Reload(); err != nil {
		return withExitCode(ExitInvalid, err)
	}
	go r.Watch(ctx) // followers too: /status shows what they would apply

	lis, err := net.Listen("tcp", g.v.GetString(keyListen))
	if err != nil {
		return withExitCode(ExitInvalid, fmt.Errorf("listen: %w", err))
	}
	srv := &http.Server{Handler: r.Handler(reg), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("http server", "error", err)
		}
	}()
	g.log.Info("serving", "address", lis.Addr().String(), "namespace", ns, "dryRun", dryRun, "identity", identity)
	if dryRun {
		g.log.Warn("dry run: experiments are planned and journaled but nothing is injected (set dryRun: false to inject)")
	}

	if g.v.GetBool(keyLeaderElect) {
		err = runner.RunAsLeader(ctx, runner.LeaderConfig{
			Client: client, Namespace: ns, Name: g.v.GetString(keyLeaseName), Identity: identity, Metrics: m, Log: g.log,
		}, func(leadCtx context.Context) { _ = r.Run(leadCtx) })
	} else {
		m.SetLeader(true)
		err = r.Run(ctx)
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), runner.HTTPShutdownTimeout)
	defer cancel()
	_ = srv.Shutdown(shutdown)
	if err != nil {
		return withExitCode(ExitInvalid, err)
	}
	g.log.Info("stopped")
	return nil
}

// targetNamespaces is the union of the experiments' target namespaces:
// where serve sweeps for orphan helper pods.
func targetNamespaces(exps []experiment.Experiment) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range exps {
		for _, ns := range e.Spec.Target.Namespaces {
			if !seen[ns] {
				seen[ns] = true
				out = append(out, ns)
			}
		}
	}
	sort.Strings(out)
	return out
}

// runnerPod is this runner's own Pod as an owner, when the chart's
// downward API says which it is and it lives in the namespace of the
// runner's objects (an owner is never in another namespace); else nil.
func runnerPod(ns string) *metav1.OwnerReference {
	name, uid := os.Getenv("POD_NAME"), os.Getenv("POD_UID")
	if name == "" || uid == "" || os.Getenv("POD_NAMESPACE") != ns {
		return nil
	}
	return &metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: name, UID: types.UID(uid)}
}

// eventObject is what run Events are attached to: the runner's Pod when the
// chart passes POD_NAME, else its leader Lease.
func eventObject(ns, lease string) corev1.ObjectReference {
	if pod := os.Getenv("POD_NAME"); pod != "" {
		return corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: ns, Name: pod}
	}
	return corev1.ObjectReference{Kind: "Lease", APIVersion: "coordination.k8s.io/v1", Namespace: ns, Name: lease}
}

// invalidSetup reports a first configuration that does not load: every
// problem on stderr, exit code ExitInvalid.
func invalidSetup(streams Streams, err error) error {
	var problems experiment.Problems
	if errors.As(err, &problems) {
		for _, p := range problems {
			fmt.Fprintln(streams.Err, p.String())
		}
		return withExitCode(ExitInvalid, fmt.Errorf("the configuration is not valid (%d problem(s))", len(problems)))
	}
	return withExitCode(ExitInvalid, err)
}

// serveIdentity names this runner: --identity, else $POD_NAME (the
// chart's), else host and process.
func serveIdentity(f serveFlags) string {
	if f.identity != "" {
		return f.identity
	}
	if id := os.Getenv("POD_NAME"); id != "" {
		return id
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// serveLease keeps one Lease for the whole serve process: while it is
// renewed, the orphan sweep leaves what this runner's injections left in
// the cluster (helper pods, cordons) alone; if the process dies, they are
// swept once it expires. It returns the Lease's reference ("" without one)
// and the func that deletes it at shutdown.
func (g *globals) serveLease(ctx context.Context, client kubernetes.Interface, ns, identity string) (string, func()) {
	lease := &stress.RunLease{Client: client, Namespace: ns, RunID: "serve-" + identity, Log: g.log, Owner: runnerPod(ns)}
	if err := lease.Start(ctx); err != nil {
		g.log.Warn("no runner lease: helper pods and cordons will rely on their deadline alone", "error", err)
		return "", func() {}
	}
	return lease.Ref(), func() {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), runner.RunLeaseStopTimeout)
		defer cancel()
		_ = lease.Stop(stopCtx)
	}
}
