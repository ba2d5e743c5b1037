// guard.go holds the Guard itself: its fields and KillSwitch, a Request, the
// RefusedError, the AppliedPolicy record, and Inject's flow: the rules applied
// in order, the injector called with what passes, the outcomes merged and
// recorded.

package inject

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/target"
)

// Defaults of Guard fields.
const (
	DefaultComponent   = "chaosnight"
	DefaultConcurrency = 8
)

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
	// Action says what is done, in the fault kind's words for Events and
	// logs ("pod kill (evict)", "node drain (1 node)"); default the
	// injector's Kind.
	Action   string
	Targets  []target.Pod
	Injector Injector
	// MaxTargets and MinHealthy come from the experiment's safety block;
	// the stricter of these and the Policy's applies. If neither sets
	// MaxTargets, experiment.DefaultMaxTargets applies.
	MaxTargets int
	MinHealthy int
	// Census, if set, is what the select phase listed: in a dry run,
	// minHealthy counts the owners it covers from it (see Census).
	Census *Census
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
//
// The rules run in a fixed order, each a named step below (kill switch,
// sanity, protected namespaces, opt-in, maxTargets, minHealthy, the
// injector's own rules, dry run, the kill switch again), each refusing
// what it must among the targets still pending; the order is part of the
// contract: a refusal names the first rule that applies.
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
	log := g.log().With("run", req.Run.ID, "experiment", req.Run.Experiment, "action", action)
	log.Debug("policy", "limits", inj.Policy.Limits.String(), "protected", inj.Policy.Protected, "allowedSystemNamespaces", inj.Policy.AllowedSystemNamespaces)

	vs := newVerdicts(req.Targets)
	// 1. Kill switch: before anything else, and for every target.
	if reason, ok := g.killSwitchClear(ctx); !ok {
		vs.refuseEach(vs.all(), RuleKillSwitch, reason)
		if len(vs) == 0 {
			return inj, &RefusedError{Rule: RuleKillSwitch, Detail: RuleKillSwitch + ": " + reason}
		}
		return g.finish(inj, vs, log)
	}
	// 2.-6. The guard's own rules.
	inj.Counting = g.applyRules(ctx, vs, inj.Policy, req.Census)
	// 6b. The injector's own rules (Admitter: node opt-in for node-scope
	// stress), also in dry run, with the collateral of what passes.
	inj.Collateral = g.admit(ctx, req, vs, vs.pending(), log)
	if err := ctx.Err(); err != nil {
		return inj, fmt.Errorf("guard: %w", err)
	}
	idx := vs.pending()
	if len(idx) == 0 {
		return g.finish(inj, vs, log)
	}
	// 7. Dry run: report, touch nothing.
	if g.Policy.DryRun {
		vs.dryRun(idx, action)
		return g.finish(inj, vs, log)
	}
	// The reads above take time; look at the kill switch once more right
	// before anything is changed.
	if g.KillSwitch != nil {
		if reason, ok := g.killSwitchClear(ctx); !ok {
			vs.refuseEach(idx, RuleKillSwitch, reason)
			return g.finish(inj, vs, log)
		}
	}

	res, injErr := req.Injector.Inject(ctx, req.Run, vs.pods(idx))
	inj.State = res.State
	inj.Outcomes = g.mergeOutcomes(vs, idx, res.Outcomes, injErr, start)
	g.events(ctx, req.Run, action, inj.Outcomes, log)
	g.logOutcomes(log, inj.Outcomes)
	if injErr != nil {
		return inj, fmt.Errorf("%s injection: %w", inj.Kind, injErr)
	}
	return inj, nil
}

// verdicts are the guard's state for every target of one injection, in
// request order; the rules only ever refuse the ones still pending.
type verdicts []verdict

func newVerdicts(pods []target.Pod) verdicts {
	vs := make(verdicts, len(pods))
	for i, p := range pods {
		vs[i].pod = p
	}
	return vs
}

// all is every index, pending or not.
func (vs verdicts) all() []int {
	idx := make([]int, len(vs))
	for i := range vs {
		idx[i] = i
	}
	return idx
}

// pending is the indexes no rule has refused yet.
func (vs verdicts) pending() []int {
	var idx []int
	for i := range vs {
		if vs[i].status == "" {
			idx = append(idx, i)
		}
	}
	return idx
}

func (vs verdicts) refuse(i int, rule, format string, args ...any) {
	vs[i].refuse(Refusal{Rule: rule, Why: fmt.Sprintf(format, args...)})
}

// refuseEach refuses idx by one rule for one reason (the kill switch).
func (vs verdicts) refuseEach(idx []int, rule, why string) {
	for _, i := range idx {
		vs.refuse(i, rule, "%s", why)
	}
}

func (vs verdicts) dryRun(idx []int, action string) {
	for _, i := range idx {
		vs[i].status = StatusDryRun
		vs[i].detail = "dry run: would inject " + action
	}
}

// pods are the targets at idx, the ones handed to the injector.
func (vs verdicts) pods(idx []int) []target.Pod {
	pods := make([]target.Pod, len(idx))
	for k, i := range idx {
		pods[k] = vs[i].pod
	}
	return pods
}

// mergeOutcomes is the injector's outcome for each admitted target (idx),
// the guard's for the others, in request order; outcomes for pods the
// injector was not given, or reported twice, are appended. An admitted
// target the injector said nothing about failed, with injErr's text when
// there is one.
func (g *Guard) mergeOutcomes(vs verdicts, idx []int, reported []Outcome, injErr error, start time.Time) []Outcome {
	given := make(map[string]bool, len(idx))
	for _, i := range idx {
		given[vs[i].pod.UID] = true
	}
	byUID := make(map[string]Outcome, len(reported))
	var extra []Outcome
	for _, o := range reported {
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
	return append(outcomes, extra...)
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
