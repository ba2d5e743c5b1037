// Package target selects victim pods: server-side LIST with label and field
// selectors, then pure filters and a seeded pick over a slim Pod value that
// keeps only what a plan needs.
package target

import "time"

// Owner is the controller that owns a pod (its controller ownerReference).
type Owner struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// Pod is what chaosnight keeps of a pod: enough to plan, guard, inject and
// report, and small enough that listing 10,000 pods stays cheap.
type Pod struct {
	Namespace   string            `json:"namespace"`
	Name        string            `json:"name"`
	UID         string            `json:"uid"`
	Node        string            `json:"node,omitempty"`
	Owner       *Owner            `json:"owner,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Created     time.Time         `json:"created"`
	Phase       string            `json:"phase"`
	Ready       bool              `json:"ready"`
	Terminating bool              `json:"terminating,omitempty"`
	// Containers names the pod's regular containers (for stress injection).
	Containers []string `json:"containers,omitempty"`
}

// Key is namespace/name.
func (p Pod) Key() string { return p.Namespace + "/" + p.Name }
