// Package metrics holds chaosnight's own Prometheus metrics. They are
// registered on a Registerer the caller passes in (never the global default
// registry), so tests and embedders get an isolated set.
package metrics

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/probe"
)

// Metrics are the runner's metrics. A nil *Metrics is valid and records
// nothing, so optional wiring needs no checks at the call sites.
type Metrics struct {
	Runs           *prometheus.CounterVec   // experiment, verdict
	RunDuration    *prometheus.HistogramVec // experiment
	LastRun        *prometheus.GaugeVec     // experiment: unix time of the last verdict
	Injections     *prometheus.CounterVec   // experiment, kind
	Targets        *prometheus.CounterVec   // experiment, kind, status
	ProbeValue     *prometheus.GaugeVec     // experiment, probe, role
	ProbeOK        *prometheus.GaugeVec     // experiment, probe, role: 1 good, 0 bad
	InFlight       prometheus.Gauge         // experiments running now
	WindowOpen     *prometheus.GaugeVec     // night
	NextWindow     *prometheus.GaugeVec     // night: unix time of the next opening
	Paused         prometheus.Gauge         // kill switch engaged (1) or not (0)
	Leader         prometheus.Gauge         // this replica holds the lease
	ConfigReloads  *prometheus.CounterVec   // result=success|failure
	ConfigValid    prometheus.Gauge         // the last reload was valid (1) or kept the old set (0)
	ExperimentsSet prometheus.Gauge         // experiments loaded
	Rounds         *prometheus.CounterVec   // experiment, coverage=full|partial|none
	RevertFailures *prometheus.CounterVec   // experiment
	LeftoversUntil *prometheus.GaugeVec     // experiment: unix time the last failed revert's leftovers end by
	Detect         DetectMetrics            // time to detect, resolve, recover (detect.go)
}

// New creates the metrics and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chaosnight_experiment_runs_total", Help: "Experiment runs by verdict.",
		}, []string{"experiment", "verdict"}),
		RunDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "chaosnight_experiment_run_duration_seconds", Help: "Wall time of experiment runs, preflight to verdict.",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600},
		}, []string{"experiment"}),
		LastRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chaosnight_experiment_last_run_timestamp_seconds", Help: "When the experiment last reached a verdict.",
		}, []string{"experiment"}),
		Injections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chaosnight_injections_total", Help: "Injections (one per select+inject round) by action kind.",
		}, []string{"experiment", "kind"}),
		Targets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chaosnight_injection_targets_total", Help: "Targets of injections by outcome (evicted, killed, stressed, protected-by-pdb, refused, ...).",
		}, []string{"experiment", "kind", "status"}),
		ProbeValue: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chaosnight_probe_value", Help: "Latest value of each hypothesis probe and stop condition (NaN when unknown).",
		}, []string{"experiment", "probe", "role"}),
		ProbeOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chaosnight_probe_ok", Help: "Latest outcome of each probe: 1 holds (or stop condition not fired), 0 otherwise.",
		}, []string{"experiment", "probe", "role"}),
		InFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chaosnight_experiments_in_flight", Help: "Experiments running now.",
		}),
		WindowOpen: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chaosnight_night_window_open", Help: "1 while the night's window is open.",
		}, []string{"night"}),
		NextWindow: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chaosnight_night_next_open_timestamp_seconds", Help: "When the night's next window opens.",
		}, []string{"night"}),
		Paused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chaosnight_kill_switch_engaged", Help: "1 while the kill switch is engaged (chaosnight pause).",
		}),
		Leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chaosnight_leader", Help: "1 while this replica holds the leader lease and may inject.",
		}),
		ConfigReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chaosnight_config_reloads_total", Help: "Reloads of the configuration and experiments by result.",
		}, []string{"result"}),
		ConfigValid: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chaosnight_config_last_reload_successful", Help: "1 if the last reload was valid, 0 if the last good set was kept.",
		}),
		ExperimentsSet: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "chaosnight_experiments_loaded", Help: "Experiments in the active set.",
		}),
		Rounds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chaosnight_injection_rounds_total",
			Help: "Injection rounds by how much of the fault was put in place: full (every target), partial, none (nothing touched).",
		}, []string{"experiment", "coverage"}),
		RevertFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chaosnight_revert_failures_total", Help: "Runs whose revert failed and left something in effect (exit code 3).",
		}, []string{"experiment"}),
		LeftoversUntil: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chaosnight_revert_leftovers_until_timestamp_seconds",
			Help: "When what the last failed revert left behind ends by itself; +Inf when unknown (someone must clean up). Alert while it is in the future.",
		}, []string{"experiment"}),
	}
	reg.MustRegister(m.Runs, m.RunDuration, m.LastRun, m.Injections, m.Targets, m.ProbeValue, m.ProbeOK,
		m.InFlight, m.WindowOpen, m.NextWindow, m.Paused, m.Leader, m.ConfigReloads, m.ConfigValid, m.ExperimentsSet,
		m.Rounds, m.RevertFailures, m.LeftoversUntil)
	m.Detect = newDetectMetrics()
	reg.MustRegister(m.Detect.collectors()...)
	return m
}

// ObserveRun records a finished run.
func (m *Metrics) ObserveRun(rec *journal.Record) {
	if m == nil || rec == nil {
		return
	}
	name := rec.Experiment.Metadata.Name
	m.Runs.WithLabelValues(name, string(rec.Verdict)).Inc()
	if !rec.Ended.IsZero() {
		m.RunDuration.WithLabelValues(name).Observe(rec.Ended.Sub(rec.Started).Seconds())
		m.LastRun.WithLabelValues(name).Set(float64(rec.Ended.Unix()))
	}
	for _, r := range rec.Rounds {
		m.Rounds.WithLabelValues(name, coverage(r)).Inc()
	}
	if rec.RevertFailed() {
		m.RevertFailures.WithLabelValues(name).Inc()
		m.LeftoversUntil.WithLabelValues(name).Set(leftoversUntil(rec.Leftovers))
	}
	m.observeDetections(rec)
}

// coverage names how much of a round's targets were touched.
func coverage(r journal.Round) string {
	switch {
	case r.Touched == 0:
		return "none"
	case r.Touched < r.Targets:
		return "partial"
	}
	return "full"
}

// leftoversUntil is the latest end of the leftovers, +Inf if one of them
// has no known end.
func leftoversUntil(ls []journal.Leftover) float64 {
	latest := 0.0
	for _, l := range ls {
		if l.Until.IsZero() {
			return math.Inf(1)
		}
		latest = max(latest, float64(l.Until.Unix()))
	}
	return latest
}

// ObserveInjection records one injection's outcomes.
func (m *Metrics) ObserveInjection(experiment string, inj inject.Injection) {
	if m == nil {
		return
	}
	m.Injections.WithLabelValues(experiment, inj.Kind).Inc()
	for _, o := range inj.Outcomes {
		m.Targets.WithLabelValues(experiment, inj.Kind, o.Status).Inc()
	}
}

// ObserveProbes records the latest probe results.
func (m *Metrics) ObserveProbes(experiment string, results []probe.Result) {
	if m == nil {
		return
	}
	for _, r := range results {
		v := r.Value
		if r.Err != "" {
			v = math.NaN()
		}
		m.ProbeValue.WithLabelValues(experiment, r.Probe, string(r.Role)).Set(v)
		ok := 0.0
		if r.OK {
			ok = 1
		}
		m.ProbeOK.WithLabelValues(experiment, r.Probe, string(r.Role)).Set(ok)
	}
}

// SetWindow records a night's window state and its next opening.
func (m *Metrics) SetWindow(night string, open bool, next time.Time) {
	if m == nil {
		return
	}
	m.WindowOpen.WithLabelValues(night).Set(boolFloat(open))
	if !next.IsZero() {
		m.NextWindow.WithLabelValues(night).Set(float64(next.Unix()))
	}
}

// SetPaused records the kill switch state.
func (m *Metrics) SetPaused(paused bool) {
	if m != nil {
		m.Paused.Set(boolFloat(paused))
	}
}

// SetLeader records leadership.
func (m *Metrics) SetLeader(leader bool) {
	if m != nil {
		m.Leader.Set(boolFloat(leader))
	}
}

// ObserveReload records a configuration reload.
func (m *Metrics) ObserveReload(ok bool, experiments int) {
	if m == nil {
		return
	}
	if ok {
		m.ConfigReloads.WithLabelValues("success").Inc()
		m.ExperimentsSet.Set(float64(experiments))
	} else {
		m.ConfigReloads.WithLabelValues("failure").Inc()
	}
	m.ConfigValid.Set(boolFloat(ok))
}

// RunStarted and RunEnded track experiments in flight.
func (m *Metrics) RunStarted() {
	if m != nil {
		m.InFlight.Inc()
	}
}

// RunEnded is the counterpart of RunStarted.
func (m *Metrics) RunEnded() {
	if m != nil {
		m.InFlight.Dec()
	}
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
