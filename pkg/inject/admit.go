package inject

import (
	"context"
	"log/slog"

	"github.com/chaosnight/chaosnight/pkg/target"
)

// RuleNodeOptIn refuses a target whose node an injection would stress
// (node-scope stress) when that node is not labelled OptInLabel=true, or
// cannot be read. Stressing a node reaches every pod on it, whatever its
// namespace, so the node itself must say yes, as a namespace does.
const RuleNodeOptIn = "nodeOptIn"

// Admitter is implemented by injectors whose fault reaches beyond the
// target pods (node-scope stress reaches every pod on the node). The
// Guard calls Admit after its own rules and before dry run, with the
// targets still admitted, so that the injector's rules refuse in dry run
// too and the plan shows the collateral of what would be touched.
// Admit must not change anything.
type Admitter interface {
	Admit(ctx context.Context, run Run, targets []target.Pod) Admission
}

// Refusal is why a rule refused a target: the rule as a value a program
// checks (RuleNodeOptIn, ...), the reason in words. An Outcome's Detail is
// its String.
type Refusal struct {
	Rule string
	Why  string
}

// String is "rule: why", the form of every refused Outcome's Detail.
func (r Refusal) String() string { return r.Rule + ": " + r.Why }

// Admission is an Admitter's answer for one injection.
type Admission struct {
	// Refused maps the UID of each refused target to its refusal. A
	// target not in it stays admitted.
	Refused map[string]Refusal
	// Collateral is what the admitted targets' injection also reaches.
	Collateral []Collateral
}

// Collateral is one node an injection stresses and the pods on it that
// are neither targets nor of the targets' workloads: pods of other
// namespaces and workloads that share the node and so share the fault.
type Collateral struct {
	Node string          `json:"node"`
	Pods []CollateralPod `json:"pods,omitempty"`
	// Error says why the node's pods could not all be listed: with Pods
	// empty the collateral is unknown (which is not the same as none);
	// with Pods, they are the part that could be listed (for example the
	// targets' namespaces, without the right to list pods in every
	// namespace).
	Error string `json:"error,omitempty"`
}

// CollateralPod is one pod that shares a stressed node.
type CollateralPod struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Workload is the pod's controller, "ReplicaSet checkout-7d9"; empty
	// for a pod without one.
	Workload string `json:"workload,omitempty"`
}

// Key is namespace/name.
func (p CollateralPod) Key() string { return p.Namespace + "/" + p.Name }

// admit asks req.Injector, when it is an Admitter, about the targets
// still admitted (idx), refuses those it refuses and returns the
// collateral of the others.
func (g *Guard) admit(ctx context.Context, req Request, vs []verdict, idx []int, log *slog.Logger) []Collateral {
	a, ok := req.Injector.(Admitter)
	if !ok || len(idx) == 0 {
		return nil
	}
	targets := make([]target.Pod, len(idx))
	for k, i := range idx {
		targets[k] = vs[i].pod
	}
	res := a.Admit(ctx, req.Run, targets)
	for _, i := range idx {
		if r, refused := res.Refused[vs[i].pod.UID]; refused {
			vs[i].refuse(r)
		}
	}
	for _, c := range res.Collateral {
		log.Info("collateral", "node", c.Node, "pods", len(c.Pods), "error", c.Error)
	}
	return res.Collateral
}
