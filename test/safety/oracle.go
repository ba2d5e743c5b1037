package safety

import (
	"slices"
	"time"
)

// defaultMaxTargets and defaultMinHealthy are the experiment format's
// documented defaults (README, "The experiment format"), restated here:
// the oracle follows the documentation, not the code it checks.
const (
	defaultMaxTargets = 10
	defaultMinHealthy = 1
)

// Oracle is what the rules allow for one case, decided from the generated
// state alone: per group (Deployment or bare pod) whether its pods may be
// touched and how many of them at most, and bounds on the whole run.
type Oracle struct {
	// May holds the groups whose pods may be touched.
	May map[string]bool
	// GroupCap is how many pods of a group may be touched (minHealthy,
	// the PDB's allowance in evict mode, onePerOwner).
	GroupCap map[string]int
	// Why says, for every group not in May, the first rule that keeps it.
	Why map[string]string
	// Selected is the number of pods the experiment selects before the
	// guard (namespace, labels, not terminating, old enough): what pick
	// counts from.
	Selected int
	// MaxTargets is the effective ceiling; PickN what pick takes of Selected.
	MaxTargets, MinHealthy, PickN int
	// PDBAllowed is each PDB's disruptionsAllowed in the generated state
	// (by its Deployment's name), as the disruption controller computes it;
	// PDBDesired its desired healthy pods.
	PDBAllowed, PDBDesired map[string]int
	// Evict says the run evicts (PDBs hold) rather than deletes.
	Evict bool
}

// Bound is the most pods the run may touch in all.
func (o Oracle) Bound() int { return min(o.MaxTargets, o.PickN) }

// Protected is the protection floor plus the operator's deny list, minus
// what the operator lifted (only system namespaces can be lifted).
func Protected(op Operator) map[string]bool {
	p := map[string]bool{OwnNamespace: true}
	for _, ns := range []string{"kube-system", "kube-public", "kube-node-lease"} {
		if !slices.Contains(op.AllowSystem, ns) {
			p[ns] = true
		}
	}
	for _, ns := range op.Exclude {
		p[ns] = true
	}
	return p
}

// optedIn reports the opt-in label of ns in case c.
func (c Case) optedIn(ns string) bool {
	if ns == SystemNamespace {
		return c.SystemOptIn
	}
	for _, n := range c.Namespaces {
		if n.Name == ns {
			return n.OptIn
		}
	}
	return false
}

// matches reports whether labels in ns are selected by the experiment's
// namespaces and selector.
func (e Experiment) matches(ns string, labels map[string]string) bool {
	if !slices.Contains(e.Namespaces, ns) {
		return false
	}
	for _, r := range e.Selector {
		if !r.Matches(labels) {
			return false
		}
	}
	return true
}

// DesiredHealthy is the healthy pods a PDB over d wants.
func DesiredHealthy(d Deployment) int {
	desired := 0
	switch {
	case d.PDB.MinAvailable != nil:
		desired = *d.PDB.MinAvailable
	case d.PDB.MaxUnavailable != nil:
		// Never below 0: a budget that allows more than there is
		// allows what there is (the disruption controller's rule; the
		// first version of this oracle missed it, and Ready's check of
		// the controller's own status caught it at seed 27).
		desired = max(d.Replicas-*d.PDB.MaxUnavailable, 0)
	}
	return desired
}

// DisruptionsAllowed is a PDB's allowance over a Deployment whose pods are
// all ready: healthy minus desired healthy, never negative.
func DisruptionsAllowed(d Deployment) int { return max(d.Replicas-DesiredHealthy(d), 0) }

// Compute is the oracle of case c. Every generated pod is Running and
// Ready when the run starts (the test waits for it) and younger than an
// hour, so age only matters through MinAge.
func Compute(c Case) Oracle {
	e, op := c.Exp, c.Op
	o := Oracle{May: map[string]bool{}, GroupCap: map[string]int{}, Why: map[string]string{}, PDBAllowed: map[string]int{}, PDBDesired: map[string]int{}, Evict: e.Method == "evict"}
	o.MaxTargets = e.MaxTargets
	if o.MaxTargets == 0 {
		o.MaxTargets = defaultMaxTargets
	}
	if op.MaxTargets > 0 && op.MaxTargets < o.MaxTargets {
		o.MaxTargets = op.MaxTargets
	}
	o.MinHealthy = defaultMinHealthy
	if e.MinHealthy != nil {
		o.MinHealthy = *e.MinHealthy
	}
	o.MinHealthy = max(o.MinHealthy, op.MinHealthy)
	protected := Protected(op)
	tooYoung := e.MinAge > time.Minute

	// eligible decides one group: the first rule that keeps it, or "".
	eligible := func(ns string, labels map[string]string, terminating bool, ready int) string {
		switch {
		case !e.matches(ns, labels):
			return "not selected"
		case terminating:
			return "terminating"
		case tooYoung:
			return "younger than minAge"
		}
		o.Selected += ready
		lifted := ns == SystemNamespace && slices.Contains(op.AllowSystem, ns)
		switch {
		case protected[ns]:
			return "protected namespace"
		case (op.RequireOptIn || lifted) && !c.optedIn(ns):
			return "not opted in"
		case ready-o.MinHealthy < 1:
			return "minHealthy"
		}
		return ""
	}
	for _, d := range c.Deployments {
		why := eligible(d.Namespace, d.Labels, false, d.Replicas)
		capN := d.Replicas - o.MinHealthy
		if d.PDB != nil {
			o.PDBAllowed[d.Name] = DisruptionsAllowed(d)
			o.PDBDesired[d.Name] = DesiredHealthy(d)
			// An eviction needs an allowance: with none at the start, the
			// API server refuses every one (nothing becomes ready again
			// before something is evicted). With some, the replacements
			// of kwok pods are Ready at once and renew it, so the count
			// is not capped here; Check watches the ready pods instead.
			if e.Method == "evict" && o.PDBAllowed[d.Name] == 0 && why == "" {
				why = "PodDisruptionBudget allows 0"
			}
		}
		o.decide(d.Name, why, capN, e.OnePerOwner)
	}
	for _, b := range c.Bare {
		why := eligible(b.Namespace, b.Labels, b.Terminating, 1)
		o.decide(b.Name, why, 1-o.MinHealthy, e.OnePerOwner)
	}
	o.PickN = pickCount(e, o.Selected)
	return o
}

func (o *Oracle) decide(group, why string, capN int, onePerOwner bool) {
	if why != "" {
		o.Why[group] = why
		return
	}
	if onePerOwner {
		capN = min(capN, 1)
	}
	o.May[group] = true
	o.GroupCap[group] = capN
}

// pickCount is the documented pick: count N (at most what there is),
// percent rounded up, all.
func pickCount(e Experiment, n int) int {
	switch {
	case e.All:
		return n
	case e.Percent > 0:
		return (n*e.Percent + 99) / 100
	}
	return min(e.Count, n)
}
