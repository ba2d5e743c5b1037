package stress

import (
	"errors"

	corev1 "k8s.io/api/core/v1"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// Access is what a stress calls in a target namespace: scope pod updates
// pods/ephemeralcontainers (the stress container) and creates pods/exec
// (the early stop on revert); scope node gets the node (its opt-in label)
// and creates and deletes the helper pods.
func Access(spec Spec, namespace string) []inject.Access {
	var out []inject.Access
	if spec.Scope == ScopeNode {
		out = append(out,
			inject.Access{Verb: "create", Resource: "pods", Namespace: namespace, Why: "create the helper pod on each target's node"},
			inject.Access{Verb: "delete", Resource: "pods", Namespace: namespace, Why: "delete the helper pods on revert"},
			inject.Access{Verb: "get", Resource: "nodes", Why: "read each node's " + NodeOptInLabel + " label"},
		)
	} else {
		out = append(out,
			inject.Access{Verb: "update", Resource: "pods", Subresource: "ephemeralcontainers", Namespace: namespace, Why: "add the stress ephemeral container"},
			inject.Access{Verb: "create", Resource: "pods", Subresource: "exec", Namespace: namespace, Why: "stop the stress early on revert (chaosnight-stress stop)"},
		)
	}
	return out
}

// LeaseAccess is what a stress run does in its own namespace (the
// context's): create, renew and delete its RunLease, and the orphan sweep
// lists the Leases.
func LeaseAccess(namespace string) []inject.Access {
	var out []inject.Access
	for _, verb := range []string{"create", "get", "update", "delete", "list"} {
		out = append(out, inject.Access{Verb: verb, Group: "coordination.k8s.io", Resource: "leases", Namespace: namespace,
			Why: "keep the run's Lease, which keeps its helpers from the orphan sweep"})
	}
	return out
}

// EphemeralContainer is exactly the container Inject adds to every target
// of run (scope pod), for a server-side dry run.
func (s *Injector) EphemeralContainer(run inject.Run) (corev1.EphemeralContainer, error) {
	p, err := s.plan(run)
	if err != nil {
		return corev1.EphemeralContainer{}, err
	}
	return s.ephemeralContainer(p), nil
}

// HelperPod is exactly the helper pod Inject creates on node for the
// targets on it (scope node), in the first target's namespace, for a
// server-side dry run.
func (s *Injector) HelperPod(run inject.Run, node string, on []target.Pod) (*corev1.Pod, error) {
	if len(on) == 0 {
		return nil, errors.New("stress: a helper pod needs at least one target")
	}
	p, err := s.plan(run)
	if err != nil {
		return nil, err
	}
	name, err := HelperName(run.ID, node)
	if err != nil {
		return nil, err
	}
	return s.helperPod(p, name, on[0].Namespace, node, on), nil
}
