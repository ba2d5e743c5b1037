package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

type spread struct {
	n                int
	min, median, max time.Duration
}

func spreadOf(ds []time.Duration) spread {
	if len(ds) == 0 {
		return spread{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{n: len(s), min: s[0], median: med, max: s[len(s)-1]}
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
}

// rng is "min–max", or one value when they round alike.
func (s spread) rng() string {
	if ms(s.min) == ms(s.max) {
		return ms(s.min)
	}
	return ms(s.min) + "–" + ms(s.max)
}

func (s spread) cells() string {
	if s.n == 0 {
		return "0 | — | — | —"
	}
	return fmt.Sprintf("%d | %s | %s | %s", s.n, ms(s.min), ms(s.median), ms(s.max))
}

// render writes the Markdown report.
func render(o options, e env, mem memResult, cycles []cycleResult) string {
	var start, pause, pauseObs, closeRev, closeObs, pauseCmd []time.Duration
	honored := false
	var offsets []string
	for _, c := range cycles {
		if c.err != nil {
			continue
		}
		honored = c.honored
		offsets = append(offsets, c.offset.Round(time.Millisecond).String())
		start = append(start, c.startLatency)
		pause = append(pause, c.pauseToRevertEnd)
		pauseObs = append(pauseObs, c.pauseToObserveEnd)
		pauseCmd = append(pauseCmd, c.pauseCmd)
		closeRev = append(closeRev, c.closeToRevertEnd)
		closeObs = append(closeObs, c.closeToObserveEnd)
	}
	sStart, sPause, sClose := spreadOf(start), spreadOf(pause), spreadOf(closeRev)
	rss := mib(mem.last.rss << 10)
	goal := float64(o.memGoal)
	met := "**met**"
	if rss >= goal {
		met = "**missed**"
	}

	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# `chaosnight serve`: start latency, abort-and-revert latency, idle memory\n\n")
	w("Measured by `go run ./bench/serve` (source in `bench/serve/`) on %s UTC.\n", e.date.Format("2006-01-02 15:04"))
	w("Machine: %s, %d cores, %s RAM, Linux %s, %s; load average (1/5/15 min) %s before, %s after; whole run %s.\n\n",
		e.cpu, e.cores, e.memory, e.kernel, e.goVersion, e.loadBefore, e.loadAfter, e.total.Round(time.Second))

	w("## Results\n\n")
	w("| measure | n | min | median | max | goal |\n| --- | --- | --- | --- | --- | --- |\n")
	w("| start latency after the cron tick (first experiment's journal `started` − window opening) | %s | — |\n", sStart.cells())
	w("| abort-and-revert at window close (journal revert end − closing instant) | %s | — |\n", sClose.cells())
	w("| abort-and-revert on pause (journal revert end − `chaosnight pause` issued: the command's start) | %s | within 2 s |\n", sPause.cells())
	w("| idle VmRSS after %s, 100 experiments loaded | 1 | — | %.1f MiB | — | < %d MiB: %s |\n", mem.window, rss, o.memGoal, met)
	w("\n")

	w("## Per window\n\n")
	w("T is the window's opening in real time. Pause and close columns: observation end / revert end, from the trigger (for pause: the instant the command started).\n\n")
	w("| # | --clock-offset | T (UTC) | start latency | `pause` command took | pause → observe end | pause → revert end | pause-a verdict | close-b observed at close | close → observe end | close → revert end | close-b verdict | queries held |\n")
	w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for i, c := range cycles {
		if c.err != nil {
			w("| %d | %s | failed: %s | | | | | | | | | | |\n", i+1, c.offset.Round(time.Millisecond), strings.ReplaceAll(firstLine(c.err.Error()), "|", "/"))
			continue
		}
		w("| %d | %s | %s | %s | %s | %s | %s | %s | %.1f s | %s | %s | %s | %d |\n", i+1, c.offset.Round(time.Millisecond),
			c.opens.UTC().Format("15:04:05.000"), ms(c.startLatency), ms(c.pauseCmd), ms(c.pauseToObserveEnd), ms(c.pauseToRevertEnd), c.pauseVerdict,
			c.closeInto.Seconds(), ms(c.closeToObserveEnd), ms(c.closeToRevertEnd), c.closeVerdict, c.gateHeld)
	}
	w("\n")

	w("## Idle memory\n\n")
	w("`chaosnight serve` with 100 experiments (25 each of evict, delete, CPU stress and memory stress, shaped like `experiments/`), one night opening 12 hours later, leader election on, `--dry-run=false`; read %s after `/readyz` answered (%s after exec).\n\n",
		mem.window, mem.readyAfter.Round(time.Millisecond))
	w("| quantity | value |\n| --- | --- |\n")
	w("| VmRSS (`/proc/PID/status`) | %.1f MiB |\n", mib(mem.last.rss<<10))
	w("| VmHWM (peak RSS since exec) | %.1f MiB |\n", mib(mem.last.hwm<<10))
	w("| RssAnon / RssFile / RssShmem | %.1f / %.1f / %.1f MiB |\n", mib(mem.last.anon<<10), mib(mem.last.file<<10), mib(mem.last.rssShmem<<10))
	w("| highest VmRSS of %d samples (every 250 ms) | %.1f MiB |\n", mem.samples, mib(mem.maxRSS<<10))
	w("| `go_memstats_heap_inuse_bytes` | %.1f MiB |\n", mem.heapInuse/(1<<20))
	w("| `go_memstats_heap_alloc_bytes` | %.1f MiB |\n", mem.heapAlloc/(1<<20))
	w("| `go_memstats_sys_bytes` (all memory the Go runtime obtained) | %.1f MiB |\n", mem.goSys/(1<<20))
	w("| `process_resident_memory_bytes` | %.1f MiB |\n", mem.processRSS/(1<<20))
	w("| binary size | %.1f MiB |\n", mib(mem.binarySize))
	w("| goroutines / threads | %.0f / %d |\n", mem.goroutines, mem.last.threads)
	w("| CPU (utime+stime) during the %s | %.2f s |\n", mem.window, mem.cpuSeconds)
	w("| `chaosnight_experiments_loaded` / `chaosnight_leader` | %.0f / %.0f |\n", mem.loaded, mem.leader)
	w("\n")

	w("## Method\n\n")
	w("- One seeded sandbox (`sandbox.Start(ctx, sandbox.Config{SeedWorkload: true})`: real kube-apiserver, controllers and scheduler, kwok nodes, Prometheus scraping every 1 s). `chaosnight` is built with `go build -o` into a temporary directory and run as a child process: `serve --config … --kubeconfig <sandbox> --namespace default --prometheus-url … --dry-run=false --listen 127.0.0.1:<free> --journal-dir <tmp>`; `--tick` is left at its default of 1 s.\n")
	w("- Latency windows: night `* * * * *`, `lasts: 28s`, UTC, `names: [pause-a, close-b]`; both experiments are the integration tests' eviction of one `shop/checkout` pod of three with a `[10s]` 5xx-ratio hypothesis (`probeInterval: 1s`); pause-a 12 s + 3 s recovery, close-b 10 s + 5 s. Each window is played by a fresh `serve --leader-elect=false`, started %s (plus i/%d s in window i, to spread the phase of the 1 s decision tick over the samples, which matters only if the wake-up timer at the opening fails) before the opening.\n", o.lead, o.cycles)
	if honored {
		w("- Clock: the runner's clock is real time + `--clock-offset`. The offset was chosen as M − (start + lead), M a whole minute, so that the shifted `* * * * *` opens `lead` after the start; T (real) = the opening serve reports on `/status` − the offset. Journal times are the engine's, in real time.\n")
	} else {
		w("- Clock: **this build ignores `--clock-offset`**: the flag is declared in `pkg/cli/serve.go` but never reaches the runner (`runner.Config.Now` is not set), so the first window, started with an offset of exactly 10 minutes (which opens at the same real instant shifted or not), showed on `/status` an opening 10 minutes before the shifted one, i.e. an unshifted clock. Every window was therefore a real minute: serve was started %s before a real minute, and T = the opening `/status` reports (offset applied: 0). Offsets used: %s.\n", o.lead, strings.Join(slices.Compact(offsets), ", "))
	}
	w("- Start latency = pause-a's journal `started` (the engine's clock, before preflight) − T.\n")
	w("- Pause: 2 s (plus i/%d of 500 ms in window i, which spread the phase of the kill-switch poll when the runner polled; it now watches the switch) into pause-a's observation the bench runs `chaosnight pause --namespace default --kubeconfig …` (its own process: kubeconfig load, one GET and one UPDATE of the kill-switch ConfigMap) and takes the moment it exits; the latency is the revert phase's `ended` in the journal minus that moment. The runner watches the kill-switch ConfigMap during a run (a poll every 500 ms only where it may not watch). Then `chaosnight resume`.\n", o.cycles)
	w("- Close: the planner never starts an experiment that cannot finish before the close, so close-b (15 s, started at about T+3 s, after the resume, so it fits until T+28 s) is made to run late the way a slow preflight would: `serve` talks to Prometheus through a proxy in the bench that holds every query until T+%s. close-b's observation then starts at about T+%s and the window closes in its middle, at T+%s (= the runner's close converted to real time); the latency is the revert phase's `ended` minus T+%s. The close is the runner's own deadline on the run's context (plus a check of the clock every tick); nothing in serve is changed.\n",
		gateOpens, gateOpens, windowLasts, windowLasts)
	w("- The pod kill's revert is empty (an evicted pod is replaced by its ReplicaSet; `podkill.Injector.Revert` returns nil), so both abort-and-revert numbers measure the abort path — noticing the close or the pause, ending the observation, running the revert phase and writing the journal checkpoints — not the time a real revert (a stress process to stop) would add. kwok runs no containers, so a stress revert cannot be measured in this sandbox.\n")
	w("- Idle memory: see above; `VmRSS`/`VmHWM` from `/proc/PID/status`, heap from serve's own `/metrics`.\n\n")

	w("## Interpretation\n\n")
	w("%s\n", interpretation(o, sStart, sPause, sClose, spreadOf(pauseObs), spreadOf(closeObs), spreadOf(pauseCmd), mem, honored))
	return b.String()
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	if len(line) > 160 {
		line = line[:160] + "…"
	}
	return line
}

func interpretation(o options, start, pause, closeRev, pauseObs, closeObs, pauseCmd spread, mem memResult, honored bool) string {
	var parts []string
	if start.n > 0 {
		parts = append(parts, fmt.Sprintf("The start latency (%s, median %s) is what serve does between the cron instant and the engine's start: it sets a timer for the next opening (besides its 1 s `--tick`), so the wait is a few milliseconds of bookkeeping (window state, the RunStarted Event, the first journal checkpoint) plus whatever reload or tick work the timer found in progress.",
			start.rng(), ms(start.median)))
	}
	if closeRev.n > 0 {
		parts = append(parts, fmt.Sprintf("At the close the run's context deadline fires at the closing instant itself, so the observation ends %s after it and the revert phase is journaled %s after it (median %s).",
			closeObs.rng(), closeRev.rng(), ms(closeRev.median)))
	}
	if pause.n > 0 {
		within := "within"
		if pause.max > 2*time.Second {
			within = "not always within"
		}
		parts = append(parts, fmt.Sprintf("A pause is noticed through a watch on the kill-switch ConfigMap: the revert ends %s (median %s) after `chaosnight pause` returns — %s the 2 s the runner promises — on top of the %s the pause command itself takes to start, load the kubeconfig and write the ConfigMap.",
			pause.rng(), ms(pause.median), within, pauseCmd.rng()))
	}
	rss := mib(mem.last.rss << 10)
	verdict := "meets"
	if rss >= float64(o.memGoal) {
		verdict = "misses"
	}
	parts = append(parts, fmt.Sprintf("Idle with 100 experiments, serve %s the %d MiB goal at %.1f MiB RSS (peak %.1f MiB): %.1f MiB of it are file-backed pages of the %.0f MiB static binary (code and read-only data, shared and reclaimable) and %.1f MiB anonymous memory, of which the Go heap in use is %.1f MiB; the rest is runtime overhead (stacks, GC metadata, free spans not yet returned).",
		verdict, o.memGoal, rss, mib(mem.last.hwm<<10), mib(mem.last.file<<10), mib(mem.binarySize), mib(mem.last.anon<<10), mem.heapInuse/(1<<20)))
	if !honored {
		parts = append(parts, "The hidden `--clock-offset` flag had no effect in this build (see Method); the numbers do not depend on it, but rehearsals and tests that rely on it would wait for the real schedule.")
	}
	return strings.Join(parts, " ")
}
