package report

// The report's charts are written as SVG by this file, not by a plotting
// library. Why hand-written: the charts used gonum.org/v1/plot, whose
// package init parses the Liberation fonts (font.DefaultCache.Add) in every
// process that links it, so every chaosnight command (`version`, `run`,
// `serve`) paid for font parsing and ~2 MiB of font data paged in, to draw
// a report that most commands never render; gonum/plot has no lazy option.
// Dropping it (with go-latex, go-fonts, go-pdf, svgo, freetype and
// golang.org/x/image, linked only for it) took `chaosnight version` from a
// median 27.8 to 24.8 MiB ru_maxrss as shipped (-trimpath -s -w; 33.1 to
// 28.0 MiB with symbols), the stripped binary from 42.1 to 35.5 MB
// (BENCHMARKS.md, "What the floor is made of": bench/rss/compare.sh,
// 2026-12-07, interleaved with the commit before). The charts need little:
// lines, points, shaded rectangles, a grid, two axes with numeric or time
// ticks, a legend and a title. Text is SVG <text> in the page's own font,
// so no font is parsed at all, and every text is escaped (labels come from
// experiment files).

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Chart size in the page (28 cm × 9 cm in points, as the charts were); the
// SVG scales with its container through its viewBox.
const (
	chartWidth  = 793.7
	chartHeight = 255.12

	labelFont = 12.0 // axis labels, title, legend
	tickFont  = 10.0 // tick labels
	charWidth = 0.6  // a tick label character's width, in font sizes (for the left margin)
	tickLen   = 4.0
	maxTicks  = 6
)

// rgba is a colour with its opacity, written as fill or stroke and the
// matching -opacity attribute.
type rgba struct {
	r, g, b uint8
	a       float64
}

func (c rgba) hex() string { return fmt.Sprintf("#%02X%02X%02X", c.r, c.g, c.b) }

// paint writes the colour as attribute kind ("fill" or "stroke").
func (c rgba) paint(kind string) string {
	s := fmt.Sprintf(`%s="%s"`, kind, c.hex())
	if c.a < 1 {
		s += fmt.Sprintf(` %s-opacity="%s"`, kind, num(c.a))
	}
	return s
}

// xy is one data point.
type xy struct{ X, Y float64 }

type glyph int

const (
	glyphNone glyph = iota
	glyphCircle
	glyphBox
	glyphCross
)

// series is a line through points, points drawn as glyphs, or both. Class
// names what it draws (the tests find it by it); label, when not empty,
// puts it in the legend.
type series struct {
	class, label string
	pts          []xy
	colour       rgba
	line         bool
	width        float64 // line width, 1 when 0
	dashes       string  // stroke-dasharray, "" for solid
	glyph        glyph
	radius       float64 // glyph radius, 2.5 when 0
}

// band is a shaded rectangle in data coordinates.
type band struct {
	class          string
	x0, x1, y0, y1 float64
	colour         rgba
}

// svgChart is what a chart shows; svg draws it. Items are drawn in order,
// so that points lie above the lines and bands they belong to.
type svgChart struct {
	title, xLabel, yLabel  string
	xmin, xmax, ymin, ymax float64
	timeX                  bool  // x values are Unix seconds, ticks "01-02\n15:04" in UTC
	items                  []any // band or series
}

func (c *svgChart) add(items ...any) { c.items = append(c.items, items...) }

// frame is where the plot area lies in the SVG and how data maps into it.
type frame struct {
	left, top, w, h        float64
	xmin, xmax, ymin, ymax float64
}

// px and py map data to coordinates inside the plot area (its nested <svg>,
// which also clips what lies outside the bounds).
func (f frame) px(x float64) float64 { return (x - f.xmin) / (f.xmax - f.xmin) * f.w }
func (f frame) py(y float64) float64 { return f.h - (y-f.ymin)/(f.ymax-f.ymin)*f.h }

// tick is one labelled position on an axis; a label may have several lines.
type tick struct {
	v     float64
	lines []string
}

// svg renders the chart: an <svg> element, ready to inline in a page.
func (c *svgChart) svg() string {
	xmin, xmax := sanitize(c.xmin, c.xmax)
	ymin, ymax := sanitize(c.ymin, c.ymax)
	var xt []tick
	if c.timeX {
		xt = timeTicks(xmin, xmax)
	} else {
		xt = numTicks(xmin, xmax)
	}
	yt := numTicks(ymin, ymax)
	f := layout(c, xt, yt)
	f.xmin, f.xmax, f.ymin, f.ymax = xmin, xmax, ymin, ymax

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%spt" height="%spt" viewBox="0 0 %s %s" class="plot">`+"\n",
		num(chartWidth), num(chartHeight), num(chartWidth), num(chartHeight))
	fmt.Fprintf(&b, `<rect width="%s" height="%s" fill="#FFFFFF"/>`+"\n", num(chartWidth), num(chartHeight))
	c.writeText(&b, f)
	writeAxes(&b, f, xt, yt)
	fmt.Fprintf(&b, `<svg class="plot-area" x="%s" y="%s" width="%s" height="%s" data-x-min="%s" data-x-max="%s" data-y-min="%s" data-y-max="%s">`+"\n",
		num(f.left), num(f.top), num(f.w), num(f.h), exact(xmin), exact(xmax), exact(ymin), exact(ymax))
	for _, it := range c.items {
		switch it := it.(type) {
		case band:
			writeBand(&b, f, it)
		case series:
			writeSeries(&b, f, it)
		}
	}
	b.WriteString("</svg>\n")
	c.writeLegend(&b, f)
	b.WriteString("</svg>")
	return b.String()
}

// sanitize makes a usable range: infinite or NaN bounds become 0..1, an
// empty one gets a unit around it.
func sanitize(lo, hi float64) (float64, float64) {
	if !finite(lo) || !finite(hi) || lo > hi {
		return 0, 1
	}
	if lo == hi {
		return lo - 1, hi + 1
	}
	return lo, hi
}

// layout leaves room for the title, the axis labels and the tick labels.
func layout(c *svgChart, xt, yt []tick) frame {
	widest := 0
	for _, t := range yt {
		for _, l := range t.lines {
			widest = max(widest, len(l))
		}
	}
	xlines := 1
	for _, t := range xt {
		xlines = max(xlines, len(t.lines))
	}
	f := frame{top: 8, left: 6 + labelFont + 6 + float64(widest)*tickFont*charWidth + tickLen + 2}
	if c.title != "" {
		f.top += labelFont + 4
	}
	bottom := tickLen + 3 + float64(xlines)*(tickFont+1) + labelFont + 6
	right := 4 * tickFont * charWidth // half of a time label past the last tick
	f.w, f.h = chartWidth-f.left-right, chartHeight-f.top-bottom
	return f
}

// writeText writes the title and the axis labels.
func (c *svgChart) writeText(b *strings.Builder, f frame) {
	if c.title != "" {
		fmt.Fprintf(b, `<text class="title" x="%s" y="%s" text-anchor="middle" font-size="%s">%s</text>`+"\n",
			num(f.left+f.w/2), num(labelFont+4), num(labelFont), esc(c.title))
	}
	fmt.Fprintf(b, `<text class="x-label" x="%s" y="%s" text-anchor="middle" font-size="%s">%s</text>`+"\n",
		num(f.left+f.w/2), num(chartHeight-5), num(labelFont), esc(c.xLabel))
	x, y := 6+labelFont, f.top+f.h/2
	fmt.Fprintf(b, `<text class="y-label" x="%s" y="%s" transform="rotate(-90 %s %s)" text-anchor="middle" font-size="%s">%s</text>`+"\n",
		num(x), num(y), num(x), num(y), num(labelFont), esc(c.yLabel))
}

// writeAxes writes the grid at each tick, the two axes, their tick marks
// and labels.
func writeAxes(b *strings.Builder, f frame, xt, yt []tick) {
	var grid, marks strings.Builder
	for _, t := range xt {
		x := f.left + f.px(t.v)
		fmt.Fprintf(&grid, "M%s,%sV%s", num(x), num(f.top), num(f.top+f.h))
		fmt.Fprintf(&marks, "M%s,%sv%s", num(x), num(f.top+f.h), num(tickLen))
	}
	for _, t := range yt {
		y := f.top + f.py(t.v)
		fmt.Fprintf(&grid, "M%s,%sH%s", num(f.left), num(y), num(f.left+f.w))
		fmt.Fprintf(&marks, "M%s,%sh%s", num(f.left), num(y), num(-tickLen))
	}
	fmt.Fprintf(b, `<path class="grid" d="%s" fill="none" stroke="#808080" stroke-opacity="0.5" stroke-width="0.5"/>`+"\n", grid.String())
	fmt.Fprintf(b, `<path class="axes" d="M%s,%sV%sH%s%s" fill="none" stroke="#000000" stroke-width="0.5"/>`+"\n",
		num(f.left), num(f.top), num(f.top+f.h), num(f.left+f.w), marks.String())
	for _, t := range xt {
		x := f.left + f.px(t.v)
		fmt.Fprintf(b, `<text class="x-tick" x="%s" y="%s" text-anchor="middle" font-size="%s">`, num(x), num(f.top+f.h+tickLen+tickFont+2), num(tickFont))
		for i, l := range t.lines {
			dy := "0"
			if i > 0 {
				dy = num(tickFont + 1)
			}
			fmt.Fprintf(b, `<tspan x="%s" dy="%s">%s</tspan>`, num(x), dy, esc(l))
		}
		b.WriteString("</text>\n")
	}
	for _, t := range yt {
		fmt.Fprintf(b, `<text class="y-tick" x="%s" y="%s" text-anchor="end" font-size="%s">%s</text>`+"\n",
			num(f.left-tickLen-2), num(f.top+f.py(t.v)+tickFont/3), num(tickFont), esc(t.lines[0]))
	}
}

// clampPx keeps a coordinate of a band that reaches far outside the plot
// area (an open tolerance) at a few plot sizes, which the nested <svg>
// clips.
func clampPx(v, size float64) float64 { return math.Max(-size, math.Min(2*size, v)) }

func writeBand(b *strings.Builder, f frame, r band) {
	x0, x1 := clampPx(f.px(r.x0), f.w), clampPx(f.px(r.x1), f.w)
	y0, y1 := clampPx(f.py(r.y1), f.h), clampPx(f.py(r.y0), f.h)
	if x1 < x0 || y1 < y0 || !finite(x0+x1+y0+y1) {
		return
	}
	fmt.Fprintf(b, `<rect class="%s" x="%s" y="%s" width="%s" height="%s" %s/>`+"\n",
		esc(r.class), num(x0), num(y0), num(x1-x0), num(y1-y0), r.colour.paint("fill"))
}

func writeSeries(b *strings.Builder, f frame, s series) {
	fmt.Fprintf(b, `<g class="%s">`, esc(s.class))
	if s.line && len(s.pts) > 1 {
		var d strings.Builder
		for i, p := range s.pts {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%s,%s", cmd, num(f.px(p.X)), num(f.py(p.Y)))
		}
		fmt.Fprintf(b, `<path class="line" d="%s" fill="none" %s stroke-width="%s"%s/>`,
			d.String(), s.colour.paint("stroke"), num(orDefault(s.width, 1)), dashAttr(s.dashes))
	}
	for _, p := range s.pts {
		writeGlyph(b, s.glyph, f.px(p.X), f.py(p.Y), orDefault(s.radius, 2.5), s.colour)
	}
	b.WriteString("</g>\n")
}

func orDefault(v, d float64) float64 {
	if v == 0 {
		return d
	}
	return v
}

func dashAttr(d string) string {
	if d == "" {
		return ""
	}
	return ` stroke-dasharray="` + d + `"`
}

// writeGlyph draws one point: a filled circle, an outlined box, or a cross.
// Each carries its centre in cx/cy (a box and a cross in data-cx/data-cy
// too), so that a test can map it back to the data.
func writeGlyph(b *strings.Builder, g glyph, x, y, r float64, c rgba) {
	switch g {
	case glyphCircle:
		fmt.Fprintf(b, `<circle class="point" cx="%s" cy="%s" r="%s" %s/>`, num(x), num(y), num(r), c.paint("fill"))
	case glyphBox:
		fmt.Fprintf(b, `<rect class="point" data-cx="%s" data-cy="%s" x="%s" y="%s" width="%s" height="%s" fill="none" %s/>`,
			num(x), num(y), num(x-r), num(y-r), num(2*r), num(2*r), c.paint("stroke"))
	case glyphCross:
		fmt.Fprintf(b, `<path class="point" data-cx="%s" data-cy="%s" d="M%s,%sL%s,%sM%s,%sL%s,%s" fill="none" stroke-width="1.5" %s/>`,
			num(x), num(y), num(x-r), num(y-r), num(x+r), num(y+r), num(x-r), num(y+r), num(x+r), num(y-r), c.paint("stroke"))
	}
}

// writeLegend lists the labelled series in the top left corner of the plot
// area, each with a sample of its line and glyph.
func (c *svgChart) writeLegend(b *strings.Builder, f frame) {
	row := 0
	for _, it := range c.items {
		s, ok := it.(series)
		if !ok || s.label == "" {
			continue
		}
		x, y := f.left+10, f.top+3+labelFont/2+float64(row)*(labelFont+2)
		fmt.Fprintf(b, `<g class="legend-entry">`)
		if s.line {
			fmt.Fprintf(b, `<path d="M%s,%sh20" fill="none" %s stroke-width="%s"%s/>`,
				num(x), num(y), s.colour.paint("stroke"), num(orDefault(s.width, 1)), dashAttr(s.dashes))
		}
		writeGlyph(b, s.glyph, x+10, y, orDefault(s.radius, 2.5), s.colour)
		fmt.Fprintf(b, `<text x="%s" y="%s" font-size="%s">%s</text></g>`+"\n", num(x+26), num(y+labelFont/3), num(labelFont), esc(s.label))
		row++
	}
}

// numTicks are 2 to maxTicks round values (1, 2 or 5 times a power of ten
// apart) inside lo..hi, labelled with as many decimals as the step needs.
func numTicks(lo, hi float64) []tick {
	step := niceStep((hi - lo) / (maxTicks - 1))
	decimals := max(0, -int(math.Floor(math.Log10(step))))
	var out []tick
	// At most maxTicks+1 ticks: past 2^53, k++ would not move k, so the
	// count, not k, ends the loop when the range is tiny next to its values.
	for k := math.Ceil(lo/step - 1e-9); k*step <= hi+step*1e-9 && len(out) <= maxTicks; k++ {
		v := k * step
		if k == 0 {
			v = 0 // no "-0"
		}
		out = append(out, tick{v: v, lines: []string{strconv.FormatFloat(v, 'f', decimals, 64)}})
	}
	return out
}

// niceStep is the smallest of 1, 2 or 5 times a power of ten at least raw.
func niceStep(raw float64) float64 {
	if raw <= 0 || !finite(raw) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// timeTicks are ticks at round UTC times (Unix seconds) labelled
// "01-02" over "15:04"; past the longest step, round numbers of days.
func timeTicks(lo, hi float64) []tick {
	// Whole minutes, hours and days, so that ticks fall on round UTC times.
	steps := [...]float64{60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 2 * 86400, 7 * 86400, 14 * 86400, 28 * 86400}
	step := 0.0
	for _, s := range steps {
		if (hi-lo)/s <= maxTicks-1 {
			step = s
			break
		}
	}
	if step == 0 {
		step = 86400 * niceStep((hi-lo)/86400/(maxTicks-1))
	}
	var out []tick
	for k := math.Ceil(lo / step); k*step <= hi && len(out) <= maxTicks; k++ {
		v := k * step
		t := time.Unix(int64(v), 0).UTC()
		out = append(out, tick{v: v, lines: []string{t.Format("01-02"), t.Format("15:04")}})
	}
	return out
}

// exact writes a data value in full (the plot area's bounds, from which
// coordinates map back to data).
func exact(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// num writes a coordinate with at most two decimals, without trailing
// zeros.
func num(v float64) string {
	s := strconv.FormatFloat(v, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}
