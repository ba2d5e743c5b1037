package inject

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// Kind is one fault kind, complete: the format side (its YAML key, spec,
// defaults, validation, schema and words: experiment.FaultKind) and the
// injection side (its injector and the permissions it needs). Each kind is
// one package under pkg/inject; pkg/faults lists them, one line each. The
// engine, the CLI and the reports consult the Registry and never name a
// kind.
//
// A kind may also implement Repeater, Sweeper and AdmissionChecker; its
// injector may implement TargetPicker.
type Kind interface {
	experiment.FaultKind
	// Injector builds the injector for one run of exp, whose action is of
	// this kind. It is called once per run, before the targets are
	// picked, so an injector may keep what it chose (TargetPicker).
	Injector(env Env, exp *experiment.Experiment) (Injector, error)
	// Access lists the permissions the fault needs in target namespace
	// ns (Namespace "" for cluster-scoped ones), for doctor and the
	// chart's RBAC tests. The Guard's own are GuardAccess.
	Access(spec any, ns string) []Access
}

// Env is what the program gives every injector.
type Env struct {
	Client kubernetes.Interface
	// REST is the client configuration (exec needs it); nil where no
	// injector of the kind will exec.
	REST *rest.Config
	// HelperImage is the image of the containers chaosnight runs in the
	// cluster (the stressor).
	HelperImage string
	// StartTimeout bounds how long an in-cluster helper may take to start
	// (0: the kind's default).
	StartTimeout time.Duration
	// Lease is the "namespace/name" of the Lease that proves the run (or
	// serve) alive to the orphan sweep; empty leaves objects that outlive
	// a crash to their own deadlines.
	Lease string
	Log   *slog.Logger
}

// Repeater is a kind whose fault repeats, with a fresh selection, during
// the experiment's duration (podKill.every).
type Repeater interface {
	// Every is the period; 0 injects once.
	Every(spec any) time.Duration
}

// TargetPicker is an injector that chooses its own targets among the
// eligible pods instead of spec.target.pick (a node drain picks nodes,
// then takes the eligible pods on them). The note says what was chosen,
// for the select phase's journal note ("node n-2 (zone-b)").
type TargetPicker interface {
	PickTargets(ctx context.Context, eligible []target.Pod, rng *rand.Rand) (picked []target.Pod, note string, err error)
}

// Sweeper is a kind whose injections leave objects in the cluster that a
// crashed run (SIGKILL, a lost node) cannot revert: helper pods, cordoned
// nodes. Sweep removes those whose run is gone (its Lease expired) or
// whose deadline passed; run and serve call it before anything new starts
// and keep a run Lease for as long as they run.
type Sweeper interface {
	Sweep(ctx context.Context, env Env, scope SweepScope) error
}

// SharedSweeper is a Sweeper whose objects another kind's sweep also
// removes (zoneOutage's cordons are nodeDrain's): when that kind is
// registered too, the registry runs its sweep only, once.
type SharedSweeper interface {
	SweptBy() string // the name of the kind whose sweep covers this one's
}

// SweepScope says where a Sweeper looks.
type SweepScope struct {
	// Namespaces to look in; nil means the whole cluster.
	Namespaces []string
	// LeaseNamespace is where run Leases live (the runner's namespace).
	LeaseNamespace string
	// DryRun reports what would be removed and removes nothing.
	DryRun bool
}

// AdmissionChecker is a kind that can send, as a server-side dry run,
// exactly what a run would send for target p, so that doctor can tell
// whether admission (Pod Security, policies, webhooks, PDBs) lets it pass.
// What names the request in words ("eviction of pod shop/a").
type AdmissionChecker interface {
	DryRunAdmission(ctx context.Context, env Env, exp *experiment.Experiment, p target.Pod) (what string, err error)
}

// NodeChecker is a kind that acts on its targets' nodes; doctor then
// checks the node of a target (opt-in label, readiness).
type NodeChecker interface {
	UsesNodes(spec any) bool
}

// Registry holds the fault kinds a program may run.
type Registry struct {
	formats *experiment.Kinds
	kinds   map[string]Kind
	order   []Kind
}

// NewRegistry registers kinds; two kinds with one name is an error.
func NewRegistry(kinds ...Kind) (*Registry, error) {
	formats := make([]experiment.FaultKind, len(kinds))
	r := &Registry{kinds: make(map[string]Kind, len(kinds)), order: kinds}
	for i, k := range kinds {
		formats[i] = k
		r.kinds[k.Name()] = k
	}
	f, err := experiment.NewKinds(formats...)
	if err != nil {
		return nil, err
	}
	r.formats = f
	return r, nil
}

// Formats is the format side of the registry, for loading experiments.
func (r *Registry) Formats() *experiment.Kinds { return r.formats }

// All lists the kinds in registration order.
func (r *Registry) All() []Kind { return append([]Kind(nil), r.order...) }

// Of returns the kind of an action.
func (r *Registry) Of(a experiment.Action) (Kind, error) {
	k, ok := r.kinds[a.Kind]
	if !ok {
		return nil, fmt.Errorf("fault kind %q is not registered in this program (known: %v)", a.Kind, r.formats.Names())
	}
	return k, nil
}

// Injector builds the injector of exp's action.
func (r *Registry) Injector(env Env, exp *experiment.Experiment) (Injector, error) {
	k, err := r.Of(exp.Spec.Action)
	if err != nil {
		return nil, err
	}
	if exp.Spec.Action.Spec == nil {
		return nil, fmt.Errorf("the %s action has no spec", exp.Spec.Action.Kind)
	}
	return k.Injector(env, exp)
}

// Every is the repeat period of exp's action (0: inject once).
func (r *Registry) Every(a experiment.Action) time.Duration {
	k, err := r.Of(a)
	if err != nil || a.Spec == nil {
		return 0
	}
	if rep, ok := k.(Repeater); ok {
		return rep.Every(a.Spec)
	}
	return 0
}

// Sweepers lists the kinds that leave objects behind a crash, each sweep
// once (see SharedSweeper).
func (r *Registry) Sweepers() []Sweeper {
	var out []Sweeper
	for _, k := range r.order {
		s, ok := k.(Sweeper)
		if !ok {
			continue
		}
		if sh, ok := k.(SharedSweeper); ok {
			if other, ok := r.kinds[sh.SweptBy()]; ok {
				if _, sweeps := other.(Sweeper); sweeps {
					continue
				}
			}
		}
		out = append(out, s)
	}
	return out
}

// NeedsLease reports whether a run of action a should keep a run Lease:
// its kind leaves objects that only the Lease protects from the sweep.
func (r *Registry) NeedsLease(a experiment.Action) bool {
	k, err := r.Of(a)
	if err != nil {
		return false
	}
	_, ok := k.(Sweeper)
	return ok
}
