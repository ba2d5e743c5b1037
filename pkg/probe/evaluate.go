package probe

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

// MaxSamples is how many series a Result keeps as evidence. A probe such as
// `up == 0` over a large cluster can return thousands of series; the journal
// records a Result at every probe interval, so it keeps a bounded, useful
// subset (offending series first) and Result.Series says how many there were.
const MaxSamples = 20

// reasonNoData is the start of the Reason for an empty query result.
const reasonNoData = "no data: query returned no series"

// Evaluate reads the samples of one instant query against probe p in the
// given role and returns the outcome at instant at.
//
// RoleHypothesis holds (OK) when every series meets p.Expect. RoleStop fires
// (OK=false) when any series meets p.Expect. In both roles a NaN or ±Inf
// value is bad: it violates the hypothesis and fires the stop condition,
// since an unknown measurement is never read as healthy. An empty result is
// bad unless p.OnEmpty is "pass"; any other OnEmpty value, including an
// empty string or a typo that escaped validation, means "fail".
//
// An invalid expectation or role gives a Result with Err set (could not
// evaluate), never a pass.
func Evaluate(p experiment.Probe, role Role, samples []Sample, at time.Time) Result {
	r := Result{Probe: p.Name, Role: role, At: at, Value: math.NaN(), Series: len(samples)}
	if err := checkRole(role); err != nil {
		return withErr(r, err)
	}
	if p.Expect.Baseline != nil {
		// Only EvaluateBaseline knows the baseline's medians.
		return withErr(r, fmt.Errorf("probe %s compares with a baseline, and none was measured", probeName(p)))
	}
	if err := checkExpect(p.Expect); err != nil {
		return withErr(r, fmt.Errorf("invalid expect of probe %s: %w", probeName(p), err))
	}

	if len(samples) == 0 {
		onEmpty := experiment.OnEmptyFail
		if p.OnEmpty == experiment.OnEmptyPass {
			onEmpty = experiment.OnEmptyPass
		}
		r.OK = onEmpty == experiment.OnEmptyPass
		r.Reason = reasonNoData + " (onEmpty: " + onEmpty + ")"
		return r
	}

	// Offending series violate the hypothesis or meet (fire) the stop
	// condition; non-finite values offend in both roles. Only the first
	// MaxSamples indices are kept, since only they can become evidence.
	var bad []int
	nBad := 0
	for i, s := range samples {
		finite := !math.IsNaN(s.Value) && !math.IsInf(s.Value, 0)
		meets := Meets(p.Expect, s.Value)
		if !finite || (role == RoleHypothesis && !meets) || (role == RoleStop && meets) {
			nBad++
			if len(bad) < MaxSamples {
				bad = append(bad, i)
			}
		}
	}

	r.OK = nBad == 0
	r.Samples = keepSamples(samples, bad, MaxSamples)
	if r.OK {
		r.Value = samples[0].Value
		return r
	}

	first := samples[bad[0]]
	r.Value = first.Value
	r.Reason = reason(p, role, first, nBad, len(samples))
	if dropped := len(samples) - len(r.Samples); dropped > 0 {
		r.Reason += fmt.Sprintf("; %d of %d series not recorded", dropped, len(samples))
	}
	return r
}

// Check runs p's query through q at instant at and evaluates the result. A
// query error (Prometheus unreachable, bad query, timeout) gives OK=false
// with Err set: an unknown steady state is never read as healthy, and a stop
// condition that cannot be evaluated counts as fired.
func Check(ctx context.Context, q Querier, p experiment.Probe, role Role, at time.Time) Result {
	if q == nil {
		return withErr(Result{Probe: p.Name, Role: role, At: at, Value: math.NaN()},
			errors.New("no Prometheus querier configured"))
	}
	samples, err := q.Query(ctx, p.Query, at)
	if err != nil {
		return withErr(Result{Probe: p.Name, Role: role, At: at, Value: math.NaN()}, err)
	}
	return Evaluate(p, role, samples, at)
}

// withErr marks r as "could not evaluate".
func withErr(r Result, err error) Result {
	r.OK = false
	r.Err = err.Error()
	r.Reason = "could not evaluate: " + err.Error()
	return r
}

func checkRole(role Role) error {
	switch role {
	case RoleHypothesis, RoleStop:
		return nil
	}
	return fmt.Errorf("unknown probe role %q (want %q or %q)", role, RoleHypothesis, RoleStop)
}

// reason explains a bad outcome, naming the first offending series, e.g.
// `error-ratio = 0.034 {service="checkout"}: expected below 0.01`.
func reason(p experiment.Probe, role Role, s Sample, nBad, nAll int) string {
	var b strings.Builder
	b.WriteString(probeName(p))
	b.WriteString(" = ")
	b.WriteString(FormatValue(s.Value))
	if len(s.Labels) > 0 {
		b.WriteByte(' ')
		b.WriteString(FormatLabels(s.Labels))
	}
	finite := !math.IsNaN(s.Value) && !math.IsInf(s.Value, 0)
	want := ExpectString(p.Expect)
	switch {
	case role == RoleHypothesis && finite:
		b.WriteString(": expected " + want)
	case role == RoleHypothesis:
		b.WriteString(": expected " + want + " (" + FormatValue(s.Value) + " never meets an expectation)")
	case finite:
		b.WriteString(": stop condition met (" + want + ")")
	default:
		b.WriteString(": value unknown, stop condition treated as met (" + want + ")")
	}
	if nAll > 1 {
		verb := "violate the hypothesis"
		if role == RoleStop {
			verb = "meet the stop condition"
		}
		fmt.Fprintf(&b, "; %d of %d series %s", nBad, nAll, verb)
	}
	return b.String()
}

// probeName is the name shown in reasons; the query stands in for an
// unnamed probe so that a report is never ambiguous.
func probeName(p experiment.Probe) string {
	if p.Name != "" {
		return p.Name
	}
	return strconv.Quote(p.Query)
}

// keepSamples copies at most limit samples, offending ones first, in their
// original order. Labels are copied too, so a Result never aliases the
// querier's memory.
func keepSamples(samples []Sample, bad []int, limit int) []Sample {
	n := min(len(samples), limit)
	keep := make([]bool, len(samples))
	kept := 0
	for _, i := range bad {
		if kept == n {
			break
		}
		keep[i] = true
		kept++
	}
	for i := range samples {
		if kept == n {
			break
		}
		if !keep[i] {
			keep[i] = true
			kept++
		}
	}
	out := make([]Sample, 0, n)
	for i, s := range samples {
		if keep[i] {
			out = append(out, Sample{Labels: maps.Clone(s.Labels), Value: s.Value})
		}
	}
	return out
}

// FormatLabels renders a label set the way PromQL writes a series: the
// metric name (label __name__) in front, the other labels sorted by name,
// values quoted: `up{instance="a:9100", job="node"}`. An empty set is "{}".
func FormatLabels(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		if k != "__name__" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	var b strings.Builder
	b.WriteString(labels["__name__"])
	if len(names) == 0 && b.Len() > 0 {
		return b.String()
	}
	b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(labels[k]))
	}
	b.WriteByte('}')
	return b.String()
}
