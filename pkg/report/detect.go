package report

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/journal"
)

// Detection in the reports (docs/detection.md): per run, a table of the
// expected alerts with their time to detect (TTD) and time to resolve, and
// the run's time to recover; across runs, a chart of TTD and time to
// resolve against the night, so a team sees whether its monitoring gets
// better. Every figure is the journal's: nothing is recomputed here.

// detectionRow is one expected alert of one run, in words.
type detectionRow struct {
	Alert   string // name{labels}
	Status  string // detected, detection gap, not resolved, not verified
	Within  string // the bounds, "2m (resolve 5m)"
	Pending string // offsets since the run started, m:ss, or "–"
	Firing  string
	Resolve string
	TTD     string // "4.2s", or "–"
	TTR     string // time to resolve
	Bad     bool   // a gap or an alert that did not resolve
}

func detectionRows(rec *journal.Record) []detectionRow {
	out := make([]detectionRow, 0, len(rec.Detections))
	for _, d := range rec.Detections {
		row := detectionRow{Alert: alertName(d), Status: detectionStatus(d), Within: boundsWords(d),
			Pending: when(rec, d.FirstPending), Firing: when(rec, d.FirstFiring), Resolve: when(rec, d.Resolved),
			TTD: "–", TTR: "–", Bad: d.Gap || d.NotResolved}
		if v, ok := d.TimeToDetect(); ok {
			row.TTD = formatDuration(v)
		}
		if v, ok := d.TimeToResolve(); ok {
			row.TTR = formatDuration(v)
		}
		out = append(out, row)
	}
	return out
}

func alertName(d journal.Detection) string {
	if len(d.Labels) == 0 {
		return d.Alert
	}
	parts := make([]string, 0, len(d.Labels))
	for _, k := range slices.Sorted(maps.Keys(d.Labels)) {
		parts = append(parts, k+"="+strconv.Quote(d.Labels[k]))
	}
	return d.Alert + "{" + strings.Join(parts, ",") + "}"
}

func detectionStatus(d journal.Detection) string {
	switch {
	case d.Gap:
		return "detection gap"
	case d.Unchecked != "" && d.FirstFiring.IsZero():
		return "not verified: " + d.Unchecked
	case d.NotResolved:
		return "detected, not resolved"
	case d.Unchecked != "":
		return "detected, resolution not verified: " + d.Unchecked
	}
	return "detected"
}

func boundsWords(d journal.Detection) string {
	s := "fire within " + secondsText(d.WithinSeconds)
	if d.ResolveWithinSeconds > 0 {
		s += ", resolve within " + secondsText(d.ResolveWithinSeconds)
	}
	return s
}

// secondsText writes a bound as the experiment does ("2m", "90s").
func secondsText(s float64) string {
	return experiment.NewDuration(time.Duration(s * float64(time.Second))).String()
}

func when(rec *journal.Record, t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return offset(rec, t)
}

// timeToRecoverText is the run's time to recover, "" when it has none.
func timeToRecoverText(rec *journal.Record) string {
	if v, ok := rec.TimeToRecover(); ok {
		return formatDuration(v)
	}
	return ""
}

// markdownDetections writes the run's detection table and time to recover.
func markdownDetections(b *strings.Builder, rec *journal.Record) {
	if ttr := timeToRecoverText(rec); ttr != "" {
		fmt.Fprintf(b, "Time to recover: %s (from the revert to the first probe round where the hypothesis held).\n\n", ttr)
	}
	rows := detectionRows(rec)
	if len(rows) == 0 {
		return
	}
	b.WriteString("| Alert | Status | Bounds | Pending | Firing | Resolved | Time to detect | Time to resolve |\n|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		status := r.Status
		if r.Bad {
			status = "❌ " + status
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", cell(r.Alert), cell(status), r.Within, r.Pending, r.Firing, r.Resolve, r.TTD, r.TTR)
	}
	b.WriteString("\n")
}

// markdownDetectionTrend lists TTD and time to resolve per experiment and
// alert across the runs, oldest first: the text form of the trend chart.
func markdownDetectionTrend(b *strings.Builder, recs []*journal.Record) {
	pts := trendPoints(recs)
	if len(pts) == 0 {
		return
	}
	b.WriteString("\n### Detection across runs\n\n| Experiment | Alert | Run started | Time to detect | Time to resolve | Time to recover |\n|---|---|---|---|---|---|\n")
	for _, p := range pts {
		ttd := "❌ gap"
		if !p.gap {
			ttd = formatDuration(p.ttd)
		}
		ttr := "–"
		if p.hasTTR {
			ttr = formatDuration(p.ttr)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", cell(p.experiment), cell(p.alert), p.started.UTC().Format("2006-01-02 15:04"), ttd, ttr, orDash(p.recover))
	}
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// trendPoint is one expected alert of one run, for the trend.
type trendPoint struct {
	experiment, alert string
	started           time.Time
	ttd, ttr          time.Duration
	hasTTR, gap       bool
	within            time.Duration
	recover           string
}

func trendPoints(recs []*journal.Record) []trendPoint {
	var out []trendPoint
	for _, rec := range recs {
		for _, d := range rec.Detections {
			ttd, fired := d.TimeToDetect()
			if !fired && !d.Gap {
				continue // not measured (interrupted): no point
			}
			p := trendPoint{experiment: rec.Experiment.Metadata.Name, alert: alertName(d), started: rec.Started,
				ttd: ttd, gap: d.Gap, within: time.Duration(d.WithinSeconds * float64(time.Second)), recover: timeToRecoverText(rec)}
			p.ttr, p.hasTTR = d.TimeToResolve()
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].started.Before(out[j].started) })
	return out
}

// detectionChart plots, per experiment and alert, the time to detect
// (solid) and the time to resolve (dashed) of each run against the time
// the run started; a detection gap is a red cross at its bound. "" when no
// run measured a detection.
func detectionChart(recs []*journal.Record) string {
	ch := buildDetectionChart(recs)
	if ch == nil {
		return ""
	}
	return ch.svg()
}

func buildDetectionChart(recs []*journal.Record) *svgChart {
	pts := trendPoints(recs)
	if len(pts) == 0 {
		return nil
	}
	ch := &svgChart{xLabel: "run started", yLabel: "seconds", timeX: true}
	lines, gaps := trendSeries(pts)
	var all []xy
	for i, l := range lines {
		if len(l.pts) == 0 {
			continue
		}
		s := series{class: "time-to-detect", label: l.label, pts: l.pts, colour: plotColor(i / 2), line: true, glyph: glyphCircle}
		if l.dashed {
			s.class, s.dashes, s.glyph = "time-to-resolve", "4,3", glyphBox
		}
		ch.add(s)
		all = append(all, l.pts...)
	}
	if len(gaps) > 0 {
		ch.add(series{class: "detection-gap", label: "detection gap (at its bound)", pts: gaps,
			colour: rgba{207, 34, 46, 1}, glyph: glyphCross, radius: 5})
		all = append(all, gaps...)
	}
	ch.xmin, ch.xmax, ch.ymin, ch.ymax = dataBounds(all)
	ch.ymin = 0
	ch.ymax *= 1.2 + 0.05*float64(len(lines))
	padTime(ch)
	return ch
}

// trendLine is one line of the detection chart.
type trendLine struct {
	label  string
	pts    []xy
	dashed bool // time to resolve
}

// trendSeries groups the points per experiment and alert: two lines each
// (time to detect, then time to resolve; either may be empty), in name
// order, and the gaps at their bound.
func trendSeries(pts []trendPoint) (lines []trendLine, gaps []xy) {
	idx := map[string]int{}
	var names []string
	for _, pt := range pts {
		name := pt.experiment + " " + pt.alert
		if _, ok := idx[name]; !ok {
			idx[name] = len(names)
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for i, n := range names {
		idx[n] = i
		lines = append(lines, trendLine{label: n + ": time to detect"}, trendLine{label: n + ": time to resolve", dashed: true})
	}
	for _, pt := range pts {
		i := idx[pt.experiment+" "+pt.alert]
		x := float64(pt.started.Unix())
		if pt.gap {
			gaps = append(gaps, xy{X: x, Y: pt.within.Seconds()})
		} else {
			lines[2*i].pts = append(lines[2*i].pts, xy{X: x, Y: pt.ttd.Seconds()})
		}
		if pt.hasTTR {
			lines[2*i+1].pts = append(lines[2*i+1].pts, xy{X: x, Y: pt.ttr.Seconds()})
		}
	}
	return lines, gaps
}

// writeDetections writes a run's detection table into the HTML page.
func writeDetections(h *htmlWriter, r htmlRun) {
	if r.TimeToRecover == "" && len(r.Detections) == 0 {
		return
	}
	h.raw("<h3>Detection and recovery</h3>\n")
	if r.TimeToRecover != "" {
		h.raw(`<p class="time-to-recover">Time to recover: <strong>`)
		h.text(r.TimeToRecover)
		h.raw("</strong> (from the revert to the first probe round where the hypothesis held).</p>\n")
	}
	if len(r.Detections) == 0 {
		return
	}
	h.raw(`<table class="detections">
<thead><tr><th>Alert</th><th>Status</th><th>Bounds</th><th>Pending</th><th>Firing</th><th>Resolved</th><th>Time to detect</th><th>Time to resolve</th></tr></thead>
<tbody>
`)
	for _, d := range r.Detections {
		class := "detected"
		if d.Bad {
			class = "detection-bad"
		}
		h.raw(`<tr class="`, class, `">`)
		for _, c := range []string{d.Alert, d.Status, d.Within, d.Pending, d.Firing, d.Resolve, d.TTD, d.TTR} {
			h.raw("<td>")
			h.text(c)
			h.raw("</td>")
		}
		h.raw("</tr>\n")
	}
	h.raw(`</tbody>
</table>
<p class="muted">Pending, firing and resolved are m:ss since the start of the run, read from the ALERTS series at a step of at most 1 s (each instant is late by less than one step).</p>
`)
}

// writeDetectionSummary writes the trend chart across runs.
func writeDetectionSummary(h *htmlWriter, s *htmlSummary) {
	if s.Detection == "" {
		return
	}
	h.raw(`<h3>Time to detect and time to resolve over time</h3>
<figure class="chart summary-chart detection-chart">`, s.Detection, `</figure>
`)
}

// junitDetectionCases is one testcase per expected alert (failed on a
// detection gap or an alert that did not resolve, an error when it could
// not be verified), with the figures in system-out and as properties.
func junitDetectionCases(rec *journal.Record, class string) ([]junitCase, []junitProperty) {
	var props []junitProperty
	if ttr := timeToRecoverText(rec); ttr != "" {
		v, _ := rec.TimeToRecover()
		props = append(props, junitProperty{Name: "timeToRecoverSeconds", Value: seconds(v.Seconds())})
	}
	rows := detectionRows(rec)
	cases := make([]junitCase, 0, len(rows))
	for i, d := range rec.Detections {
		r := rows[i]
		c := junitCase{Name: "detect " + r.Alert, Classname: class + ".detect", Time: "0.000",
			SystemOut: fmt.Sprintf("%s; bounds: %s; time to detect %s; time to resolve %s", r.Status, r.Within, r.TTD, r.TTR)}
		if v, ok := d.TimeToDetect(); ok {
			c.Time = seconds(v.Seconds())
			props = append(props, junitProperty{Name: "timeToDetectSeconds." + r.Alert, Value: seconds(v.Seconds())})
		}
		if v, ok := d.TimeToResolve(); ok {
			props = append(props, junitProperty{Name: "timeToResolveSeconds." + r.Alert, Value: seconds(v.Seconds())})
		}
		switch {
		case d.Gap:
			c.Failure = &junitProblem{Message: fmt.Sprintf("detection gap: %s did not fire within %s", d.Alert, secondsText(d.WithinSeconds)), Type: "detection-gap", Body: c.SystemOut}
		case d.NotResolved:
			c.Failure = &junitProblem{Message: fmt.Sprintf("%s did not resolve within %s of the revert", d.Alert, secondsText(d.ResolveWithinSeconds)), Type: "not-resolved", Body: c.SystemOut}
		case d.Unchecked != "":
			c.Error = &junitProblem{Message: r.Status, Type: "not-verified"}
		}
		cases = append(cases, c)
	}
	return cases, props
}
