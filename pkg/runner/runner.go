// Package runner is `chaosnight serve`: it opens chaos-night windows,
// plays the experiments planned for each (one at a time, through the
// engine), aborts and reverts what is in flight when a window closes or the
// kill switch is pulled, records skipped experiments, and reloads its
// configuration when the files change.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chaosnight/chaosnight/pkg/engine"
	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/killswitch"
	"github.com/chaosnight/chaosnight/pkg/metrics"
	"github.com/chaosnight/chaosnight/pkg/schedule"
)

// Setup is what the configuration files say: the nights and the
// experiments they choose from.
type Setup struct {
	Nights      []schedule.Night
	Experiments []experiment.Experiment
	// Fingerprint changes whenever the files change (a hash of their
	// content); an unchanged fingerprint skips the reload.
	Fingerprint string
}

// Loader reads the configuration and the experiments. A Problems error
// keeps the last good setup.
type Loader func(now time.Time) (Setup, error)

// KillSwitch is the part of killswitch.Switch the runner uses.
type KillSwitch interface {
	Engaged(ctx context.Context) (bool, string, error)
	Abort(ctx context.Context, interval time.Duration, onChange func(killswitch.State)) (context.Context, context.CancelFunc)
}

// Notifier records run starts and verdicts as Kubernetes Events.
type Notifier interface {
	RunStarted(ctx context.Context, experiment, runID, night string)
	RunEnded(ctx context.Context, rec *journal.Record)
}

// Config configures a Runner.
type Config struct {
	Load Loader
	// Engine is the template of every run; the runner sets its journal.
	Engine     *engine.Engine
	KillSwitch KillSwitch // nil: none
	Notifier   Notifier   // nil: no Events
	// State remembers what each window played across leaders and restarts
	// (nil: in memory only).
	State StateStore
	// Journals is the directory of run records; Retention removes older
	// ones (0 keeps them).
	Journals  string
	Retention time.Duration
	DryRun    bool
	Metrics   *metrics.Metrics
	Log       *slog.Logger
	Now       func() time.Time
	// Tick is the period of decisions (default 1s). ReloadEvery is how
	// often the files are checked for changes (default 5s).
	Tick        time.Duration
	ReloadEvery time.Duration
	// KillSwitchPoll is how often a run in flight checks the kill switch
	// (default 500ms: a pause must revert within 2 s).
	KillSwitchPoll time.Duration
}

// Runner plays chaos nights.
type Runner struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	setup    Setup
	loaded   bool
	loadErr  error
	paused   bool
	windows  map[string]*windowState // key: night + opening instant
	inFlight string                  // run ID of the experiment in flight
}

type windowState struct {
	night   schedule.Night
	window  schedule.Window
	done    map[string]bool
	lastEnd time.Time
}

// New validates the configuration and returns a Runner.
func New(cfg Config) (*Runner, error) {
	if cfg.Load == nil || cfg.Engine == nil {
		return nil, errors.New("runner: Load and Engine are required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.ReloadEvery <= 0 {
		cfg.ReloadEvery = 5 * time.Second
	}
	if cfg.KillSwitchPoll <= 0 {
		cfg.KillSwitchPoll = 500 * time.Millisecond
	}
	if cfg.State == nil {
		cfg.State = memoryState{}
	}
	return &Runner{cfg: cfg, log: cfg.Log, windows: map[string]*windowState{}}, nil
}

// Reload reads the files now. An invalid set keeps the last good one; the
// error says why.
func (r *Runner) Reload() error {
	setup, err := r.cfg.Load(r.cfg.Now())
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.loadErr = err
		r.cfg.Metrics.ObserveReload(false, len(r.setup.Experiments))
		r.log.Error("configuration not reloaded; keeping the last good set", "problems", err.Error())
		return err
	}
	recovered := r.loadErr != nil
	r.loadErr = nil
	if r.loaded && setup.Fingerprint == r.setup.Fingerprint {
		if recovered { // the files went back to the set in use
			r.cfg.Metrics.ObserveReload(true, len(r.setup.Experiments))
		}
		return nil
	}
	r.setup = setup
	r.loaded = true
	r.cfg.Metrics.ObserveReload(true, len(setup.Experiments))
	r.log.Info("configuration loaded", "nights", len(setup.Nights), "experiments", len(setup.Experiments))
	return nil
}

// Ready says whether a valid configuration has been loaded.
func (r *Runner) Ready() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.loaded
}

// Status is what the runner shows on its index page and /status.
type Status struct {
	Paused     bool        `json:"paused"`
	InFlight   string      `json:"inFlight,omitempty"`
	ConfigErr  string      `json:"configError,omitempty"`
	NextNights []NextNight `json:"nextNights"`
}

// NextNight is a night's next (or current) window.
type NextNight struct {
	Night  string    `json:"night"`
	Opens  time.Time `json:"opens"`
	Closes time.Time `json:"closes"`
	Open   bool      `json:"open"`
}

// Status reports the current state.
func (r *Runner) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	st := Status{Paused: r.paused, InFlight: r.inFlight}
	if r.loadErr != nil {
		st.ConfigErr = r.loadErr.Error()
	}
	for _, n := range r.setup.Nights {
		if w, ok := n.OpenAt(now); ok {
			st.NextNights = append(st.NextNights, NextNight{Night: n.Name, Opens: w.Opens, Closes: w.Closes, Open: true})
			continue
		}
		if w, err := n.Next(now); err == nil {
			st.NextNights = append(st.NextNights, NextNight{Night: n.Name, Opens: w.Opens, Closes: w.Closes})
		}
	}
	sort.Slice(st.NextNights, func(i, j int) bool { return st.NextNights[i].Opens.Before(st.NextNights[j].Opens) })
	return st
}

// Run is the decision loop; it returns when ctx ends (after the run in
// flight, if any, has been aborted and reverted). Call it as the leader.
func (r *Runner) Run(ctx context.Context) error {
	if err := r.Reload(); err != nil && !r.Ready() {
		r.log.Error("no valid configuration yet; waiting for a valid one", "error", err)
	}
	tick := time.NewTicker(r.cfg.Tick)
	defer tick.Stop()
	lastReload := r.cfg.Now()
	for {
		if r.cfg.Now().Sub(lastReload) >= r.cfg.ReloadEvery {
			_ = r.Reload()
			lastReload = r.cfg.Now()
		}
		next := r.decide(ctx)
		// Wake at the next opening rather than at the tick after it: a
		// night starts on its cron instant, not up to a tick late.
		var wake <-chan time.Time
		var timer *time.Timer
		if !next.IsZero() {
			if d := next.Sub(r.cfg.Now()); d > 0 && d < r.cfg.Tick {
				timer = time.NewTimer(d + time.Millisecond)
				wake = timer.C
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-wake:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// decide is one decision point: update window and kill-switch state, close
// windows that ended, and start the next experiment that is due. It
// returns the earliest coming opening of a night that is not open (zero if
// none), for Run to wake up at.
func (r *Runner) decide(ctx context.Context) (nextOpening time.Time) {
	now := r.cfg.Now()
	r.mu.Lock()
	setup := r.setup
	r.mu.Unlock()

	paused := false
	if r.cfg.KillSwitch != nil {
		engaged, why, err := r.cfg.KillSwitch.Engaged(ctx)
		switch {
		case err != nil:
			// Unknown is never "go": nothing starts while the switch
			// cannot be read.
			r.log.Warn("cannot read the kill switch; starting nothing", "error", err)
			paused = true
		case engaged:
			paused = true
			r.logPausedOnce(why)
		}
	}
	r.mu.Lock()
	if r.paused && !paused {
		r.log.Info("kill switch released")
	}
	r.paused = paused
	r.mu.Unlock()
	r.cfg.Metrics.SetPaused(paused)

	// Track open windows; record what a closed window never played.
	open := map[string]bool{}
	for _, n := range setup.Nights {
		w, isOpen := n.OpenAt(now)
		next := w.Opens
		if !isOpen {
			if nw, err := n.Next(now); err == nil {
				next = nw.Opens
				if nextOpening.IsZero() || next.Before(nextOpening) {
					nextOpening = next
				}
			}
		}
		r.cfg.Metrics.SetWindow(n.Name, isOpen, next)
		if isOpen {
			key := windowKey(w)
			open[key] = true
			r.mu.Lock()
			if _, ok := r.windows[key]; !ok {
				ws := &windowState{night: n, window: w, done: map[string]bool{}}
				r.windows[key] = ws
				r.mu.Unlock()
				r.restoreDone(ctx, key, ws)
				r.mu.Lock()
				r.log.Info("window open", "night", n.Name, "opens", w.Opens, "closes", w.Closes, "alreadyDone", len(ws.done))
			} else {
				r.windows[key].night = n // a reload may have changed the night
			}
			r.mu.Unlock()
		}
	}
	for key, ws := range r.snapshotWindows() {
		if !open[key] || !now.Before(ws.window.Closes) {
			r.closeWindow(ctx, key, ws, setup)
		}
	}
	if paused || ctx.Err() != nil {
		return nextOpening
	}
	for _, ws := range r.sortedWindows() {
		if r.playNext(ctx, ws, setup) {
			return nextOpening // one experiment per decision point; time has moved on
		}
	}
	return nextOpening
}

func (r *Runner) logPausedOnce(why string) {
	r.mu.Lock()
	was := r.paused
	r.mu.Unlock()
	if !was {
		r.log.Warn("kill switch engaged: nothing starts, runs in flight abort", "state", why)
	}
}

func windowKey(w schedule.Window) string {
	return w.Night + "@" + w.Opens.UTC().Format(time.RFC3339)
}

func (r *Runner) snapshotWindows() map[string]*windowState {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]*windowState, len(r.windows))
	for k, v := range r.windows {
		out[k] = v
	}
	return out
}

func (r *Runner) sortedWindows() []*windowState {
	ws := r.snapshotWindows()
	out := make([]*windowState, 0, len(ws))
	for _, w := range ws {
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].window.Opens.Before(out[j].window.Opens) })
	return out
}

// items returns the plan items of the setup's experiments, marking those
// already played (or recorded as skipped) in this window.
func items(setup Setup, ws *windowState) []schedule.PlanItem {
	out := make([]schedule.PlanItem, 0, len(setup.Experiments))
	for _, e := range setup.Experiments {
		it := schedule.ItemOf(e)
		it.Done = ws.done[e.Metadata.Name]
		out = append(out, it)
	}
	return out
}

func findExperiment(setup Setup, name string) (experiment.Experiment, bool) {
	for _, e := range setup.Experiments {
		if e.Metadata.Name == name {
			return e, true
		}
	}
	return experiment.Experiment{}, false
}

// restoreDone reads what this window already played under an earlier
// leader (or before a restart).
func (r *Runner) restoreDone(ctx context.Context, key string, ws *windowState) {
	ctx, cancel := context.WithTimeout(ctx, stateTimeout)
	defer cancel()
	state, err := r.cfg.State.Load(ctx)
	if err != nil {
		r.log.Warn("cannot read the runner state; this window may replay experiments", "error", err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, name := range state[stateKey(key)] {
		ws.done[name] = true
	}
}

// markDone records an experiment as played in the window, in memory and
// in the state store, before it starts: a crash mid-run must not replay it.
func (r *Runner) markDone(ctx context.Context, ws *windowState, name string) {
	r.mu.Lock()
	ws.done[name] = true
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateTimeout)
	defer cancel()
	if err := r.cfg.State.MarkDone(ctx, windowKey(ws.window), name); err != nil {
		r.log.Warn("cannot record the runner state", "error", err)
	}
}

// playNext starts the next due experiment of ws, or records skips. It
// reports whether it ran one.
func (r *Runner) playNext(ctx context.Context, ws *windowState, setup Setup) bool {
	now := r.cfg.Now()
	// The cooldown runs from the end of the previous experiment.
	at := now
	if !ws.lastEnd.IsZero() {
		if ready := ws.lastEnd.Add(ws.night.Cooldown.Duration); ready.After(at) {
			at = ready
		}
	}
	plan := schedule.Plan(ws.window, items(setup, ws), ws.night, at, schedule.Seed(ws.window))
	var due *experiment.Experiment
	for _, p := range plan {
		if p.Skipped {
			// A skip is final only if the experiment could not fit even if
			// it started right now (a shorter run before it may free time).
			e, known := findExperiment(setup, p.Experiment)
			if known && schedule.Fits(ws.window, at, schedule.ItemOf(e).Need()) && !strings.Contains(p.Reason, "maximum") {
				continue
			}
			r.recordSkip(ctx, ws, setup, p.Experiment, p.Reason)
			continue
		}
		if due != nil || p.Start.After(now) {
			continue // one at a time; or not due yet (cooldown)
		}
		if e, ok := findExperiment(setup, p.Experiment); ok {
			due = &e
		}
	}
	if due == nil {
		return false
	}
	r.play(ctx, ws, *due)
	return true
}

// play runs one experiment until it ends, the window closes, the kill
// switch is pulled or ctx ends (leadership lost, SIGTERM). The engine
// reverts in every case.
func (r *Runner) play(ctx context.Context, ws *windowState, e experiment.Experiment) {
	now := r.cfg.Now()
	runID := newRunID(now)
	closeCause := errors.New(ws.window.CloseReason())
	// The window is wall-clock time: the run ends at the close as measured
	// by the runner's clock, checked every tick (a clock that jumps, after
	// an NTP step or a suspended laptop, still closes the window), and
	// with a timer for precision in the ordinary case.
	runCtx, cancel := context.WithTimeoutCause(ctx, ws.window.Closes.Sub(now), closeCause)
	defer cancel()
	runCtx, cancelClose := context.WithCancelCause(runCtx)
	defer cancelClose(nil)
	go r.watchClose(runCtx, ws.window, func() { cancelClose(closeCause) })
	if r.cfg.KillSwitch != nil {
		var stop context.CancelFunc
		runCtx, stop = r.cfg.KillSwitch.Abort(runCtx, r.cfg.KillSwitchPoll, nil)
		defer stop()
	}
	r.markDone(ctx, ws, e.Metadata.Name)
	r.mu.Lock()
	r.inFlight = runID
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight = ""
		ws.lastEnd = r.cfg.Now()
		r.mu.Unlock()
	}()

	eng := *r.cfg.Engine
	eng.Journal = journal.File{Path: r.journalPath(runID, e.Metadata.Name)}
	log := r.log.With("night", ws.night.Name, "experiment", e.Metadata.Name, "run", runID)
	log.Info("experiment starting", "dryRun", r.cfg.DryRun)
	if r.cfg.Notifier != nil {
		r.cfg.Notifier.RunStarted(ctx, e.Metadata.Name, runID, ws.night.Name)
	}
	exp := e
	rec := eng.Run(runCtx, &exp, engine.Options{
		RunID: runID, Seed: newSeed(), DryRun: r.cfg.DryRun,
		File: exp.Source.File,
	})
	log.Info("experiment ended", "verdict", rec.Verdict, "reasons", strings.Join(rec.Reasons, "; "))
	if r.cfg.Notifier != nil {
		r.cfg.Notifier.RunEnded(context.WithoutCancel(ctx), rec)
	}
	r.prune()
}

// watchClose calls closeNow once the runner's clock reaches the window's
// close.
func (r *Runner) watchClose(ctx context.Context, w schedule.Window, closeNow func()) {
	t := time.NewTicker(r.cfg.Tick)
	defer t.Stop()
	for {
		if !r.cfg.Now().Before(w.Closes) {
			closeNow()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// recordSkip writes a journal record for an experiment the window will not
// play, and marks it done for this window.
func (r *Runner) recordSkip(ctx context.Context, ws *windowState, setup Setup, name, reason string) {
	r.mu.Lock()
	done := ws.done[name]
	r.mu.Unlock()
	if done {
		return
	}
	r.markDone(ctx, ws, name)
	now := r.cfg.Now()
	runID := newRunID(now)
	rec := &journal.Record{
		SchemaVersion: journal.SchemaVersion, RunID: runID, Started: now, Ended: now,
		Verdict: journal.Skipped, Reasons: []string{fmt.Sprintf("night %s: %s", ws.night.Name, reason)},
		DryRun: r.cfg.DryRun,
	}
	if e, ok := findExperiment(setup, name); ok {
		rec.Experiment = e
		rec.File = e.Source.File
	} else {
		rec.Experiment.Metadata.Name = name
	}
	r.log.Info("experiment skipped", "night", ws.night.Name, "experiment", name, "reason", reason)
	if err := (journal.File{Path: r.journalPath(runID, name)}).Write(rec); err != nil {
		r.log.Error("cannot write the journal", "error", err)
	}
	r.cfg.Metrics.ObserveRun(rec)
	if r.cfg.Notifier != nil {
		r.cfg.Notifier.RunEnded(ctx, rec)
	}
}

// closeWindow records every experiment the window did not play as skipped
// and forgets the window.
func (r *Runner) closeWindow(ctx context.Context, key string, ws *windowState, setup Setup) {
	for _, p := range schedule.Plan(ws.window, items(setup, ws), ws.night, ws.window.Closes, 0) {
		r.recordSkip(ctx, ws, setup, p.Experiment, p.Reason)
	}
	r.mu.Lock()
	delete(r.windows, key)
	r.mu.Unlock()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateTimeout)
	defer cancel()
	if err := r.cfg.State.Forget(fctx, key); err != nil {
		r.log.Warn("cannot clean the runner state", "error", err)
	}
	r.log.Info("window closed", "night", ws.night.Name, "closes", ws.window.Closes)
}

func (r *Runner) journalPath(runID, name string) string {
	dir := r.cfg.Journals
	if dir == "" {
		dir = "journals"
	}
	return filepath.Join(dir, runID+"_"+name+".json")
}
