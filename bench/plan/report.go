package main

import (
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/chaosnight/chaosnight/bench/internal/cluster"
)

// stats are the median, minimum and maximum of a sample.
type stats struct{ med, lo, hi float64 }

func summarize(xs []float64) stats {
	if len(xs) == 0 {
		return stats{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stats{med: med, lo: s[0], hi: s[len(s)-1]}
}

func (s stats) format(unit string, prec int) string {
	if unit != "" {
		unit = " " + unit
	}
	return fmt.Sprintf("%.*f%s (%.*f–%.*f)", prec, s.med, unit, prec, s.lo, prec, s.hi)
}

func collect[T any](xs []T, f func(T) float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// report prints the results as the Markdown tables of
// bench/results-plan.md.
func report(w io.Writer, r results) {
	if len(r.plans) > 0 {
		reportPlans(w, r)
	}
	if len(r.kills) > 0 {
		reportKills(w, r.kills)
	}
	if len(r.chaoskubeKills) > 0 {
		reportChaoskubeKills(w, r)
	}
	if r.profile != "" {
		fmt.Fprintf(w, "\n%s\n", r.profile)
	}
}

// reportPlans is the dry runs' tables, and chaoskube's beside them.
func reportPlans(w io.Writer, r results) {
	fmt.Fprintf(w, "\n## chaosnight run --dry-run: median (min–max) of %d runs\n\n", r.runs)
	fmt.Fprintf(w, "%s; %d CPUs; 1-minute load average during the runs %s\n\n", r.versions, r.cpus,
		summarize(collect(r.plans, func(p planResult) float64 { return p.load })).format("", 1))
	for _, bin := range r.bins {
		fmt.Fprintf(w, "- %s: `chaosnight version` peaks at %.1f MiB RSS (the binary's floor)\n", bin.label, mib(bin.floor))
	}
	fmt.Fprintln(w, "\n| experiment | binary | whole process (wall) | select phase | LIST requests (select) | guard dry run | API requests, whole run | picked | peak RSS |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	var seen []scenario
	for _, p := range r.plans {
		if !slices.Contains(seen, p.scenario) {
			seen = append(seen, p.scenario)
		}
	}
	for _, sc := range seen {
		for _, bin := range r.bins {
			planRow(w, r.plans, sc, bin)
		}
		rawRow(w, r.raw, sc)
	}
	fmt.Fprintln(w)
	for _, sc := range seen {
		ratioLine(w, r, sc)
	}
	for _, sc := range seen {
		i := slices.IndexFunc(r.plans, func(p planResult) bool { return p.scenario == sc && p.bin.path == r.bins[0].path })
		if i >= 0 {
			fmt.Fprintf(w, "- API requests of one run (%s, %s): %s; select note: %q\n", sc.label, r.bins[0].label, cluster.Describe(r.plans[i].requests), r.plans[i].selectNote)
		}
	}
	if len(r.chaoskubeRuns) > 0 {
		reportChaoskube(w, r, seen)
	}
}

// planRow is the row of one scenario and binary (none if it never ran).
func planRow(w io.Writer, plans []planResult, sc scenario, bin binary) {
	var rs []planResult
	for _, p := range plans {
		if p.scenario == sc && p.bin.path == bin.path {
			rs = append(rs, p)
		}
	}
	if len(rs) == 0 {
		return
	}
	wall := summarize(collect(rs, func(p planResult) float64 { return p.wall.Seconds() }))
	sel := summarize(collect(rs, func(p planResult) float64 { return p.selectTook.Seconds() }))
	grd := summarize(collect(rs, func(p planResult) float64 { return p.injectTook.Seconds() }))
	reqs := summarize(collect(rs, func(p planResult) float64 { return float64(p.selectReqs) }))
	api := summarize(collect(rs, func(p planResult) float64 { return float64(p.apiRequests) }))
	picked := summarize(collect(rs, func(p planResult) float64 { return float64(p.planned) }))
	rss := summarize(collect(rs, func(p planResult) float64 { return mib(p.maxRSS) }))
	listReqs := "n/a"
	if reqs.lo >= 0 {
		listReqs = fmt.Sprintf("%.0f", reqs.med)
	}
	fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %.0f (%.0f–%.0f) | %.0f | %s |\n",
		sc.label, bin.label, wall.format("s", 2), sel.format("s", 3), listReqs, grd.format("s", 3), api.med, api.lo, api.hi, picked.med, rss.format("MiB", 1))
}

// rawRow is the reference row of a scenario: the raw protobuf LIST of the
// same pods, in-process, measured in the same runs.
func rawRow(w io.Writer, raws []rawList, sc scenario) {
	var rs []rawList
	for _, r := range raws {
		if r.scenario == sc {
			rs = append(rs, r)
		}
	}
	if len(rs) == 0 {
		return
	}
	took := summarize(collect(rs, func(r rawList) float64 { return r.took.Seconds() }))
	scopes := "1 cluster-wide LIST"
	if sc.namespaces != nsBig {
		scopes = fmt.Sprintf("%d LISTs, one per namespace", sc.namespaces)
	}
	fmt.Fprintf(w, "| %s | raw protobuf LIST of the same %d pods (reference: %s, in-process, no process start) | %s | | | | | | |\n",
		sc.label, rs[0].pods, scopes, took.format("s", 3))
}

// ratioLine says how the whole dry run compares with the raw LIST.
func ratioLine(w io.Writer, r results, sc scenario) {
	var walls, raws []float64
	for _, p := range r.plans {
		if p.scenario == sc && p.bin.path == r.bins[0].path {
			walls = append(walls, p.wall.Seconds())
		}
	}
	for _, x := range r.raw {
		if x.scenario == sc {
			raws = append(raws, x.took.Seconds())
		}
	}
	if len(walls) == 0 || len(raws) == 0 {
		return
	}
	wall, raw := summarize(walls), summarize(raws)
	fmt.Fprintf(w, "- %s: whole dry run %.3f s = %.2f× the raw LIST (%.3f s), medians\n", sc.label, wall.med, wall.med/raw.med, raw.med)
}

// reportKills is the kills table: one row per client rate limit.
func reportKills(w io.Writer, kills []killResult) {
	fmt.Fprintln(w, "\n## 100 real pod kills (podKill delete, pick count 100 across 100 namespaces, minHealthy 0)")
	fmt.Fprintln(w, "\n| client rate | inject phase (guard + 100 DELETEs + 100 Events) | pods/s | whole process (wall) | peak RSS |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- |")
	type key struct {
		qps   float64
		burst int
	}
	var keys []key
	for _, k := range kills {
		if kk := (key{k.qps, k.burst}); !slices.Contains(keys, kk) {
			keys = append(keys, kk)
		}
	}
	slices.SortFunc(keys, func(a, b key) int { return cmp.Compare(a.qps, b.qps) })
	for _, kk := range keys {
		var rs []killResult
		for _, k := range kills {
			if k.qps == kk.qps && k.burst == kk.burst {
				rs = append(rs, k)
			}
		}
		inj := summarize(collect(rs, func(k killResult) float64 { return k.injectTook.Seconds() }))
		rate := summarize(collect(rs, func(k killResult) float64 { return 100 / k.injectTook.Seconds() }))
		wall := summarize(collect(rs, func(k killResult) float64 { return k.wall.Seconds() }))
		rss := summarize(collect(rs, func(k killResult) float64 { return mib(k.maxRSS) }))
		fmt.Fprintf(w, "| --kube-qps %g --kube-burst %d | %s | %s | %s | %s |\n", kk.qps, kk.burst,
			inj.format("s", 2), rate.format("", 0), wall.format("s", 1), rss.format("MiB", 1))
	}
}

// reportChaoskube is the same-run comparison with chaoskube: for each
// scenario chaoskube ran, chaosnight's (this tree's) dry runs and
// chaoskube's, from the same interleaved runs.
func reportChaoskube(w io.Writer, r results, seen []scenario) {
	fmt.Fprintf(w, "\n## chaoskube in the same runs (%s), median (min–max) of %d runs each, interleaved\n\n", r.chaoskubeVersion, r.runs)
	fmt.Fprintf(w, "- chaoskube: `chaoskube --version` peaks at %.1f MiB RSS\n", mib(r.chaoskubeFloor))
	args := chaoskubeArgs("KUBECONFIG", scenario{}, 0)
	for i, a := range args {
		switch {
		case strings.HasPrefix(a, "--namespaces="):
			args[i] = "--namespaces=NS,…"
		case strings.HasPrefix(a, "--max-kill="):
			args[i] = "--max-kill=N"
		}
	}
	fmt.Fprintf(w, "- chaoskube ran as `chaoskube %s`, with NS,… the experiment's namespaces and N chaosnight's pick (10 or 100)\n", strings.Join(args, " "))
	fmt.Fprintln(w, "\n| experiment | tool | start → plan ready | whole process (wall) | API requests, whole run | victims / picked | peak RSS |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- | --- | --- |")
	for _, sc := range seen {
		var ks []chaoskubeRun
		for _, k := range r.chaoskubeRuns {
			if k.scenario == sc {
				ks = append(ks, k)
			}
		}
		if len(ks) == 0 {
			continue
		}
		var ps []planResult
		for _, p := range r.plans {
			if p.scenario == sc && p.bin.path == r.bins[0].path {
				ps = append(ps, p)
			}
		}
		if len(ps) > 0 {
			ready := summarize(collect(ps, func(p planResult) float64 { return p.planReady.Seconds() }))
			wall := summarize(collect(ps, func(p planResult) float64 { return p.wall.Seconds() }))
			api := summarize(collect(ps, func(p planResult) float64 { return float64(p.apiRequests) }))
			picked := summarize(collect(ps, func(p planResult) float64 { return float64(p.planned) }))
			rss := summarize(collect(ps, func(p planResult) float64 { return mib(p.maxRSS) }))
			fmt.Fprintf(w, "| %s | chaosnight %s: `run --dry-run` (select phase's end; the whole run adds the guard: opt-in, minHealthy, gate) | %s | %s | %.0f (%.0f–%.0f) | %.0f | %s |\n",
				sc.label, r.bins[0].label, ready.format("s", 3), wall.format("s", 2), api.med, api.lo, api.hi, picked.med, rss.format("MiB", 1))
		}
		ready := summarize(collect(ks, func(k chaoskubeRun) float64 { return k.planReady.Seconds() }))
		done := summarize(collect(ks, func(k chaoskubeRun) float64 { return k.passDone.Seconds() }))
		api := summarize(collect(ks, func(k chaoskubeRun) float64 { return float64(cluster.Sum(k.requests)) }))
		victims := summarize(collect(ks, func(k chaoskubeRun) float64 { return float64(k.victims) }))
		rss := summarize(collect(ks, func(k chaoskubeRun) float64 { return mib(k.maxRSS) }))
		fmt.Fprintf(w, "| %s | chaoskube: one dry pass (\"found victims\"; no guard) | %s | pass done at %s; the process lives until --max-runtime | %.0f (%.0f–%.0f) | %.0f | %s |\n",
			sc.label, ready.format("s", 3), done.format("s", 3), api.med, api.lo, api.hi, victims.med, rss.format("MiB", 1))
	}
	fmt.Fprintln(w)
	for _, sc := range seen {
		for _, k := range r.chaoskubeRuns {
			if k.scenario == sc {
				fmt.Fprintf(w, "- API requests of one chaoskube run (%s): %s\n", sc.label, cluster.Describe(k.requests))
				break
			}
		}
	}
}

// reportChaoskubeKills is chaoskube's pass of 100 real kills.
func reportChaoskubeKills(w io.Writer, r results) {
	ks := r.chaoskubeKills
	kill := summarize(collect(ks, func(k chaoskubeRun) float64 { return (k.passDone - k.planReady).Seconds() }))
	ready := summarize(collect(ks, func(k chaoskubeRun) float64 { return k.planReady.Seconds() }))
	rss := summarize(collect(ks, func(k chaoskubeRun) float64 { return mib(k.maxRSS) }))
	fmt.Fprintf(w, "\n## chaoskube %s: one pass of 100 real kills (--no-dry-run --max-kill=100, one pod per ReplicaSet), client-go's default rate (5/s, burst 10), %d run(s)\n\n", r.chaoskubeVersion, len(ks))
	fmt.Fprintln(w, "| victims chosen (start →) | 100 DELETEs (\"found victims\" → \"sleeping...\"; Events sent asynchronously) | pods/s | peak RSS | API requests, whole process |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- |")
	fmt.Fprintf(w, "| %s | %s | %.1f | %s | %s |\n", ready.format("s", 2), kill.format("s", 2), 100/kill.med, rss.format("MiB", 1), cluster.Describe(ks[0].requests))
}
