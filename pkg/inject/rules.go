// rules.go holds the Guard's rules: their names, the operator's Policy (the
// protected namespaces, the opt-in label), the effective Limits, and the
// per-rule checks that Inject calls (kill switch, namespace opt-in).

package inject

import (
	"context"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// OptInLabel must be "true" on a namespace before the Guard touches its
// pods, when Policy.RequireOptIn is set.
const OptInLabel = "chaosnight.dev/enabled"

// Rules of the Guard, in the order they are applied. A refused Outcome's
// Detail starts with the rule name and a colon.
const (
	RuleKillSwitch    = "killSwitch"    // the kill switch is engaged or cannot be read
	RuleInvalid       = "invalid"       // the target lacks a namespace, name or UID
	RuleDuplicate     = "duplicate"     // the same pod twice in one request
	RuleDenyNamespace = "denyNamespace" // the namespace is protected: the floor, or the operator's deny list
	RuleOptIn         = "optIn"         // the namespace lacks chaosnight.dev/enabled=true (or cannot be read)
	RuleMaxTargets    = "maxTargets"    // more targets than allowed; the first ones pass
	RuleMinHealthy    = "minHealthy"    // the owner would drop below minHealthy ready pods (or cannot be counted)
)

// SystemNamespaces are Kubernetes' own namespaces. They are part of the
// protection floor: only Policy.AllowSystemNamespaces, naming each one,
// lifts it.
func SystemNamespaces() []string {
	return []string{"kube-system", "kube-public", "kube-node-lease"}
}

// Policy is the operator's side of the safety rules (the runner's config).
// The experiment's own limits come with each Request; the stricter wins.
//
// The protected namespaces are a floor, not a default: SystemNamespaces
// and OwnNamespaces are always protected, DenyNamespaces adds to them, and
// only AllowSystemNamespaces lifts a system namespace, by name.
type Policy struct {
	// DenyNamespaces are protected in addition to the floor (the operator's
	// safety.excludeNamespaces). They never replace it.
	DenyNamespaces []string
	// OwnNamespaces are the namespaces chaosnight itself lives in (the kill
	// switch's, the runner pod's): always protected, nothing lifts that.
	OwnNamespaces []string
	// AllowSystemNamespaces lifts the floor for the system namespaces it
	// names (safety.allowSystemNamespaces); their pods still need the
	// opt-in label on their namespace, whatever RequireOptIn says. Names
	// that are not system namespaces lift nothing.
	AllowSystemNamespaces []string
	// RequireOptIn only admits pods in namespaces labelled OptInLabel=true.
	RequireOptIn bool
	// DryRun admits and reports, but never calls the injector.
	DryRun bool
	// MaxTargets caps the targets of one injection; 0 means no cap of the
	// policy's own.
	MaxTargets int
	// MinHealthy is the number of ready pods every owner keeps; 0 means no
	// floor of the policy's own.
	MinHealthy int
}

// Protected is the protection in force: every namespace the Guard refuses,
// sorted, and why each one is ("system", "chaosnight", "excluded").
func (p Policy) Protected() map[string]string {
	out := map[string]string{}
	for _, ns := range p.DenyNamespaces {
		if ns != "" {
			out[ns] = protectedExcluded
		}
	}
	for _, ns := range SystemNamespaces() {
		if !slices.Contains(p.AllowSystemNamespaces, ns) {
			out[ns] = protectedSystem
		}
	}
	for _, ns := range p.OwnNamespaces {
		if ns != "" {
			out[ns] = protectedOwn
		}
	}
	return out
}

// LiftedSystemNamespaces are the system namespaces the policy allows (the
// ones AllowSystemNamespaces names that are system namespaces and not
// protected otherwise), sorted.
func (p Policy) LiftedSystemNamespaces() []string {
	prot := p.Protected()
	var out []string
	for _, ns := range SystemNamespaces() {
		if slices.Contains(p.AllowSystemNamespaces, ns) && prot[ns] == "" {
			out = append(out, ns)
		}
	}
	slices.Sort(out)
	return out
}

// Why a namespace is protected.
const (
	protectedSystem   = "system"
	protectedOwn      = "chaosnight"
	protectedExcluded = "excluded"
)

// protectedWhy renders a denyNamespace refusal's reason.
func protectedWhy(ns, why string) string {
	switch why {
	case protectedSystem:
		return fmt.Sprintf("namespace %s is a system namespace, protected unless safety.allowSystemNamespaces names it", ns)
	case protectedOwn:
		return fmt.Sprintf("namespace %s is chaosnight's own (kill switch, runner), always protected", ns)
	}
	return fmt.Sprintf("namespace %s is on the deny list (safety.excludeNamespaces)", ns)
}

// Sources of an effective limit (Limits.MaxTargetsFrom, MinHealthyFrom).
const (
	FromExperiment = "experiment" // spec.safety of the experiment (or its default)
	FromOperator   = "operator"   // the runner's safety.maxTargets / safety.minHealthy
	FromDefault    = "default"    // neither set one: the built-in default
)

// Limits are the effective limits of one injection and where each came
// from: the operator's ceiling and floor win over the experiment's values
// when they are stricter.
type Limits struct {
	MaxTargets     int    `json:"maxTargets"`
	MaxTargetsFrom string `json:"maxTargetsFrom"`
	MinHealthy     int    `json:"minHealthy"`
	MinHealthyFrom string `json:"minHealthyFrom"`
	// OperatorMaxTargets and OperatorMinHealthy are the operator's settings
	// (0: none), for the record even when the experiment's are stricter.
	OperatorMaxTargets int `json:"operatorMaxTargets,omitempty"`
	OperatorMinHealthy int `json:"operatorMinHealthy,omitempty"`
}

// String renders the limits for plans and logs: "maxTargets 3 (operator
// ceiling; the experiment asks 5), minHealthy 2 (experiment)".
func (l Limits) String() string {
	mt := fmt.Sprintf("maxTargets %d (%s)", l.MaxTargets, l.MaxTargetsFrom)
	if l.MaxTargetsFrom == FromOperator {
		mt = fmt.Sprintf("maxTargets %d (operator ceiling safety.maxTargets)", l.MaxTargets)
	}
	mh := fmt.Sprintf("minHealthy %d (%s)", l.MinHealthy, l.MinHealthyFrom)
	if l.MinHealthyFrom == FromOperator {
		mh = fmt.Sprintf("minHealthy %d (operator floor safety.minHealthy)", l.MinHealthy)
	}
	return mt + ", " + mh
}

// EffectiveLimits are the limits of a request under p: min(ceiling,
// experiment's) for maxTargets, max(floor, experiment's) for minHealthy.
// When both agree, the experiment is named: the operator changed nothing.
func (p Policy) EffectiveLimits(reqMaxTargets, reqMinHealthy int) Limits {
	l := Limits{MaxTargets: reqMaxTargets, MaxTargetsFrom: FromExperiment, MinHealthy: max(reqMinHealthy, 0), MinHealthyFrom: FromExperiment,
		OperatorMaxTargets: max(p.MaxTargets, 0), OperatorMinHealthy: max(p.MinHealthy, 0)}
	if c := p.MaxTargets; c > 0 && (l.MaxTargets <= 0 || c < l.MaxTargets) {
		l.MaxTargets, l.MaxTargetsFrom = c, FromOperator
	}
	if l.MaxTargets <= 0 {
		l.MaxTargets, l.MaxTargetsFrom = experiment.DefaultMaxTargets, FromDefault
	}
	if f := p.MinHealthy; f > l.MinHealthy {
		l.MinHealthy, l.MinHealthyFrom = f, FromOperator
	}
	return l
}

// killSwitchClear returns ok=true when injections may go on, else why not.
func (g *Guard) killSwitchClear(ctx context.Context) (reason string, ok bool) {
	if g.KillSwitch == nil {
		return "", true
	}
	engaged, why, err := g.KillSwitch.Engaged(ctx)
	switch {
	case err != nil:
		return fmt.Sprintf("cannot read the kill switch, so nothing is injected: %v", err), false
	case engaged:
		return "engaged: " + orDefault(why, "no reason given"), false
	}
	return "", true
}

// optInRefusal returns why ns is not opted in, or "" when it is.
func (g *Guard) optInRefusal(ctx context.Context, ns string) string {
	obj, err := g.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Sprintf("namespace %s not found", ns)
	case err != nil:
		return fmt.Sprintf("cannot read namespace %s: %v", ns, err)
	case obj.Labels[OptInLabel] != "true":
		return fmt.Sprintf("namespace %s is not opted in (label %s=true is missing)", ns, OptInLabel)
	}
	return ""
}

// applyRules applies rules 2 to 6 of Inject, in order, each to the
// targets the ones before left pending.
func (g *Guard) applyRules(ctx context.Context, vs verdicts, applied *AppliedPolicy, census *Census) *Counting {
	refuseInvalid(vs)
	refuseProtected(vs, g.Policy.Protected())
	g.refuseNotOptedIn(ctx, vs, applied.AllowedSystemNamespaces)
	refuseOverMaxTargets(vs, applied.Limits)
	// 6. minHealthy, from a fresh read of each owner's pods (in a dry
	// run, from the census where it covers the owner).
	if applied.MinHealthy > 0 {
		return g.applyMinHealthy(ctx, vs, vs.pending(), applied.MinHealthy, census)
	}
	return nil
}

// refuseInvalid is rule 2, sanity: a target without UID could not be
// pinned by preconditions, and a pod listed twice would be hit twice.
func refuseInvalid(vs verdicts) {
	seen := make(map[string]bool, len(vs))
	for i := range vs {
		p := vs[i].pod
		switch {
		case p.Namespace == "" || p.Name == "" || p.UID == "":
			vs.refuse(i, RuleInvalid, "target %q has no namespace, name or UID", p.Key())
		case seen[p.UID]:
			vs.refuse(i, RuleDuplicate, "%s is already a target of this injection", p.Key())
		default:
			seen[p.UID] = true
		}
	}
}

// refuseProtected is rule 3: the protected namespaces, the floor and the
// operator's deny list (protected maps a namespace to why).
func refuseProtected(vs verdicts, protected map[string]string) {
	for _, i := range vs.pending() {
		if ns := vs[i].pod.Namespace; protected[ns] != "" {
			vs.refuse(i, RuleDenyNamespace, "%s", protectedWhy(ns, protected[ns]))
		}
	}
}

// refuseNotOptedIn is rule 4, opt-in. A system namespace the operator
// lifted from the floor needs the label whatever RequireOptIn says: two
// explicit decisions, the operator's and the namespace owner's.
//
// The labels are read fresh, for every injection: with targets in
// ListNamespacesMin namespaces or more, in one LIST of the
// opted-in namespaces (label selector) where the account may list
// namespaces; otherwise, or when that LIST is refused, one GET per
// namespace, at most g.concurrency() at a time (the chart's default RBAC
// grants get on namespaces, not list). A namespace the LIST
// does not return is read once more by GET, for the exact reason (not
// found, or not labelled): refusals are rare, and the reason is the user's
// next step.
func (g *Guard) refuseNotOptedIn(ctx context.Context, vs verdicts, lifted []string) {
	if !g.Policy.RequireOptIn && len(lifted) == 0 {
		return
	}
	idx := vs.pending()
	var namespaces []string
	for _, i := range idx {
		ns := vs[i].pod.Namespace
		if !g.Policy.RequireOptIn && !slices.Contains(lifted, ns) {
			continue
		}
		if !slices.Contains(namespaces, ns) {
			namespaces = append(namespaces, ns)
		}
	}
	why := make([]string, len(namespaces)) // "" = opted in
	optedIn, listed := g.listOptedIn(ctx, len(namespaces))
	g.forEach(len(namespaces), func(k int) {
		if listed && optedIn[namespaces[k]] {
			return
		}
		why[k] = g.optInRefusal(ctx, namespaces[k])
	})
	for _, i := range idx {
		if k := slices.Index(namespaces, vs[i].pod.Namespace); k >= 0 && why[k] != "" {
			vs.refuse(i, RuleOptIn, "%s", why[k])
		}
	}
}

// listOptedIn lists the opted-in namespaces, following continue tokens,
// when there are n >= ListNamespacesMin namespaces to check
// (below that, n GETs cost less than a LIST of every opted-in namespace).
// listed is false when it did not list (few namespaces, or the LIST was
// refused or failed): the caller then reads namespace by namespace.
func (g *Guard) listOptedIn(ctx context.Context, n int) (optedIn map[string]bool, listed bool) {
	if n < ListNamespacesMin {
		return nil, false
	}
	optedIn = map[string]bool{}
	opts := metav1.ListOptions{LabelSelector: OptInLabel + "=true", Limit: target.DefaultPageSize}
	for {
		list, err := g.Client.CoreV1().Namespaces().List(ctx, opts)
		if err != nil {
			g.log().Debug("reading the opt-in label namespace by namespace", "reason", err)
			return nil, false
		}
		for _, ns := range list.Items {
			if ns.Labels[OptInLabel] == "true" { // the selector said so; the label is what counts
				optedIn[ns.Name] = true
			}
		}
		if list.Continue == "" {
			return optedIn, true
		}
		opts.Continue = list.Continue
	}
}

// refuseOverMaxTargets is rule 5, maxTargets: the first ones in request
// order pass.
func refuseOverMaxTargets(vs verdicts, lim Limits) {
	admitted := 0
	for _, i := range vs.pending() {
		if admitted >= lim.MaxTargets {
			vs.refuse(i, RuleMaxTargets, "the limit of maxTargets %d (%s) is reached", lim.MaxTargets, lim.MaxTargetsFrom)
			continue
		}
		admitted++
	}
}
