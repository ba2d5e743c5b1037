package target

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

// Exclusion is a pod that Eligible set aside, and why.
type Exclusion struct {
	Pod    Pod    `json:"pod"`
	Reason string `json:"reason"`
}

// HelperLabel marks chaosnight's own helper pods (pkg/inject/stress).
const HelperLabel = "chaosnight.dev/helper"

// Eligible keeps the pods that may become targets: running, not
// terminating, at least t.MinAge old. The API server already selected by
// namespace, labels and phase; Eligible checks namespace and labels again
// so that a pod from anywhere else can never slip through (for example from
// a caller that built the list itself). Every pod set aside is returned
// with its reason, in input order.
func Eligible(pods []Pod, t experiment.Target, now time.Time) (eligible []Pod, excluded []Exclusion) {
	inNamespace := make(map[string]bool, len(t.Namespaces))
	for _, ns := range t.Namespaces {
		inNamespace[ns] = true
	}
	sel, selErr := labels.Parse(t.Selector)
	if selErr == nil && sel.Empty() {
		selErr = fmt.Errorf("selector %q matches every pod", t.Selector)
	}
	minAge := t.MinAge.Duration
	eligible = make([]Pod, 0, len(pods))
	for _, p := range pods {
		reason := ""
		switch {
		case !inNamespace[p.Namespace]:
			reason = fmt.Sprintf("namespace %s is not a target namespace", p.Namespace)
		case selErr != nil:
			reason = fmt.Sprintf("invalid label selector: %v", selErr)
		case !sel.Matches(labels.Set(p.Labels)):
			reason = fmt.Sprintf("labels do not match selector %q", t.Selector)
		case p.Labels[HelperLabel] != "":
			// chaosnight's own stress helpers are never victims, whatever
			// the selector says.
			reason = "a chaosnight helper pod"
		case p.Phase != string(corev1.PodRunning):
			reason = fmt.Sprintf("phase %s, not Running", p.Phase)
		case p.Terminating:
			reason = "terminating"
		case minAge > 0 && now.Sub(p.Created) < minAge:
			reason = fmt.Sprintf("younger than minAge %s (age %s)", minAge, now.Sub(p.Created).Truncate(time.Second))
		}
		if reason != "" {
			excluded = append(excluded, Exclusion{Pod: p, Reason: reason})
			continue
		}
		eligible = append(eligible, p)
	}
	return eligible, excluded
}

// Pick chooses the targets among pods. The input is sorted by
// namespace/name first, so the choice depends only on the set of pods and
// the rng's seed, never on the order the API server returned them in; then
// it is shuffled with rng and the first n are taken, where n is
//
//   - count: min(count, len(pods));
//   - percent: ceil(len(pods)*percent/100), at least 1 when percent > 0;
//   - all: len(pods);
//   - nothing set: 1 (the experiment default).
//
// If several fields are set (Validate rejects that), the smallest n wins.
// With onePerOwner, at most one pod per owning workload is taken (a pod
// without controller is its own owner), so n can only shrink. A nil rng
// keeps the sorted order. pods is not modified; the result is in pick order.
func Pick(pods []Pod, p experiment.Pick, onePerOwner bool, rng *rand.Rand) []Pod {
	n := pickCount(p, len(pods))
	if n == 0 {
		return nil
	}
	c := slices.Clone(pods)
	slices.SortFunc(c, func(a, b Pod) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name), cmp.Compare(a.UID, b.UID))
	})
	if rng != nil {
		rng.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
	}
	if !onePerOwner {
		return c[:n:n]
	}
	out := make([]Pod, 0, n)
	owners := make(map[string]bool, n)
	for _, pod := range c {
		if len(out) == n {
			break
		}
		k := OwnerKey(pod)
		if owners[k] {
			continue
		}
		owners[k] = true
		out = append(out, pod)
	}
	return out
}

// pickCount is the number of pods Pick takes out of n.
func pickCount(p experiment.Pick, n int) int {
	if n <= 0 {
		return 0
	}
	want := n + 1 // larger than any answer: "unset"
	set := false
	if p.All {
		want, set = n, true
	}
	if p.Percent != nil {
		set = true
		k := 0
		if pct := *p.Percent; pct > 0 {
			k = (n*min(pct, 100) + 99) / 100 // ceil, and >= 1 since pct > 0
		}
		want = min(want, k)
	}
	if p.Count != nil {
		set = true
		want = min(want, max(*p.Count, 0))
	}
	if !set {
		want = 1
	}
	return min(want, n)
}

// pcgStream is the fixed second half of the PCG state: the seed alone
// decides the sequence.
const pcgStream = 0x9e3779b97f4a7c15

// NewRand returns a deterministic generator for seed: the same seed and the
// same candidate pods always give the same pick, so a run can be replayed
// from the seed recorded in its journal.
func NewRand(seed int64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(seed), pcgStream))
}

// NewSeed returns a fresh non-negative seed for runs that do not give one.
// Record it: it is what makes the pick reproducible.
func NewSeed() int64 {
	return rand.Int64() // math/rand/v2's top-level source is randomly seeded
}
