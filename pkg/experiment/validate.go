package experiment

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// dnsLabelRule says what a DNS-1123 label is, in the words a user needs to
// fix one; apimachinery's own message quotes a regular expression instead.
const dnsLabelRule = "a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit"

// validator collects every problem of one experiment.
type validator struct {
	file     string
	lines    fieldLines // where each field was written; nil for experiments built in Go
	kinds    *Kinds     // the registry the file was loaded with; nil for experiments built in Go
	problems Problems
}

// Validate checks an experiment and returns every problem found, sorted;
// it returns nil when the experiment is valid. It works on experiments
// built in Go as well as loaded ones (the problems of those have no line).
// Defaults need not have been applied: a zero value that has a default is
// read as that default.
func Validate(e *Experiment) Problems {
	if e == nil {
		return Problems{{Message: "no experiment"}}
	}
	v := &validator{file: e.Source.File}
	v.experiment(e)
	if len(v.problems) == 0 {
		return nil
	}
	v.problems.sort()
	return v.problems
}

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, newProblem(v.file, v.lines.lineOf(path), path, format, args...))
}

// written reports whether a field was written in the file. It tells an
// explicit "workers: 0" (an error) from an absent one (the default).
func (v *validator) written(path string) bool {
	return v.lines.has(path)
}

func (v *validator) experiment(e *Experiment) {
	v.header(e.APIVersion, e.Kind)
	v.metadata(&e.Metadata)
	v.spec(&e.Spec)
}

func (v *validator) header(apiVersion, kind string) {
	switch apiVersion {
	case APIVersion:
	case "":
		v.add("apiVersion", "required (set it to %s)", APIVersion)
	default:
		v.add("apiVersion", "unsupported %s (supported: %s)", quoteValue(apiVersion), APIVersion)
	}
	switch kind {
	case Kind:
	case "":
		v.add("kind", "required (set it to %s)", Kind)
	default:
		v.add("kind", "unsupported %s (supported: %s)", quoteValue(kind), Kind)
	}
}

func (v *validator) metadata(m *Metadata) {
	v.name("metadata.name", m.Name, "such as checkout-pod-kill")
	for _, k := range slices.Sorted(maps.Keys(m.Labels)) {
		path := keyPath("metadata.labels", k)
		if len(validation.IsQualifiedName(k)) > 0 {
			v.add(path, "invalid label key (an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)")
		}
		if val := m.Labels[k]; len(validation.IsValidLabelValue(val)) > 0 {
			v.add(path, "invalid label value %s (at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit; or empty)", quoteValue(val))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m.Annotations)) {
		if len(validation.IsQualifiedName(k)) > 0 {
			v.add(keyPath("metadata.annotations", k), "invalid annotation key (an optional DNS subdomain prefix and '/', then at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)")
		}
	}
}

// name checks a required DNS-1123 label.
func (v *validator) name(path, name, example string) bool {
	if name == "" {
		v.add(path, "required (%s, %s)", dnsLabelRule, example)
		return false
	}
	if len(validation.IsDNS1123Label(name)) > 0 {
		v.add(path, "invalid name %s (%s)", quoteValue(name), dnsLabelRule)
		return false
	}
	return true
}

func (v *validator) spec(s *Spec) {
	duration, durationOK := v.duration("spec.duration", s.Duration, durationRule{required: true, positive: true})

	interval, intervalOK := v.duration("spec.probeInterval", s.ProbeInterval, durationRule{positive: true})
	if durationOK && intervalOK {
		switch {
		case !s.ProbeInterval.set() && DefaultProbeInterval > duration:
			v.add("spec.probeInterval", "the default %s is longer than spec.duration %s (set a probeInterval of at most %s)",
				formatDuration(DefaultProbeInterval), s.Duration, s.Duration)
		case s.ProbeInterval.set() && interval > duration:
			v.add("spec.probeInterval", "%s is longer than spec.duration %s (the hypothesis must be checked at least once while the fault is applied)",
				s.ProbeInterval, s.Duration)
		}
	}
	v.duration("spec.recovery", s.Recovery, durationRule{positive: true})

	probeEvery := interval
	switch {
	case !intervalOK:
		probeEvery = 0
	case !s.ProbeInterval.set():
		probeEvery = DefaultProbeInterval
	}
	v.probes("spec.hypothesis.probes", s.Hypothesis.Probes, false, probeEvery)
	if len(s.Hypothesis.Probes) == 0 {
		v.add("spec.hypothesis.probes", "at least one probe is required (the steady state must be measurable)")
	}
	v.probes("spec.stopWhen", s.StopWhen, true, probeEvery)

	v.target(&s.Target)
	v.action(&s.Action, s, durationOK)
	v.safety(&s.Safety, &s.Target.Pick)
	v.detect(s, durationOK)
}

// durationRule says what a duration field accepts.
type durationRule struct {
	required bool // must be written (there is no default)
	positive bool // must be > 0; otherwise >= 0
}

// duration checks one duration field. It returns the value and whether it
// is usable in comparisons with other fields (set, or defaulted, and valid).
func (v *validator) duration(path string, d Duration, rule durationRule) (time.Duration, bool) {
	if err := d.syntaxError(); err != nil {
		v.add(path, "%v", err)
		return 0, false
	}
	if !d.set() {
		if rule.required {
			v.add(path, "required (%s)", durationHint)
			return 0, false
		}
		return 0, true
	}
	switch {
	case rule.positive && d.Duration <= 0:
		v.add(path, "must be positive, got %s", d)
		return 0, false
	case d.Duration < 0:
		v.add(path, "must not be negative, got %s", d)
		return 0, false
	}
	return d.Duration, true
}

func (v *validator) probes(path string, probes []Probe, stop bool, interval time.Duration) {
	firstByName := map[string]int{}
	for i := range probes {
		p := &probes[i]
		pp := indexPath(path, i)
		if v.name(pp+".name", p.Name, "unique in this list") {
			if j, dup := firstByName[p.Name]; dup {
				v.add(pp+".name", "duplicate name %s (also used by %s)", quoteValue(p.Name), indexPath(path, j))
			} else {
				firstByName[p.Name] = i
			}
		}
		v.query(pp+".query", p.Query)
		v.expect(pp+".expect", &p.Expect, stop, interval)
		switch p.OnEmpty {
		case "", OnEmptyFail, OnEmptyPass:
		default:
			v.add(pp+".onEmpty", "invalid value %s (allowed: %s, %s)", quoteValue(p.OnEmpty), OnEmptyFail, OnEmptyPass)
		}
	}
}

func (v *validator) query(path, query string) {
	if strings.TrimSpace(query) == "" {
		v.add(path, "required (a PromQL expression)")
		return
	}
	expr, err := parsePromQL(query)
	if err != nil {
		v.add(path, "invalid PromQL: %v", err)
		return
	}
	if err := checkProbeQueryType(expr); err != nil {
		v.add(path, "%v", err)
	}
}

// comparators lists Expect's fields in declaration order, the order every
// message names them in.
const comparators = "below, atMost, above, atLeast, between, equals, baseline"

// expect checks a probe's expectation; stop says the probe is a stop
// condition, which has no baseline. interval is the probe interval (0 if
// invalid), which sets how many points a baseline window holds.
func (v *validator) expect(path string, e *Expect, stop bool, interval time.Duration) {
	var set []string
	single := func(name string, x *float64) {
		if x == nil {
			return
		}
		set = append(set, name)
		v.finite(path+"."+name, *x)
	}
	single("below", e.Below)
	single("atMost", e.AtMost)
	single("above", e.Above)
	single("atLeast", e.AtLeast)
	if e.Between != nil {
		set = append(set, "between")
		v.between(path+".between", e.Between)
	}
	single("equals", e.Equals)
	if e.Baseline != nil {
		set = append(set, "baseline")
		v.baseline(path+".baseline", e.Baseline, stop, interval)
	}
	switch len(set) {
	case 1:
	case 0:
		v.add(path, "no comparator (set exactly one of %s)", comparators)
	default:
		v.add(path, "%d comparators set: %s (set exactly one of %s)", len(set), strings.Join(set, ", "), comparators)
	}
}

// baseline checks a relative expectation.
func (v *validator) baseline(path string, b *Baseline, stop bool, interval time.Duration) {
	if stop {
		v.add(path, "only hypothesis probes compare with a baseline (a stop condition needs a fixed threshold, such as above: 0.5)")
		return
	}
	window, ok := v.duration(path+".window", b.Window, durationRule{required: true, positive: true})
	if ok && interval > 0 && window < MinBaselineSamples*interval {
		v.add(path+".window", "%s holds fewer than %d samples at the probe interval %s (make it at least %s)",
			b.Window, MinBaselineSamples, formatDuration(interval), formatDuration(MinBaselineSamples*interval))
	}
	if b.MaxIncrease == "" && b.MaxDecrease == "" {
		v.add(path, "set maxIncrease, maxDecrease or both (how far the value may move from its baseline, such as maxIncrease: 20%%)")
	}
	for _, m := range []struct{ name, value string }{{"maxIncrease", b.MaxIncrease}, {"maxDecrease", b.MaxDecrease}} {
		if m.value == "" {
			continue
		}
		if _, err := ParseMargin(m.value); err != nil {
			v.add(path+"."+m.name, "invalid margin %s: %v", quoteValue(m.value), err)
		}
	}
}

func (v *validator) between(path string, b []float64) {
	if len(b) != 2 {
		v.add(path, "needs exactly 2 numbers [lo, hi], got %d", len(b))
		return
	}
	okLo, okHi := v.finite(indexPath(path, 0), b[0]), v.finite(indexPath(path, 1), b[1])
	if okLo && okHi && b[0] > b[1] {
		v.add(path, "lo %s is greater than hi %s (write [lo, hi] with lo <= hi)", formatFloat(b[0]), formatFloat(b[1]))
	}
}

// finite refuses NaN (every comparison with it is false, so a probe would
// always fail) and infinities (a bound nothing can cross is a typo).
func (v *validator) finite(path string, x float64) bool {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		v.add(path, "must be a finite number, got %s", formatFloat(x))
		return false
	}
	return true
}

func formatFloat(x float64) string {
	return fmt.Sprintf("%g", x)
}

func (v *validator) safety(s *Safety, pick *Pick) {
	maxTargets := s.MaxTargets
	switch {
	case maxTargets < 0 || (maxTargets == 0 && v.written("spec.safety.maxTargets")):
		v.add("spec.safety.maxTargets", "must be at least 1, got %d", maxTargets)
		maxTargets = -1
	case maxTargets == 0:
		maxTargets = DefaultMaxTargets
	}
	if s.MinHealthy != nil && *s.MinHealthy < 0 {
		v.add("spec.safety.minHealthy", "must not be negative, got %d", *s.MinHealthy)
	}
	if pick.Count != nil && maxTargets > 0 && *pick.Count > maxTargets {
		which := "spec.safety.maxTargets"
		if s.MaxTargets == 0 {
			which = "the default spec.safety.maxTargets"
		}
		v.add("spec.target.pick.count", "%d is more than %s %d (pick fewer pods or raise maxTargets)", *pick.Count, which, maxTargets)
	}
}
