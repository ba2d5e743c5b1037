package engine

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/stress"
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

// leftovers turns a failed revert into what is still in effect. The
// stress injector names each stress it could not stop and the instant it
// ends by itself; any other error leaves the whole injection in doubt,
// until the deadline its state records, if any.
func leftovers(inj inject.Injection, err error) []journal.Leftover {
	var nse *stress.NotStoppedError
	if errors.As(err, &nse) && len(nse.Items) > 0 {
		out := make([]journal.Leftover, 0, len(nse.Items))
		for _, it := range nse.Items {
			msg := ""
			if it.Err != nil {
				msg = it.Err.Error()
			}
			out = append(out, journal.Leftover{Injection: inj.Kind, What: it.What, Until: nse.Deadline, Error: msg})
		}
		return out
	}
	var until time.Time
	if d, ok := inj.State[stress.StateDeadline]; ok && inj.Kind == stress.Kind {
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

// actionWords describes the action for Events and logs.
func actionWords(exp *experiment.Experiment) string {
	switch a := exp.Spec.Action; {
	case a.PodKill != nil:
		return "pod kill (" + a.PodKill.Method + ")"
	case a.Stress != nil:
		return a.Stress.Scope + "-scope stress"
	}
	return "unknown action"
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
