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
	// Action is the fault to inject; exactly one kind is set.
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

// Action is the fault; exactly one field is set.
type Action struct {
	PodKill *PodKill `yaml:"podKill,omitempty" json:"podKill,omitempty"`
	Stress  *Stress  `yaml:"stress,omitempty" json:"stress,omitempty"`
}

// Pod kill methods.
const (
	MethodEvict  = "evict"
	MethodDelete = "delete"
)

// PodKill deletes or evicts the targets.
type PodKill struct {
	// Method is "evict" (default: the Eviction API, so PodDisruptionBudgets
	// hold) or "delete".
	Method string `yaml:"method,omitempty" json:"method,omitempty"`
	// GracePeriod overrides the pod's termination grace period (optional).
	GracePeriod *Duration `yaml:"gracePeriod,omitempty" json:"gracePeriod,omitempty"`
	// Every repeats the kill (with a fresh selection) at this period during
	// Duration; zero means kill once.
	Every Duration `yaml:"every,omitempty" json:"every,omitempty"`
}

// Stress scopes.
const (
	ScopePod  = "pod"
	ScopeNode = "node"
)

// Stress burns CPU, holds memory and/or fills and loads a disk in the
// target pods (scope pod, through an ephemeral container) or on their
// nodes (scope node, through a helper pod). At least one of CPU, Memory
// and Disk is set.
type Stress struct {
	Scope  string        `yaml:"scope,omitempty" json:"scope,omitempty"` // pod (default) | node
	CPU    *CPUStress    `yaml:"cpu,omitempty" json:"cpu,omitempty"`
	Memory *MemoryStress `yaml:"memory,omitempty" json:"memory,omitempty"`
	Disk   *DiskStress   `yaml:"disk,omitempty" json:"disk,omitempty"`
}

// DiskStress fills storage and/or puts it under I/O pressure. Where it
// writes depends on the scope:
//
//   - scope pod with Volume: into that existing volume of the target pod
//     (an emptyDir or a PVC), mounted into the ephemeral container at
//     DiskVolumeMountPath, so the pod's ephemeral-storage accounting (or
//     the PVC) fills as in a real incident;
//   - scope pod without Volume: into the ephemeral container's own
//     writable layer, under Path (default DefaultDiskPodPath), which also
//     counts towards the pod's ephemeral storage;
//   - scope node: into an emptyDir of the helper pod mounted at Path
//     (default DiskVolumeMountPath), that is the node's kubelet root disk.
//
// At least one of Fill and IO is set. Everything written is removed on
// revert.
type DiskStress struct {
	// Fill is how much to write and hold: a Kubernetes quantity (2Gi) or
	// the filesystem's used percentage to reach ("90%", 1..99).
	Fill string `yaml:"fill,omitempty" json:"fill,omitempty"`
	// Path is the absolute directory to write under (not with Volume).
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// Volume names one of the target pod's volumes (scope pod only).
	Volume string `yaml:"volume,omitempty" json:"volume,omitempty"`
	// IO adds sustained write+fsync and read load.
	IO *DiskIO `yaml:"io,omitempty" json:"io,omitempty"`
	// AllowNodePressure lets a node-scope disk stress leave the node
	// filesystem under the kubelet's default hard eviction threshold
	// (nodefs.available < 10 %), where the kubelet starts evicting the
	// node's pods. Without it such a stress is refused (scope node only).
	AllowNodePressure bool `yaml:"allowNodePressure,omitempty" json:"allowNodePressure,omitempty"`
}

// DiskIO is the I/O load: workers each writing (with fsync) and reading
// back a file of at most 64Mi, over and over.
type DiskIO struct {
	Workers int `yaml:"workers,omitempty" json:"workers,omitempty"` // 1..32, default 1
}

// Where a disk stress writes when the experiment does not say.
const (
	// DiskVolumeMountPath is where a named volume (scope pod) or the
	// helper pod's emptyDir (scope node) is mounted.
	DiskVolumeMountPath = "/chaosnight/disk"
	// DefaultDiskPodPath is the directory in the ephemeral container's
	// own writable layer (scope pod without a volume).
	DefaultDiskPodPath   = "/tmp"
	DefaultDiskIOWorkers = 1
)

// CPUStress is a duty-cycle CPU load.
type CPUStress struct {
	Workers int `yaml:"workers,omitempty" json:"workers,omitempty"` // 1..64, default 1
	Load    int `yaml:"load,omitempty" json:"load,omitempty"`       // percent of one core per worker, 1..100, default 100
}

// MemoryStress allocates and holds memory.
type MemoryStress struct {
	// Size is a Kubernetes quantity (for example 256Mi), 1Mi..64Gi.
	Size string `yaml:"size" json:"size"`
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
	DefaultCPUWorkers    = 1
	DefaultCPULoad       = 100
)

// Duration is a time.Duration written as a Go duration string ("30s",
// "5m", "1h30m") in YAML and JSON.
type Duration struct {
	time.Duration
	// Raw is the text as written, kept so validation can quote it.
	Raw string `yaml:"-" json:"-"`
}
