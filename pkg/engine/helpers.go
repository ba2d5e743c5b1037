package engine

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
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

// touched says whether an injection changed anything in the cluster.
func touched(inj inject.Injection) bool {
	for _, o := range inj.Outcomes {
		switch o.Status {
		case inject.StatusKilled, inject.StatusEvicted, inject.StatusStressed:
			return true
		}
	}
	return false
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
