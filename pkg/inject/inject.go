// Package inject defines the Injector interface and the Guard: the one
// choke point every injection passes, where the namespace deny list, the
// opt-in label, maxTargets, minHealthy, dry run and the kill switch are
// enforced, once, and where every victim gets a Kubernetes Event.
package inject

import (
	"context"
	"time"

	"github.com/chaosnight/chaosnight/pkg/target"
)

// Run identifies the experiment run an injection belongs to.
type Run struct {
	ID         string // unique per run; labels helper objects, named in Events
	Experiment string // metadata.name of the experiment
}

// Outcome statuses.
const (
	StatusKilled    = "killed"           // deleted
	StatusEvicted   = "evicted"          // evicted through the Eviction API
	StatusProtected = "protected-by-pdb" // eviction refused by a PodDisruptionBudget (HTTP 429)
	StatusRefused   = "refused"          // refused by the guard (Detail says which rule)
	StatusDryRun    = "dry-run"          // would have been injected
	StatusGone      = "gone"             // the pod disappeared before the injection
	StatusFailed    = "failed"           // the API call failed (Detail has the error)
	StatusStressed  = "stressed"         // stress started
)

// Outcome is what happened to one target.
type Outcome struct {
	Pod    target.Pod `json:"pod"`
	Status string     `json:"status"`
	Detail string     `json:"detail,omitempty"`
	At     time.Time  `json:"at"`
}

// Injection records what an injection did, with enough detail to revert it,
// also from a journal after a crash.
type Injection struct {
	Run      Run       `json:"run"`
	Kind     string    `json:"kind"` // "podKill", "stress"
	At       time.Time `json:"at"`
	Outcomes []Outcome `json:"outcomes"`
	// Collateral lists, per node a node-scope injection stresses (or, in
	// dry run, would), the other pods that share it (see Admitter).
	Collateral []Collateral `json:"collateral,omitempty"`
	// State is injector-specific revert data (e.g. helper pod names).
	State map[string]string `json:"state,omitempty"`
	// Policy is the operator policy the Guard applied: the effective
	// limits and their sources, the protected namespaces, and the system
	// namespaces the operator lifted from the floor. Set by the Guard.
	Policy *AppliedPolicy `json:"policy,omitempty"`
	// Counting says where minHealthy's ready counts came from and how many
	// API requests the fresh reads cost (nil when minHealthy is 0 or no
	// target reached it). Set by the Guard.
	Counting *Counting `json:"counting,omitempty"`
}

// Injector applies one fault to already-admitted targets. Revert must be
// idempotent and safe to call after a crash.
type Injector interface {
	Kind() string
	Inject(ctx context.Context, run Run, targets []target.Pod) (Injection, error)
	Revert(ctx context.Context, inj Injection) error
}

// StateDeadline is the Injection.State key, in RFC 3339, of the instant an
// injection ends by itself if nobody reverts it (a stressor's deadline). A
// revert that fails leaves it in effect until then at most.
const StateDeadline = "deadline"

// LeftoverError is an error of Revert that names what is still in effect
// (check with errors.As): each item, and when it ends by itself (zero:
// unknown).
type LeftoverError interface {
	error
	Leftovers() (items []Leftover, until time.Time)
}

// Leftover is one thing a revert could not undo.
type Leftover struct {
	What string // "ephemeral container C of pod NS/NAME", "node n-1 cordoned"
	Err  error
}
