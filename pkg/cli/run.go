package cli

import (
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaosnight/chaosnight/pkg/engine"
	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/stress"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/report"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// Keys of the settings only `run` (and later `serve`) use.
const (
	keyPromBearerTokenFile = "prometheus.bearerTokenFile"
	keyPromCAFile          = "prometheus.caFile"
	keyPromInsecure        = "prometheus.insecureSkipVerify"
	keyPromTimeout         = "prometheus.timeout"
	keyExcludeNamespaces   = "safety.excludeNamespaces"
	keyRequireOptIn        = "safety.requireOptIn"
	keyKubeQPS             = "kube.qps"
	keyKubeBurst           = "kube.burst"
	keyStressImage         = "stress.image"
	keyStressStartTimeout  = "stress.startTimeout"
)

type runFlags struct {
	seed    int64
	dryRun  bool
	journal string
	output  string
	reports runReports // --junit, --markdown (report.go)
}

func newRunCommand(streams Streams, g *globals) *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run FILE | experiment/NAME",
		Short: "Run one experiment now: preflight, select, inject, observe, revert, recover, verdict",
		Long: `Run one experiment against the cluster of the current kubeconfig context:
from a file, or from an Experiment custom resource (experiment/NAME, in the
namespace of -n or the context's), which is validated as a file is and gets
the run in its status (Running, Held, lastRun); deleting it mid-run aborts
and reverts the run.

Phases: preflight (Prometheus reachable and the hypothesis holds, otherwise
nothing is injected and the verdict is skipped), select the targets, inject,
observe for the experiment's duration (hypothesis and stopWhen every
probeInterval; a stop condition, SIGINT or SIGTERM aborts at once), revert
(always), recover (the hypothesis must hold again within recovery), verdict.

Before each injection the gate (docs/gate.md) must be open: no alert
matching --gate-alert-selector firing (unless spec.detect expects it) and no
workload of the picked targets rolling out; otherwise the run is skipped
("gate: ..."), dry runs included.

A run that touched no target (every one protected by a PodDisruptionBudget,
refused, forbidden, gone or failed) is skipped, with each target's reason; a
run that touched only some says "injected N of M" in its reasons.

Exit codes: 0 held, 1 deviated, 2 aborted or skipped, 3 error or invalid input,
and 3 whenever a revert failed, whatever the verdict: the summary then lists
what is still in effect and until when. A dry run (--dry-run) plans and prints the targets, touches nothing, and
exits 0 (2 if the steady state does not hold).`,
		Example: `  chaosnight run experiments/checkout-pod-kill.yaml --prometheus-url http://localhost:9090
  chaosnight run experiments/checkout-pod-kill.yaml --dry-run
  chaosnight run experiments/checkout-pod-kill.yaml --seed 42   # replay the same choice of targets
  chaosnight run experiment/checkout-pod-kill -n shop            # the Experiment object, status updated`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExperiment(cmd, streams, g, f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.Int64Var(&f.seed, "seed", 0, "seed of the random choice of targets (default: a fresh one, recorded in the journal)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the plan (targets, current probe values) and touch nothing")
	fl.StringVar(&f.journal, "journal", "", "where to write the JSON journal (default: journals/NAME-RUNID.json)")
	fl.StringVarP(&f.output, "output", "o", "text", "output: text (a live view on a terminal, log lines otherwise) or json (the journal on stdout)")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedCompletion("text", "json"))
	f.reports.addFlags(fl)
	g.addInjectionFlags(fl)
	return cmd
}

func runExperiment(cmd *cobra.Command, streams Streams, g *globals, f runFlags, file string) error {
	if f.output != "text" && f.output != "json" {
		return withExitCode(ExitInvalid, fmt.Errorf("--output %q: unknown output (allowed: text, json)", f.output))
	}
	resource, isResource := resourceName(file)
	var exp *experiment.Experiment
	if !isResource {
		var err error
		if exp, err = g.loadOne(streams, file); err != nil {
			return err
		}
	}

	if err := g.checkSafety(); err != nil {
		return withExitCode(ExitInvalid, err)
	}
	conn, err := g.connect()
	if err != nil {
		return withExitCode(ExitInvalid, err)
	}
	client := conn.client
	var res *runResource
	if isResource {
		if res, err = g.openResource(cmd.Context(), streams, conn, resource); err != nil {
			return err
		}
		exp = res.exp
	}
	// The one kill switch (killSwitch.namespace, not the context's
	// namespace): the guard refuses to inject while it is engaged, unclear
	// or unreadable, and pulling it aborts this run.
	ks := g.newKillSwitch(client)
	g.logSafety(g.policy(f.dryRun))
	ctx, stopWatch := ks.Abort(cmd.Context(), 500*time.Millisecond, nil) // a pause must revert within 2 s
	defer stopWatch()
	ctx, stopRes := res.watch(ctx)
	defer stopRes()

	seed := f.seed
	if !cmd.Flags().Changed("seed") {
		seed = target.NewSeed()
	}
	runID := newRunID(time.Now())
	journalPath := f.journal
	if journalPath == "" {
		journalPath = filepath.Join("journals", exp.Metadata.Name+"-"+runID+".json")
	}
	// Helper pods left by a run that died (SIGKILL, a lost node) go first.
	g.sweep(ctx, conn, exp.Spec.Target.Namespaces, f.dryRun)
	leaseRef := ""
	if !f.dryRun && g.faults.NeedsLease(exp.Spec.Action) {
		lease := &stress.RunLease{Client: client, Namespace: conn.namespace, RunID: runID, Log: g.log}
		if err := lease.Start(ctx); err != nil {
			g.log.Warn("no run lease: helper pods will rely on their deadline alone", "error", err)
		} else {
			leaseRef = lease.Ref()
			defer func() { _ = lease.Stop(context.WithoutCancel(ctx)) }()
		}
	}
	view := newProgressView(streams, f.output, exp)
	eng := &engine.Engine{
		Prom:    conn.prom,
		Targets: &target.Selector{Client: client},
		Guard: &inject.Guard{
			Client:     client,
			Policy:     g.policy(f.dryRun),
			KillSwitch: ks,
			Log:        g.log,
			Component:  "chaosnight",
		},
		Injector: g.injectors(conn, leaseRef),
		Gate:     g.newGate(conn.prom, client),
		Journal:  journal.File{Path: journalPath},
		Log:      g.log,
		Observe:  view.update,
	}
	res.started(ctx, g, runID)
	rec := eng.Run(ctx, exp, engine.Options{RunID: runID, Seed: seed, DryRun: f.dryRun, File: cmp.Or(exp.Source.File, file)})
	view.done()
	res.ended(ctx, g, rec, journalPath)

	if f.output == "json" {
		enc := json.NewEncoder(streams.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rec); err != nil {
			return withExitCode(ExitInvalid, err)
		}
	} else {
		printSummary(streams, rec, journalPath)
	}
	if err := f.reports.write(rec); err != nil {
		return withExitCode(ExitInvalid, err)
	}
	// From the record, not the verdict alone: a failed revert is exit 3
	// whatever the verdict says.
	if code := engine.ExitCodeOf(rec); code != 0 {
		return silentExit(code)
	}
	return nil
}

// loadOne reads a file that must hold exactly one experiment; problems
// go to stderr.
func (g *globals) loadOne(streams Streams, file string) (*experiment.Experiment, error) {
	exps, err := experiment.LoadFile(g.faults.Formats(), file)
	if err != nil {
		var problems experiment.Problems
		if errors.As(err, &problems) {
			for _, p := range problems {
				fmt.Fprintln(streams.Err, p.String())
			}
			return nil, withExitCode(ExitInvalid, fmt.Errorf("%s is not a valid experiment (%d problem(s))", file, len(problems)))
		}
		return nil, withExitCode(ExitInvalid, err)
	}
	if len(exps) != 1 {
		return nil, withExitCode(ExitInvalid, fmt.Errorf("%s holds %d experiments; run takes a file with exactly one", file, len(exps)))
	}
	return &exps[0], nil
}

// injectors builds the injector of an experiment's action from the fault
// registry. leaseRef is the "namespace/name" of the Lease that proves the
// run (or the serve process) alive to the orphan sweep; empty leaves
// what outlives a crash to its own deadline.
func (g *globals) injectors(conn *connection, leaseRef string) engine.InjectorFor {
	env := g.injectEnv(conn, leaseRef)
	return func(exp *experiment.Experiment) (inject.Injector, error) {
		return g.faults.Injector(env, exp)
	}
}

// injectEnv is what the program gives every injector.
func (g *globals) injectEnv(conn *connection, leaseRef string) inject.Env {
	return inject.Env{
		Client:       conn.client,
		REST:         conn.rest,
		HelperImage:  g.stressImage(),
		StartTimeout: g.v.GetDuration(keyStressStartTimeout),
		Lease:        leaseRef,
		Log:          g.log,
	}
}

// stressImage is the image of the stress containers and helper pods.
func (g *globals) stressImage() string {
	if img := g.v.GetString(keyStressImage); img != "" {
		return img
	}
	return stress.DefaultImage(g.version)
}

// sweep lets every kind that leaves objects behind a crash (stress helper
// pods, cordoned nodes) remove those of runs that are gone (their lease
// expired) or whose deadline passed, before anything new starts. Each
// first tries the whole cluster (a target across 100 namespaces would
// otherwise cost 100 requests), and falls back to the given namespaces
// when the account may only list namespace by namespace.
func (g *globals) sweep(ctx context.Context, conn *connection, namespaces []string, dryRun bool) {
	env := g.injectEnv(conn, "")
	for _, sw := range g.faults.Sweepers() {
		scope := inject.SweepScope{LeaseNamespace: conn.namespace, DryRun: dryRun}
		if len(namespaces) < target.DefaultClusterScopeMin {
			scope.Namespaces = namespaces
		}
		err := sw.Sweep(ctx, env, scope)
		if err != nil && scope.Namespaces == nil {
			scope.Namespaces = namespaces
			err = sw.Sweep(ctx, env, scope)
		}
		if err != nil {
			g.log.Warn("orphan sweep incomplete", "error", err)
		}
	}
}

// newRunID is sortable by time and safe as a label value and in file names.
func newRunID(now time.Time) string {
	b := make([]byte, 3)
	_, _ = crand.Read(b) // never fails on Linux; a zero suffix would still be unique enough with the timestamp
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}

func printSummary(streams Streams, rec *journal.Record, journalPath string) {
	w := streams.Out
	fmt.Fprintf(w, "\n%s: %s\n", rec.Experiment.Metadata.Name, strings.ToUpper(string(rec.Verdict)))
	for _, r := range rec.Reasons {
		fmt.Fprintf(w, "  - %s\n", r)
	}
	if rec.Fault != nil {
		fmt.Fprintf(w, "  fault: %s; revert: %s\n", rec.Fault.Action, rec.Fault.Revert)
	}
	if line := report.Injected(rec); line != "" {
		fmt.Fprintf(w, "  injected: %s\n", line)
	}
	if rec.RevertFailed() {
		fmt.Fprintln(w, "  STILL IN EFFECT (the revert failed, exit 3):")
		for _, l := range rec.Leftovers {
			fmt.Fprintf(w, "    %s\n", report.Leftover(l))
		}
	}
	printPolicy(w, rec)
	if len(rec.Targets) > 0 {
		fmt.Fprintln(w, "  targets:")
		for _, t := range rec.Targets {
			fmt.Fprintf(w, "    %s (uid %s, node %s)\n", t.Key(), t.UID, t.Node)
		}
	}
	printCollateral(w, rec)
	fmt.Fprintf(w, "  journal: %s\n  replay:  %s\n", journalPath, rec.Replay)
}
