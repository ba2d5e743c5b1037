// Package experiment defines the chaosnight experiment file format: the
// types, their defaults, loading with strict decoding, and validation that
// reports every problem with its file, line and field path.
//
// The package depends on nothing else in chaosnight; every other package
// consumes the values it produces.
package experiment

import (
	"time"
)

// APIVersion and Kind identify an experiment document.
const (
	APIVersion = "chaosnight.dev/v1alpha1"
	Kind       = "Experiment"
)

// Experiment is one hypothesis-based chaos experiment.
type Experiment struct {
	APIVersion string   `yaml:"apiVersion" json:"apiVersion"`
	Kind       string   `yaml:"kind" json:"kind"`
	Metadata   Metadata `yaml:"metadata" json:"metadata"`
	Spec       Spec     `yaml:"spec" json:"spec"`

	// Source says where the experiment was read from; it is filled by the
	// loader and never serialised.
	Source Source `yaml:"-" json:"-"`
}

// Source locates an experiment document inside a file.
type Source struct {
	File     string // path as given to the loader
	Document int    // 0-based index of the YAML document in a multi-document file
	Line     int    // line where the document starts (1-based)
}

// Metadata names and labels an experiment, like Kubernetes object metadata.
type Metadata struct {
	Name        string            `yaml:"name" json:"name"`
	Labels      map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	Annotations map[string]string `yaml:"annotations,omitempty" json:"annotations,omitempty"`
}

// Spec is the body of an experiment.
type Spec struct {
	// Description is the hypothesis in plain words, shown in reports.
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Hypothesis is the steady state: checked before injection, every
	// ProbeInterval during it, and again after revert (within Recovery).
	Hypothesis Hypothesis `yaml:"hypothesis" json:"hypothesis"`
	// Target selects the victim pods.
	Target Target `yaml:"target" json:"target"`
	// Action is the fault to inject: exactly one registered kind (see
	// FaultKind), written as the only key of the mapping.
	Action Action `yaml:"action" json:"action"`
	// Duration is how long the fault is applied (required).
	Duration Duration `yaml:"duration" json:"duration"`
	// ProbeInterval is the period of hypothesis and stopWhen evaluation
	// while the fault is applied. Default 5s.
	ProbeInterval Duration `yaml:"probeInterval,omitempty" json:"probeInterval,omitempty"`
	// Recovery is how long, after revert, the hypothesis has to hold again.
	// Default 1m.
	Recovery Duration `yaml:"recovery,omitempty" json:"recovery,omitempty"`
	// StopWhen lists halt conditions: when any of them is true (its
	// expectation is met), the experiment is aborted and reverted at once.
	StopWhen []Probe `yaml:"stopWhen,omitempty" json:"stopWhen,omitempty"`
	// Safety limits the blast radius further than the target does.
	Safety Safety `yaml:"safety,omitempty" json:"safety,omitempty"`
}

// Hypothesis is the set of probes that describe the steady state.
type Hypothesis struct {
	Probes []Probe `yaml:"probes" json:"probes"`
}

// OnEmpty values: what an empty query result means.
const (
	OnEmptyFail = "fail"
	OnEmptyPass = "pass"
)

// Probe is one PromQL measurement with its expectation.
//
// In the hypothesis, the probe holds when every series of the result meets
// Expect. In stopWhen, the condition fires when any series meets Expect.
type Probe struct {
	Name  string `yaml:"name" json:"name"`
	Query string `yaml:"query" json:"query"`
	// Expect is the tolerance; exactly one comparator is set.
	Expect Expect `yaml:"expect" json:"expect"`
	// OnEmpty says what an empty result means: "fail" (default; an unknown
	// steady state is never read as healthy) or "pass".
	OnEmpty string `yaml:"onEmpty,omitempty" json:"onEmpty,omitempty"`
}

// Expect is a tolerance on a probe's value. Exactly one field is set.
type Expect struct {
	Below   *float64  `yaml:"below,omitempty" json:"below,omitempty"`     // value < x
	AtMost  *float64  `yaml:"atMost,omitempty" json:"atMost,omitempty"`   // value <= x
	Above   *float64  `yaml:"above,omitempty" json:"above,omitempty"`     // value > x
	AtLeast *float64  `yaml:"atLeast,omitempty" json:"atLeast,omitempty"` // value >= x
	Between []float64 `yaml:"between,omitempty" json:"between,omitempty"` // lo <= value <= hi
	Equals  *float64  `yaml:"equals,omitempty" json:"equals,omitempty"`   // value == x
}

// Target selects victim pods.
type Target struct {
	// Namespaces to select from (required; no wildcard: the blast radius is
	// always spelled out).
	Namespaces []string `yaml:"namespaces" json:"namespaces"`
	// Selector is a label selector in kubectl syntax (required, so that an
	// experiment never means "every pod").
	Selector string `yaml:"selector" json:"selector"`
	// FieldSelector is a field selector in kubectl syntax (optional).
	FieldSelector string `yaml:"fieldSelector,omitempty" json:"fieldSelector,omitempty"`
	// Pick says how many of the matching pods become targets. Default count 1.
	Pick Pick `yaml:"pick,omitempty" json:"pick,omitempty"`
	// MinAge excludes pods younger than this (optional).
	MinAge Duration `yaml:"minAge,omitempty" json:"minAge,omitempty"`
	// OnePerOwner picks at most one pod per owning workload.
	OnePerOwner bool `yaml:"onePerOwner,omitempty" json:"onePerOwner,omitempty"`
}

// Pick says how many matching pods become targets; exactly one field is set.
type Pick struct {
	Count   *int `yaml:"count,omitempty" json:"count,omitempty"`
	Percent *int `yaml:"percent,omitempty" json:"percent,omitempty"`
	All     bool `yaml:"all,omitempty" json:"all,omitempty"`
}

// Safety bounds the blast radius of one experiment.
type Safety struct {
	// MaxTargets caps how many pods one injection may touch. Default 10.
	MaxTargets int `yaml:"maxTargets,omitempty" json:"maxTargets,omitempty"`
	// MinHealthy is the number of ready pods every owning workload must
	// keep; a target whose loss would go below it is not touched. Default 1.
	MinHealthy *int `yaml:"minHealthy,omitempty" json:"minHealthy,omitempty"`
}

// Defaults applied at load time.
const (
	DefaultProbeInterval = 5 * time.Second
	DefaultRecovery      = time.Minute
	DefaultMaxTargets    = 10
	DefaultMinHealthy    = 1
)

// Duration is a time.Duration written as a Go duration string ("30s",
// "5m", "1h30m") in YAML and JSON.
type Duration struct {
	time.Duration
	// Raw is the text as written, kept so validation can quote it.
	Raw string `yaml:"-" json:"-"`
}
