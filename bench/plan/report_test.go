package main

import (
	"strings"
	"testing"
	"time"
)

// TestReportRendersTheFigures: report turns the measured runs into the
// tables of results-plan.md (medians with their range), from the results
// alone.
func TestReportRendersTheFigures(t *testing.T) {
	sc := scenario{label: "10,000 pods, 100 namespaces", namespaces: nsBig}
	bin := binary{label: "this tree", path: "/tmp/chaosnight", floor: 29 << 20}
	run := func(wall, sel time.Duration, rss int64) planResult {
		return planResult{scenario: sc, bin: bin, childRun: childRun{load: 2, wall: wall, maxRSS: rss, requests: map[string]int{"LIST pods": 5, "GET namespaces": 62}},
			selectTook: sel, injectTook: 300 * time.Millisecond, selectReqs: 5, planned: 100, apiRequests: 67, selectNote: "5 list requests"}
	}
	r := results{runs: 3, versions: "kube-apiserver v1.36.3", cpus: 2, bins: []binary{bin},
		plans:            []planResult{run(600*time.Millisecond, 240*time.Millisecond, 51<<20), run(500*time.Millisecond, 250*time.Millisecond, 52<<20), run(700*time.Millisecond, 230*time.Millisecond, 50<<20)},
		kills:            []killResult{{qps: 50, burst: 100, childRun: childRun{wall: 5 * time.Second, maxRSS: 40 << 20}, injectTook: 3400 * time.Millisecond}},
		chaoskubeVersion: "58fc0b1", chaoskubeFloor: 20 << 20,
		chaoskubeRuns: []chaoskubeRun{{scenario: sc, planReady: 700 * time.Millisecond, passDone: 710 * time.Millisecond, victims: 100, maxRSS: 250 << 20,
			requests: map[string]int{"LIST pods": 1, "LIST namespaces": 1}}},
		chaoskubeKills: []chaoskubeRun{{kill: true, planReady: time.Second, passDone: 21 * time.Second, victims: 100, maxRSS: 260 << 20,
			requests: map[string]int{"DELETE pods": 100, "LIST pods": 1}}},
	}
	for i := range r.plans {
		r.plans[i].planReady = r.plans[i].selectTook + 100*time.Millisecond
	}
	var b strings.Builder
	report(&b, r)
	for _, want := range []string{
		"## chaosnight run --dry-run: median (min–max) of 3 runs\n",
		"kube-apiserver v1.36.3; 2 CPUs; 1-minute load average during the runs 2.0 (2.0–2.0)\n",
		"- this tree: `chaosnight version` peaks at 29.0 MiB RSS (the binary's floor)\n",
		"| 10,000 pods, 100 namespaces | this tree | 0.60 s (0.50–0.70) | 0.240 s (0.230–0.250) | 5 | 0.300 s (0.300–0.300) | 67 (67–67) | 100 | 51.0 MiB (50.0–52.0) |\n",
		"- API requests of one run (10,000 pods, 100 namespaces, this tree): 62 GET namespaces, 5 LIST pods; select note: \"5 list requests\"\n",
		"## chaoskube in the same runs (58fc0b1), median (min–max) of 3 runs each, interleaved\n",
		"- chaoskube: `chaoskube --version` peaks at 20.0 MiB RSS\n",
		"--namespaces=NS,… --max-kill=N --dry-run",
		"| 10,000 pods, 100 namespaces | chaosnight this tree: `run --dry-run` (select phase's end; the whole run adds the guard: opt-in, minHealthy, gate) | 0.340 s (0.330–0.350) | 0.60 s (0.50–0.70) | 67 (67–67) | 100 | 51.0 MiB (50.0–52.0) |\n",
		"| 10,000 pods, 100 namespaces | chaoskube: one dry pass (\"found victims\"; no guard) | 0.700 s (0.700–0.700) | pass done at 0.710 s (0.710–0.710); the process lives until --max-runtime | 2 (2–2) | 100 | 250.0 MiB (250.0–250.0) |\n",
		"- API requests of one chaoskube run (10,000 pods, 100 namespaces): 1 LIST namespaces, 1 LIST pods\n",
		"| 1.00 s (1.00–1.00) | 20.00 s (20.00–20.00) | 5.0 | 260.0 MiB (260.0–260.0) | 100 DELETE pods, 1 LIST pods |\n",
		"| --kube-qps 50 --kube-burst 100 | 3.40 s (3.40–3.40) | 29 (29–29) | 5.0 s (5.0–5.0) | 40.0 MiB (40.0–40.0) |\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
