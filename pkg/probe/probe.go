// Package probe evaluates steady-state probes: it turns the samples a
// Querier returns into a pass/fail Result against an experiment.Expect.
//
// An error from a Querier means "could not evaluate" and is never read as a
// pass; Result.OK=false means the hypothesis was violated (or, for a stop
// condition, that the condition fired).
package probe

import (
	"context"
	"time"
)

// Sample is one series of an instant query result. A scalar result is one
// Sample with no labels.
type Sample struct {
	Labels map[string]string `json:"labels,omitempty"`
	Value  float64           `json:"value"`
}

// Querier runs an instant PromQL query at a given time.
type Querier interface {
	Query(ctx context.Context, query string, at time.Time) ([]Sample, error)
}

// Role says how a probe's expectation is read.
type Role string

const (
	// RoleHypothesis: the probe holds when every series meets Expect.
	RoleHypothesis Role = "hypothesis"
	// RoleStop: the stop condition fires when any series meets Expect.
	RoleStop Role = "stop"
)

// Result is the outcome of one probe evaluation.
type Result struct {
	Probe string    `json:"probe"`
	Role  Role      `json:"role"`
	At    time.Time `json:"at"`
	// OK is true when a hypothesis probe holds, or when a stop condition
	// did NOT fire. false is the bad outcome in both roles.
	OK bool `json:"ok"`
	// Value is the series value shown to people: the first offending one
	// when OK is false, else the first one; NaN when there was no series.
	Value   float64  `json:"value"`
	Samples []Sample `json:"samples,omitempty"`
	// Err is set when the probe could not be evaluated (query error,
	// Prometheus unreachable); OK is then false.
	Err string `json:"error,omitempty"`
	// Reason explains a bad outcome in words, e.g.
	// `error-ratio = 0.034 {service="checkout"}, expected below 0.01`.
	Reason string `json:"reason,omitempty"`
}
