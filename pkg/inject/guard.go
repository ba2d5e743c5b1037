package inject

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/k8sevent"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// OptInLabel must be "true" on a namespace before the Guard touches its
// pods, when Policy.RequireOptIn is set.
const OptInLabel = "chaosnight.dev/enabled"

// Labels and annotations put on the Events the Guard writes, so that
// `kubectl get events -l chaosnight.dev/run=<id>` finds a run's victims.
const (
	RunLabel             = "chaosnight.dev/run"
	ExperimentAnnotation = "chaosnight.dev/experiment"
)

// ReasonInjected is the reason of the Event written on every victim.
const ReasonInjected = "ChaosInjected"

// Defaults of Guard fields.
const (
	DefaultComponent   = "chaosnight"
	DefaultConcurrency = 8
)

// eventTimeout bounds the Event writes after an injection.
const eventTimeout = 10 * time.Second

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

// KillSwitch stops every injection while engaged. An error reading it
// refuses the injection: an unknown state is never "go".
type KillSwitch interface {
	Engaged(ctx context.Context) (engaged bool, reason string, err error)
}

// Guard is the one choke point every injection passes. It applies, in
// order: the kill switch, target sanity (namespace, name, UID, no
// duplicates), the namespace deny list, namespace opt-in, maxTargets,
// minHealthy (from a fresh read of each owner's pods) and dry run; then it
// calls the injector with the admitted targets only and writes one Event on
// every victim actually touched.
type Guard struct {
	Client     kubernetes.Interface
	Policy     Policy
	KillSwitch KillSwitch // optional
	Log        *slog.Logger
	Now        func() time.Time
	// Component is the Event source; default DefaultComponent.
	Component string
	// Concurrency bounds parallel reads and Event writes; default
	// DefaultConcurrency. The client's QPS limit is the real request rate.
	Concurrency int
}

// Request is one injection to guard.
type Request struct {
	Run Run
	// Action says what is done, in words for Events and logs ("evict",
	// "delete", "stress cpu"); default the injector's Kind.
	Action   string
	Targets  []target.Pod
	Injector Injector
	// MaxTargets and MinHealthy come from the experiment's safety block;
	// the stricter of these and the Policy's applies. If neither sets
	// MaxTargets, experiment.DefaultMaxTargets applies.
	MaxTargets int
	MinHealthy int
}

// RefusedError is returned when the Guard admitted none of the targets and
// refused at least one (check with errors.As). The Injection returned with
// it has every target's outcome.
type RefusedError struct {
	Rule    string // rule that refused the first refused target, e.g. RuleMinHealthy
	Detail  string // that target's refusal, "rule: why"
	Refused int    // targets refused
	Targets int    // targets in the request
}

func (e *RefusedError) Error() string {
	if e.Refused <= 1 {
		return "injection refused: " + e.Detail
	}
	return fmt.Sprintf("injection refused for %d of %d targets, first: %s", e.Refused, e.Targets, e.Detail)
}

// Touched reports whether an outcome status means the pod was actually
// changed (and so gets an Event).
func Touched(status string) bool {
	switch status {
	case StatusKilled, StatusEvicted, StatusStressed:
		return true
	}
	return false
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

// AppliedPolicy is the policy one injection was guarded by, recorded on
// the Injection (and so in the journal): what was protected, what the
// operator lifted, and the effective limits with their sources.
type AppliedPolicy struct {
	Limits
	// Protected are the protected namespaces, sorted.
	Protected []string `json:"protected"`
	// AllowedSystemNamespaces are the system namespaces the operator
	// lifted from the floor (safety.allowSystemNamespaces).
	AllowedSystemNamespaces []string `json:"allowedSystemNamespaces,omitempty"`
	RequireOptIn            bool     `json:"requireOptIn"`
	DryRun                  bool     `json:"dryRun,omitempty"`
}

// applied is the record of the policy for one request.
func (g *Guard) applied(req Request) *AppliedPolicy {
	prot := g.Policy.Protected()
	names := make([]string, 0, len(prot))
	for ns := range prot {
		names = append(names, ns)
	}
	slices.Sort(names)
	return &AppliedPolicy{
		Limits:                  g.Policy.EffectiveLimits(req.MaxTargets, req.MinHealthy),
		Protected:               names,
		AllowedSystemNamespaces: g.Policy.LiftedSystemNamespaces(),
		RequireOptIn:            g.Policy.RequireOptIn,
		DryRun:                  g.Policy.DryRun,
	}
}

func (g *Guard) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func (g *Guard) log() *slog.Logger {
	if g.Log != nil {
		return g.Log
	}
	return slog.New(slog.DiscardHandler)
}

func (g *Guard) concurrency() int {
	if g.Concurrency > 0 {
		return g.Concurrency
	}
	return DefaultConcurrency
}

// verdict is the guard's state for one target while the rules run.
type verdict struct {
	pod    target.Pod
	status string // "" while still admitted
	detail string
	rule   string // the rule that refused it (RefusedError.Rule), a value, never parsed from detail
}

// refuse records a refusal by one rule.
func (v *verdict) refuse(r Refusal) {
	v.status, v.detail, v.rule = StatusRefused, r.String(), r.Rule
}

// Inject applies the rules to req.Targets, calls req.Injector with the
// admitted ones and returns every target's outcome, in request order
// (outcomes the injector reports for pods it was not given are appended).
//
// The error is a *RefusedError when nothing was admitted and something was
// refused; a wrapped injector error, with the outcomes it reported; or a
// context or argument error.
func (g *Guard) Inject(ctx context.Context, req Request) (Injection, error) {
	start := g.now()
	inj := Injection{Run: req.Run, At: start}
	if req.Injector == nil {
		return inj, errors.New("guard: nil injector")
	}
	if g.Client == nil {
		return inj, errors.New("guard: nil client")
	}
	inj.Kind = req.Injector.Kind()
	action := orDefault(req.Action, inj.Kind)
	inj.Policy = g.applied(req)
	lim := inj.Policy.Limits
	log := g.log().With("run", req.Run.ID, "experiment", req.Run.Experiment, "action", action)
	log.Debug("policy", "limits", lim.String(), "protected", inj.Policy.Protected, "allowedSystemNamespaces", inj.Policy.AllowedSystemNamespaces)

	vs := make([]verdict, len(req.Targets))
	for i, p := range req.Targets {
		vs[i].pod = p
	}
	pending := func() []int {
		var idx []int
		for i := range vs {
			if vs[i].status == "" {
				idx = append(idx, i)
			}
		}
		return idx
	}
	refuse := func(i int, rule, format string, args ...any) {
		vs[i].refuse(Refusal{Rule: rule, Why: fmt.Sprintf(format, args...)})
	}

	// 1. Kill switch: before anything else, and for every target.
	if reason, ok := g.killSwitchClear(ctx); !ok {
		for i := range vs {
			refuse(i, RuleKillSwitch, "%s", reason)
		}
		if len(vs) == 0 {
			return inj, &RefusedError{Rule: RuleKillSwitch, Detail: RuleKillSwitch + ": " + reason}
		}
		return g.finish(inj, vs, log)
	}

	// 2. Sanity: a target without UID could not be pinned by preconditions,
	// and a pod listed twice would be hit twice.
	seen := make(map[string]bool, len(vs))
	for i := range vs {
		p := vs[i].pod
		switch {
		case p.Namespace == "" || p.Name == "" || p.UID == "":
			refuse(i, RuleInvalid, "target %q has no namespace, name or UID", p.Key())
		case seen[p.UID]:
			refuse(i, RuleDuplicate, "%s is already a target of this injection", p.Key())
		default:
			seen[p.UID] = true
		}
	}

	// 3. Protected namespaces: the floor and the operator's deny list.
	protected := g.Policy.Protected()
	for _, i := range pending() {
		if ns := vs[i].pod.Namespace; protected[ns] != "" {
			refuse(i, RuleDenyNamespace, "%s", protectedWhy(ns, protected[ns]))
		}
	}

	// 4. Opt-in: one GET per namespace. A system namespace the operator
	// lifted from the floor needs the label whatever RequireOptIn says:
	// two explicit decisions, the operator's and the namespace owner's.
	lifted := inj.Policy.AllowedSystemNamespaces
	if idx := pending(); g.Policy.RequireOptIn || len(lifted) > 0 {
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
		g.forEach(len(namespaces), func(k int) { why[k] = g.optInRefusal(ctx, namespaces[k]) })
		for _, i := range idx {
			if k := slices.Index(namespaces, vs[i].pod.Namespace); k >= 0 && why[k] != "" {
				refuse(i, RuleOptIn, "%s", why[k])
			}
		}
	}

	// 5. maxTargets: the first ones in request order pass.
	admitted := 0
	for _, i := range pending() {
		if admitted >= lim.MaxTargets {
			refuse(i, RuleMaxTargets, "the limit of maxTargets %d (%s) is reached", lim.MaxTargets, lim.MaxTargetsFrom)
			continue
		}
		admitted++
	}

	// 6. minHealthy, from a fresh read of each owner's pods.
	if lim.MinHealthy > 0 {
		g.applyMinHealthy(ctx, vs, pending(), lim.MinHealthy)
	}

	// 6b. The injector's own rules (Admitter: node opt-in for node-scope
	// stress), also in dry run, with the collateral of what passes.
	inj.Collateral = g.admit(ctx, req, vs, pending(), log)
	if err := ctx.Err(); err != nil {
		return inj, fmt.Errorf("guard: %w", err)
	}

	idx := pending()
	if len(idx) == 0 {
		return g.finish(inj, vs, log)
	}

	// 7. Dry run: report, touch nothing.
	if g.Policy.DryRun {
		for _, i := range idx {
			vs[i].status = StatusDryRun
			vs[i].detail = "dry run: would " + action
		}
		return g.finish(inj, vs, log)
	}

	// The reads above take time; look at the kill switch once more right
	// before anything is changed.
	if g.KillSwitch != nil {
		if reason, ok := g.killSwitchClear(ctx); !ok {
			for _, i := range idx {
				refuse(i, RuleKillSwitch, "%s", reason)
			}
			return g.finish(inj, vs, log)
		}
	}

	targets := make([]target.Pod, len(idx))
	given := make(map[string]bool, len(idx))
	for k, i := range idx {
		targets[k] = vs[i].pod
		given[vs[i].pod.UID] = true
	}
	res, injErr := req.Injector.Inject(ctx, req.Run, targets)
	inj.State = res.State

	// Merge: the injector's outcome for each admitted target, in request order.
	byUID := make(map[string]Outcome, len(res.Outcomes))
	var extra []Outcome
	for _, o := range res.Outcomes {
		if _, dup := byUID[o.Pod.UID]; dup || !given[o.Pod.UID] {
			extra = append(extra, o)
			continue
		}
		byUID[o.Pod.UID] = o
	}
	outcomes := make([]Outcome, 0, len(vs)+len(extra))
	for i := range vs {
		if vs[i].status != "" {
			outcomes = append(outcomes, Outcome{Pod: vs[i].pod, Status: vs[i].status, Detail: vs[i].detail, At: start})
			continue
		}
		o, ok := byUID[vs[i].pod.UID]
		if !ok {
			o = Outcome{Pod: vs[i].pod, Status: StatusFailed, Detail: "the injector reported no outcome for this target", At: g.now()}
			if injErr != nil {
				o.Detail = injErr.Error()
			}
		}
		outcomes = append(outcomes, o)
	}
	inj.Outcomes = append(outcomes, extra...)
	g.events(ctx, req.Run, action, inj.Outcomes, log)
	g.logOutcomes(log, inj.Outcomes)
	if injErr != nil {
		return inj, fmt.Errorf("%s injection: %w", inj.Kind, injErr)
	}
	return inj, nil
}

// finish turns the verdicts into outcomes when the injector is not called,
// and builds the RefusedError when nothing was admitted.
func (g *Guard) finish(inj Injection, vs []verdict, log *slog.Logger) (Injection, error) {
	var first *verdict
	refused, admitted := 0, 0
	for i := range vs {
		inj.Outcomes = append(inj.Outcomes, Outcome{Pod: vs[i].pod, Status: vs[i].status, Detail: vs[i].detail, At: inj.At})
		switch vs[i].status {
		case StatusRefused:
			refused++
			if first == nil {
				first = &vs[i]
			}
		case StatusDryRun:
			admitted++
		}
	}
	g.logOutcomes(log, inj.Outcomes)
	if admitted > 0 || first == nil {
		return inj, nil
	}
	return inj, &RefusedError{Rule: first.rule, Detail: first.detail, Refused: refused, Targets: len(vs)}
}

// logOutcomes logs one line per target (refusals at debug level: a pick
// of "all" can refuse thousands) and a summary with the count per status.
func (g *Guard) logOutcomes(log *slog.Logger, outcomes []Outcome) {
	counts := map[string]int{}
	for _, o := range outcomes {
		counts[o.Status]++
		level := slog.LevelInfo
		switch o.Status {
		case StatusRefused:
			level = slog.LevelDebug
		case StatusFailed:
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, "target", "pod", o.Pod.Key(), "uid", o.Pod.UID, "status", o.Status, "detail", o.Detail)
	}
	log.Info("injection", "targets", len(outcomes), "outcomes", counts)
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

// workload is the fresh state of one owner: its ready pods and the state of
// each of its pods, by UID.
type workload struct {
	name  string // "ReplicaSet shop/checkout-7d9", or "Pod shop/solo" for a pod without controller
	ready int
	pods  map[string]podState
	err   error
}

type podState struct{ ready, terminating bool }

// applyMinHealthy refuses the targets whose loss would leave their owner
// with fewer than minHealthy ready pods. Each owner is read once, fresh:
// ready = Ready, non-terminating pods controlled by it, and at most
// ready-minHealthy of its ready targets are admitted, in request order.
// Targets that are not ready do not lower the count and pass; targets that
// are gone or already terminating are reported as gone.
func (g *Guard) applyMinHealthy(ctx context.Context, vs []verdict, idx []int, minHealthy int) {
	var keys []string
	byKey := map[string]int{} // owner key -> first target index
	for _, i := range idx {
		k := target.OwnerKey(vs[i].pod)
		if _, ok := byKey[k]; !ok {
			byKey[k] = i
			keys = append(keys, k)
		}
	}
	ws, ok := g.readWorkloadsAtOnce(ctx, vs, keys, byKey)
	if !ok {
		ws = make([]workload, len(keys))
		g.forEach(len(keys), func(k int) { ws[k] = g.readWorkload(ctx, vs[byKey[keys[k]]].pod) })
	}
	taken := make([]int, len(keys))
	for _, i := range idx {
		k := slices.Index(keys, target.OwnerKey(vs[i].pod))
		w := ws[k]
		if w.err != nil {
			vs[i].refuse(Refusal{Rule: RuleMinHealthy, Why: fmt.Sprintf("cannot count the ready pods of %s, so nothing of it is touched: %v", w.name, w.err)})
			continue
		}
		st, ok := w.pods[vs[i].pod.UID]
		switch {
		case !ok:
			vs[i].status, vs[i].detail = StatusGone, "the pod no longer exists (deleted, or replaced by a pod with another UID)"
		case st.terminating:
			vs[i].status, vs[i].detail = StatusGone, "the pod is already terminating"
		case !st.ready:
			// Not ready: losing it does not lower the ready count.
		case taken[k] < w.ready-minHealthy:
			taken[k]++
		default:
			why := fmt.Sprintf("%s has %s, minHealthy %d", w.name, plural(w.ready, "ready pod"), minHealthy)
			if taken[k] > 0 {
				why += fmt.Sprintf(" (%s already admitted in this injection)", plural(taken[k], "pod"))
			}
			vs[i].refuse(Refusal{Rule: RuleMinHealthy, Why: why})
		}
	}
}

// readWorkloadsAtOnce counts the ready pods of every owner with one
// paginated, streamed LIST of all pods when the targets span many
// namespaces (a 1 % pick across 100 namespaces would otherwise cost a GET
// of each owner and a LIST of its pods: hundreds of requests). Pods are
// matched to owners by controller UID, as readWorkload does. ok is false
// when the targets are few, or when the cluster-wide LIST is not allowed
// (namespaced RBAC) or fails: the caller then reads owner by owner.
func (g *Guard) readWorkloadsAtOnce(ctx context.Context, vs []verdict, keys []string, byKey map[string]int) ([]workload, bool) {
	namespaces := map[string]bool{}
	for _, k := range keys {
		namespaces[vs[byKey[k]].pod.Namespace] = true
	}
	if len(namespaces) < target.DefaultClusterScopeMin {
		return nil, false
	}
	ws := make([]workload, len(keys))
	index := make(map[string]int, len(keys)) // owner key -> position in ws
	for k, key := range keys {
		p := vs[byKey[key]].pod
		if p.Owner == nil || p.Owner.UID == "" {
			ws[k] = workload{name: "Pod " + p.Key(), pods: map[string]podState{}}
		} else {
			ws[k] = workload{name: p.Owner.Kind + " " + p.Namespace + "/" + p.Owner.Name, pods: map[string]podState{}}
		}
		index[key] = k
	}
	reset := func() {
		for k := range ws {
			ws[k].ready, ws[k].pods = 0, map[string]podState{}
		}
	}
	err := g.listPods(ctx, "", metav1.ListOptions{}, reset, func(p target.Pod) {
		k, ok := index[target.OwnerKey(p)]
		if !ok {
			return
		}
		ws[k].count(p)
	})
	if err != nil {
		g.log().Debug("counting ready pods owner by owner", "reason", err)
		return nil, false
	}
	return ws, true
}

// readWorkload reads the owner of p (or p itself when it has no
// controller) and its pods, fresh from the API server.
func (g *Guard) readWorkload(ctx context.Context, p target.Pod) workload {
	ns := p.Namespace
	if p.Owner == nil || p.Owner.UID == "" {
		w := workload{name: "Pod " + p.Key(), pods: map[string]podState{}}
		pod, err := g.Client.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
		case err != nil:
			w.err = fmt.Errorf("get pod: %w", err)
		case string(pod.UID) == p.UID:
			st := podState{ready: target.IsReady(pod), terminating: pod.DeletionTimestamp != nil}
			w.pods[p.UID] = st
			if st.ready && !st.terminating {
				w.ready = 1
			}
		}
		return w
	}
	o := p.Owner
	w := workload{name: o.Kind + " " + ns + "/" + o.Name, pods: map[string]podState{}}
	sel, err := g.ownerSelector(ctx, ns, o)
	if err != nil {
		w.err = err
		return w
	}
	// The selector only narrows the LIST; what counts is the controller
	// reference, so pods of another owner with look-alike labels are never
	// counted as healthy replicas of this one.
	opts := metav1.ListOptions{LabelSelector: sel.String(), Limit: target.DefaultPageSize}
	reset := func() { w.ready, w.pods = 0, map[string]podState{} }
	err = g.listPods(ctx, ns, opts, reset, func(p target.Pod) {
		if p.Owner != nil && p.Owner.UID == o.UID {
			w.count(p)
		}
	})
	if err != nil {
		w.err = err
	}
	return w
}

// count adds p to the workload's pods, and to its ready count when p is
// ready and not terminating.
func (w *workload) count(p target.Pod) {
	st := podState{ready: p.Ready, terminating: p.Terminating}
	w.pods[p.UID] = st
	if st.ready && !st.terminating {
		w.ready++
	}
}

// listPods lists the pods of ns (all namespaces when empty) with
// target.ListPods, which streams the pages and follows continue tokens.
// When a continue token expired (410 Gone: the paging outlived etcd
// compaction) it starts once more from the beginning, as target's Selector
// does, after reset has dropped what the first attempt counted, so no pod
// is counted twice. A second expiry is returned: the cluster is churning
// faster than we can read it, and the caller refuses rather than guess.
func (g *Guard) listPods(ctx context.Context, ns string, opts metav1.ListOptions, reset func(), fn func(target.Pod)) error {
	for attempt := 0; ; attempt++ {
		_, err := target.ListPods(ctx, g.Client, ns, opts, fn)
		if err != nil && apierrors.IsResourceExpired(err) && attempt == 0 {
			g.log().Debug("continue token expired: listing pods again from the start", "namespace", ns)
			reset()
			continue
		}
		return err
	}
}

// ownerSelector returns the pod selector of a known controller kind. For
// other kinds, or when the owner is gone or was replaced (another UID), it
// returns Everything: the namespace is listed and pods are matched by
// controller UID alone, which is slower but never wrong.
func (g *Guard) ownerSelector(ctx context.Context, ns string, o *target.Owner) (labels.Selector, error) {
	var (
		uid string
		ls  *metav1.LabelSelector
		err error
	)
	opts := metav1.GetOptions{}
	switch o.Kind {
	case "ReplicaSet":
		rs, e := g.Client.AppsV1().ReplicaSets(ns).Get(ctx, o.Name, opts)
		if e == nil {
			uid, ls = string(rs.UID), rs.Spec.Selector
		}
		err = e
	case "StatefulSet":
		sts, e := g.Client.AppsV1().StatefulSets(ns).Get(ctx, o.Name, opts)
		if e == nil {
			uid, ls = string(sts.UID), sts.Spec.Selector
		}
		err = e
	case "DaemonSet":
		ds, e := g.Client.AppsV1().DaemonSets(ns).Get(ctx, o.Name, opts)
		if e == nil {
			uid, ls = string(ds.UID), ds.Spec.Selector
		}
		err = e
	case "Job":
		job, e := g.Client.BatchV1().Jobs(ns).Get(ctx, o.Name, opts)
		if e == nil {
			uid, ls = string(job.UID), job.Spec.Selector
		}
		err = e
	case "ReplicationController":
		rc, e := g.Client.CoreV1().ReplicationControllers(ns).Get(ctx, o.Name, opts)
		if e == nil {
			uid, ls = string(rc.UID), &metav1.LabelSelector{MatchLabels: rc.Spec.Selector}
		}
		err = e
	default:
		return labels.Everything(), nil
	}
	switch {
	case apierrors.IsNotFound(err):
		return labels.Everything(), nil
	case err != nil:
		return nil, fmt.Errorf("get %s %s/%s: %w", o.Kind, ns, o.Name, err)
	case uid != o.UID || ls == nil:
		return labels.Everything(), nil
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		// An unusable selector only means a wider LIST.
		return labels.Everything(), nil
	}
	return sel, nil
}

// events writes one Event on every pod that was actually touched. A failed
// Event is logged, never fatal: the fault has already happened and the
// Injection records it.
func (g *Guard) events(ctx context.Context, run Run, action string, outcomes []Outcome, log *slog.Logger) {
	var touched []Outcome
	for _, o := range outcomes {
		if Touched(o.Status) {
			touched = append(touched, o)
		}
	}
	component := orDefault(g.Component, DefaultComponent)
	// The pods are already touched: record it even if the caller's context
	// was cancelled meanwhile (SIGTERM, window end), within a bound.
	g.forEach(len(touched), func(k int) {
		o := touched[k]
		if err := k8sevent.Create(ctx, g.Client, g.event(run, action, component, o), eventTimeout); err != nil {
			log.Warn("cannot record the event", "pod", o.Pod.Key(), "err", err)
		}
	})
}

func (g *Guard) event(run Run, action, component string, o Outcome) *corev1.Event {
	at := o.At
	if at.IsZero() {
		at = g.now()
	}
	spec := k8sevent.Spec{
		Object: corev1.ObjectReference{
			Kind: "Pod", APIVersion: "v1", Namespace: o.Pod.Namespace, Name: o.Pod.Name, UID: types.UID(o.Pod.UID),
		},
		// Like client-go's recorder: unique enough, and readable.
		Name:        fmt.Sprintf("%s.%x", o.Pod.Name, at.UnixNano()),
		Annotations: map[string]string{ExperimentAnnotation: run.Experiment, RunLabel: run.ID},
		// Warning, not Normal: an SRE looking at a pod that vanished during
		// an incident filters on warnings, and must see it was chaos.
		Type:      corev1.EventTypeWarning,
		Reason:    ReasonInjected,
		Action:    action,
		Message:   fmt.Sprintf("chaosnight experiment %q, run %s: %s (%s)", run.Experiment, run.ID, action, o.Status),
		Component: component,
		At:        at,
	}
	if len(validation.IsValidLabelValue(run.ID)) == 0 {
		spec.Labels = map[string]string{RunLabel: run.ID}
	}
	return k8sevent.New(spec)
}

// forEach calls fn(0..n-1) with at most g.concurrency() calls at a time.
func (g *Guard) forEach(n int, fn func(i int)) {
	if n == 1 {
		fn(0)
		return
	}
	// fn reports through its own slots, so the group never carries an
	// error; it is used for its limit (Go blocks while the limit is reached).
	var eg errgroup.Group
	eg.SetLimit(g.concurrency())
	for i := range n {
		eg.Go(func() error {
			fn(i)
			return nil
		})
	}
	_ = eg.Wait() // always nil: no fn returns an error
}

// plural renders "1 pod", "2 pods".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
