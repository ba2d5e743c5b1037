// Package safety proves chaosnight's blast radius with a seeded property
// test: a generator draws a small cluster (namespaces, look-alike workloads,
// bare and terminating pods, PodDisruptionBudgets) and an experiment over
// it with operator settings; an oracle written from that generated state
// alone (never from pkg/inject or pkg/target) says which pods may be
// touched and how many; the checker compares what a real `chaosnight run`
// did against the sandbox's API server with it (docs/safety-property.md).
package safety

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// GroupLabel marks every generated pod with its group (a Deployment's name
// or a bare pod's): the oracle decides per group, and the checker maps the
// real pods back to their group with it. No selector ever uses it.
const GroupLabel = "safety.chaosnight.dev/group"

// SystemNamespace is the system namespace a case may place pods in and the
// operator may lift from the floor. kube-public rather than kube-system:
// nothing of the control plane runs there in the sandbox.
const SystemNamespace = "kube-public"

// OwnNamespace is chaosnight's own (the kill switch's default): always
// protected, whatever the settings.
const OwnNamespace = "chaosnight"

// Namespace is one generated namespace.
type Namespace struct {
	Name  string
	OptIn bool // labelled chaosnight.dev/enabled=true
}

// PDB is a PodDisruptionBudget over one Deployment: exactly one of
// MinAvailable and MaxUnavailable is set.
type PDB struct {
	MinAvailable   *int
	MaxUnavailable *int
}

// Deployment is one generated workload; its pods carry Labels plus
// GroupLabel=Name, its selector is GroupLabel=Name only (look-alike labels
// never make two Deployments fight over pods).
type Deployment struct {
	Namespace, Name string
	Labels          map[string]string
	Replicas        int
	PDB             *PDB
}

// BarePod is a pod without controller: its own workload for minHealthy.
// A Terminating one is created with a finalizer and deleted before the
// run, so it stays in the API server with a deletionTimestamp.
type BarePod struct {
	Namespace, Name string
	Labels          map[string]string
	Terminating     bool
}

// Req is one requirement of a label selector.
type Req struct {
	Key    string
	Op     string // "=", "==", "!=", "in", "notin", "exists", "!"
	Values []string
}

// String renders r in kubectl syntax.
func (r Req) String() string {
	switch r.Op {
	case "in", "notin":
		return fmt.Sprintf("%s %s (%s)", r.Key, r.Op, strings.Join(r.Values, ","))
	case "exists":
		return r.Key
	case "!":
		return "!" + r.Key
	}
	return r.Key + r.Op + r.Values[0]
}

// Matches is the selector semantics of Kubernetes, written out here so the
// oracle does not share code with what it checks.
func (r Req) Matches(labels map[string]string) bool {
	v, has := labels[r.Key]
	switch r.Op {
	case "=", "==":
		return has && v == r.Values[0]
	case "!=":
		return !has || v != r.Values[0]
	case "in":
		return has && slices.Contains(r.Values, v)
	case "notin":
		return !has || !slices.Contains(r.Values, v)
	case "exists":
		return has
	case "!":
		return !has
	}
	panic("unknown operator " + r.Op)
}

// Experiment is the generated experiment.
type Experiment struct {
	Name        string
	Namespaces  []string
	Selector    []Req
	Count       int // one of Count, Percent, All
	Percent     int
	All         bool
	OnePerOwner bool
	MinAge      time.Duration // 0, or far above any pod's age (every pod too young)
	MaxTargets  int           // 0: not written (default 10)
	MinHealthy  *int          // nil: not written (default 1)
	Method      string        // evict | delete
}

// SelectorString is the selector as the experiment file writes it.
func (e Experiment) SelectorString() string {
	parts := make([]string, len(e.Selector))
	for i, r := range e.Selector {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// Operator is the generated operator settings (flags of `run`).
type Operator struct {
	MaxTargets   int // --max-targets, 0: none
	MinHealthy   int // --min-healthy, 0: none
	Exclude      []string
	AllowSystem  []string
	RequireOptIn bool
}

// Case is one generated situation: a cluster, an experiment, the
// operator's settings and the run's --seed.
type Case struct {
	Seed        uint64
	Prefix      string // of every namespace and pod name of the case
	Namespaces  []Namespace
	SystemOptIn bool // the label kube-public gets for this case, when it holds pods
	Deployments []Deployment
	Bare        []BarePod
	Exp         Experiment
	Op          Operator
	RunSeed     int64
}

// Pods is the number of pods the case creates.
func (c Case) Pods() int {
	n := len(c.Bare)
	for _, d := range c.Deployments {
		n += d.Replicas
	}
	return n
}

// UsesSystem says whether the case places pods in SystemNamespace.
func (c Case) UsesSystem() bool {
	for _, d := range c.Deployments {
		if d.Namespace == SystemNamespace {
			return true
		}
	}
	for _, b := range c.Bare {
		if b.Namespace == SystemNamespace {
			return true
		}
	}
	return false
}

// Look-alike vocabularies: prefixes, suffixes and other values of the same
// keys, so that a selector that is one character off selects something.
var (
	nsBases = []string{"shop", "shop-staging", "shop2", "web", "web-prod"}
)

func apps() []string   { return []string{"web", "web-canary", "webx", "api", "api-v2"} }
func tiers() []string  { return []string{"front", "back", "db"} }
func tracks() []string { return []string{"stable", "canary"} }

// pcgStream fixes the second half of the PCG state: the seed alone decides
// the case.
const pcgStream = 0x5afe7

// Generate draws the case of seed, its names prefixed "s<seed>". The same
// seed always gives the same case (TestGenerateIsDeterministic).
func Generate(seed uint64) Case { return GenerateNamed(seed, fmt.Sprintf("s%d", seed)) }

// GenerateNamed is the case of seed with another prefix for every name:
// the same draws, so a case can run twice in one sandbox while the
// namespaces of the first are still being deleted.
func GenerateNamed(seed uint64, prefix string) Case {
	r := rand.New(rand.NewPCG(seed, pcgStream))
	c := Case{Seed: seed, Prefix: prefix, RunSeed: int64(r.Uint32())}

	// Namespaces: 2 to 4 look-alike names, each opted in or not; the
	// first is opted in most of the time so that cases touch something.
	bases := slices.Clone(nsBases)
	r.Shuffle(len(bases), func(i, j int) { bases[i], bases[j] = bases[j], bases[i] })
	nNS := 2 + r.IntN(3)
	for i := range nNS {
		c.Namespaces = append(c.Namespaces, Namespace{Name: c.Prefix + "-" + bases[i], OptIn: i == 0 && r.IntN(10) < 9 || i > 0 && r.IntN(10) < 6})
	}
	spaces := make([]string, 0, nNS+1)
	for _, ns := range c.Namespaces {
		spaces = append(spaces, ns.Name)
	}
	withSystem := r.IntN(4) == 0
	if withSystem {
		spaces = append(spaces, SystemNamespace)
		c.SystemOptIn = r.IntN(3) > 0
	}

	// Deployments: 2 to 6, 1 to 5 replicas, look-alike labels, the same
	// labels in several namespaces; a PDB of random strictness on some.
	nDep := 2 + r.IntN(5)
	for i := range nDep {
		ns := spaces[0] // half of the workloads in the first namespace, usually opted in
		if r.IntN(2) == 0 {
			ns = spaces[r.IntN(len(spaces))]
		}
		labels := map[string]string{"app": pick(r, apps()), "tier": pick(r, tiers())}
		if r.IntN(2) == 0 {
			labels["track"] = pick(r, tracks())
		}
		d := Deployment{Namespace: ns, Name: fmt.Sprintf("%s-d%d", c.Prefix, i), Labels: labels, Replicas: 1 + r.IntN(5)}
		if r.IntN(3) == 0 {
			v := r.IntN(d.Replicas + 2) // 0 .. replicas+1: from no protection to none allowed
			if r.IntN(2) == 0 {
				d.PDB = &PDB{MinAvailable: &v}
			} else {
				v = r.IntN(3)
				d.PDB = &PDB{MaxUnavailable: &v}
			}
		}
		c.Deployments = append(c.Deployments, d)
	}
	// Bare pods: 0 to 3, some terminating.
	for i := range r.IntN(4) {
		labels := map[string]string{"app": pick(r, apps()), "tier": pick(r, tiers())}
		c.Bare = append(c.Bare, BarePod{Namespace: spaces[r.IntN(len(spaces))], Name: fmt.Sprintf("%s-p%d", c.Prefix, i),
			Labels: labels, Terminating: r.IntN(3) == 0})
	}

	c.Exp = genExperiment(r, c, spaces)
	c.Op = genOperator(r, c, spaces)
	return c
}

func genExperiment(r *rand.Rand, c Case, spaces []string) Experiment {
	e := Experiment{Name: c.Prefix + "-blast", Method: "evict"}
	if r.IntN(3) == 0 {
		e.Method = "delete"
	}
	// Target namespaces: 1 to all of the case's, in random order.
	ns := slices.Clone(spaces)
	r.Shuffle(len(ns), func(i, j int) { ns[i], ns[j] = ns[j], ns[i] })
	e.Namespaces = ns[:1+r.IntN(len(ns))]
	if !slices.Contains(e.Namespaces, spaces[0]) && r.IntN(3) > 0 {
		e.Namespaces = append(e.Namespaces, spaces[0])
	}

	// One positive requirement (validation refuses selectors made only of
	// exclusions), then 0 to 2 more of any kind.
	positive := []func() Req{
		func() Req {
			return Req{Key: "app", Op: pick(r, []string{"=", "=="}), Values: []string{pick(r, apps())}}
		},
		func() Req { return Req{Key: "app", Op: "in", Values: pickN(r, apps(), 1+r.IntN(2))} },
		func() Req { return Req{Key: "tier", Op: "=", Values: []string{pick(r, tiers())}} },
		func() Req { return Req{Key: "tier", Op: "in", Values: pickN(r, tiers(), 2)} },
		func() Req { return Req{Key: "track", Op: "exists"} },
	}
	anyReq := append(slices.Clone(positive),
		func() Req { return Req{Key: "app", Op: "!=", Values: []string{pick(r, apps())}} },
		func() Req { return Req{Key: "tier", Op: "notin", Values: pickN(r, tiers(), 1+r.IntN(2))} },
		func() Req { return Req{Key: "track", Op: "!"} },
		func() Req { return Req{Key: "track", Op: "=", Values: []string{pick(r, tracks())}} },
	)
	// Most selectors start from the labels of a real workload (so that
	// cases touch something), the others from the vocabulary.
	e.Selector = []Req{positive[r.IntN(len(positive))]()}
	if d := c.Deployments[r.IntN(len(c.Deployments))]; r.IntN(4) > 0 {
		key := pick(r, []string{"app", "app", "tier"})
		e.Selector[0] = Req{Key: key, Op: "=", Values: []string{d.Labels[key]}}
		if !slices.Contains(e.Namespaces, d.Namespace) {
			e.Namespaces = append(e.Namespaces, d.Namespace)
		}
	}
	keys := map[string]bool{e.Selector[0].Key: true}
	for range r.IntN(3) / 2 { // 0, 0 or 1 more: each one narrows
		q := anyReq[r.IntN(len(anyReq))]()
		if keys[q.Key] { // one requirement per key keeps the selector readable
			continue
		}
		keys[q.Key] = true
		e.Selector = append(e.Selector, q)
	}

	if r.IntN(2) == 0 {
		e.MaxTargets = 1 + r.IntN(5)
	}
	switch r.IntN(3) {
	case 0:
		limit := 4
		if e.MaxTargets > 0 {
			limit = e.MaxTargets // validation: count must not exceed maxTargets
		}
		e.Count = 1 + r.IntN(limit)
	case 1:
		e.Percent = 1 + r.IntN(100)
	default:
		e.All = true
	}
	e.OnePerOwner = r.IntN(4) == 0
	if r.IntN(6) == 0 {
		e.MinAge = time.Hour // far above any generated pod's age: all too young
	}
	if r.IntN(2) == 0 {
		v := r.IntN(3)
		e.MinHealthy = &v
	}
	return e
}

func genOperator(r *rand.Rand, c Case, spaces []string) Operator {
	op := Operator{RequireOptIn: r.IntN(5) > 0}
	if r.IntN(3) == 0 {
		op.MaxTargets = 1 + r.IntN(4)
	}
	if r.IntN(3) == 0 {
		op.MinHealthy = r.IntN(3)
	}
	if slices.Contains(spaces, SystemNamespace) && r.IntN(2) == 0 {
		op.AllowSystem = []string{SystemNamespace}
	}
	// Exclusions: look-alikes of the case's namespaces, some of them
	// targets; never a lifted one (naming it in both lists is an error).
	for _, ns := range c.Namespaces {
		if r.IntN(4) == 0 {
			op.Exclude = append(op.Exclude, ns.Name)
		}
	}
	if r.IntN(4) == 0 {
		op.Exclude = append(op.Exclude, c.Prefix+"-sho") // a prefix look-alike that protects nothing
	}
	return op
}

func pick(r *rand.Rand, from []string) string { return from[r.IntN(len(from))] }

func pickN(r *rand.Rand, from []string, n int) []string {
	c := slices.Clone(from)
	r.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
	return c[:n]
}
