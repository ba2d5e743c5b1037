package report

import (
	"math"
	"sort"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/journal"
)

type palette struct {
	band, window, mark, line, ok, bad rgba
}

func colours() palette {
	return palette{
		band:   rgba{46, 160, 67, 50.0 / 255},
		window: rgba{210, 153, 34, 60.0 / 255},
		mark:   rgba{180, 90, 0, 1},
		line:   rgba{60, 60, 60, 1},
		ok:     rgba{26, 127, 55, 1},
		bad:    rgba{207, 34, 46, 1},
	}
}

// probeChart draws the samples of one probe over the run: the tolerance band,
// the injection window shaded, each fault start marked, good samples in green
// and bad ones in red. It returns the SVG element, ready to inline.
func probeChart(rec *journal.Record, pr probeRef) string {
	return buildProbeChart(rec, pr).svg()
}

// buildProbeChart is what probeChart draws (x: seconds since the start of
// the run).
func buildProbeChart(rec *journal.Record, pr probeRef) *svgChart {
	c := colours()
	ch := &svgChart{xLabel: "seconds since the start of the run", yLabel: "value"}

	var good, bad, all []xy
	for _, s := range pr.Samples {
		if !finite(s.Value) {
			continue
		}
		pt := xy{X: s.At.Sub(rec.Started).Seconds(), Y: s.Value}
		all = append(all, pt)
		if s.OK {
			good = append(good, pt)
		} else {
			bad = append(bad, pt)
		}
	}

	// The bounds: every sample, every threshold, the whole run.
	xmin, xmax := 0.0, runEnd(rec).Sub(rec.Started).Seconds()
	var ys []float64
	for _, pt := range all {
		ys = append(ys, pt.Y)
		xmin, xmax = math.Min(xmin, pt.X), math.Max(xmax, pt.X)
	}
	ys = append(ys, thresholds(pr.Probe.Expect)...)
	ys = append(ys, baselineYs(pr)...)
	xmin = math.Min(xmin, baselineStart(rec, pr))
	ymin, ymax := span(ys)
	if xmax <= xmin {
		xmax = xmin + 1
	}
	ch.xmin, ch.xmax, ch.ymin, ch.ymax = xmin, xmax, ymin, ymax

	if from, to, ok := injectionWindow(rec); ok {
		ch.add(band{class: "injection-window", x0: from.Sub(rec.Started).Seconds(), x1: to.Sub(rec.Started).Seconds(), y0: ymin, y1: ymax, colour: c.window})
	}
	addTolerance(ch, rec, pr, c.band)
	for _, t := range injectionMarks(rec) {
		x := t.Sub(rec.Started).Seconds()
		ch.add(series{class: "fault-start", pts: []xy{{x, ymin}, {x, ymax}}, colour: c.mark, line: true, dashes: "3,2"})
	}
	ch.add(series{class: "samples", pts: all, colour: c.line, line: true},
		series{class: "samples-ok", pts: good, colour: c.ok, glyph: glyphCircle},
		series{class: "samples-bad", pts: bad, colour: c.bad, glyph: glyphCircle})
	if len(all) == 0 {
		ch.title = "no samples"
	}
	return ch
}

// recoveryChart plots, per experiment, the recovery time of each run against
// the time the run started.
func recoveryChart(recs []*journal.Record) string {
	return buildRecoveryChart(recs).svg()
}

func buildRecoveryChart(recs []*journal.Record) *svgChart {
	ch := &svgChart{xLabel: "run started", yLabel: "recovery time (s)", timeX: true}
	byExp := map[string][]xy{}
	for _, r := range recs {
		if d, ok := recoveryTime(r); ok {
			n := r.Experiment.Metadata.Name
			byExp[n] = append(byExp[n], xy{X: float64(r.Started.Unix()), Y: d.Seconds()})
		}
	}
	names := make([]string, 0, len(byExp))
	for n := range byExp {
		names = append(names, n)
	}
	sort.Strings(names)
	var all []xy
	for i, n := range names {
		pts := byExp[n]
		sort.Slice(pts, func(a, b int) bool { return pts[a].X < pts[b].X })
		ch.add(series{class: "recovery", label: n, pts: pts, colour: plotColor(i), line: true, glyph: glyphCircle})
		all = append(all, pts...)
	}
	if len(names) == 0 {
		ch.title = "no run reached the recover phase"
		ch.timeX = false
		ch.xmin, ch.xmax, ch.ymin, ch.ymax = 0, 1, 0, 1
		return ch
	}
	ch.xmin, ch.xmax, ch.ymin, ch.ymax = dataBounds(all)
	ch.ymin = 0
	// Room for the legend above the highest point.
	ch.ymax *= 1.4
	padTime(ch)
	return ch
}

// dataBounds is the smallest box around the points.
func dataBounds(pts []xy) (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for _, p := range pts {
		xmin, xmax = math.Min(xmin, p.X), math.Max(xmax, p.X)
		ymin, ymax = math.Min(ymin, p.Y), math.Max(ymax, p.Y)
	}
	return xmin, xmax, ymin, ymax
}

// padTime widens a time axis by a twentieth on each side, or by an hour
// around a single run.
func padTime(ch *svgChart) {
	if ch.xmax > ch.xmin {
		pad := (ch.xmax - ch.xmin) / 20
		ch.xmin, ch.xmax = ch.xmin-pad, ch.xmax+pad
		return
	}
	ch.xmin, ch.xmax = ch.xmin-3600, ch.xmax+3600
}

func plotColor(i int) rgba {
	set := []rgba{
		{9, 105, 218, 1}, {207, 34, 46, 1}, {26, 127, 55, 1},
		{130, 80, 223, 1}, {191, 135, 0, 1}, {87, 96, 106, 1},
	}
	return set[i%len(set)]
}

// thresholds are the values an expectation names.
func thresholds(e experiment.Expect) []float64 {
	var out []float64
	for _, v := range []*float64{e.Below, e.AtMost, e.Above, e.AtLeast, e.Equals} {
		if v != nil {
			out = append(out, *v)
		}
	}
	return append(out, e.Between...)
}

// span pads the range of ys by a tenth on each side; a flat or empty range
// gets a unit around it.
func span(ys []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, y := range ys {
		lo, hi = math.Min(lo, y), math.Max(hi, y)
	}
	if math.IsInf(lo, 1) {
		return 0, 1
	}
	pad := (hi - lo) / 10
	if pad == 0 {
		pad = math.Max(math.Abs(hi)/10, 0.5)
	}
	return lo - pad, hi + pad
}

// addBand shades the allowed side of a hypothesis probe's expectation (for
// a stop condition, the side where it fires), up to the plot bounds;
// "equals" is a line.
func addBand(ch *svgChart, e experiment.Expect, clr rgba) {
	b := band{class: "tolerance", x0: ch.xmin, x1: ch.xmax, y0: ch.ymin, y1: ch.ymax, colour: clr}
	switch {
	case e.Below != nil:
		b.y1 = *e.Below
	case e.AtMost != nil:
		b.y1 = *e.AtMost
	case e.Above != nil:
		b.y0 = *e.Above
	case e.AtLeast != nil:
		b.y0 = *e.AtLeast
	case len(e.Between) == 2:
		b.y0, b.y1 = e.Between[0], e.Between[1]
	case e.Equals != nil:
		ch.add(series{class: "tolerance", pts: []xy{{ch.xmin, *e.Equals}, {ch.xmax, *e.Equals}},
			colour: rgba{46, 160, 67, 200.0 / 255}, line: true, width: 2})
		return
	default:
		return
	}
	ch.add(b)
}
