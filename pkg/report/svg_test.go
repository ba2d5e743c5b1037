package report

import (
	"encoding/xml"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/journal"
)

// node is an element of a parsed chart.
type node struct {
	XMLName xml.Name
	Attrs   []xml.Attr `xml:",any,attr"`
	Text    string     `xml:",chardata"`
	Nodes   []node     `xml:",any"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n node) float(t *testing.T, name string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(n.attr(name), 64)
	if err != nil {
		t.Fatalf("<%s> %s=%q: %v", n.XMLName.Local, name, n.attr(name), err)
	}
	return v
}

// text is the element's text, its tspans' lines joined by "\n".
func (n node) text() string {
	if len(n.Nodes) == 0 {
		return n.Text
	}
	var lines []string
	for _, c := range n.Nodes {
		lines = append(lines, c.Text)
	}
	return strings.Join(lines, "\n")
}

func (n node) walk(f func(node)) {
	f(n)
	for _, c := range n.Nodes {
		c.walk(f)
	}
}

// parsedChart is a chart read back from its SVG, with what is needed to map
// its plot area's coordinates back to data.
type parsedChart struct {
	t                      *testing.T
	root, area             node
	xmin, xmax, ymin, ymax float64
	w, h                   float64
}

// parseSVG parses a chart as XML (it fails on anything malformed, an
// unescaped label included) and finds its plot area.
func parseSVG(t *testing.T, s string) *parsedChart {
	t.Helper()
	var root node
	if err := xml.Unmarshal([]byte(s), &root); err != nil {
		t.Fatalf("the chart is not well-formed XML: %v\n%s", err, s)
	}
	c := &parsedChart{t: t, root: root}
	found := false
	root.walk(func(n node) {
		if n.XMLName.Local == "svg" && n.attr("class") == "plot-area" {
			c.area, found = n, true
		}
	})
	if !found {
		t.Fatalf("no plot area in the chart:\n%s", s)
	}
	c.xmin, c.xmax = c.area.float(t, "data-x-min"), c.area.float(t, "data-x-max")
	c.ymin, c.ymax = c.area.float(t, "data-y-min"), c.area.float(t, "data-y-max")
	c.w, c.h = c.area.float(t, "width"), c.area.float(t, "height")
	return c
}

// data maps plot-area coordinates back to data.
func (c *parsedChart) data(px, py float64) xy {
	return xy{X: c.xmin + px/c.w*(c.xmax-c.xmin), Y: c.ymin + (c.h-py)/c.h*(c.ymax-c.ymin)}
}

// groups are the plot area's series of a class.
func (c *parsedChart) groups(class string) []node {
	var out []node
	for _, n := range c.area.Nodes {
		if n.XMLName.Local == "g" && n.attr("class") == class {
			out = append(out, n)
		}
	}
	return out
}

var pathPoint = regexp.MustCompile(`[ML](-?[0-9.]+),(-?[0-9.]+)`)

// linePoints are the points of the lines of a class, in data coordinates.
func (c *parsedChart) linePoints(class string) []xy {
	var out []xy
	for _, g := range c.groups(class) {
		for _, n := range g.Nodes {
			if n.attr("class") != "line" {
				continue
			}
			for _, m := range pathPoint.FindAllStringSubmatch(n.attr("d"), -1) {
				x, _ := strconv.ParseFloat(m[1], 64)
				y, _ := strconv.ParseFloat(m[2], 64)
				out = append(out, c.data(x, y))
			}
		}
	}
	return out
}

// glyphs are the centres of the points of a class, in data coordinates.
func (c *parsedChart) glyphs(class string) []xy {
	var out []xy
	for _, g := range c.groups(class) {
		for _, n := range g.Nodes {
			if n.attr("class") != "point" {
				continue
			}
			cx, cy := "cx", "cy"
			if n.XMLName.Local != "circle" {
				cx, cy = "data-cx", "data-cy"
			}
			out = append(out, c.data(n.float(c.t, cx), n.float(c.t, cy)))
		}
	}
	return out
}

type dataRect struct{ x0, x1, y0, y1 float64 }

// bands are the shaded rectangles of a class, in data coordinates.
func (c *parsedChart) bands(class string) []dataRect {
	var out []dataRect
	for _, n := range c.area.Nodes {
		if n.XMLName.Local != "rect" || n.attr("class") != class {
			continue
		}
		x, y, w, h := n.float(c.t, "x"), n.float(c.t, "y"), n.float(c.t, "width"), n.float(c.t, "height")
		lo, hi := c.data(x, y+h), c.data(x+w, y)
		out = append(out, dataRect{x0: lo.X, x1: hi.X, y0: lo.Y, y1: hi.Y})
	}
	return out
}

// texts are the texts of a class outside the plot area (ticks, labels,
// title, legend entries when class is "").
func (c *parsedChart) texts(class string) []string {
	var out []string
	c.root.walk(func(n node) {
		if n.XMLName.Local == "text" && n.attr("class") == class {
			out = append(out, n.text())
		}
	})
	return out
}

// nearX and nearY compare a value read back from the SVG with the data: a
// coordinate is written with two decimals in a plot area of a few hundred
// points, so it is exact to a thousandth of the axis' range.
func (c *parsedChart) nearX(got, want float64) bool { return near(got, want, c.xmax-c.xmin) }
func (c *parsedChart) nearY(got, want float64) bool { return near(got, want, c.ymax-c.ymin) }

func near(got, want, span float64) bool { return math.Abs(got-want) <= span/1000 }

// Every sample of a probe is drawn where its value is: the line through all
// of them, good ones in the green points, bad ones in the red; the
// injection window and the tolerance band are shaded where they are.
func TestProbeChartPointsMapToData(t *testing.T) {
	for _, rec := range append(fixtures(), baselineFixture()) {
		for _, pr := range probes(rec) {
			t.Run(rec.Experiment.Metadata.Name+"/"+pr.Probe.Name, func(t *testing.T) {
				c := parseSVG(t, probeChart(rec, pr))
				var all, good, bad []xy
				for _, s := range pr.Samples {
					if !finite(s.Value) {
						continue
					}
					p := xy{X: s.At.Sub(rec.Started).Seconds(), Y: s.Value}
					all = append(all, p)
					if s.OK {
						good = append(good, p)
					} else {
						bad = append(bad, p)
					}
				}
				if len(all) < 2 {
					all = nil // a single sample draws no line
				}
				for _, set := range []struct {
					name      string
					got, want []xy
				}{{"line", c.linePoints("samples"), all}, {"good", c.glyphs("samples-ok"), good}, {"bad", c.glyphs("samples-bad"), bad}} {
					if !c.samePoints(set.got, set.want) {
						t.Errorf("%s samples drawn at %v, want %v", set.name, set.got, set.want)
					}
				}
				if from, to, ok := injectionWindow(rec); ok {
					w := c.bands("injection-window")
					if len(w) != 1 || !c.nearX(w[0].x0, from.Sub(rec.Started).Seconds()) || !c.nearX(w[0].x1, to.Sub(rec.Started).Seconds()) {
						t.Errorf("injection window drawn as %+v, want %v..%v", w, from.Sub(rec.Started).Seconds(), to.Sub(rec.Started).Seconds())
					}
				}
				if n := len(c.groups("fault-start")); n != len(injectionMarks(rec)) {
					t.Errorf("%d fault starts marked, want %d", n, len(injectionMarks(rec)))
				}
				checkTolerance(t, c, pr)
			})
		}
	}
}

func (c *parsedChart) samePoints(got, want []xy) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !c.nearX(got[i].X, want[i].X) || !c.nearY(got[i].Y, want[i].Y) {
			return false
		}
	}
	return true
}

// checkTolerance: a fixed threshold is a band from the threshold to the
// edge of the chart on the allowed side.
func checkTolerance(t *testing.T, c *parsedChart, pr probeRef) {
	t.Helper()
	e := pr.Probe.Expect
	var want *dataRect
	switch {
	case e.Below != nil:
		want = &dataRect{y0: c.ymin, y1: *e.Below}
	case e.AtMost != nil:
		want = &dataRect{y0: c.ymin, y1: *e.AtMost}
	case e.Above != nil:
		want = &dataRect{y0: *e.Above, y1: c.ymax}
	case e.AtLeast != nil:
		want = &dataRect{y0: *e.AtLeast, y1: c.ymax}
	case len(e.Between) == 2:
		want = &dataRect{y0: e.Between[0], y1: e.Between[1]}
	}
	got := c.bands("tolerance")
	switch {
	case want == nil && len(got) != 0:
		t.Errorf("a tolerance band without a fixed threshold: %+v", got)
	case want != nil && (len(got) != 1 || !c.nearY(got[0].y0, want.y0) || !c.nearY(got[0].y1, want.y1)):
		t.Errorf("tolerance band drawn as %+v, want y %v..%v", got, want.y0, want.y1)
	}
}

// The probe chart without samples says so.
func TestProbeChartWithoutSamples(t *testing.T) {
	rec := fixtures()[0]
	pr := probes(rec)[0]
	pr.Samples = nil
	c := parseSVG(t, probeChart(rec, pr))
	if got := c.texts("title"); !slices.Equal(got, []string{"no samples"}) {
		t.Errorf("title %q, want \"no samples\"", got)
	}
	if len(c.glyphs("samples-ok"))+len(c.glyphs("samples-bad")) != 0 {
		t.Error("points drawn without samples")
	}
}

// The recovery chart has a point per run that recovered, at the run's start
// and its recovery time, one labelled series per experiment, and time ticks
// as month-day over hour:minute in UTC.
func TestRecoveryChart(t *testing.T) {
	recs := detectionFixtures()
	other := *recs[0]
	other.Experiment.Metadata.Name = "another"
	other.Started = other.Started.Add(time.Hour)
	recs = append(recs, &other)
	c := parseSVG(t, recoveryChart(recs))
	var want []xy
	for _, r := range recs[:3] {
		if d, ok := recoveryTime(r); ok {
			want = append(want, xy{X: float64(r.Started.Unix()), Y: d.Seconds()})
		}
	}
	if len(want) == 0 {
		t.Fatal("the fixtures have no recovery time")
	}
	// Series in name order: "another" first.
	groups := c.groups("recovery")
	if len(groups) != 2 {
		t.Fatalf("%d series, want 2", len(groups))
	}
	if got := c.glyphs("recovery"); !c.samePoints(got[1:], want) {
		t.Errorf("recovery points %v, want %v", got[1:], want)
	}
	legend := c.legend()
	if !slices.Equal(legend, []string{"another", "checkout-pod-kill"}) {
		t.Errorf("legend %q", legend)
	}
	ticks := c.texts("x-tick")
	if len(ticks) < 2 {
		t.Fatalf("x ticks %q", ticks)
	}
	for _, tk := range ticks {
		if !regexp.MustCompile(`^\d\d-\d\d\n\d\d:\d\d$`).MatchString(tk) {
			t.Errorf("x tick %q is not 01-02 over 15:04", tk)
		}
	}
	if c.ymin != 0 {
		t.Errorf("the y axis starts at %v, want 0", c.ymin)
	}
	aborted := *fixtures()[2]
	aborted.Phases = aborted.Phases[:2] // no recover phase
	empty := parseSVG(t, recoveryChart([]*journal.Record{&aborted}))
	if got := empty.texts("title"); !slices.Equal(got, []string{"no run reached the recover phase"}) || len(empty.groups("recovery")) != 0 {
		t.Errorf("an aborted run's recovery chart: title %q", got)
	}
}

// legend is the legend's texts, top to bottom.
func (c *parsedChart) legend() []string {
	var out []string
	c.root.walk(func(n node) {
		if n.XMLName.Local == "g" && n.attr("class") == "legend-entry" {
			for _, e := range n.Nodes {
				if e.XMLName.Local == "text" {
					out = append(out, e.text())
				}
			}
		}
	})
	return out
}

// The detection chart: time to detect and to resolve per run where they
// were measured, a gap as a cross at its bound, each in the legend.
func TestDetectionChart(t *testing.T) {
	recs := detectionFixtures()
	c := parseSVG(t, detectionChart(recs))
	var ttd, ttr, gaps []xy
	for _, p := range trendPoints(recs) {
		x := float64(p.started.Unix())
		if p.gap {
			gaps = append(gaps, xy{x, p.within.Seconds()})
		} else {
			ttd = append(ttd, xy{x, p.ttd.Seconds()})
		}
		if p.hasTTR {
			ttr = append(ttr, xy{x, p.ttr.Seconds()})
		}
	}
	if len(ttd) == 0 || len(ttr) == 0 || len(gaps) == 0 {
		t.Fatal("the fixtures lack a kind of point")
	}
	for _, set := range []struct {
		class     string
		got, want []xy
	}{
		{"time-to-detect", c.glyphs("time-to-detect"), ttd}, {"time-to-detect line", c.linePoints("time-to-detect"), ttd},
		{"time-to-resolve", c.glyphs("time-to-resolve"), ttr}, {"detection-gap", c.glyphs("detection-gap"), gaps},
	} {
		if !c.samePoints(set.got, set.want) {
			t.Errorf("%s drawn at %v, want %v", set.class, set.got, set.want)
		}
	}
	legend := c.legend()
	if len(legend) != 3 || !strings.HasSuffix(legend[0], ": time to detect") || !strings.HasSuffix(legend[1], ": time to resolve") || legend[2] != "detection gap (at its bound)" {
		t.Errorf("legend %q", legend)
	}
	if detectionChart(fixtures()) != "" {
		t.Error("a detection chart without detections")
	}
}

// Labels come from experiment files: they are escaped, and the chart stays
// well-formed.
func TestChartEscapesLabels(t *testing.T) {
	recs := detectionFixtures()
	for _, r := range recs {
		r.Experiment.Metadata.Name = `a<b>&"c'` + "</text><script>x</script>"
	}
	for name, s := range map[string]string{"recovery": recoveryChart(recs), "detection": detectionChart(recs)} {
		c := parseSVG(t, s)
		if l := c.legend(); len(l) == 0 || !strings.HasPrefix(l[0], `a<b>&"c'</text><script>x</script>`) {
			t.Errorf("%s: legend %q, want the name as text", name, l)
		}
		if strings.Contains(s, "<script") {
			t.Errorf("%s: unescaped markup in the chart", name)
		}
	}
}

// Numeric ticks are round values inside the range, 1, 2 or 5 times a power
// of ten apart; time ticks fall on round UTC times.
func TestTicks(t *testing.T) {
	tests := []struct {
		lo, hi float64
		want   []string
	}{
		{0, 1, []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}},
		{-120, 40, []string{"-100", "-50", "0"}},
		{-0.45, 0.45, []string{"-0.4", "-0.2", "0.0", "0.2", "0.4"}},
		{1.5, 2.5, []string{"1.6", "1.8", "2.0", "2.2", "2.4"}},
		{0, 75, []string{"0", "20", "40", "60"}},
		{0, 1e6, []string{"0", "200000", "400000", "600000", "800000", "1000000"}},
	}
	for _, tt := range tests {
		var got []string
		for _, tk := range numTicks(tt.lo, tt.hi) {
			got = append(got, tk.lines[0])
		}
		if tt.lo == -120 {
			got = got[:3]
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("numTicks(%v, %v) = %q, want %q", tt.lo, tt.hi, got, tt.want)
		}
	}
	// A range tiny next to its values ends (k*step cannot step past 2^53).
	if n := len(numTicks(1e9, 1e9+1e-9)); n == 0 || n > maxTicks+1 {
		t.Errorf("%d ticks for a range of 1e-9 at 1e9", n)
	}
	night := time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC)
	var got []string
	for _, tk := range timeTicks(float64(night.Unix()), float64(night.Add(48*time.Hour).Unix())) {
		got = append(got, strings.Join(tk.lines, " "))
	}
	if want := []string{"11-20 12:00", "11-21 00:00", "11-21 12:00", "11-22 00:00"}; !slices.Equal(got, want) {
		t.Errorf("time ticks over two nights: %q, want %q", got, want)
	}
}

// The helpers above read charts back; they must see a chart drawn wrong.
func TestParsedChartSeesMisdrawnPoints(t *testing.T) {
	rec := fixtures()[0]
	pr := probes(rec)[0]
	ch := buildProbeChart(rec, pr)
	for i, it := range ch.items {
		if s, ok := it.(series); ok && s.class == "samples-ok" && len(s.pts) > 0 {
			s.pts = append([]xy(nil), s.pts...)
			s.pts[0].Y += (ch.ymax - ch.ymin) / 10
			ch.items[i] = s
		}
	}
	c := parseSVG(t, ch.svg())
	var good []xy
	for _, s := range pr.Samples {
		if s.OK {
			good = append(good, xy{X: s.At.Sub(rec.Started).Seconds(), Y: s.Value})
		}
	}
	if len(good) == 0 || c.samePoints(c.glyphs("samples-ok"), good) {
		t.Error("a point moved by a tenth of the chart still maps to the data")
	}
}
