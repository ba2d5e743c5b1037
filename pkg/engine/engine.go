// Package engine runs one experiment through its phases — preflight,
// select, inject, observe, revert, recover — and produces a journal record
// with the verdict and its evidence. Revert always runs once anything was
// injected, whatever ended the observation.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/metrics"
	"github.com/chaosnight/chaosnight/pkg/probe"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// Lister lists candidate pods for a target (server-side selectors).
type Lister interface {
	List(ctx context.Context, t experiment.Target) ([]target.Pod, target.Stats, error)
}

// Guard is the choke point every injection passes (inject.Guard).
type Guard interface {
	Inject(ctx context.Context, req inject.Request) (inject.Injection, error)
}

// InjectorFor builds the injector for an experiment's action.
type InjectorFor func(exp *experiment.Experiment) (inject.Injector, error)

// Engine runs experiments. Its fields are its configuration; the zero
// values of Log, Now, Observe and Journal are usable.
type Engine struct {
	Prom     probe.Querier
	Targets  Lister
	Guard    Guard
	Injector InjectorFor
	Journal  journal.Sink
	Metrics  *metrics.Metrics // nil records nothing
	Log      *slog.Logger
	Now      func() time.Time
	// Observe receives progress for live views; it must not block.
	Observe func(Progress)
	// RevertTimeout bounds the revert of one injection. Default 1 minute.
	RevertTimeout time.Duration
	// Gate is asked before each injection (gate.go); nil checks nothing.
	Gate Gate
}

// Options are the per-run settings.
type Options struct {
	RunID  string
	Seed   int64
	DryRun bool
	File   string // the experiment file, for the journal and the replay command
}

// Progress is one update for a live view.
type Progress struct {
	Phase     string
	Started   time.Time     // when the run started
	Elapsed   time.Duration // in the current phase
	Remaining time.Duration // in the current phase, when it has a fixed length
	Results   []probe.Result
	Message   string
	Injection *inject.Injection
}

// ExitCode maps a verdict to the CLI's exit code: 0 held, 1 deviated,
// 2 aborted or skipped, 3 error; a dry run that planned is 0. Prefer
// ExitCodeOf, which also counts a failed revert.
func ExitCode(v journal.Verdict) int { return v.ExitCode() }

// ExitCodeOf is the exit code of a finished run: ExitCode of its verdict,
// except that a revert that left something in effect is always 3, also
// when the verdict is deviated or aborted (the verdict stays: a weakness
// found is still a finding, but the cluster needs someone's attention).
// run, serve and the reports all derive exit codes from it
// (journal.Record.ExitCode, which the reports use directly).
func ExitCodeOf(rec *journal.Record) int { return rec.ExitCode() }

// run is the state of one run.
type run struct {
	e       *Engine
	exp     *experiment.Experiment
	opts    Options
	rec     *journal.Record
	log     *slog.Logger
	started time.Time
	// injections that need a revert
	injected []injected
}

type injected struct {
	injector inject.Injector
	inj      inject.Injection
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Run executes exp and returns its record. ctx cancellation (SIGINT,
// SIGTERM, a window closing) aborts the run; the revert still happens.
func (e *Engine) Run(ctx context.Context, exp *experiment.Experiment, opts Options) *journal.Record {
	log := e.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &run{e: e, exp: exp, opts: opts, started: e.now()}
	r.log = log.With("experiment", exp.Metadata.Name, "run", opts.RunID)
	r.rec = &journal.Record{
		SchemaVersion: journal.SchemaVersion,
		RunID:         opts.RunID,
		Experiment:    *exp,
		File:          opts.File,
		Fault:         faultWords(exp),
		Seed:          opts.Seed,
		DryRun:        opts.DryRun,
		Started:       r.started,
		Verdict:       journal.Running,
		Replay:        replayCommand(opts),
	}
	e.Metrics.RunStarted()
	defer e.Metrics.RunEnded()
	verdict, reasons := r.execute(ctx)
	r.rec.Verdict = verdict
	r.rec.Reasons = append(r.rec.Reasons, reasons...)
	r.rec.Ended = e.now()
	r.checkpoint()
	e.Metrics.ObserveRun(r.rec)
	r.log.Info("verdict", "verdict", verdict, "reasons", strings.Join(r.rec.Reasons, "; "))
	return r.rec
}

func replayCommand(o Options) string {
	file := o.File
	if file == "" {
		file = "EXPERIMENT.yaml"
	}
	return fmt.Sprintf("chaosnight run %s --seed %d", file, o.Seed)
}

func (r *run) checkpoint() {
	if r.e.Journal == nil {
		return
	}
	if err := r.e.Journal.Write(r.rec); err != nil {
		r.log.Error("cannot write the journal", "error", err)
	}
}

func (r *run) observe(p Progress) {
	if r.e.Observe != nil {
		p.Started = r.started
		r.e.Observe(p)
	}
}

// phase starts a phase in the record and returns a func that ends it.
func (r *run) phase(name string) func(note string) {
	r.rec.Phases = append(r.rec.Phases, journal.Phase{Name: name, Started: r.e.now()})
	i := len(r.rec.Phases) - 1
	r.log.Debug("phase", "phase", name)
	r.checkpoint() // a crash mid-phase leaves a journal that says where it was
	r.observe(Progress{Phase: name})
	return func(note string) {
		r.rec.Phases[i].Ended = r.e.now()
		r.rec.Phases[i].Note = note
		r.checkpoint()
	}
}

// execute runs the phases and returns the verdict.
func (r *run) execute(ctx context.Context) (journal.Verdict, []string) {
	spec := &r.exp.Spec

	// 1. preflight: the baselines of relative expectations are measured
	// first (baseline.go); the steady state must hold and no stop
	// condition may be firing, or nothing is injected.
	end := r.phase(journal.PhasePreflight)
	if verdict, reasons, note := r.measureBaselines(ctx); verdict != "" {
		end(note)
		return verdict, reasons
	}
	results := r.evaluate(ctx, journal.PhasePreflight)
	r.observe(Progress{Phase: journal.PhasePreflight, Results: results})
	if ctx.Err() != nil {
		end("interrupted")
		return journal.Aborted, []string{fmt.Sprintf("interrupted before injection (%v); nothing was injected", context.Cause(ctx))}
	}
	if bad := failed(results); len(bad) > 0 {
		end("steady state not met")
		return journal.Skipped, prefix("steady state did not hold before injection, nothing was injected: ", reasonsOf(bad))
	}
	if v, why := r.detectPreflight(ctx); v != "" {
		end("alerts not quiet")
		return v, why
	}
	end("steady state holds")

	// 2.-3. select and inject (the first time; podKill.every repeats it).
	rng := target.NewRand(r.opts.Seed)
	injection, verdict, reasons := r.selectAndInject(ctx, rng, 1)
	if verdict != "" {
		// A run that ends here may still have left state (an ephemeral
		// container added to a pod whose stress never started): it is
		// reverted before the verdict, like any other.
		reasons = append(reasons, r.revert()...)
		return verdict, reasons
	}
	if r.opts.DryRun {
		return journal.DryRun, []string{fmt.Sprintf("dry run: %s planned, nothing was touched", describeOutcomes(injection))}
	}

	// 4. observe; 5. revert, always.
	verdict, reasons = r.observePhase(ctx, rng)
	if rv := r.revert(); len(rv) > 0 {
		reasons = append(reasons, rv...)
		// "held" must mean the fault came and went; a deviation or an
		// abort keeps its verdict (ExitCodeOf makes the exit code 3).
		if verdict == journal.Held {
			verdict = journal.Error
		}
	}

	// 6. recover: skipped only when the user interrupted the run.
	if ctx.Err() != nil {
		r.rec.Phases = append(r.rec.Phases, journal.Phase{Name: journal.PhaseRecover, Started: r.e.now(), Ended: r.e.now(), Note: "not checked: interrupted"})
		return r.detectPhase(ctx, verdict, reasons)
	}
	ok, why := r.recoverPhase(ctx)
	switch {
	case ok:
	case verdict == journal.Held && why.unknown:
		verdict = journal.Error
		reasons = append(reasons, why.text)
	case verdict == journal.Held:
		verdict = journal.Deviated
		reasons = append(reasons, why.text)
	default:
		reasons = append(reasons, why.text)
	}
	verdict, reasons = r.detectPhase(ctx, verdict, reasons)
	if verdict == journal.Held {
		reasons = append(reasons, fmt.Sprintf("the hypothesis held for %s of injection and the system recovered", spec.Duration.Duration))
	}
	return verdict, reasons
}

// selectAndInject runs the select and inject phases once; round is 1 for
// the first injection, 2... for the repeats of podKill.every. A non-empty
// verdict means the round put nothing in place: for the first round the
// run ends there, for a repeat the run goes on.
func (r *run) selectAndInject(ctx context.Context, rng randSource, round int) (inject.Injection, journal.Verdict, []string) {
	end := r.phase(journal.PhaseSelect)
	// The injector comes first: a kind may pick its own targets (a node
	// drain picks nodes, then the eligible pods on them).
	injector, err := r.e.Injector(r.exp)
	if err != nil {
		end("error")
		return inject.Injection{}, journal.Error, []string{fmt.Sprintf("preparing the injection: %v", err)}
	}
	listStart := r.e.now()
	pods, stats, err := r.e.Targets.List(ctx, r.exp.Spec.Target)
	listTook := r.e.now().Sub(listStart)
	if err != nil {
		end("error")
		return inject.Injection{}, journal.Error, []string{fmt.Sprintf("listing targets: %v", err)}
	}
	eligible, _ := target.Eligible(pods, r.exp.Spec.Target, r.e.now())
	picked, chosen, err := r.pick(ctx, injector, eligible, rng)
	if err != nil {
		end("error")
		return inject.Injection{}, journal.Error, []string{fmt.Sprintf("picking targets: %v", err)}
	}
	// The LIST cost goes into the note: it is what makes a plan fast or
	// slow on a big cluster, and the benchmark (bench/plan) reads it.
	requests := fmt.Sprintf("%d list requests", stats.Requests)
	if stats.Requests == 1 {
		requests = "1 list request"
	}
	note := fmt.Sprintf("%d matching, %d eligible, %d picked (%s, %s)", len(pods), len(eligible), len(picked),
		requests, listTook.Round(time.Millisecond))
	if chosen != "" {
		note += "; " + chosen
	}
	end(note)
	if len(picked) == 0 {
		why := fmt.Sprintf("no eligible target: %d pods match the selector in %s, none is running, ready to be picked and old enough",
			len(pods), strings.Join(r.exp.Spec.Target.Namespaces, ", "))
		if chosen != "" {
			why = fmt.Sprintf("no eligible target: %d pods match the selector in %s, %d are eligible, none on what was picked (%s)",
				len(pods), strings.Join(r.exp.Spec.Target.Namespaces, ", "), len(eligible), chosen)
		}
		return inject.Injection{}, journal.Skipped, []string{roundWords(round, "touched nothing: ") + why}
	}
	if verdict, reasons := r.checkGate(ctx, round, picked); verdict != "" {
		return inject.Injection{}, verdict, reasons
	}

	end = r.phase(journal.PhaseInject)
	inj, err := r.e.Guard.Inject(ctx, inject.Request{
		Run:        inject.Run{ID: r.opts.RunID, Experiment: r.exp.Metadata.Name},
		Action:     actionWords(r.exp),
		Targets:    picked,
		Injector:   injector,
		MaxTargets: r.exp.Spec.Safety.MaxTargets,
		MinHealthy: minHealthy(r.exp),
		Census:     r.census(pods),
	})
	r.rec.Injections = append(r.rec.Injections, inj)
	r.e.Metrics.ObserveInjection(r.exp.Metadata.Name, inj)
	for _, o := range inj.Outcomes {
		r.rec.Targets = appendTarget(r.rec.Targets, o.Pod)
	}
	// Revert is owed for whatever the injector left, whatever the
	// outcomes say: a stress container added to a pod whose stress never
	// started is a failed outcome with state to undo.
	if owesRevert(inj) {
		r.injected = append(r.injected, injected{injector: injector, inj: inj})
	}
	n := touchedCount(inj)
	note = ""
	if !r.opts.DryRun {
		note = coverageNote(round, n, len(picked), inj)
		r.rec.Rounds = append(r.rec.Rounds, journal.Round{Round: round, At: inj.At, Targets: len(picked), Touched: n, Note: note})
	}
	// The live view and the phase note say what was not done, not only
	// the counts.
	words := describeOutcomes(inj) + countingWords(inj.Counting)
	if note != "" {
		words += "; " + note
	}
	r.observe(Progress{Phase: journal.PhaseInject, Injection: &inj, Message: words})
	end(words)
	if err != nil {
		var refused *inject.RefusedError
		switch {
		case errors.As(err, &refused):
			if round > 1 {
				return inj, journal.Skipped, []string{roundWords(round, "touched nothing: ") + err.Error()}
			}
			return inj, journal.Skipped, []string{fmt.Sprintf("nothing was injected: %v", err)}
		case n > 0:
			// Part of the injection happened: observe and revert anyway.
			r.rec.Reasons = append(r.rec.Reasons, fmt.Sprintf("injection partly failed: %v", err))
			r.partial(round, note)
			return inj, "", nil
		case ctx.Err() != nil:
			return inj, journal.Aborted, []string{fmt.Sprintf("interrupted before injection (%v); nothing was injected", context.Cause(ctx))}
		}
		return inj, journal.Error, []string{fmt.Sprintf("injection failed: %v", err)}
	}
	if r.opts.DryRun {
		return inj, "", nil
	}
	if n == 0 {
		// Every target was protected, refused by the API server, gone or
		// failed: observing now would measure an undisturbed system.
		return inj, journal.Skipped, []string{note}
	}
	r.partial(round, note)
	return inj, "", nil
}

// partial puts a first round's "injected 1 of 3: ..." into the verdict's
// reasons; a repeat's partial note stays in its round and phase note.
func (r *run) partial(round int, note string) {
	if round == 1 && note != "" {
		r.rec.Reasons = append(r.rec.Reasons, note)
	}
}

// observePhase evaluates the hypothesis and the stop conditions every
// probeInterval for the experiment's duration, repeating pod kills when
// podKill.every is set.
func (r *run) observePhase(ctx context.Context, rng randSource) (journal.Verdict, []string) {
	spec := &r.exp.Spec
	end := r.phase(journal.PhaseObserve)
	start := r.e.now()
	deadline := time.NewTimer(spec.Duration.Duration)
	defer deadline.Stop()
	probeTick := time.NewTicker(spec.ProbeInterval.Duration)
	defer probeTick.Stop()
	var again <-chan time.Time
	round := 1 // the first injection happened before observe
	if every := repeatEvery(spec.Action); every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		again = t.C
	}
	for {
		select {
		case <-ctx.Done():
			end("interrupted")
			return journal.Aborted, []string{fmt.Sprintf("interrupted after %s of injection (%v); everything was reverted", r.e.now().Sub(start).Round(time.Second), context.Cause(ctx))}
		case <-deadline.C:
			end("duration elapsed")
			return journal.Held, nil
		case <-again:
			end("repeating the injection")
			round++
			inj, verdict, reasons := r.selectAndInject(ctx, rng, round)
			switch verdict {
			case "":
			case journal.Skipped:
				// Nothing touched this time (e.g. the PDB or minHealthy
				// holds every pod): that is information, not a failure,
				// and it is recorded as such.
				r.rec.Reasons = append(r.rec.Reasons, reasons...)
				r.log.Info("repeat injection touched nothing", "round", round, "reasons", strings.Join(reasons, "; "), "outcomes", describeOutcomes(inj))
			default:
				return journal.Aborted, prefix("aborted: ", reasons)
			}
			end = r.phase(journal.PhaseObserve)
		case <-probeTick.C:
			results := r.evaluate(ctx, journal.PhaseObserve)
			if ctx.Err() != nil {
				continue // the ctx.Done case reports the interruption
			}
			elapsed := r.e.now().Sub(start)
			r.observe(Progress{Phase: journal.PhaseObserve, Elapsed: elapsed, Remaining: spec.Duration.Duration - elapsed, Results: results})
			if unknown := errored(results); len(unknown) > 0 {
				end("probes could not be evaluated")
				return journal.Aborted, prefix("aborted: the steady state could not be verified during injection: ", reasonsOf(unknown))
			}
			if stops := firedStops(results); len(stops) > 0 {
				end("stop condition")
				return journal.Aborted, prefix("aborted by stop condition: ", reasonsOf(stops))
			}
			if bad := failed(results); len(bad) > 0 {
				end("hypothesis violated")
				// A refuted hypothesis is a finding; injecting longer only
				// hurts, so the fault is reverted at once.
				return journal.Deviated, prefix(fmt.Sprintf("the hypothesis was violated after %s of injection: ", elapsed.Round(time.Second)), reasonsOf(bad))
			}
		}
	}
}

// revert undoes every injection with a context that outlives the run's, so
// that a SIGINT or a closing window still gets everything reverted.
func (r *run) revert() []string {
	if len(r.injected) == 0 {
		return nil
	}
	end := r.phase(journal.PhaseRevert)
	timeout := r.e.RevertTimeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	var problems []string
	for i := len(r.injected) - 1; i >= 0; i-- {
		in := r.injected[i]
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		// Findings are read before the revert: a pod the kubelet evicted
		// is a result of the experiment, recorded, not an error.
		if f, ok := in.injector.(findingReporter); ok {
			r.rec.Reasons = append(r.rec.Reasons, f.Findings(ctx, in.inj)...)
		}
		err := in.injector.Revert(ctx, in.inj)
		cancel()
		if err != nil {
			problems = append(problems, fmt.Sprintf("revert of %s failed: %v", in.inj.Kind, err))
			r.rec.Leftovers = append(r.rec.Leftovers, leftovers(in.inj, err)...)
			r.log.Error("revert failed", "kind", in.inj.Kind, "error", err)
		}
	}
	r.injected = nil
	if len(problems) > 0 {
		end("revert failed")
	} else {
		end("reverted")
	}
	return problems
}

// findingReporter is an injector that can say what happened to its
// targets (a pod evicted by the kubelet under a disk or memory stress).
type findingReporter interface {
	Findings(ctx context.Context, inj inject.Injection) []string
}

type recoveryFailure struct {
	text    string
	unknown bool // Prometheus could not answer: recovery is unverified, not refuted
}

// recoverPhase waits for the hypothesis to hold again, at most Recovery.
func (r *run) recoverPhase(ctx context.Context) (bool, recoveryFailure) {
	spec := &r.exp.Spec
	end := r.phase(journal.PhaseRecover)
	start := r.e.now()
	deadline := start.Add(spec.Recovery.Duration)
	tick := time.NewTicker(spec.ProbeInterval.Duration)
	defer tick.Stop()
	var last []probe.Result
	for {
		last = r.evaluateHypothesis(ctx, journal.PhaseRecover)
		r.e.Metrics.ObserveProbes(r.exp.Metadata.Name, last)
		elapsed := r.e.now().Sub(start)
		r.observe(Progress{Phase: journal.PhaseRecover, Elapsed: elapsed, Remaining: spec.Recovery.Duration - elapsed, Results: last})
		if len(failed(last)) == 0 {
			end(fmt.Sprintf("recovered after %s", elapsed.Round(time.Second)))
			r.recovered(elapsed)
			return true, recoveryFailure{}
		}
		if !r.e.now().Before(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			end("interrupted")
			return false, recoveryFailure{text: "recovery not verified: interrupted", unknown: true}
		case <-tick.C:
		}
	}
	end("not recovered")
	if unknown := errored(last); len(unknown) == len(failed(last)) {
		return false, recoveryFailure{unknown: true, text: strings.Join(prefix(fmt.Sprintf("recovery could not be verified within %s: ", spec.Recovery.Duration), reasonsOf(unknown)), "; ")}
	}
	return false, recoveryFailure{text: strings.Join(prefix(fmt.Sprintf("the system did not recover within %s: ", spec.Recovery.Duration), reasonsOf(failed(last))), "; ")}
}

// evaluate checks the hypothesis and the stop conditions and journals the samples.
func (r *run) evaluate(ctx context.Context, phase string) []probe.Result {
	results := r.evaluateHypothesis(ctx, phase)
	at := r.e.now()
	for _, p := range r.exp.Spec.StopWhen {
		res := probe.Check(ctx, r.e.Prom, p, probe.RoleStop, at)
		results = append(results, res)
		r.rec.Samples = append(r.rec.Samples, journal.Sample{Phase: phase, Result: res})
	}
	r.e.Metrics.ObserveProbes(r.exp.Metadata.Name, results)
	return results
}

func (r *run) evaluateHypothesis(ctx context.Context, phase string) []probe.Result {
	at := r.e.now()
	results := make([]probe.Result, 0, len(r.exp.Spec.Hypothesis.Probes)+len(r.exp.Spec.StopWhen))
	for i, p := range r.exp.Spec.Hypothesis.Probes {
		res := r.checkHypothesis(ctx, i, p, at)
		results = append(results, res)
		r.rec.Samples = append(r.rec.Samples, journal.Sample{Phase: phase, Result: res})
	}
	return results
}
