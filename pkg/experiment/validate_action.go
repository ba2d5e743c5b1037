package experiment

import (
	"strings"
)

// action checks that exactly one known fault kind is set and lets the kind
// check its own spec.
func (v *validator) action(a *Action, s *Spec, durationOK bool) {
	const path = "spec.action"
	if a.IsZero() {
		v.add(path, "no action (set exactly one of %s)", v.kindList())
		return
	}
	if len(a.others) > 0 {
		names := []string{a.Kind}
		for _, o := range a.others {
			names = append(names, o.Kind)
		}
		v.add(path, "%s are set (set exactly one of %s)", andList(names), v.kindList())
		for _, o := range a.others {
			v.action(&o, s, durationOK)
		}
	}
	kind := a.fault
	if kind == nil {
		kind, _ = v.kinds.Lookup(a.Kind)
	}
	if kind == nil {
		// The strict decoder reports an unknown key in a file with its
		// suggestion; this is for experiments built in Go.
		v.add(path, "unknown fault kind %s (known: %s)", quoteValue(a.Kind), v.kindList())
		return
	}
	if a.Spec == nil {
		return
	}
	kind.Validate(&ActionCheck{v: v, path: path + "." + a.Kind, Spec: s, DurationOK: durationOK}, a.Spec)
}

// kindList names the registered kinds for messages.
func (v *validator) kindList() string {
	names := v.kinds.Names()
	if len(names) == 0 {
		return "the registered fault kinds"
	}
	return strings.Join(names, ", ")
}

// intRange checks an integer that has a default: zero means "unset" unless
// it was written in the file.
func (v *validator) intRange(path string, x, lo, hi int) {
	if x == 0 && !v.written(path) {
		return
	}
	if x < lo || x > hi {
		v.add(path, "must be between %d and %d, got %d", lo, hi, x)
	}
}

// andList joins names as "a and b" or "a, b and c", the words of the
// "both ... are set" problem.
func andList(names []string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	case 2:
		return "both " + names[0] + " and " + names[1]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
