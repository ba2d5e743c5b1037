package metrics

import (
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chaosnight/chaosnight/pkg/journal"
)

// DetectMetrics are the figures of spec.detect and recovery that teams
// report night after night (docs/detection.md): the last time to detect
// and to resolve per experiment and alert, the last detection gap, and
// the last time to recover per experiment.
type DetectMetrics struct {
	TimeToDetect  *prometheus.GaugeVec // experiment, alert; NaN when the last run had a gap
	TimeToResolve *prometheus.GaugeVec // experiment, alert; NaN when it did not resolve
	Gap           *prometheus.GaugeVec // experiment, alert: 1 when the last run had a detection gap
	TimeToRecover *prometheus.GaugeVec // experiment; NaN when the last injected run did not recover
}

func newDetectMetrics() DetectMetrics {
	return DetectMetrics{
		TimeToDetect: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chaosnight_detection_time_to_detect_seconds",
			Help: "Time from the fault's start to the expected alert firing, in the experiment's last run that measured it (NaN: it did not fire, a detection gap).",
		}, []string{"experiment", "alert"}),
		TimeToResolve: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chaosnight_detection_time_to_resolve_seconds",
			Help: "Time from the revert to the expected alert resolving, in the experiment's last run (NaN: it did not resolve while the run watched).",
		}, []string{"experiment", "alert"}),
		Gap: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chaosnight_detection_gap",
			Help: "1 when the expected alert did not fire within its bound in the experiment's last run, 0 when it did.",
		}, []string{"experiment", "alert"}),
		TimeToRecover: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "chaosnight_time_to_recover_seconds",
			Help: "Time from the revert to the first probe round in which the hypothesis held again, in the experiment's last run that reached recover (NaN: it did not recover).",
		}, []string{"experiment"}),
	}
}

func (d DetectMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{d.TimeToDetect, d.TimeToResolve, d.Gap, d.TimeToRecover}
}

// observeDetections sets the gauges from a finished run. A run that
// measured nothing (skipped, dry run, interrupted before a bound) leaves
// the last values in place: they are the last measurement.
func (m *Metrics) observeDetections(rec *journal.Record) {
	name := rec.Experiment.Metadata.Name
	if ttr, ok := rec.TimeToRecover(); ok {
		m.Detect.TimeToRecover.WithLabelValues(name).Set(ttr.Seconds())
	} else if recoverFailed(rec) {
		m.Detect.TimeToRecover.WithLabelValues(name).Set(math.NaN())
	}
	counts := map[string]int{}
	for _, d := range rec.Detections {
		counts[d.Alert]++
	}
	for _, d := range rec.Detections {
		if d.Unchecked != "" && !d.Gap && d.FirstFiring.IsZero() {
			continue
		}
		alert := d.Alert
		if counts[d.Alert] > 1 { // two detections of one alert, told apart by their labels
			alert = withLabels(d.Alert, d.Labels)
		}
		gap := 0.0
		ttd := math.NaN()
		if v, ok := d.TimeToDetect(); ok && !d.Gap {
			ttd = v.Seconds()
		}
		if d.Gap {
			gap = 1
		}
		m.Detect.TimeToDetect.WithLabelValues(name, alert).Set(ttd)
		m.Detect.Gap.WithLabelValues(name, alert).Set(gap)
		ttr := math.NaN()
		if v, ok := d.TimeToResolve(); ok && !d.NotResolved {
			ttr = v.Seconds()
		}
		m.Detect.TimeToResolve.WithLabelValues(name, alert).Set(ttr)
	}
}

// recoverFailed: the run reached recover and it gave up.
func recoverFailed(rec *journal.Record) bool {
	for _, p := range rec.Phases {
		if p.Name == journal.PhaseRecover && !p.Ended.IsZero() && p.Note == "not recovered" {
			return true
		}
	}
	return false
}

func withLabels(alert string, labels map[string]string) string {
	parts := make([]string, 0, len(labels))
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		parts = append(parts, k+"="+strconv.Quote(labels[k]))
	}
	return alert + "{" + strings.Join(parts, ",") + "}"
}
