// Package zoneoutage is the zoneOutage fault kind: "lose an availability
// zone". It drains, with pkg/inject/nodedrain's mechanics, every node of
// one topology zone (label topology.kubernetes.io/zone) at once.
//
// The zone is spec.action.zoneOutage.zone, or, when unset, one picked with
// the run's random source among the zones of the usable nodes: nodes
// labelled chaosnight.dev/enabled=true (node opt-in; a node without it is
// never touched), Ready and not already cordoned, narrowed by nodes.selector
// when set. Nodes without a zone label belong to no zone and are never
// taken. Every usable node of the zone is cordoned with the run's
// annotations, then the eligible pods of spec.target on those nodes
// (minus DaemonSet and mirror pods) go through the Guard, whose limits
// (maxTargets, minHealthy per workload, opt-in namespaces) bound the
// evictions, and are evicted through the Eviction API (PodDisruptionBudgets
// hold). Revert uncordons the nodes the run cordoned; the nodeDrain sweep
// uncordons those of a crashed run (this kind sweeps the same way).
package zoneoutage

import (
	"context"
	_ "embed" // schema.json
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/nodedrain"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// schemaJSON is generated from Spec by TestSchemaIsGenerated (go test
// ./pkg/inject/zoneoutage -run TestSchema -update).
//
//go:embed schema.json
var schemaJSON []byte

// Fault is the zoneOutage fault kind; pkg/faults registers it.
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

// Default implements experiment.FaultKind: nothing to fill (no zone means
// a random one, decided at run time).
func (Fault) Default(any) {}

// Validate implements experiment.FaultKind.
func (Fault) Validate(c *experiment.ActionCheck, spec any) {
	s := specOf(spec)
	if s.Zone != "" {
		if errs := validation.IsValidLabelValue(s.Zone); len(errs) > 0 {
			c.Add("zone", "invalid zone %s (a label value of %s): %s", experiment.QuoteValue(s.Zone), nodedrain.ZoneLabel, strings.Join(errs, "; "))
		}
	}
	if s.Nodes != nil {
		// Written, so meant to narrow: an empty selector narrows nothing.
		nodedrain.CheckNodeSelector(c, "nodes.selector", s.Nodes.Selector, true)
	}
	nodedrain.CheckGracePeriod(c, "gracePeriod", s.GracePeriod)
}

// Describe implements experiment.FaultKind: "zone outage (zone
// eu-west-1a)" or "zone outage (a random zone)".
func (Fault) Describe(spec any) experiment.Words {
	s := specOf(spec)
	what := "a random zone"
	if s.Zone != "" {
		what = "zone " + s.Zone
	}
	if s.Nodes != nil && s.Nodes.Selector != "" {
		what += ", nodes " + s.Nodes.Selector
	}
	return experiment.Words{Action: "zone outage (" + what + ")", Revert: nodedrain.RevertWords}
}

// Schema implements experiment.FaultKind.
func (Fault) Schema() experiment.KindSchema { return experiment.ParseKindSchema(schemaJSON) }

// Injector implements inject.Kind.
func (Fault) Injector(env inject.Env, exp *experiment.Experiment) (inject.Injector, error) {
	s := specOf(exp.Spec.Action.Spec)
	return &Injector{Drainer: nodedrain.NewDrainer(env, exp, Kind, s.GracePeriod), Spec: *s}, nil
}

// Access implements inject.Kind: the same as a node drain.
func (Fault) Access(_ any, ns string) []inject.Access { return nodedrain.Access(ns) }

// UsesNodes implements inject.NodeChecker.
func (Fault) UsesNodes(any) bool { return true }

// SweptBy implements inject.SharedSweeper: the cordons are nodeDrain's
// (same annotations), so with nodeDrain registered its sweep covers them.
func (Fault) SweptBy() string { return nodedrain.Kind }

// Sweep implements inject.Sweeper: the nodeDrain sweep, which recognises
// every cordon a drain left, whatever its kind; it runs when zoneOutage is
// registered without nodeDrain.
func (Fault) Sweep(ctx context.Context, env inject.Env, scope inject.SweepScope) error {
	_, err := nodedrain.Sweep(ctx, env.Client, nodedrain.SweepConfig{DryRun: scope.DryRun, Log: env.Log})
	return err
}

// DryRunAdmission implements inject.AdmissionChecker: the eviction of p,
// with dryRun=All.
func (Fault) DryRunAdmission(ctx context.Context, env inject.Env, _ *experiment.Experiment, p target.Pod) (string, error) {
	return nodedrain.DryRunEviction(ctx, env, p)
}

// Injector is the zoneOutage injector of one run.
type Injector struct {
	nodedrain.Drainer
	Spec Spec

	zone   string
	nodes  []nodedrain.Node
	picked bool
}

// Kind implements inject.Injector.
func (in *Injector) Kind() string { return Kind }

// PickTargets implements inject.TargetPicker: it chooses the zone (named,
// or at random among the zones of the usable nodes), takes every usable
// node of it and returns the eligible pods on them.
func (in *Injector) PickTargets(ctx context.Context, eligible []target.Pod, rng *rand.Rand) ([]target.Pod, string, error) {
	selector := ""
	if in.Spec.Nodes != nil {
		selector = in.Spec.Nodes.Selector
	}
	usable, _, err := nodedrain.UsableNodes(ctx, in.Client, selector)
	if err != nil {
		return nil, "", fmt.Errorf("zone outage: %w", err)
	}
	in.picked = true
	in.zone, in.nodes = PickZone(usable, in.Spec.Zone, rng)
	if len(in.nodes) == 0 {
		zones := Zones(usable)
		if in.Spec.Zone != "" {
			return nil, fmt.Sprintf("no usable node in zone %s (%s=true, Ready, schedulable; zones with usable nodes: %s)",
				in.Spec.Zone, inject.OptInLabel, listWords(zones)), nil
		}
		return nil, fmt.Sprintf("no zone to lose: no usable node (%s=true, Ready, schedulable) has a %s label", inject.OptInLabel, nodedrain.ZoneLabel), nil
	}
	pods := nodedrain.PodsOn(eligible, in.nodes)
	return pods, fmt.Sprintf("zone %s: %s; %s", in.zone, strings.Join(nodedrain.Names(in.nodes), ", "), nodedrain.TargetWords(len(pods), len(in.nodes))), nil
}

// PickZone returns zone (when set) or a zone picked with rng among the
// zones of nodes, and every node of it. Nodes without a zone are never
// taken.
func PickZone(nodes []nodedrain.Node, zone string, rng *rand.Rand) (string, []nodedrain.Node) {
	if zone == "" {
		zones := Zones(nodes)
		if len(zones) == 0 {
			return "", nil
		}
		zone = zones[0]
		if rng != nil {
			zone = zones[rng.IntN(len(zones))]
		}
	}
	var out []nodedrain.Node
	for _, n := range nodes {
		if n.Zone == zone {
			out = append(out, n)
		}
	}
	return zone, out
}

// Zones lists the zones of nodes, sorted, without duplicates or "".
func Zones(nodes []nodedrain.Node) []string {
	var zones []string
	for _, n := range nodes {
		if n.Zone != "" && !slices.Contains(zones, n.Zone) {
			zones = append(zones, n.Zone)
		}
	}
	slices.Sort(zones)
	return zones
}

func listWords(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// Inject implements inject.Injector: it drains the zone's nodes.
func (in *Injector) Inject(ctx context.Context, run inject.Run, pods []target.Pod) (inject.Injection, error) {
	if !in.picked {
		return inject.Injection{Run: run, Kind: Kind}, fmt.Errorf("zone outage: Inject before PickTargets: no zone chosen")
	}
	inj, err := in.Drain(ctx, run, nodedrain.Names(in.nodes), pods)
	if inj.State != nil {
		inj.State[StateZone] = in.zone
	}
	return inj, err
}

// StateZone is the Injection.State key of the zone lost.
const StateZone = "zone"

// Revert implements inject.Injector.
func (in *Injector) Revert(ctx context.Context, inj inject.Injection) error {
	return in.Drainer.Revert(ctx, inj)
}
