package zoneoutage

import "github.com/chaosnight/chaosnight/pkg/experiment"

// Kind is the key under spec.action and the Injection.Kind of zone outages.
const Kind = "zoneOutage"

// Spec is the body of a zoneOutage action: drain every opted-in node of
// one availability zone.
type Spec struct {
	// Zone is the topology.kubernetes.io/zone to lose (optional; default:
	// one picked at random among the zones of the usable nodes).
	Zone string `yaml:"zone,omitempty" json:"zone,omitempty"`
	// Nodes narrows the nodes of the zone (optional).
	Nodes *ZoneNodes `yaml:"nodes,omitempty" json:"nodes,omitempty"`
	// GracePeriod overrides the evicted pods' termination grace period
	// (optional; whole seconds).
	GracePeriod *experiment.Duration `yaml:"gracePeriod,omitempty" json:"gracePeriod,omitempty"`
}

// ZoneNodes narrows the nodes a zone outage takes.
type ZoneNodes struct {
	// Selector is a node label selector in kubectl syntax.
	Selector string `yaml:"selector" json:"selector"`
}
