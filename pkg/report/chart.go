package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"sort"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/journal"
)

// Chart size in the page; the SVG scales with its container.
const (
	chartWidth  = 28 * vg.Centimeter
	chartHeight = 9 * vg.Centimeter
)

type palette struct {
	band, window, mark, line, ok, bad color.Color
}

func colours() palette {
	return palette{
		band:   color.NRGBA{R: 46, G: 160, B: 67, A: 50},
		window: color.NRGBA{R: 210, G: 153, B: 34, A: 60},
		mark:   color.NRGBA{R: 180, G: 90, B: 0, A: 255},
		line:   color.NRGBA{R: 60, G: 60, B: 60, A: 255},
		ok:     color.NRGBA{R: 26, G: 127, B: 55, A: 255},
		bad:    color.NRGBA{R: 207, G: 34, B: 46, A: 255},
	}
}

// probeChart draws the samples of one probe over the run: the tolerance band,
// the injection window shaded, each fault start marked, good samples in green
// and bad ones in red. It returns the SVG element, ready to inline.
func probeChart(rec *journal.Record, pr probeRef) (string, error) {
	c := colours()
	p := plot.New()
	p.X.Label.Text = "seconds since the start of the run"
	p.Y.Label.Text = "value"
	p.Add(plotter.NewGrid())

	var good, bad, all plotter.XYs
	for _, s := range pr.Samples {
		if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
			continue
		}
		pt := plotter.XY{X: s.At.Sub(rec.Started).Seconds(), Y: s.Value}
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
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = xmin, xmax, ymin, ymax

	if from, to, ok := injectionWindow(rec); ok {
		x0, x1 := from.Sub(rec.Started).Seconds(), to.Sub(rec.Started).Seconds()
		if err := addRect(p, x0, x1, ymin, ymax, c.window); err != nil {
			return "", err
		}
	}
	if err := addTolerance(p, rec, pr, xmin, xmax, ymin, ymax, c.band); err != nil {
		return "", err
	}
	for _, t := range injectionMarks(rec) {
		x := t.Sub(rec.Started).Seconds()
		l, err := plotter.NewLine(plotter.XYs{{X: x, Y: ymin}, {X: x, Y: ymax}})
		if err != nil {
			return "", fmt.Errorf("chart %s: %w", pr.Probe.Name, err)
		}
		l.Color = c.mark
		l.Width = vg.Points(1)
		l.Dashes = []vg.Length{vg.Points(3), vg.Points(2)}
		p.Add(l)
	}
	if len(all) > 1 {
		l, err := plotter.NewLine(all)
		if err != nil {
			return "", fmt.Errorf("chart %s: %w", pr.Probe.Name, err)
		}
		l.Color = c.line
		p.Add(l)
	}
	for _, set := range []struct {
		pts plotter.XYs
		clr color.Color
	}{{good, c.ok}, {bad, c.bad}} {
		if len(set.pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(set.pts)
		if err != nil {
			return "", fmt.Errorf("chart %s: %w", pr.Probe.Name, err)
		}
		sc.Color = set.clr
		sc.Shape = draw.CircleGlyph{}
		sc.Radius = vg.Points(2.5)
		p.Add(sc)
	}
	if len(all) == 0 {
		p.Title.Text = "no samples"
	}
	return renderSVG(p, chartWidth, chartHeight)
}

// recoveryChart plots, per experiment, the recovery time of each run against
// the time the run started.
func recoveryChart(recs []*journal.Record) (string, error) {
	p := plot.New()
	p.X.Label.Text = "run started"
	p.Y.Label.Text = "recovery time (s)"
	p.X.Tick.Marker = plot.TimeTicks{Format: "01-02\n15:04"}
	p.Add(plotter.NewGrid())
	byExp := map[string]plotter.XYs{}
	for _, r := range recs {
		if d, ok := recoveryTime(r); ok {
			n := r.Experiment.Metadata.Name
			byExp[n] = append(byExp[n], plotter.XY{X: float64(r.Started.Unix()), Y: d.Seconds()})
		}
	}
	names := make([]string, 0, len(byExp))
	for n := range byExp {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		pts := byExp[n]
		sort.Slice(pts, func(a, b int) bool { return pts[a].X < pts[b].X })
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			return "", fmt.Errorf("recovery chart: %w", err)
		}
		clr := plotColor(i)
		l.Color, s.Color = clr, clr
		s.Shape = draw.CircleGlyph{}
		p.Add(l, s)
		p.Legend.Add(n, l, s)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs = vg.Points(10)
	p.Legend.Padding = vg.Points(3)
	if len(names) == 0 {
		p.Title.Text = "no run reached the recover phase"
		p.X.Tick.Marker = plot.DefaultTicks{}
	}
	p.Y.Min = 0
	// Room for the legend above the highest point.
	p.Y.Max *= 1.4
	if p.X.Max > p.X.Min {
		pad := (p.X.Max - p.X.Min) / 20
		p.X.Min, p.X.Max = p.X.Min-pad, p.X.Max+pad
	}
	return renderSVG(p, chartWidth, chartHeight)
}

func plotColor(i int) color.Color {
	set := []color.NRGBA{
		{R: 9, G: 105, B: 218, A: 255}, {R: 207, G: 34, B: 46, A: 255}, {R: 26, G: 127, B: 55, A: 255},
		{R: 130, G: 80, B: 223, A: 255}, {R: 191, G: 135, B: 0, A: 255}, {R: 87, G: 96, B: 106, A: 255},
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
func addBand(p *plot.Plot, e experiment.Expect, xmin, xmax, ymin, ymax float64, clr color.Color) error {
	switch {
	case e.Below != nil:
		return addRect(p, xmin, xmax, ymin, *e.Below, clr)
	case e.AtMost != nil:
		return addRect(p, xmin, xmax, ymin, *e.AtMost, clr)
	case e.Above != nil:
		return addRect(p, xmin, xmax, *e.Above, ymax, clr)
	case e.AtLeast != nil:
		return addRect(p, xmin, xmax, *e.AtLeast, ymax, clr)
	case len(e.Between) == 2:
		return addRect(p, xmin, xmax, e.Between[0], e.Between[1], clr)
	case e.Equals != nil:
		l, err := plotter.NewLine(plotter.XYs{{X: xmin, Y: *e.Equals}, {X: xmax, Y: *e.Equals}})
		if err != nil {
			return fmt.Errorf("tolerance line: %w", err)
		}
		l.Color = color.NRGBA{R: 46, G: 160, B: 67, A: 200}
		l.Width = vg.Points(2)
		p.Add(l)
	}
	return nil
}

func addRect(p *plot.Plot, x0, x1, y0, y1 float64, clr color.Color) error {
	poly, err := plotter.NewPolygon(plotter.XYs{{X: x0, Y: y0}, {X: x1, Y: y0}, {X: x1, Y: y1}, {X: x0, Y: y1}})
	if err != nil {
		return fmt.Errorf("shaded region: %w", err)
	}
	poly.Color = clr
	poly.LineStyle.Width = 0
	p.Add(poly)
	return nil
}

// renderSVG draws the plot to SVG and returns the <svg> element alone (no
// XML prolog), scalable through its viewBox.
func renderSVG(p *plot.Plot, w, h vg.Length) (string, error) {
	c := vgsvg.NewWith(vgsvg.UseWH(w, h))
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", fmt.Errorf("rendering SVG: %w", err)
	}
	out := buf.String()
	i := strings.Index(out, "<svg")
	if i < 0 {
		return "", fmt.Errorf("rendering SVG: no <svg> element in the output")
	}
	return out[i:], nil
}
