package crd

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// The Go form of the status schemas in status.go: what the runner writes
// (through the status subresource only) and what tools read back. The JSON
// names are the schema's; TestStatusTypesMatchSchema keeps them in step.

// Condition types of an Experiment, designed for
// `kubectl wait --for=condition=TYPE[=false]` (docs/kubernetes-native.md).
const (
	// ConditionValid is True when the runner accepted the spec at
	// observedGeneration, False (reason ReasonInvalid) with the located
	// problems as message otherwise. ChaosNights have it too.
	ConditionValid = "Valid"
	// ConditionRunning is True while a run is in flight; False afterwards,
	// with the last verdict as reason.
	ConditionRunning = "Running"
	// ConditionHeld is True when the last finished run held its hypothesis,
	// False with the verdict as reason otherwise, and Unknown (reason
	// Running) while a run is in flight, so that waiting for it waits for
	// the run in flight, never a stale one.
	ConditionHeld = "Held"

	ReasonValid   = "Valid"
	ReasonInvalid = "Invalid"
	ReasonRunning = "Running"
)

// ExperimentStatus is an Experiment's status.
type ExperimentStatus struct {
	ObservedGeneration int64              `json:"observedGeneration,omitempty"`
	Conditions         []metav1.Condition `json:"conditions,omitempty"`
	LastRun            *LastRun           `json:"lastRun,omitempty"`
	NextRun            *metav1.Time       `json:"nextRun,omitempty"`
}

// LastRun is an Experiment's last run, as its journal records it.
type LastRun struct {
	ID         string       `json:"id,omitempty"`
	Verdict    string       `json:"verdict,omitempty"`
	Started    *metav1.Time `json:"started,omitempty"`
	Finished   *metav1.Time `json:"finished,omitempty"`
	Reasons    []string     `json:"reasons,omitempty"`
	Targets    *int         `json:"targets,omitempty"`
	Journal    string       `json:"journal,omitempty"`
	ReportURL  string       `json:"reportURL,omitempty"`
	TTDSeconds *float64     `json:"ttdSeconds,omitempty"`
	TTRSeconds *float64     `json:"ttrSeconds,omitempty"`
}

// ChaosNightStatus is a ChaosNight's status.
type ChaosNightStatus struct {
	ObservedGeneration int64              `json:"observedGeneration,omitempty"`
	Conditions         []metav1.Condition `json:"conditions,omitempty"`
	NextOpens          *metav1.Time       `json:"nextOpens,omitempty"`
	LastWindow         *LastWindow        `json:"lastWindow,omitempty"`
}

// LastWindow is a ChaosNight's last window.
type LastWindow struct {
	Opened  *metav1.Time `json:"opened,omitempty"`
	Closed  *metav1.Time `json:"closed,omitempty"`
	Played  *int         `json:"played,omitempty"`
	Planned []string     `json:"planned,omitempty"`
}
