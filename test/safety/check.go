package safety

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// PodState is one pod as the API server showed it.
type PodState struct {
	Namespace, Name, UID string
	Group                string // GroupLabel
	Terminating          bool   // deletionTimestamp set
}

// Observation is what one case's runs did, read from the API server and
// the journals.
type Observation struct {
	// Before and After are the pods of the case's namespaces (and
	// kube-public) by UID, before the real run and after it.
	Before, After map[string]PodState
	// BeforeDry is the same before the dry run: the dry run changes nothing.
	BeforeDry map[string]PodState
	// Journal is the real run's touched pods (outcomes evicted or killed)
	// by UID; PDBRefused its protected-by-pdb ones.
	Journal, PDBRefused map[string]bool
	// Events are the UIDs of the pods the real run's ChaosInjected Events
	// name.
	Events map[string]bool
	// Planned are the dry run's dry-run outcomes by UID.
	Planned map[string]bool
	// Verdict and DryVerdict are the two journals' verdicts.
	Verdict, DryVerdict string
	// InitialReady and LeastReady are each group's ready pods when the
	// real run started and the least seen while it ran (Track).
	InitialReady, LeastReady map[string]int
}

// Changed are the pods the real run touched as the API server shows it:
// gone (deleted, evicted, replaced by a pod with another UID) or newly
// terminating.
func (ob Observation) Changed() map[string]bool {
	out := map[string]bool{}
	for uid, p := range ob.Before {
		a, ok := ob.After[uid]
		if !ok || a.Terminating && !p.Terminating {
			out[uid] = true
		}
	}
	return out
}

// Check returns every invariant the observation breaks for case c under
// oracle o, one line each; none when it holds.
func Check(c Case, o Oracle, ob Observation) []string {
	var v []string
	bad := func(format string, args ...any) { v = append(v, fmt.Sprintf(format, args...)) }
	changed := ob.Changed()
	pod := func(uid string) PodState {
		if p, ok := ob.Before[uid]; ok {
			return p
		}
		return PodState{UID: uid, Name: "?" + uid}
	}
	key := func(uid string) string { p := pod(uid); return p.Namespace + "/" + p.Name }

	// 1. The three records of what was touched agree.
	if !maps.Equal(changed, ob.Journal) {
		bad("the journal's touched pods %v differ from the pods the API server shows gone or terminating %v", keys(ob.Journal, key), keys(changed, key))
	}
	if !maps.Equal(ob.Events, ob.Journal) {
		bad("the ChaosInjected Events %v differ from the journal's touched pods %v", keys(ob.Events, key), keys(ob.Journal, key))
	}
	// 2. Every pod touched (by any record) is in the oracle's set; a pod
	// outside it is a decoy.
	all := map[string]bool{}
	for _, m := range []map[string]bool{changed, ob.Journal, ob.Events} {
		maps.Copy(all, m)
	}
	perGroup := map[string]int{}
	for _, uid := range slices.Sorted(maps.Keys(all)) {
		p := pod(uid)
		if !o.May[p.Group] {
			why := o.Why[p.Group]
			if why == "" {
				why = "not a pod of the case"
			}
			bad("decoy touched: %s (group %q: %s)", key(uid), p.Group, why)
			continue
		}
		perGroup[p.Group]++
	}
	// 3. Counts: maxTargets, pick, minHealthy and PDB allowance per group.
	if n := len(all); n > o.MaxTargets {
		bad("%d pods touched, maxTargets is %d", n, o.MaxTargets)
	}
	if n := len(all); n > o.PickN {
		bad("%d pods touched, pick takes %d of %d selected", n, o.PickN, o.Selected)
	}
	for _, g := range slices.Sorted(maps.Keys(perGroup)) {
		if n := perGroup[g]; n > o.GroupCap[g] {
			bad("%d pods of %s touched, at most %d allowed (minHealthy %d, onePerOwner %v)",
				n, g, o.GroupCap[g], o.MinHealthy, c.Exp.OnePerOwner)
		}
	}
	v = append(v, checkReady(o, ob)...)
	// 4. The verdict is earned.
	switch {
	case len(ob.Journal) == 0 && ob.Verdict != "skipped":
		bad("nothing was touched but the verdict is %q (must be skipped)", ob.Verdict)
	case len(ob.Journal) > 0 && ob.Verdict == "skipped":
		bad("%d pods touched but the verdict is skipped", len(ob.Journal))
	}
	// 5. The dry run touched nothing and planned what the real run then
	// did: the touched pods plus those a PDB refused at eviction time (a
	// plan is made without asking the Eviction API).
	if !maps.Equal(uids(ob.BeforeDry), uids(ob.Before)) {
		bad("the dry run changed pods: before it %v, after it %v", sortedKeys(uids(ob.BeforeDry)), sortedKeys(uids(ob.Before)))
	}
	if ob.DryVerdict != "dry-run" && ob.DryVerdict != "skipped" {
		bad("the dry run's verdict is %q", ob.DryVerdict)
	}
	wantPlan := maps.Clone(ob.Journal)
	maps.Copy(wantPlan, ob.PDBRefused)
	if !maps.Equal(ob.Planned, wantPlan) {
		bad("the dry run planned %v, the real run touched %v and the PDBs refused %v", keys(ob.Planned, key), keys(ob.Journal, key), keys(ob.PDBRefused, key))
	}
	return v
}

// checkReady is invariant 3b: at no instant did a workload have fewer
// ready pods than minHealthy, nor (evict mode) a PDB fewer than it wants,
// unless it already had at the start.
func checkReady(o Oracle, ob Observation) []string {
	var v []string
	for _, g := range slices.Sorted(maps.Keys(ob.LeastReady)) {
		least, initial := ob.LeastReady[g], ob.InitialReady[g]
		if least >= initial {
			continue
		}
		if least < o.MinHealthy {
			v = append(v, fmt.Sprintf("%s fell to %d ready pods (from %d), minHealthy is %d", g, least, initial, o.MinHealthy))
		}
		if want, ok := o.PDBDesired[g]; ok && o.Evict && least < want {
			v = append(v, fmt.Sprintf("the PodDisruptionBudget of %s fell to %d healthy pods (from %d), it wants %d", g, least, initial, want))
		}
	}
	return v
}

func uids(m map[string]PodState) map[string]bool {
	out := make(map[string]bool, len(m))
	for uid := range m {
		out[uid] = true
	}
	return out
}

func sortedKeys(m map[string]bool) []string { return slices.Sorted(maps.Keys(m)) }

// keys renders a set of UIDs as sorted namespace/name.
func keys(m map[string]bool, key func(string) string) string {
	out := make([]string, 0, len(m))
	for uid := range m {
		out = append(out, key(uid))
	}
	sort.Strings(out)
	return "[" + strings.Join(out, " ") + "]"
}
