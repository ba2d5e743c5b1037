package target

import (
	"slices"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
)

// Implies reports whether every label set that a matches also matches b,
// so that the pods of a workload whose pod selector is a are all found by
// a LIST with b. It is conservative: it answers true only when each
// requirement of b follows from one requirement of a (the forms selectors
// are written in: app=web implies app, app in (web,api), app!=db, ...), and
// false when unsure (numeric Gt/Lt, or b's requirement following only from
// several of a's together). A false answer costs a fresh read; a wrong true
// would let the guard count from a listing that misses pods.
func Implies(a, b labels.Selector) bool {
	if a == nil || b == nil {
		return false
	}
	have, ok := a.Requirements()
	if !ok {
		return false // a selects nothing; say no rather than reason about it
	}
	want, ok := b.Requirements()
	if !ok {
		return false
	}
	for _, w := range want {
		if !slices.ContainsFunc(have, func(h labels.Requirement) bool { return requirementImplies(h, w) }) {
			return false
		}
	}
	return true
}

// requirementImplies reports whether every label set satisfying h
// satisfies w (both on the same key).
func requirementImplies(h, w labels.Requirement) bool {
	if h.Key() != w.Key() {
		return false
	}
	hv, wv := h.Values().List(), w.Values().List()
	switch w.Operator() {
	case selection.Exists:
		return positive(h.Operator())
	case selection.DoesNotExist:
		return h.Operator() == selection.DoesNotExist
	case selection.Equals, selection.DoubleEquals, selection.In:
		// h must pin the key to values all within w's.
		return positive(h.Operator()) && h.Operator() != selection.Exists && subset(hv, wv)
	case selection.NotEquals, selection.NotIn:
		switch {
		case h.Operator() == selection.DoesNotExist:
			return true // absent key: != and notin hold
		case positive(h.Operator()) && h.Operator() != selection.Exists:
			return disjoint(hv, wv) // every allowed value is outside w's
		case h.Operator() == selection.NotEquals || h.Operator() == selection.NotIn:
			return subset(wv, hv) // h already rules out every value w does
		}
	}
	return false // Gt, Lt: not reasoned about
}

// positive is true for operators that require the key to be present.
func positive(op selection.Operator) bool {
	switch op {
	case selection.Exists, selection.Equals, selection.DoubleEquals, selection.In:
		return true
	}
	return false
}

func subset(a, b []string) bool {
	for _, v := range a {
		if !slices.Contains(b, v) {
			return false
		}
	}
	return true
}

func disjoint(a, b []string) bool {
	for _, v := range a {
		if slices.Contains(b, v) {
			return false
		}
	}
	return true
}
