package metrics

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chaosnight/chaosnight/pkg/journal"
)

func ptr(v float64) *float64 { return &v }

// The gauges hold the last measurement per experiment and alert: a gap
// replaces a time to detect with NaN, and a run that measured nothing
// (skipped) keeps the last values.
func TestDetectionGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := New(reg)
	run := func(v journal.Verdict, ttr *float64, dets ...journal.Detection) {
		rec := &journal.Record{Verdict: v, TimeToRecoverSeconds: ttr, Detections: dets}
		rec.Experiment.Metadata.Name = "checkout-kill"
		m.ObserveRun(rec)
	}
	get := func(g *prometheus.GaugeVec, labels ...string) float64 {
		return testutil.ToFloat64(g.WithLabelValues(labels...))
	}
	steps := []struct {
		name            string
		do              func()
		ttd, ttres, gap float64
		recover         float64
	}{
		{name: "detected and resolved",
			do: func() {
				run(journal.Held, ptr(2.5), journal.Detection{Alert: "ShopHighErrorRate", TimeToDetectSeconds: ptr(4.2), TimeToResolveSeconds: ptr(3), FirstFiring: time.Now()})
			},
			ttd: 4.2, ttres: 3, gap: 0, recover: 2.5},
		{name: "a detection gap",
			do: func() {
				run(journal.Deviated, ptr(1.5), journal.Detection{Alert: "ShopHighErrorRate", Gap: true})
			},
			ttd: math.NaN(), ttres: math.NaN(), gap: 1, recover: 1.5},
		{name: "a skipped run keeps the last values",
			do:  func() { run(journal.Skipped, nil) },
			ttd: math.NaN(), ttres: math.NaN(), gap: 1, recover: 1.5},
		{name: "detected again",
			do: func() {
				run(journal.Held, ptr(2), journal.Detection{Alert: "ShopHighErrorRate", TimeToDetectSeconds: ptr(3.1), TimeToResolveSeconds: ptr(0), FirstFiring: time.Now()})
			},
			ttd: 3.1, ttres: 0, gap: 0, recover: 2},
	}
	same := func(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }
	for _, st := range steps {
		st.do()
		if got := get(m.Detect.TimeToDetect, "checkout-kill", "ShopHighErrorRate"); !same(got, st.ttd) {
			t.Errorf("%s: time to detect %v, want %v", st.name, got, st.ttd)
		}
		if got := get(m.Detect.TimeToResolve, "checkout-kill", "ShopHighErrorRate"); !same(got, st.ttres) {
			t.Errorf("%s: time to resolve %v, want %v", st.name, got, st.ttres)
		}
		if got := get(m.Detect.Gap, "checkout-kill", "ShopHighErrorRate"); got != st.gap {
			t.Errorf("%s: gap %v, want %v", st.name, got, st.gap)
		}
		if got := get(m.Detect.TimeToRecover, "checkout-kill"); got != st.recover {
			t.Errorf("%s: time to recover %v, want %v", st.name, got, st.recover)
		}
	}
	// The exposition serve answers with.
	want := `# HELP chaosnight_detection_time_to_detect_seconds Time from the fault's start to the expected alert firing, in the experiment's last run that measured it (NaN: it did not fire, a detection gap).
# TYPE chaosnight_detection_time_to_detect_seconds gauge
chaosnight_detection_time_to_detect_seconds{alert="ShopHighErrorRate",experiment="checkout-kill"} 3.1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "chaosnight_detection_time_to_detect_seconds"); err != nil {
		t.Error(err)
	}
}

// Two detections of one alert (other labels) get one series each.
func TestDetectionGaugesSameAlertTwice(t *testing.T) {
	m := New(prometheus.NewRegistry())
	rec := &journal.Record{Verdict: journal.Held, Detections: []journal.Detection{
		{Alert: "A", Labels: map[string]string{"service": "cart"}, TimeToDetectSeconds: ptr(1), FirstFiring: time.Now()},
		{Alert: "A", Labels: map[string]string{"service": "checkout"}, TimeToDetectSeconds: ptr(2), FirstFiring: time.Now()},
	}}
	rec.Experiment.Metadata.Name = "e"
	m.ObserveRun(rec)
	if got := testutil.ToFloat64(m.Detect.TimeToDetect.WithLabelValues("e", `A{service="checkout"}`)); got != 2 {
		t.Errorf("time to detect of the second = %v, want 2", got)
	}
	if n := testutil.CollectAndCount(m.Detect.TimeToDetect); n != 2 {
		t.Errorf("%d series, want 2", n)
	}
}
