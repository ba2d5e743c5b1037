package engine

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/probe"
	"github.com/chaosnight/chaosnight/pkg/target"
)

type randSource = *rand.Rand

// failed returns the results with a bad outcome: a violated hypothesis
// probe, a fired stop condition, or a probe that could not be evaluated.
func failed(results []probe.Result) []probe.Result {
	var out []probe.Result
	for _, r := range results {
		if !r.OK {
			out = append(out, r)
		}
	}
	return out
}

// errored returns the results that could not be evaluated.
func errored(results []probe.Result) []probe.Result {
	var out []probe.Result
	for _, r := range results {
		if r.Err != "" {
			out = append(out, r)
		}
	}
	return out
}

// firedStops returns the stop conditions that fired.
func firedStops(results []probe.Result) []probe.Result {
	var out []probe.Result
	for _, r := range results {
		if r.Role == probe.RoleStop && !r.OK {
			out = append(out, r)
		}
	}
	return out
}

func reasonsOf(results []probe.Result) []string {
	out := make([]string, 0, len(results))
	for _, r := range results {
		switch {
		case r.Reason != "":
			out = append(out, r.Reason)
		case r.Err != "":
			out = append(out, fmt.Sprintf("%s: %s", r.Probe, r.Err))
		default:
			out = append(out, r.Probe)
		}
	}
	return out
}

func prefix(p string, reasons []string) []string {
	out := make([]string, len(reasons))
	for i, r := range reasons {
		out[i] = p + r
	}
	return out
}

// touchedCount is how many targets an injection changed (killed, evicted,
// stressed).
func touchedCount(inj inject.Injection) int {
	n := 0
	for _, o := range inj.Outcomes {
		if inject.Touched(o.Status) {
			n++
		}
	}
	return n
}

// owesRevert says whether an injection may have left anything behind: it
// touched a target, or the injector recorded state (helper pods created,
// ephemeral containers added, directories written), which it does also
// for outcomes that count as failed. A refused injection never reached
// the injector and has neither.
func owesRevert(inj inject.Injection) bool {
	return len(inj.State) > 0 || touchedCount(inj) > 0
}

// maxListed bounds the targets a note names one by one: a pick of "all"
// can refuse thousands, and the journal's outcomes have every one.
const maxListed = 5

// coverageNote says what a round did not do: "" when every target was
// touched, "injected 1 of 3: NS/B: why; NS/C: why" for part of them, and
// "nothing was injected: ..." (round 1) or "round 3 touched nothing: ..."
// when none was.
func coverageNote(round, touched, targets int, inj inject.Injection) string {
	if touched >= targets && touched > 0 {
		return ""
	}
	var why []string
	missing := 0
	for _, o := range inj.Outcomes {
		if inject.Touched(o.Status) {
			continue
		}
		missing++
		if len(why) < maxListed {
			detail := o.Detail
			if detail == "" {
				detail = o.Status
			}
			why = append(why, o.Pod.Key()+": "+detail)
		}
	}
	if missing > len(why) {
		why = append(why, fmt.Sprintf("and %d more (the journal's outcomes list every target)", missing-len(why)))
	}
	if touched == 0 {
		if round == 1 {
			return "nothing was injected: " + strings.Join(why, "; ")
		}
		return roundWords(round, "touched nothing: ") + strings.Join(why, "; ")
	}
	return roundWords(round, "") + fmt.Sprintf("injected %d of %d: ", touched, targets) + strings.Join(why, "; ")
}

// roundWords prefixes a repeat's note with its number ("round 3 " + rest);
// the first round's notes need no number.
func roundWords(round int, rest string) string {
	if round <= 1 {
		return ""
	}
	return fmt.Sprintf("round %d %s", round, rest)
}

// leftovers turns a failed revert into what is still in effect. An
// injector's inject.LeftoverError names each thing it could not undo and
// the instant it ends by itself; any other error leaves the whole
// injection in doubt, until the deadline its state records, if any.
func leftovers(inj inject.Injection, err error) []journal.Leftover {
	var le inject.LeftoverError
	if errors.As(err, &le) {
		if items, until := le.Leftovers(); len(items) > 0 {
			out := make([]journal.Leftover, 0, len(items))
			for _, it := range items {
				msg := ""
				if it.Err != nil {
					msg = it.Err.Error()
				}
				out = append(out, journal.Leftover{Injection: inj.Kind, What: it.What, Until: until, Error: msg})
			}
			return out
		}
	}
	var until time.Time
	if d, ok := inj.State[inject.StateDeadline]; ok {
		until, _ = time.Parse(time.RFC3339, d) // unparsable stays zero: unknown
	}
	return []journal.Leftover{{Injection: inj.Kind, What: fmt.Sprintf("everything the %s injection of %s put in place", inj.Kind, inj.At.UTC().Format(time.RFC3339)), Until: until, Error: err.Error()}}
}

// describeOutcomes summarises outcomes as "2 evicted, 1 protected-by-pdb".
func describeOutcomes(inj inject.Injection) string {
	counts := map[string]int{}
	for _, o := range inj.Outcomes {
		counts[o.Status]++
	}
	if len(counts) == 0 {
		return "no target"
	}
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
	}
	return strings.Join(parts, ", ")
}

// countingWords says where minHealthy's ready counts came from, for the
// inject phase's note: the requests are part of what a plan costs.
func countingWords(c *inject.Counting) string {
	if c == nil || c.Owners == 0 {
		return ""
	}
	switch {
	case c.FromCensus == c.Owners:
		return fmt.Sprintf("; minHealthy: %s counted from the select phase's LIST, no request", plural(c.Owners, "owner"))
	case c.FromCensus > 0:
		return fmt.Sprintf("; minHealthy: %d of %s counted from the select phase's LIST, the rest read fresh (%s)",
			c.FromCensus, plural(c.Owners, "owner"), plural(c.Requests, "request"))
	}
	return fmt.Sprintf("; minHealthy: %s read fresh (%s)", plural(c.Owners, "owner"), plural(c.Requests, "request"))
}

// plural is "1 owner", "2 owners".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// actionWords describes the action for Events and logs, in its kind's
// words.
func actionWords(exp *experiment.Experiment) string {
	if w := exp.Spec.Action.Words().Action; w != "" {
		return w
	}
	return "unknown action"
}

// faultWords are the action's words for the journal; nil when its kind is
// not known.
func faultWords(exp *experiment.Experiment) *experiment.Words {
	if exp.Spec.Action.Fault() == nil {
		return nil
	}
	w := exp.Spec.Action.Words()
	return &w
}

// repeatEvery is the repeat period of an action whose kind repeats
// (podKill.every); 0 injects once.
func repeatEvery(a experiment.Action) time.Duration {
	if rep, ok := a.Fault().(inject.Repeater); ok && a.Spec != nil {
		return rep.Every(a.Spec)
	}
	return 0
}

// pick chooses the targets among the eligible pods: the injector's own
// choice when it is a TargetPicker, spec.target.pick otherwise. chosen
// says what a TargetPicker picked, for the journal.
func (r *run) pick(ctx context.Context, injector inject.Injector, eligible []target.Pod, rng *rand.Rand) (picked []target.Pod, chosen string, err error) {
	if p, ok := injector.(inject.TargetPicker); ok {
		return p.PickTargets(ctx, eligible, rng)
	}
	t := r.exp.Spec.Target
	return target.Pick(eligible, t.Pick, t.OnePerOwner, rng), "", nil
}

func minHealthy(exp *experiment.Experiment) int {
	if exp.Spec.Safety.MinHealthy != nil {
		return *exp.Spec.Safety.MinHealthy
	}
	return experiment.DefaultMinHealthy
}

// appendTarget adds p unless a pod with the same UID is already listed.
func appendTarget(list []target.Pod, p target.Pod) []target.Pod {
	for _, q := range list {
		if q.UID == p.UID {
			return list
		}
	}
	return append(list, p)
}
