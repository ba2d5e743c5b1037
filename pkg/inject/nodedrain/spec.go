package nodedrain

import "github.com/chaosnight/chaosnight/pkg/experiment"

// Kind is the key under spec.action and the Injection.Kind of node drains.
const Kind = "nodeDrain"

// Spec is the body of a nodeDrain action: cordon the picked nodes and
// evict the targets that run on them.
type Spec struct {
	// Nodes says which nodes may be drained and how many.
	Nodes NodeSelection `yaml:"nodes" json:"nodes"`
	// GracePeriod overrides the evicted pods' termination grace period
	// (optional; whole seconds).
	GracePeriod *experiment.Duration `yaml:"gracePeriod,omitempty" json:"gracePeriod,omitempty"`
}

// NodeSelection picks nodes: a label selector, narrowed to the nodes
// opted in with chaosnight.dev/enabled=true, Ready and schedulable.
type NodeSelection struct {
	// Selector is a node label selector in kubectl syntax (required).
	Selector string `yaml:"selector" json:"selector"`
	// Pick is how many nodes to drain, among the usable ones that run at
	// least one target, with the rules of spec.target.pick (count, percent
	// or all; default count 1).
	Pick experiment.Pick `yaml:"pick,omitempty" json:"pick,omitempty"`
}
