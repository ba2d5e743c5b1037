package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chaosnight/chaosnight/bench/internal/cluster"
	"github.com/chaosnight/chaosnight/pkg/journal"
)

// results is what one run of the bench measured, for render.
type results struct {
	env      env
	opts     options
	fillTook time.Duration
	night    nightResult
	runs     []runResult // night.runs, for the "anything measured" check
}

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

func (s stats) ms() string {
	return fmt.Sprintf("%.0f ms (%.0f–%.0f)", s.med*1000, s.lo*1000, s.hi*1000)
}

// analysis is what render derives from the night.
type analysis struct {
	firstStart time.Duration   // opening → the first journal `started`
	gaps       []time.Duration // started[i] − ended[i−1]
	overheads  []time.Duration // ended − started − declared duration − the recover phase
	phases     []string        // phase names in the order first seen
	phaseTimes map[string][]float64
	killed     int
	verdicts   map[string]int
}

func analyse(n nightResult) analysis {
	a := analysis{phaseTimes: map[string][]float64{}, verdicts: map[string]int{}}
	for i, r := range n.runs {
		if i == 0 {
			a.firstStart = r.started.Sub(n.opens)
		} else {
			a.gaps = append(a.gaps, r.started.Sub(n.runs[i-1].ended))
		}
		// spec.recovery is a limit: the recover phase ends as soon as the
		// hypothesis holds again, so what it took is observation, not
		// serve's overhead.
		a.overheads = append(a.overheads, r.ended.Sub(r.started)-r.declared-r.phases[journal.PhaseRecover])
		a.killed += r.killed
		a.verdicts[r.verdict]++
	}
	for _, r := range n.runs {
		for _, p := range []string{journal.PhasePreflight, journal.PhaseSelect, journal.PhaseInject, journal.PhaseObserve, journal.PhaseRevert, journal.PhaseRecover} {
			if d, ok := r.phases[p]; ok {
				if !slices.Contains(a.phases, p) {
					a.phases = append(a.phases, p)
				}
				a.phaseTimes[p] = append(a.phaseTimes[p], d.Seconds())
			}
		}
	}
	return a
}

func seconds(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = d.Seconds()
	}
	return out
}

func mibKiB(kib int64) float64 { return float64(kib) / 1024 }

// render writes the Markdown of bench/results-servescale.md.
func render(r results) string {
	var w strings.Builder
	n, o := r.night, r.opts
	a := analyse(n)
	fmt.Fprintf(&w, "# serve at scale: a night of %d experiments against %d pods\n\n", o.played, o.namespaces*(cluster.PodsPerNS+cluster.OtherPerNS)+cluster.PodsPerNS)
	fmt.Fprintf(&w, "`go run ./bench/servescale` (see its doc comment for the method). Date %s UTC; chaosnight %s; %s; %s.\n",
		r.env.date.Format("2006-01-02 15:04"), r.env.commit, r.env.versions, r.env.goVersion)
	fmt.Fprintf(&w, "Machine: %s, %d cores, shared; 1-minute load average %s before the night, %s after (1, 5, 15 min). Whole bench %s (filling the sandbox %s).\n\n",
		r.env.cpu, r.env.cores, r.env.loadBefore, r.env.loadAfter, r.env.total.Round(time.Second), r.fillTook.Round(time.Second))
	fmt.Fprintf(&w, "- serve: `--dry-run=false --leader-elect=false`, %d experiments loaded (`chaosnight_experiments_loaded` %.0f), ready %s after exec; ",
		o.loaded, n.loaded, n.serveReady.Round(time.Millisecond))
	fmt.Fprintf(&w, "the night selects %d of them (`group=night`, name order) in a window opening at %s UTC.\n", o.played, n.opens.Format("15:04:05"))
	fmt.Fprintf(&w, "- each experiment: podKill delete of `pick: {count: 1}` among the app=bench pods of %d namespaces (%d matching pods), probe `vector(1)`, duration %s, recovery %s, probeInterval 1s, minHealthy 1 (the default).\n",
		o.namespaces, o.namespaces*cluster.PodsPerNS, o.duration, o.recovery)
	fmt.Fprintf(&w, "- verdicts: %s; pods killed: %d.\n\n", describeCounts(a.verdicts), a.killed)

	fmt.Fprintln(&w, "## Decision latency and overhead")
	fmt.Fprintln(&w, "\n| measure | median (min–max) | what |")
	fmt.Fprintln(&w, "| --- | --- | --- |")
	fmt.Fprintf(&w, "| opening → first `started` | %d ms | journal `started` of the first experiment − the window's opening |\n", a.firstStart.Milliseconds())
	fmt.Fprintf(&w, "| gap between experiments | %s | `started` of one − `ended` of the one before (%d gaps) |\n", summarize(seconds(a.gaps)).ms(), len(a.gaps))
	fmt.Fprintf(&w, "| per-experiment overhead | %s | `ended` − `started` − duration (%s) − the recover phase (recovery, up to %s, ends as soon as the hypothesis holds again) |\n", summarize(seconds(a.overheads)).ms(), o.duration, o.recovery)
	for _, p := range a.phases {
		fmt.Fprintf(&w, "| phase `%s` | %s | from the journal's phases |\n", p, summarize(a.phaseTimes[p]).ms())
	}

	fmt.Fprintln(&w, "\n## Memory over the night")
	renderMemory(&w, n)

	fmt.Fprintln(&w, "\n## API requests")
	renderRequests(&w, n, o)

	fmt.Fprintln(&w, "\n## Every experiment")
	fmt.Fprintln(&w, "\n| # | experiment | verdict | started (since opening) | wall | overhead | gap before | killed | VmRSS at end | peak VmRSS during | Go heap in use after | select note |")
	fmt.Fprintln(&w, "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for i, run := range n.runs {
		gap := "—"
		if i > 0 {
			gap = fmt.Sprintf("%d ms", a.gaps[i-1].Milliseconds())
		}
		heap := "—"
		if run.heapEndOK {
			heap = fmt.Sprintf("%.1f MiB", run.heapEnd/(1<<20))
		}
		fmt.Fprintf(&w, "| %d | %s | %s | %.2f s | %.2f s | %d ms | %s | %d | %.1f MiB | %.1f MiB | %s | %s |\n",
			i+1, run.name, run.verdict, run.started.Sub(n.opens).Seconds(), run.ended.Sub(run.started).Seconds(), a.overheads[i].Milliseconds(),
			gap, run.killed, mibKiB(run.rssEnd), mibKiB(run.rssMax), heap, run.selectNote)
	}
	fmt.Fprintf(&w, "\nserve's log, last lines:\n\n```\n%s\n```\n", n.serveLog)
	return w.String()
}

func renderMemory(w *strings.Builder, n nightResult) {
	var before, maxAll int64
	var beforeHeap float64
	for _, s := range n.samples {
		if s.at.Before(n.opens) {
			before = s.rssKiB
			if s.heapOK {
				beforeHeap = s.heapInuse
			}
		}
		maxAll = max(maxAll, s.rssKiB)
	}
	if len(n.runs) == 0 {
		return
	}
	first, last := n.runs[0], n.runs[len(n.runs)-1]
	var ends []float64
	for _, r := range n.runs {
		ends = append(ends, mibKiB(r.rssEnd))
	}
	e := summarize(ends)
	fmt.Fprintf(w, "\nVmRSS sampled every 250 ms from /proc/PID/status (%d samples), Go heap in use from serve's /metrics every second.\n\n", len(n.samples))
	fmt.Fprintln(w, "| | VmRSS | Go heap in use |")
	fmt.Fprintln(w, "| --- | --- | --- |")
	fmt.Fprintf(w, "| idle, before the opening | %.1f MiB | %.1f MiB |\n", mibKiB(before), beforeHeap/(1<<20))
	fmt.Fprintf(w, "| after the first experiment (%s) | %.1f MiB | %s |\n", first.name, mibKiB(first.rssEnd), heapCell(first))
	fmt.Fprintf(w, "| after the last experiment (%s) | %.1f MiB | %s |\n", last.name, mibKiB(last.rssEnd), heapCell(last))
	fmt.Fprintf(w, "| after each experiment, median (min–max) | %.1f MiB (%.1f–%.1f) | |\n", e.med, e.lo, e.hi)
	fmt.Fprintf(w, "| peak over the night | %.1f MiB | |\n", mibKiB(maxAll))
	fmt.Fprintf(w, "| goroutines, before → after the night | %.0f → %.0f | |\n", n.goroutines0, n.goroutines1)
}

func heapCell(r runResult) string {
	if !r.heapEndOK {
		return "—"
	}
	return fmt.Sprintf("%.1f MiB", r.heapEnd/(1<<20))
}

func renderRequests(w *strings.Builder, n nightResult, o options) {
	night := n.nightEnd.Sub(n.opens).Seconds()
	fmt.Fprintf(w, "\nkube-apiserver's `apiserver_request_total` (watches and leases left out) over the night (the opening → the last journal read, %.0f s), divided by %d; ", night, o.played)
	fmt.Fprintf(w, "and the same counters over serve's idle %.0f s before the opening, scaled to the night's length: the background (controllers, kwok, the bench's own readings).\n\n", n.idle.Seconds())
	fmt.Fprintln(w, "| verb resource | night total | per experiment | idle background over as long | whose |")
	fmt.Fprintln(w, "| --- | --- | --- | --- | --- |")
	keys := make([]string, 0, len(n.nightReqs))
	for k := range n.nightReqs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return n.nightReqs[b] - n.nightReqs[a] })
	for _, k := range keys {
		bg := 0.0
		if n.idle > 0 {
			bg = float64(n.idleReqs[k]) * night / n.idle.Seconds()
		}
		fmt.Fprintf(w, "| %s | %d | %.1f | %.0f | %s |\n", k, n.nightReqs[k], float64(n.nightReqs[k])/float64(o.played), bg, whose(k))
	}
	fmt.Fprintf(w, "| **all** | %d | **%.1f** | | |\n", cluster.Sum(n.nightReqs), float64(cluster.Sum(n.nightReqs))/float64(o.played))
}

// whose says which client sends a request of this verb and resource in
// this bench: serve's own reads and writes, or the control plane's
// reaction to a kill (the ReplicaSet controller recreates the pod, the
// scheduler binds it, kwok sets its status), or both.
func whose(key string) string {
	switch key {
	case "GET configmaps":
		return "serve: the kill switch, read on every 1 s decision tick (the idle rate), and the state ConfigMap's claim"
	case "PUT configmaps", "POST configmaps":
		return "serve: the state ConfigMap, one claim per experiment"
	case "DELETE pods":
		return "serve: 1 per kill (the journal's); the others are the control plane completing the deletion"
	case "LIST pods", "GET deployments", "GET replicasets", "LIST namespaces", "GET namespaces", "LIST nodes":
		return "serve"
	case "POST events":
		return "serve (1 per kill) and the controllers"
	case "POST pods", "POST pods/binding", "PATCH pods/status", "PUT pods/status", "PUT replicasets/status", "PUT deployments/status",
		"PATCH events", "LIST limitranges":
		return "control plane: the killed pod's replacement"
	case "PUT endpoints", "POST endpoints", "GET endpoints", "LIST services":
		return "control plane (also when idle)"
	default:
		return ""
	}
}

func describeCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d %s", m[k], k)
	}
	return strings.Join(parts, ", ")
}
