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
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chaosnight/chaosnight/pkg/engine"
	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/killswitch"
	"github.com/chaosnight/chaosnight/pkg/metrics"
	"github.com/chaosnight/chaosnight/pkg/schedule"
)

// Setup is what the configuration files say: the nights, the
// experiments they choose from, and the operator's safety settings.
type Setup struct {
	Nights      []schedule.Night
	Experiments []experiment.Experiment
	// DryRun and Policy are the safety settings in force. They are re-read
	// with the rest at every reload, and right before every injection, so
	// that switching dryRun on during an incident applies to the next
	// injection, also the next round of a run in flight. Policy is applied
	// only when Config.Guard is set; its DryRun field is ignored (DryRun
	// says it).
	DryRun bool
	Policy inject.Policy
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

// Notifier hears of run starts and verdicts (Kubernetes Events, the
// status of Experiment objects). RunEnded gets the journal's path.
type Notifier interface {
	RunStarted(ctx context.Context, e *experiment.Experiment, runID, night string)
	RunEnded(ctx context.Context, rec *journal.Record, journalPath string)
}

// WindowNotifier, when the Notifier also implements it, hears of each
// window's state: when it opens, after each experiment, when it closes
// (a ChaosNight's status.lastWindow).
type WindowNotifier interface {
	WindowChanged(ctx context.Context, w WindowReport)
}

// WindowReport is a window as this runner saw it.
type WindowReport struct {
	Night  string
	Opens  time.Time
	Closes time.Time
	Closed bool
	// Played counts the experiments this runner started in the window
	// (skips excluded); after a leadership change, the new leader counts
	// what it plays.
	Played int
	// Planned is the window's plan when it opened, in order.
	Planned []string
}

// Config configures a Runner.
type Config struct {
	Load Loader
	// Engine is the template of every run; the runner sets its journal
	// (and its Guard, when Guard is set).
	Engine *engine.Engine
	// Guard, when set, is the template of the guard of every injection:
	// each injection uses a copy with the Policy and DryRun of the setup in
	// force at that moment. nil: Engine.Guard is used as it is.
	Guard      *inject.Guard
	KillSwitch KillSwitch // nil: none
	Notifier   Notifier   // nil: no Events
	// State remembers what each window played across leaders and restarts
	// (nil: in memory only).
	State StateStore
	// Journals is the directory of run records; Retention removes older
	// ones (0 keeps them).
	Journals  string
	Retention time.Duration
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
	// KillSwitchIdlePoll is how often the decision loop reads the kill
	// switch while no window is open (default 30s; every Tick while one
	// is). Nothing can start then, and the Guard reads the switch afresh
	// before any injection anyway, so reading it every second all day
	// (86,400 requests per runner, bench/servescale) bought nothing but
	// the freshness of /status and the paused gauge, which lag by at most
	// this while idle.
	KillSwitchIdlePoll time.Duration
}

// Runner plays chaos nights.
type Runner struct {
	cfg Config
	log *slog.Logger

	reloadMu sync.Mutex // one Reload at a time

	mu            sync.Mutex
	setup         Setup
	loaded        bool
	loadErr       error
	settingsSince time.Time // when the DryRun and Policy in force were loaded
	paused        bool
	switchReadAt  time.Time               // when the decision loop last read the kill switch
	windows       map[string]*windowState // key: night + opening instant
	inFlight      string                  // run ID of the experiment in flight
	inFlightExp   *experiment.Experiment
	abortInFlight context.CancelCauseFunc
}

type windowState struct {
	night  schedule.Night
	window schedule.Window
	done   map[string]bool
	// synced says whether the shared state has been read for this window
	// since this runner (re)gained leadership; until then it records no
	// skip of its own.
	synced  bool
	lastEnd time.Time
	played  int
	planned []string
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
	if cfg.KillSwitchIdlePoll <= 0 {
		cfg.KillSwitchIdlePoll = 30 * time.Second
	}
	if cfg.State == nil {
		cfg.State = memoryState{}
	}
	return &Runner{cfg: cfg, log: cfg.Log, windows: map[string]*windowState{}}, nil
}

// Reload reads the files now. An invalid set keeps the last good one; the
// error says why.
func (r *Runner) Reload() error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	now := r.cfg.Now()
	setup, err := r.cfg.Load(now)
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
	switch {
	case !r.loaded:
		r.settingsSince = now
	case setup.DryRun != r.setup.DryRun || !reflect.DeepEqual(setup.Policy, r.setup.Policy):
		r.settingsSince = now
		r.log.Warn("safety settings changed: they apply from the next injection on",
			"dryRun", setup.DryRun, "wasDryRun", r.setup.DryRun,
			"policy", fmt.Sprintf("%+v", setup.Policy), "wasPolicy", fmt.Sprintf("%+v", r.setup.Policy))
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

// settings returns the dry run and the policy in force.
func (r *Runner) settings() (bool, inject.Policy) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.setup.DryRun, r.setup.Policy
}

// Status is what the runner shows on its index page and /status.
type Status struct {
	Paused   bool   `json:"paused"`
	InFlight string `json:"inFlight,omitempty"`
	// DryRun and Policy are the safety settings in force, loaded at
	// SettingsSince (the start, or the reload that changed them).
	DryRun        bool          `json:"dryRun"`
	Policy        inject.Policy `json:"policy"`
	SettingsSince time.Time     `json:"settingsSince"`
	ConfigErr     string        `json:"configError,omitempty"`
	NextNights    []NextNight   `json:"nextNights"`
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
	st := Status{Paused: r.paused, InFlight: r.inFlight,
		DryRun: r.setup.DryRun, Policy: r.setup.Policy, SettingsSince: r.settingsSince}
	st.Policy.DryRun = r.setup.DryRun
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
//
// Every call starts from the shared state, not from what this runner
// remembers: another leader may have played experiments of an open window
// since this one last led (A to B to A), so windows are read again.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	r.windows = map[string]*windowState{}
	r.switchReadAt = time.Time{} // a new leader reads the kill switch at once
	r.mu.Unlock()
	if err := r.Reload(); err != nil && !r.Ready() {
		r.log.Error("no valid configuration yet; waiting for a valid one", "error", err)
	}
	// Reloads go on while an experiment is in flight (decide blocks for
	// its length): a change of dryRun applies to its next round.
	reloadCtx, stopReloads := context.WithCancel(ctx)
	defer stopReloads()
	go r.reloadEvery(reloadCtx)
	tick := time.NewTicker(r.cfg.Tick)
	defer tick.Stop()
	for {
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

// Watch reloads the configuration every ReloadEvery until ctx ends. Run
// does it while leading; serve also calls it on every replica, so that a
// follower's /status shows the settings it would apply.
func (r *Runner) Watch(ctx context.Context) { r.reloadEvery(ctx) }

// reloadEvery reloads the configuration every ReloadEvery until ctx ends.
func (r *Runner) reloadEvery(ctx context.Context) {
	t := time.NewTicker(r.cfg.ReloadEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = r.Reload()
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

	open, nextOpening := r.trackWindows(ctx, now, setup)
	paused := r.updatePaused(ctx, now, len(open) == 0 && len(r.snapshotWindows()) == 0)
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

// updatePaused reads the kill switch, records and exports whether the
// runner is paused, and returns it. While idle (no window open or still
// tracked) it reads at most every KillSwitchIdlePoll and answers the last
// reading in between.
func (r *Runner) updatePaused(ctx context.Context, now time.Time, idle bool) bool {
	r.mu.Lock()
	if idle && !r.switchReadAt.IsZero() && now.Sub(r.switchReadAt) < r.cfg.KillSwitchIdlePoll && now.After(r.switchReadAt) {
		paused := r.paused
		r.mu.Unlock()
		return paused
	}
	r.switchReadAt = now
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
	return paused
}

// trackWindows exports every night's window, tracks the open ones and
// returns their keys and the earliest coming opening of a night that is
// not open (zero if none).
func (r *Runner) trackWindows(ctx context.Context, now time.Time, setup Setup) (open map[string]bool, nextOpening time.Time) {
	open = map[string]bool{}
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
			r.trackOpenWindow(ctx, key, n, w, setup)
		}
	}
	return open, nextOpening
}

// trackOpenWindow records an open window the first time it is seen, with
// what the shared state says it already played, and otherwise takes the
// night as a reload may have changed it and reads the shared state again
// when it has not been read since this runner (re)gained leadership. The
// reads happen without the lock: they are API calls.
func (r *Runner) trackOpenWindow(ctx context.Context, key string, n schedule.Night, w schedule.Window, setup Setup) {
	r.mu.Lock()
	ws, known := r.windows[key]
	if !known {
		ws = &windowState{night: n, window: w, done: map[string]bool{}}
		r.windows[key] = ws
		r.mu.Unlock()
		err := r.restoreDone(ctx, key, ws)
		r.mu.Lock()
		for _, p := range schedule.Plan(w, items(setup, ws), n, r.cfg.Now(), schedule.Seed(w)) {
			if !p.Skipped {
				ws.planned = append(ws.planned, p.Experiment)
			}
		}
		r.log.Info("window open", "night", n.Name, "opens", w.Opens, "closes", w.Closes, "alreadyDone", len(ws.done), "stateRead", err == nil)
		r.mu.Unlock()
		r.reportWindow(ctx, ws, false)
		return
	}
	ws.night = n // a reload may have changed the night
	if !ws.synced {
		r.mu.Unlock()
		_ = r.restoreDone(ctx, key, ws)
		r.mu.Lock()
	}
	r.mu.Unlock()
}

// reportWindow tells the WindowNotifier, if any, the window's state.
func (r *Runner) reportWindow(ctx context.Context, ws *windowState, closed bool) {
	wn, ok := r.cfg.Notifier.(WindowNotifier)
	if !ok {
		return
	}
	r.mu.Lock()
	rep := WindowReport{Night: ws.night.Name, Opens: ws.window.Opens, Closes: ws.window.Closes, Closed: closed,
		Played: ws.played, Planned: append([]string(nil), ws.planned...)}
	r.mu.Unlock()
	wn.WindowChanged(context.WithoutCancel(ctx), rep)
}

// AbortExperiment aborts the run in flight if it plays the experiment
// read from the object ref names (the object was deleted): the engine
// reverts and the verdict is aborted, with cause among its reasons. It
// reports whether a run was aborted.
func (r *Runner) AbortExperiment(ref experiment.ObjectRef, cause error) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inFlightExp == nil || r.abortInFlight == nil {
		return false
	}
	o := r.inFlightExp.Source.Object
	if o == nil || o.UID != ref.UID {
		return false
	}
	r.log.Warn("aborting the run in flight", "experiment", r.inFlightExp.Metadata.Name, "run", r.inFlight, "cause", cause.Error())
	r.abortInFlight(cause)
	return true
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
// leader (or before a restart). Until it succeeds the window plays nothing
// (see claim) and records no skip of its own.
func (r *Runner) restoreDone(ctx context.Context, key string, ws *windowState) error {
	ctx, cancel := context.WithTimeout(ctx, stateTimeout)
	defer cancel()
	state, err := r.cfg.State.Load(ctx)
	if err != nil {
		r.log.Warn("cannot read the runner state: this window plays nothing until it can", "window", key, "error", err)
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, name := range state[stateKey(key)] {
		ws.done[name] = true
	}
	ws.synced = true
	return nil
}

// StateError says why an experiment was not played: the shared state that
// prevents replays could not be read or written.
type StateError struct {
	Op  string // "read" or "write"
	Err error
}

func (e *StateError) Error() string {
	return fmt.Sprintf("not played: the runner state cannot be %s, and playing without it could replay the experiment under another leader: %v", verbPast(e.Op), e.Err)
}

func (e *StateError) Unwrap() error { return e.Err }

func verbPast(op string) string {
	if op == "write" {
		return "written"
	}
	return "read"
}

// claim marks an experiment as played in the window, in memory and in the
// state store, before it starts: a crash mid-run, or a leadership change,
// must not replay it. The store's check and write are one atomic update
// (the latest state is read right before it is written). It returns an
// *AlreadyDoneError if another leader already played or skipped it, and a
// *StateError if the state cannot be read or written: in both cases the
// experiment must not be played.
func (r *Runner) claim(ctx context.Context, ws *windowState, name string) error {
	r.mu.Lock()
	synced := ws.synced
	done := ws.done[name]
	// From here on, whatever happens, this runner never plays or records
	// it again in this window.
	ws.done[name] = true
	r.mu.Unlock()
	if !synced {
		if err := r.restoreDone(ctx, windowKey(ws.window), ws); err != nil {
			return &StateError{Op: "read", Err: err}
		}
	}
	if done {
		return &AlreadyDoneError{Window: windowKey(ws.window), Experiment: name}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stateTimeout)
	defer cancel()
	err := r.cfg.State.MarkDone(ctx, windowKey(ws.window), name)
	var already *AlreadyDoneError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &already):
		return err
	default:
		return &StateError{Op: "write", Err: err}
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
	r.mu.Lock()
	synced := ws.synced
	r.mu.Unlock()
	plan := schedule.Plan(ws.window, items(setup, ws), ws.night, at, schedule.Seed(ws.window))
	var due *experiment.Experiment
	for _, p := range plan {
		if p.Skipped {
			if !synced {
				continue // another leader may have played it: recorded once the state is read
			}
			// A skip is final only if the experiment could not fit even if
			// it started right now (a shorter run before it may free time).
			e, known := findExperiment(setup, p.Experiment)
			if known && schedule.Fits(ws.window, at, schedule.ItemOf(e).Need()) && p.Skip != schedule.SkipMaximum {
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
	name := due.Metadata.Name
	err := r.claim(ctx, ws, name)
	var already *AlreadyDoneError
	var stateErr *StateError
	switch {
	case err == nil:
		r.play(ctx, ws, *due)
	case errors.As(err, &already):
		r.log.Info("experiment already played or skipped under another leader; not played again", "night", ws.night.Name, "experiment", name)
	case errors.As(err, &stateErr):
		r.writeSkip(ctx, ws, setup, name, stateErr.Error())
	default:
		r.writeSkip(ctx, ws, setup, name, err.Error())
	}
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
	runCtx, abort := context.WithCancelCause(runCtx)
	defer abort(nil)
	r.mu.Lock()
	r.inFlight, r.inFlightExp, r.abortInFlight = runID, &e, abort
	ws.played++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight, r.inFlightExp, r.abortInFlight = "", nil, nil
		ws.lastEnd = r.cfg.Now()
		r.mu.Unlock()
		r.reportWindow(ctx, ws, false)
	}()

	dryRun, _ := r.settings()
	eng := *r.cfg.Engine
	journalPath := r.journalPath(runID, e.Metadata.Name)
	eng.Journal = journal.File{Path: journalPath}
	if r.cfg.Guard != nil {
		eng.Guard = &liveGuard{r: r, runDryRun: dryRun, log: r.log.With("run", runID)}
	}
	log := r.log.With("night", ws.night.Name, "experiment", e.Metadata.Name, "run", runID)
	log.Info("experiment starting", "dryRun", dryRun)
	if r.cfg.Notifier != nil {
		r.cfg.Notifier.RunStarted(ctx, &e, runID, ws.night.Name)
	}
	exp := e
	rec := eng.Run(runCtx, &exp, engine.Options{
		RunID: runID, Seed: newSeed(), DryRun: dryRun,
		File: exp.Source.File,
	})
	log.Info("experiment ended", "verdict", rec.Verdict, "reasons", strings.Join(rec.Reasons, "; "))
	if r.cfg.Notifier != nil {
		r.cfg.Notifier.RunEnded(context.WithoutCancel(ctx), rec, journalPath)
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
// play, and marks it done for this window (unless another leader already
// played or skipped it).
func (r *Runner) recordSkip(ctx context.Context, ws *windowState, setup Setup, name, reason string) {
	err := r.claim(ctx, ws, name)
	var already *AlreadyDoneError
	if errors.As(err, &already) {
		return
	}
	if err != nil {
		r.log.Warn("skip not recorded in the runner state", "experiment", name, "error", err)
	}
	r.writeSkip(ctx, ws, setup, name, reason)
}

// writeSkip writes the journal, the metrics and the Event of a skipped
// experiment.
func (r *Runner) writeSkip(ctx context.Context, ws *windowState, setup Setup, name, reason string) {
	dryRun, _ := r.settings()
	now := r.cfg.Now()
	runID := newRunID(now)
	rec := &journal.Record{
		SchemaVersion: journal.SchemaVersion, RunID: runID, Started: now, Ended: now,
		Verdict: journal.Skipped, Reasons: []string{fmt.Sprintf("night %s: %s", ws.night.Name, reason)},
		DryRun: dryRun,
	}
	if e, ok := findExperiment(setup, name); ok {
		rec.Experiment = e
		rec.File = e.Source.File
	} else {
		rec.Experiment.Metadata.Name = name
	}
	r.log.Info("experiment skipped", "night", ws.night.Name, "experiment", name, "reason", reason)
	journalPath := r.journalPath(runID, name)
	if err := (journal.File{Path: journalPath}).Write(rec); err != nil {
		r.log.Error("cannot write the journal", "error", err)
	}
	r.cfg.Metrics.ObserveRun(rec)
	if r.cfg.Notifier != nil {
		r.cfg.Notifier.RunEnded(ctx, rec, journalPath)
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
	r.reportWindow(ctx, ws, true)
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

// liveGuard is the engine's Guard when Config.Guard is set: every
// injection goes through a copy of that guard with the safety settings in
// force at that moment, read again from the files right before (Reload), so
// that switching dryRun on applies to the next round of a run in flight. A
// run that started dry stays dry: its verdict has no revert to do.
type liveGuard struct {
	r         *Runner
	runDryRun bool
	log       *slog.Logger
}

// Inject implements engine.Guard.
func (g *liveGuard) Inject(ctx context.Context, req inject.Request) (inject.Injection, error) {
	_ = g.r.Reload() // an invalid change keeps the settings in force (and says so)
	dryRun, policy := g.r.settings()
	guard := *g.r.cfg.Guard
	guard.Policy = policy
	guard.Policy.DryRun = dryRun || g.runDryRun
	if guard.Policy.DryRun && !g.runDryRun {
		g.log.Warn("dry run switched on during the run: this injection touches nothing")
	}
	return guard.Inject(ctx, req)
}
