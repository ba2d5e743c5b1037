package journal

import "time"

// PhaseDetect is the phase, after recover, in which a run keeps reading
// the ALERTS series until every alert of spec.detect has fired (or its
// within has elapsed since the fault started) and resolved (or its
// resolveWithin has elapsed since the revert).
const PhaseDetect = "detect"

// Detection is what the monitoring did about the fault, for one alert of
// spec.detect. The instants are read from the ALERTS series with a range
// query at StepSeconds: each is the first step at which Prometheus had the
// series in that state, so it is late by at most one step (docs/detection.md).
type Detection struct {
	Alert  string            `json:"alert"`
	Labels map[string]string `json:"labels,omitempty"`
	// Within and ResolveWithin are the bounds of the experiment, in seconds
	// (ResolveWithin 0: not checked).
	WithinSeconds        float64 `json:"withinSeconds"`
	ResolveWithinSeconds float64 `json:"resolveWithinSeconds,omitempty"`
	// FaultStarted is the first injection's instant, Reverted the end of
	// the revert (or of the observation when nothing needed a revert).
	FaultStarted time.Time `json:"faultStarted"`
	Reverted     time.Time `json:"reverted,omitzero"`
	// FirstPending, FirstFiring: the first step, from the fault on, at
	// which a matching ALERTS series was pending, firing. Resolved: the
	// first step after the last firing one at which none was firing; zero
	// while it still fires (or never fired).
	FirstPending time.Time `json:"firstPending,omitzero"`
	FirstFiring  time.Time `json:"firstFiring,omitzero"`
	Resolved     time.Time `json:"resolved,omitzero"`
	// TimeToDetect is FirstFiring - FaultStarted; TimeToResolve is
	// Resolved - Reverted (0 when it resolved before the revert). Both
	// absent when the instant was not seen.
	TimeToDetectSeconds  *float64 `json:"timeToDetectSeconds,omitempty"`
	TimeToResolveSeconds *float64 `json:"timeToResolveSeconds,omitempty"`
	// Gap: the alert did not fire within Within (a detection gap).
	// NotResolved: it fired and was still firing ResolveWithin after the
	// revert. Unchecked says why a bound could not be checked (the run
	// was interrupted, Prometheus did not answer); the verdict does not
	// count an unchecked bound either way.
	Gap         bool   `json:"gap,omitempty"`
	NotResolved bool   `json:"notResolved,omitempty"`
	Unchecked   string `json:"unchecked,omitempty"`
	// StepSeconds is the range query's step: the precision of the instants.
	StepSeconds float64 `json:"stepSeconds"`
}

// TimeToDetect returns the time to detect, if the alert fired.
func (d Detection) TimeToDetect() (time.Duration, bool) { return seconds(d.TimeToDetectSeconds) }

// TimeToResolve returns the time to resolve, if the alert resolved.
func (d Detection) TimeToResolve() (time.Duration, bool) { return seconds(d.TimeToResolveSeconds) }

// TimeToRecover returns the run's time to recover, if it recovered.
func (r *Record) TimeToRecover() (time.Duration, bool) { return seconds(r.TimeToRecoverSeconds) }

func seconds(s *float64) (time.Duration, bool) {
	if s == nil {
		return 0, false
	}
	return time.Duration(*s * float64(time.Second)), true
}
