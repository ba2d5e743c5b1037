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
	// In JSON a value that is not finite is written as the string "NaN",
	// "+Inf" or "-Inf", as the Prometheus API does (see json.go).
	Value float64 `json:"value"`
	// Samples is the evidence: at most MaxSamples series of the result, in
	// query order, offending series kept in preference to the others.
	Samples []Sample `json:"samples,omitempty"`
	// Series is how many series the query returned; when it is larger
	// than len(Samples), the rest were not recorded.
	Series int `json:"series"`
	// Err is set when the probe could not be evaluated (query error,
	// Prometheus unreachable); OK is then false.
	Err string `json:"error,omitempty"`
	// Reason explains a bad outcome in words, e.g.
	// `error-ratio = 0.034 {service="checkout"}: expected below 0.01`.
	// It is also set for an empty result that passes by onEmpty: pass, so
	// a report shows that the probe saw no data.
	Reason string `json:"reason,omitempty"`
}

// Point is one value of a series at one instant.
type Point struct {
	T time.Time `json:"t"`
	V float64   `json:"v"`
}

// Series is one series of a range query result.
type Series struct {
	Labels map[string]string `json:"labels,omitempty"`
	Points []Point           `json:"points"`
}

// RangeQuerier runs a PromQL range query: the query evaluated at every
// step from start to end (both included). Baselines and the detection of
// alerts read the past with it.
type RangeQuerier interface {
	QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]Series, error)
}
