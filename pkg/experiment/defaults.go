package experiment

// defaultPickCount is how many pods are picked when pick says nothing: the
// smallest blast radius that still tests something.
const defaultPickCount = 1

// ApplyDefaults fills every unset field that has a default (see the
// Default* constants): probeInterval 5s, recovery 1m, onEmpty "fail",
// pick count 1 when no pick mode is set, the action's own defaults (its
// kind's Default), safety.maxTargets 10 and safety.minHealthy 1. Values that were set, even to invalid ones, are left
// for Validate to judge. It is idempotent and Load calls it.
func ApplyDefaults(e *Experiment) {
	if e == nil {
		return
	}
	s := &e.Spec
	if !s.ProbeInterval.set() {
		s.ProbeInterval = NewDuration(DefaultProbeInterval)
	}
	if !s.Recovery.set() {
		s.Recovery = NewDuration(DefaultRecovery)
	}
	defaultProbes(s.Hypothesis.Probes)
	defaultProbes(s.StopWhen)

	if p := &s.Target.Pick; p.Count == nil && p.Percent == nil && !p.All {
		n := defaultPickCount
		p.Count = &n
	}

	if a := s.Action; a.fault != nil && a.Spec != nil {
		a.fault.Default(a.Spec)
	}

	if s.Safety.MaxTargets == 0 {
		s.Safety.MaxTargets = DefaultMaxTargets
	}
	if s.Safety.MinHealthy == nil {
		n := DefaultMinHealthy
		s.Safety.MinHealthy = &n
	}
}

// defaultProbes reads an empty result as a failure unless told otherwise:
// an unknown steady state is never taken for a healthy one, and an unknown
// stop condition never for a safe one.
func defaultProbes(probes []Probe) {
	for i := range probes {
		if probes[i].OnEmpty == "" {
			probes[i].OnEmpty = OnEmptyFail
		}
	}
}
