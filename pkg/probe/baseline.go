package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

// StatisticMedian is the only baseline statistic: the median of each
// series over the window. It is robust: a few outliers (a scrape that saw a
// burst, a GC pause) move a mean, not a median. The spread is reported next
// to it as the median absolute deviation (MAD), min and max, so that a
// reader sees how noisy the baseline was.
const StatisticMedian = "median"

// SeriesBaseline is the summary of one series over the baseline window.
// Points are kept so that the verdict can be checked by hand.
type SeriesBaseline struct {
	Labels map[string]string `json:"labels,omitempty"`
	// Median is the baseline value every later value of the series is
	// compared with; NaN when Unknown is set.
	Median float64 `json:"median"`
	// MAD is the median absolute deviation from Median: the spread.
	MAD float64 `json:"mad"`
	Min float64 `json:"min"`
	Max float64 `json:"max"`
	// Count is the number of points the series had; Steps the number the
	// window holds at the step (both ends included).
	Count  int     `json:"count"`
	Steps  int     `json:"steps"`
	Points []Point `json:"points,omitempty"`
	// Unknown says why this series has no usable baseline (too few
	// points, gaps, NaN or Inf); empty when the baseline is known.
	Unknown string `json:"unknown,omitempty"`
}

// Baseline is the measured baseline of one hypothesis probe: a range query
// over [To-Window, To] at Step, summarised per series.
type Baseline struct {
	Probe     string `json:"probe"`
	Query     string `json:"query"`
	Statistic string `json:"statistic"`
	// Window and Step are written as in the file ("10m", "5s").
	Window experiment.Duration `json:"window"`
	Step   experiment.Duration `json:"step"`
	From   time.Time           `json:"from"`
	To     time.Time           `json:"to"`
	// Series are the summaries, in the order of the query's result.
	Series []SeriesBaseline `json:"series,omitempty"`
	// Unknown is set when the baseline as a whole cannot be used: the
	// query failed, returned nothing, or a series is unknown. It names
	// the probe and the reason; the run is then skipped.
	Unknown string `json:"unknown,omitempty"`
}

// Known reports whether every evaluation may use b.
func (b *Baseline) Known() bool { return b != nil && b.Unknown == "" }

// Steps is how many points a window holds at step, both ends included.
func Steps(window, step time.Duration) int {
	if step <= 0 {
		return 0
	}
	return int(window/step) + 1
}

// MeasureBaseline runs p's query over [at-window, at] at step through q and
// summarises it. A query error gives an unknown Baseline (never a pass).
func MeasureBaseline(ctx context.Context, q RangeQuerier, p experiment.Probe, at time.Time, step time.Duration) Baseline {
	window := time.Duration(0)
	if p.Expect.Baseline != nil {
		window = p.Expect.Baseline.Window.Duration
	}
	from := at.Add(-window)
	if q == nil {
		b := Baseline{Probe: p.Name, Query: p.Query, Statistic: StatisticMedian, Window: dur(window), Step: dur(step), From: from, To: at}
		b.Unknown = fmt.Sprintf("%s: baseline unknown: no Prometheus range querier configured", probeName(p))
		return b
	}
	series, err := q.QueryRange(ctx, p.Query, from, at, step)
	if err != nil {
		b := Baseline{Probe: p.Name, Query: p.Query, Statistic: StatisticMedian, Window: dur(window), Step: dur(step), From: from, To: at}
		b.Unknown = fmt.Sprintf("%s: baseline unknown: the range query failed: %v", probeName(p), err)
		return b
	}
	return SummarizeBaseline(p, series, at, step)
}

// SummarizeBaseline summarises the series of a range query over
// [to-window, to] at step. A series is unknown when it holds a NaN or Inf,
// fewer than experiment.MinBaselineSamples points, or less than
// experiment.BaselineCoverage of the window's steps (gaps); the Baseline is
// unknown when any series is, or when there is no series at all (nothing
// to compare with, whatever onEmpty says).
func SummarizeBaseline(p experiment.Probe, series []Series, to time.Time, step time.Duration) Baseline {
	window := time.Duration(0)
	if p.Expect.Baseline != nil {
		window = p.Expect.Baseline.Window.Duration
	}
	b := Baseline{Probe: p.Name, Query: p.Query, Statistic: StatisticMedian, Window: dur(window), Step: dur(step), From: to.Add(-window), To: to}
	steps := Steps(window, step)
	var unknown []string
	for _, s := range series {
		sb := summarizeSeries(s, steps)
		if sb.Unknown != "" {
			unknown = append(unknown, FormatLabels(sb.Labels)+": "+sb.Unknown)
		}
		b.Series = append(b.Series, sb)
	}
	switch {
	case len(series) == 0:
		b.Unknown = fmt.Sprintf("%s: baseline unknown: the query returned no series over the %s before the run", probeName(p), formatWindow(window))
	case len(unknown) > 0:
		b.Unknown = fmt.Sprintf("%s: baseline unknown: %s", probeName(p), strings.Join(unknown, "; "))
	}
	return b
}

func summarizeSeries(s Series, steps int) SeriesBaseline {
	sb := SeriesBaseline{Labels: maps.Clone(s.Labels), Count: len(s.Points), Steps: steps,
		Points: slices.Clone(s.Points), Median: math.NaN(), MAD: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	vals := make([]float64, 0, len(s.Points))
	bad := 0
	for _, pt := range s.Points {
		if math.IsNaN(pt.V) || math.IsInf(pt.V, 0) {
			bad++
			continue
		}
		vals = append(vals, pt.V)
	}
	need := int(math.Ceil(experiment.BaselineCoverage * float64(steps)))
	switch {
	case bad > 0:
		sb.Unknown = fmt.Sprintf("%d of %d points are NaN or Inf", bad, len(s.Points))
		return sb
	case len(vals) < experiment.MinBaselineSamples:
		sb.Unknown = fmt.Sprintf("%d points, fewer than the %d a baseline needs", len(vals), experiment.MinBaselineSamples)
		return sb
	case len(vals) < need:
		sb.Unknown = fmt.Sprintf("gaps: %d of %d points (a baseline needs %.0f%%, %d)", len(vals), steps, experiment.BaselineCoverage*100, need)
		return sb
	}
	slices.Sort(vals)
	sb.Median = median(vals)
	sb.Min, sb.Max = vals[0], vals[len(vals)-1]
	dev := make([]float64, len(vals))
	for i, v := range vals {
		dev[i] = math.Abs(v - sb.Median)
	}
	slices.Sort(dev)
	sb.MAD = median(dev)
	return sb
}

// median of sorted, non-empty vals.
func median(vals []float64) float64 {
	n := len(vals)
	if n%2 == 1 {
		return vals[n/2]
	}
	return (vals[n/2-1] + vals[n/2]) / 2
}

// Bounds are the values a series may take given its baseline median: Lo
// is -Inf without maxDecrease, Hi +Inf without maxIncrease.
type Bounds struct{ Lo, Hi float64 }

// BaselineBounds computes the allowed range around median for b. An
// unparsable margin (validation makes it unreachable) is an error.
func BaselineBounds(b experiment.Baseline, median float64) (Bounds, error) {
	out := Bounds{Lo: math.Inf(-1), Hi: math.Inf(1)}
	if b.MaxIncrease != "" {
		m, err := experiment.ParseMargin(b.MaxIncrease)
		if err != nil {
			return out, fmt.Errorf("maxIncrease %q: %w", b.MaxIncrease, err)
		}
		out.Hi = median + m.Amount(median)
	}
	if b.MaxDecrease != "" {
		m, err := experiment.ParseMargin(b.MaxDecrease)
		if err != nil {
			return out, fmt.Errorf("maxDecrease %q: %w", b.MaxDecrease, err)
		}
		out.Lo = median - m.Amount(median)
	}
	if b.MaxIncrease == "" && b.MaxDecrease == "" {
		return out, errors.New("neither maxIncrease nor maxDecrease is set")
	}
	return out, nil
}

// Contains reports whether v is within the bounds (both inclusive); a
// value that is not finite never is.
func (b Bounds) Contains(v float64) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) && b.Lo <= v && v <= b.Hi
}

// String is "at most 0.24", "at least 0.18" or "between 0.18 and 0.24".
func (b Bounds) String() string {
	switch {
	case math.IsInf(b.Lo, -1):
		return "at most " + FormatValue(b.Hi)
	case math.IsInf(b.Hi, 1):
		return "at least " + FormatValue(b.Lo)
	}
	return "between " + FormatValue(b.Lo) + " and " + FormatValue(b.Hi)
}

// BaselineMargins writes the margins as in the file: "+20%", "-0.05",
// "+20%/-10%".
func BaselineMargins(b experiment.Baseline) string {
	var parts []string
	if b.MaxIncrease != "" {
		parts = append(parts, "+"+strings.TrimSpace(b.MaxIncrease))
	}
	if b.MaxDecrease != "" {
		parts = append(parts, "-"+strings.TrimSpace(b.MaxDecrease))
	}
	return strings.Join(parts, "/")
}

// EvaluateBaseline evaluates the samples of one instant query of a
// hypothesis probe against its baseline: each series against its own
// series' median (series matched by their full label sets) ± the margins.
// A series that appeared (not in the baseline) or disappeared (in the
// baseline, not in the result) is named in the reason and fails unless
// onEmpty is "pass". An unknown or missing baseline gives Err set, never
// a pass.
func EvaluateBaseline(p experiment.Probe, samples []Sample, b *Baseline, at time.Time) Result {
	r := Result{Probe: p.Name, Role: RoleHypothesis, At: at, Value: math.NaN(), Series: len(samples)}
	switch {
	case p.Expect.Baseline == nil:
		return withErr(r, fmt.Errorf("probe %s has no baseline expectation", probeName(p)))
	case b == nil:
		return withErr(r, fmt.Errorf("probe %s compares with a baseline, and none was measured", probeName(p)))
	case b.Unknown != "":
		return withErr(r, errors.New(b.Unknown))
	}
	j := newBaselineJudge(p, b)
	var bad []int
	var words []string // one per offending series, in order
	seen := make(map[string]bool, len(samples))
	for i, s := range samples {
		seen[FormatLabels(s.Labels)] = true
		why, err := j.offends(s)
		if err != nil {
			return withErr(r, err)
		}
		if why != "" {
			bad = append(bad, i)
			words = append(words, why)
		}
	}
	nBad := len(bad)
	gone := j.disappeared(seen)
	if len(gone) > 0 && !j.pass {
		nBad += len(gone)
		words = append(words, fmt.Sprintf("%s: %s in the baseline, no longer in the result: disappeared (onEmpty: %s)",
			probeName(p), strings.Join(gone, ", "), j.onEmpty))
	}

	r.OK = nBad == 0
	r.Samples = keepSamples(samples, bad, MaxSamples)
	switch {
	case len(bad) > 0:
		r.Value = samples[bad[0]].Value
	case len(samples) > 0:
		r.Value = samples[0].Value
	}
	r.Reason = j.reason(words, nBad, len(samples), gone)
	if dropped := len(samples) - len(r.Samples); dropped > 0 && !r.OK {
		r.Reason += fmt.Sprintf("; %d of %d series not recorded", dropped, len(samples))
	}
	return r
}

// baselineJudge compares series with their baselines for EvaluateBaseline.
type baselineJudge struct {
	p       experiment.Probe
	b       *Baseline
	base    map[string]*SeriesBaseline // by FormatLabels of the series
	pass    bool                       // onEmpty: pass lets series appear and disappear
	onEmpty string                     // as shown in reasons
	margins string
}

func newBaselineJudge(p experiment.Probe, b *Baseline) *baselineJudge {
	j := &baselineJudge{p: p, b: b, base: make(map[string]*SeriesBaseline, len(b.Series)),
		pass: p.OnEmpty == experiment.OnEmptyPass, onEmpty: experiment.OnEmptyFail, margins: BaselineMargins(*p.Expect.Baseline)}
	if j.pass {
		j.onEmpty = experiment.OnEmptyPass
	}
	for i := range b.Series {
		j.base[FormatLabels(b.Series[i].Labels)] = &b.Series[i]
	}
	return j
}

// offends says why series s violates the hypothesis; "" when it holds.
func (j *baselineJudge) offends(s Sample) (string, error) {
	sb := j.base[FormatLabels(s.Labels)]
	if sb == nil {
		if j.pass {
			return "", nil
		}
		return fmt.Sprintf("%s = %s %s: series not in the baseline, it appeared since (onEmpty: %s)",
			probeName(j.p), FormatValue(s.Value), FormatLabels(s.Labels), j.onEmpty), nil
	}
	bounds, err := BaselineBounds(*j.p.Expect.Baseline, sb.Median)
	if err != nil {
		return "", fmt.Errorf("invalid baseline of probe %s: %w", probeName(j.p), err)
	}
	if bounds.Contains(s.Value) {
		return "", nil
	}
	return fmt.Sprintf("%s = %s %s: expected %s (baseline median %s over %s, %s)", probeName(j.p), FormatValue(s.Value),
		FormatLabels(s.Labels), bounds, FormatValue(sb.Median), j.b.Window, j.margins), nil
}

// disappeared lists the baseline's series that are not in seen.
func (j *baselineJudge) disappeared(seen map[string]bool) []string {
	var gone []string
	for i := range j.b.Series {
		if key := FormatLabels(j.b.Series[i].Labels); !seen[key] {
			gone = append(gone, key)
		}
	}
	return gone
}

// reason is the Result's reason: the first offence, how many series
// offend, and the disappeared series even when a value came first; for a
// pass, what onEmpty: pass let through.
func (j *baselineJudge) reason(words []string, nBad, nSamples int, gone []string) string {
	switch {
	case nBad > 0:
		why := words[0]
		if nBad > 1 {
			why += fmt.Sprintf("; %d of %d series violate the hypothesis", nBad, nSamples+len(gone))
		}
		if len(words) > 1 && len(gone) > 0 && !j.pass {
			why += "; " + words[len(words)-1]
		}
		return why
	case nSamples == 0:
		return reasonNoData + " (onEmpty: " + j.onEmpty + ")"
	case len(gone) > 0:
		return fmt.Sprintf("%s: %s disappeared since the baseline (onEmpty: pass)", probeName(j.p), strings.Join(gone, ", "))
	}
	return ""
}

// CheckBaseline runs p's query through q at instant at and evaluates it
// against b. A query error gives OK=false with Err set.
func CheckBaseline(ctx context.Context, q Querier, p experiment.Probe, b *Baseline, at time.Time) Result {
	if q == nil {
		return withErr(Result{Probe: p.Name, Role: RoleHypothesis, At: at, Value: math.NaN()},
			errors.New("no Prometheus querier configured"))
	}
	samples, err := q.Query(ctx, p.Query, at)
	if err != nil {
		return withErr(Result{Probe: p.Name, Role: RoleHypothesis, At: at, Value: math.NaN()}, err)
	}
	return EvaluateBaseline(p, samples, b, at)
}

// dur wraps d for the journal, where it is written as "10m".
func dur(d time.Duration) experiment.Duration { return experiment.Duration{Duration: d} }

// formatWindow writes 10m0s as 10m and 1h30m0s as 1h30m.
func formatWindow(d time.Duration) string { return dur(d).String() }

// MarshalJSON writes a point with a NaN-safe value (a range query may
// return NaN points, which a baseline records as evidence).
func (pt Point) MarshalJSON() ([]byte, error) {
	type plain Point
	return json.Marshal(struct {
		plain
		V jsonFloat `json:"v"`
	}{plain(pt), jsonFloat(pt.V)})
}

// UnmarshalJSON decodes what MarshalJSON writes.
func (pt *Point) UnmarshalJSON(b []byte) error {
	type plain Point
	var aux struct {
		plain
		V jsonFloat `json:"v"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*pt = Point(aux.plain)
	pt.V = float64(aux.V)
	return nil
}

// MarshalJSON writes the summary with NaN-safe values.
func (s SeriesBaseline) MarshalJSON() ([]byte, error) {
	type plain SeriesBaseline
	return json.Marshal(struct {
		plain
		Median jsonFloat `json:"median"`
		MAD    jsonFloat `json:"mad"`
		Min    jsonFloat `json:"min"`
		Max    jsonFloat `json:"max"`
	}{plain(s), jsonFloat(s.Median), jsonFloat(s.MAD), jsonFloat(s.Min), jsonFloat(s.Max)})
}

// UnmarshalJSON decodes what MarshalJSON writes.
func (s *SeriesBaseline) UnmarshalJSON(b []byte) error {
	type plain SeriesBaseline
	var aux struct {
		plain
		Median jsonFloat `json:"median"`
		MAD    jsonFloat `json:"mad"`
		Min    jsonFloat `json:"min"`
		Max    jsonFloat `json:"max"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*s = SeriesBaseline(aux.plain)
	s.Median, s.MAD, s.Min, s.Max = float64(aux.Median), float64(aux.MAD), float64(aux.Min), float64(aux.Max)
	return nil
}
