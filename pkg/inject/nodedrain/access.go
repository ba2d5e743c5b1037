package nodedrain

import "github.com/chaosnight/chaosnight/pkg/inject"

// Access is what a drain calls: on nodes (cluster-scoped) get and list to
// choose them, patch to cordon and uncordon; create on pods/eviction in
// target namespace ns; get on leases to tell a crashed run's cordons in
// the sweep (in the runner's own namespace, where run Leases live, which
// the runner already reads for the stress sweep).
func Access(ns string) []inject.Access {
	return []inject.Access{
		{Verb: "list", Resource: "nodes", Why: "choose the nodes to drain (and find cordons left by a crashed run)"},
		{Verb: "get", Resource: "nodes", Why: "read a node before cordoning or uncordoning it"},
		{Verb: "patch", Resource: "nodes", Why: "cordon the drained nodes and uncordon them at revert"},
		{Verb: "create", Resource: "pods", Subresource: "eviction", Namespace: ns, Why: "evict the targets from the drained nodes"},
	}
}
