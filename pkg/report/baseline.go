package report

import (
	"fmt"
	"math"
	"strings"

	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/probe"
)

// maxBaselineSeries is how many series of a baseline the words and the
// chart show; a report names how many more there were.
const maxBaselineSeries = 5

// ExpectWords is the probe's tolerance in words: describeExpect, or for a
// relative expectation its margins and window ("within +20% of the
// baseline median over 10m").
func (p probeRef) ExpectWords() string {
	if b := p.Probe.Expect.Baseline; b != nil {
		return fmt.Sprintf("within %s of the baseline median over %s", probe.BaselineMargins(*b), b.Window)
	}
	return describeExpect(p.Probe.Expect)
}

// BaselineWords is the measured baseline in words, one line per series
// (at most maxBaselineSeries), so that a verdict can be checked without
// the journal: "baseline (median over 10m at 5s): {service="checkout"}
// median 0.2, allowed at most 0.24 (MAD 0.01, min 0.18, max 0.23, 120 of
// 121 points)". Empty for a probe without a baseline.
func (p probeRef) BaselineWords() string {
	b := p.Baseline
	if p.Probe.Expect.Baseline == nil {
		return ""
	}
	if b == nil {
		return "baseline: not measured"
	}
	var lines []string
	head := fmt.Sprintf("baseline (%s over %s at %s, from %s to %s)", b.Statistic, b.Window, b.Step,
		b.From.UTC().Format("15:04:05"), b.To.UTC().Format("15:04:05"))
	if b.Unknown != "" {
		head += ": unknown: " + b.Unknown
	}
	lines = append(lines, head)
	for i, s := range b.Series {
		if i == maxBaselineSeries {
			lines = append(lines, fmt.Sprintf("  and %d more series (in the journal)", len(b.Series)-i))
			break
		}
		if s.Unknown != "" {
			lines = append(lines, fmt.Sprintf("  %s: unknown: %s", probe.FormatLabels(s.Labels), s.Unknown))
			continue
		}
		allowed := ""
		if bounds, err := probe.BaselineBounds(*p.Probe.Expect.Baseline, s.Median); err == nil {
			allowed = ", allowed " + bounds.String()
		}
		lines = append(lines, fmt.Sprintf("  %s: median %s%s (MAD %s, min %s, max %s, %d of %d points)", probe.FormatLabels(s.Labels),
			probe.FormatValue(s.Median), allowed, probe.FormatValue(s.MAD), probe.FormatValue(s.Min), probe.FormatValue(s.Max), s.Count, s.Steps))
	}
	return strings.Join(lines, "\n")
}

// baselineOf is the recorded baseline of hypothesis probe i, or nil.
func baselineOf(rec *journal.Record, i int) *journal.Baseline { return rec.BaselineOf(i) }

// baselineStart is where a baseline probe's chart starts: at the start of
// its window, before the run (negative seconds), so that the points the
// baseline was measured from show next to the run's samples.
func baselineStart(rec *journal.Record, pr probeRef) float64 {
	if pr.Baseline == nil {
		return 0
	}
	return pr.Baseline.From.Sub(rec.Started).Seconds()
}

// baselineYs are the values a baseline chart must show: the points, the
// medians and the finite bounds.
func baselineYs(pr probeRef) []float64 {
	if pr.Baseline == nil || pr.Probe.Expect.Baseline == nil {
		return nil
	}
	var ys []float64
	for i, s := range pr.Baseline.Series {
		if i == maxBaselineSeries {
			break
		}
		for _, pt := range s.Points {
			if finite(pt.V) {
				ys = append(ys, pt.V)
			}
		}
		if !finite(s.Median) {
			continue
		}
		ys = append(ys, s.Median)
		if b, err := probe.BaselineBounds(*pr.Probe.Expect.Baseline, s.Median); err == nil {
			for _, v := range []float64{b.Lo, b.Hi} {
				if finite(v) {
					ys = append(ys, v)
				}
			}
		}
	}
	return ys
}

// addTolerance shades what the probe allows: its fixed threshold (addBand)
// or, for a baseline probe, its baseline band.
func addTolerance(ch *svgChart, rec *journal.Record, pr probeRef, clr rgba) {
	addBand(ch, pr.Probe.Expect, clr)
	addBaselineBand(ch, rec, pr, clr)
}

// addBaselineBand draws, per series of the baseline (at most
// maxBaselineSeries): its points over the window before the run in grey,
// its median as a dashed line across the chart, and the allowed range
// (median ± the margins) shaded from the start of the run on, where the
// samples are compared with it.
func addBaselineBand(ch *svgChart, rec *journal.Record, pr probeRef, clr rgba) {
	if pr.Baseline == nil || pr.Probe.Expect.Baseline == nil {
		return
	}
	x0 := baselineStart(rec, pr)
	for i, s := range pr.Baseline.Series {
		if i == maxBaselineSeries {
			break
		}
		var pts []xy
		for _, pt := range s.Points {
			if finite(pt.V) {
				pts = append(pts, xy{X: pt.T.Sub(rec.Started).Seconds(), Y: pt.V})
			}
		}
		ch.add(series{class: "baseline-points", pts: pts, colour: rgba{140, 140, 140, 1}, line: true})
		if !finite(s.Median) {
			continue
		}
		if b, err := probe.BaselineBounds(*pr.Probe.Expect.Baseline, s.Median); err == nil {
			ch.add(band{class: "baseline-allowed", x0: 0, x1: ch.xmax, y0: math.Max(b.Lo, ch.ymin), y1: math.Min(b.Hi, ch.ymax), colour: clr})
		}
		ch.add(series{class: "baseline-median", pts: []xy{{x0, s.Median}, {ch.xmax, s.Median}},
			colour: rgba{26, 127, 55, 1}, line: true, dashes: "4,3"})
	}
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// writeBaselines writes the baselines of a run's probes under its probe
// table, as a list: the Markdown form of BaselineWords.
func writeBaselines(b *strings.Builder, prs []probeRef) {
	for _, pr := range prs {
		words := pr.BaselineWords()
		if words == "" {
			continue
		}
		lines := strings.Split(words, "\n")
		fmt.Fprintf(b, "- **%s** %s\n", cell(pr.Probe.Name), cell(lines[0]))
		for _, l := range lines[1:] {
			fmt.Fprintf(b, "  - %s\n", cell(strings.TrimSpace(l)))
		}
		b.WriteString("\n")
	}
}
