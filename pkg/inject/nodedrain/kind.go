package nodedrain

import (
	"context"
	_ "embed" // schema.json
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// schemaJSON is generated from Spec by TestSchemaIsGenerated (go test
// ./pkg/inject/nodedrain -run TestSchema -update).
//
//go:embed schema.json
var schemaJSON []byte

// RevertMargin is added to the experiment's duration for a cordon's
// deadline: the revert's chance to uncordon before a sweep may.
const RevertMargin = time.Minute

// RevertWords is what the revert of a drain does, in words.
const RevertWords = "the nodes are uncordoned; the evicted pods are not brought back (their controllers replace them)"

// Fault is the nodeDrain fault kind; pkg/faults registers it.
type Fault struct{ experiment.SpecType[Spec] }

var (
	_ inject.Kind             = Fault{}
	_ inject.Sweeper          = Fault{}
	_ inject.NodeChecker      = Fault{}
	_ inject.AdmissionChecker = Fault{}
	_ inject.TargetPicker     = (*Injector)(nil)
)

// Name implements experiment.FaultKind.
func (Fault) Name() string { return Kind }

func specOf(spec any) *Spec { return experiment.SpecAs[Spec](spec) }

// Default implements experiment.FaultKind: nothing to fill (pick without
// a mode takes one node, like spec.target.pick).
func (Fault) Default(any) {}

// Validate implements experiment.FaultKind.
func (Fault) Validate(c *experiment.ActionCheck, spec any) {
	s := specOf(spec)
	CheckNodeSelector(c, "nodes.selector", s.Nodes.Selector, true)
	c.Pick("nodes.pick", &s.Nodes.Pick)
	CheckGracePeriod(c, "gracePeriod", s.GracePeriod)
}

// CheckNodeSelector checks a node label selector at field rel; required
// says whether it must be written.
func CheckNodeSelector(c *experiment.ActionCheck, rel, sel string, required bool) {
	if strings.TrimSpace(sel) == "" {
		if required {
			c.Add(rel, "required (a node label selector in kubectl syntax such as node-role.kubernetes.io/worker; only nodes labelled %s=true are ever drained)", inject.OptInLabel)
		}
		return
	}
	if _, err := labels.Parse(sel); err != nil {
		c.Add(rel, "invalid node label selector %s: %v", experiment.QuoteValue(sel), err)
	}
}

// CheckGracePeriod checks an optional grace period at field rel: not
// negative, whole seconds.
func CheckGracePeriod(c *experiment.ActionCheck, rel string, g *experiment.Duration) {
	if g == nil {
		return
	}
	if d, ok := c.Duration(rel, *g, false, false); ok && d%time.Second != 0 {
		// The API takes whole seconds; truncating 500ms to 0 would turn a
		// gentle eviction into an immediate one.
		c.Add(rel, "%s is not a whole number of seconds (Kubernetes counts grace periods in seconds)", g)
	}
}

// Describe implements experiment.FaultKind: "node drain (1 node)",
// "node drain (25% of the nodes)", "node drain (all nodes)".
func (Fault) Describe(spec any) experiment.Words {
	return experiment.Words{Action: "node drain (" + PickWords(specOf(spec).Nodes.Pick) + ")", Revert: RevertWords}
}

// PickWords says how many nodes a pick takes.
func PickWords(p experiment.Pick) string {
	switch {
	case p.All:
		return "all nodes"
	case p.Percent != nil:
		return fmt.Sprintf("%d%% of the nodes", *p.Percent)
	case p.Count != nil && *p.Count != 1:
		return fmt.Sprintf("%d nodes", *p.Count)
	}
	return "1 node"
}

// Schema implements experiment.FaultKind.
func (Fault) Schema() experiment.KindSchema { return experiment.ParseKindSchema(schemaJSON) }

// Injector implements inject.Kind.
func (Fault) Injector(env inject.Env, exp *experiment.Experiment) (inject.Injector, error) {
	s := specOf(exp.Spec.Action.Spec)
	return &Injector{Drainer: NewDrainer(env, exp, Kind, s.GracePeriod), Spec: *s}, nil
}

// NewDrainer builds the Drainer of one run of exp: env's client and
// Lease, the grace period, and a hold of the experiment's duration plus
// RevertMargin.
func NewDrainer(env inject.Env, exp *experiment.Experiment, kind string, grace *experiment.Duration) Drainer {
	var g *time.Duration
	if grace != nil {
		d := grace.Duration
		g = &d
	}
	return Drainer{Client: env.Client, Kind: kind, GracePeriod: g, Hold: exp.Spec.Duration.Duration + RevertMargin, Lease: env.Lease}
}

// Access implements inject.Kind.
func (Fault) Access(_ any, ns string) []inject.Access { return Access(ns) }

// UsesNodes implements inject.NodeChecker.
func (Fault) UsesNodes(any) bool { return true }

// Sweep implements inject.Sweeper: nodes left cordoned by crashed runs.
// Nodes are cluster-scoped, so scope's namespaces do not narrow it.
func (Fault) Sweep(ctx context.Context, env inject.Env, scope inject.SweepScope) error {
	_, err := Sweep(ctx, env.Client, SweepConfig{DryRun: scope.DryRun, Log: env.Log})
	return err
}

// DryRunAdmission implements inject.AdmissionChecker: the eviction of p,
// with dryRun=All (a cordon has no admission worth asking about).
func (Fault) DryRunAdmission(ctx context.Context, env inject.Env, _ *experiment.Experiment, p target.Pod) (string, error) {
	return DryRunEviction(ctx, env, p)
}

// DryRunEviction sends the eviction of p with dryRun=All.
func DryRunEviction(ctx context.Context, env inject.Env, p target.Pod) (string, error) {
	uid := types.UID(p.UID)
	return "eviction of pod " + p.Key(), env.Client.PolicyV1().Evictions(p.Namespace).Evict(ctx, &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name},
		DeleteOptions: &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}, Preconditions: &metav1.Preconditions{UID: &uid}},
	})
}

// Injector is the nodeDrain injector of one run: PickTargets chooses the
// nodes, Inject drains them.
type Injector struct {
	Drainer
	Spec Spec

	nodes  []Node // chosen by PickTargets
	picked bool
}

// Kind implements inject.Injector.
func (in *Injector) Kind() string { return Kind }

// PickTargets implements inject.TargetPicker: it picks nodes among the
// usable ones (see UsableNodes) that run at least one target a drain
// evicts (PodsOn), so that "count: 1" drains a node of the service under
// test rather than, most nights, a node where it has nothing; and it
// returns those targets. No such node returns no pod and a note that says
// why; the engine then skips the run.
func (in *Injector) PickTargets(ctx context.Context, eligible []target.Pod, rng *rand.Rand) ([]target.Pod, string, error) {
	usable, skipped, err := UsableNodes(ctx, in.Client, in.Spec.Nodes.Selector)
	if err != nil {
		return nil, "", fmt.Errorf("node drain: %w", err)
	}
	in.picked = true
	var hosting []Node
	for _, n := range usable {
		if len(PodsOn(eligible, []Node{n})) > 0 {
			hosting = append(hosting, n)
		}
	}
	in.nodes = PickNodes(hosting, in.Spec.Nodes.Pick, rng)
	if len(in.nodes) == 0 {
		note := fmt.Sprintf("no node to drain: no node matching %q with %s=true, Ready and schedulable runs a target (usable nodes: %d)",
			in.Spec.Nodes.Selector, inject.OptInLabel, len(usable))
		if s := skippedWords(skipped); s != "" {
			note += "; " + s
		}
		return nil, note, nil
	}
	pods := PodsOn(eligible, in.nodes)
	return pods, fmt.Sprintf("%s (%d of %d usable nodes that run targets); %s", nodeWords(Names(in.nodes)), len(in.nodes), len(hosting),
		TargetWords(len(pods), len(in.nodes))), nil
}

// Inject implements inject.Injector: it drains the nodes PickTargets
// chose, evicting pods (the ones the Guard admitted).
func (in *Injector) Inject(ctx context.Context, run inject.Run, pods []target.Pod) (inject.Injection, error) {
	if !in.picked {
		return inject.Injection{Run: run, Kind: Kind, At: in.now()}, fmt.Errorf("node drain: Inject before PickTargets: no node chosen")
	}
	return in.Drain(ctx, run, Names(in.nodes), pods)
}

// Revert implements inject.Injector.
func (in *Injector) Revert(ctx context.Context, inj inject.Injection) error {
	return in.Drainer.Revert(ctx, inj)
}
