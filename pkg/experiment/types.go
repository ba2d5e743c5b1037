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
	// Object is set when the experiment was read from a custom resource
	// in the cluster (File then names it); nil for a file.
	Object *ObjectRef
}

// ObjectRef names the custom resource an experiment (or a night) was read
// from, at the generation that was read: status written about a run says
// which spec it played.
type ObjectRef struct {
	Namespace  string
	Name       string
	UID        string
	Generation int64
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
	// Detect lists the alerts the monitoring must raise because of the
	// fault: a chaos night also tests that somebody would have noticed.
	// An alert that does not fire within its bound is a detection gap
	// (verdict deviated); one already firing before the fault makes the
	// run skipped (the steady state was not quiet).
	Detect []Detection `yaml:"detect,omitempty" json:"detect,omitempty"`
}

// Detection is one alert the monitoring must raise, read from the ALERTS
// series of the experiment's Prometheus (no Alertmanager needed).
type Detection struct {
	// Alert is the alerting rule's name (the alertname label).
	Alert string `yaml:"alert" json:"alert"`
	// Labels the alert must carry (all of them, exact values), e.g. the
	// namespace of the target.
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	// Within is how long after the fault started the alert must be firing.
	Within Duration `yaml:"within" json:"within"`
	// ResolveWithin is how long after the revert the alert must have
	// resolved (optional: not checked when absent).
	ResolveWithin Duration `yaml:"resolveWithin,omitempty" json:"resolveWithin,omitempty"`
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
	// Baseline bounds the value relative to what it was before the fault
	// (hypothesis probes only).
	Baseline *Baseline `yaml:"baseline,omitempty" json:"baseline,omitempty"`
}

// Baseline is a tolerance relative to the system's own recent past: the
// median of each series over Window before the run (a range query at the
// probe interval), against which every later value of the same series is
// compared. At least one of MaxIncrease and MaxDecrease is set.
type Baseline struct {
	// Window is how far back the baseline is measured (required), e.g. 10m.
	Window Duration `yaml:"window" json:"window"`
	// MaxIncrease is how far above the baseline median a value may go: a
	// percentage of the median ("20%") or an amount in the query's unit
	// ("0.05").
	MaxIncrease string `yaml:"maxIncrease,omitempty" json:"maxIncrease,omitempty"`
	// MaxDecrease is how far below the baseline median a value may go, in
	// the same forms.
	MaxDecrease string `yaml:"maxDecrease,omitempty" json:"maxDecrease,omitempty"`
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
