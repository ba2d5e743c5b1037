package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/bench/internal/proc"
	"github.com/chaosnight/chaosnight/pkg/journal"
)

var t0 = time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// TestAnalyse: decision latency from the opening, gaps between one
// experiment's end and the next one's start, overhead over the declared
// durations.
func TestAnalyse(t *testing.T) {
	n := nightResult{opens: t0, runs: []runResult{
		{name: "night-001", verdict: "held", started: at(15), ended: at(8_415), declared: 5 * time.Second, killed: 1,
			phases: map[string]time.Duration{journal.PhaseSelect: 300 * time.Millisecond, journal.PhaseRecover: 3 * time.Second}},
		{name: "night-002", verdict: "held", started: at(8_435), ended: at(16_935), declared: 5 * time.Second, killed: 1,
			phases: map[string]time.Duration{journal.PhaseSelect: 500 * time.Millisecond, journal.PhaseRecover: 3 * time.Second}},
		{name: "night-003", verdict: "skipped", started: at(16_965), ended: at(17_000), declared: 5 * time.Second},
	}}
	a := analyse(n)
	if a.firstStart != 15*time.Millisecond {
		t.Errorf("first start %s, want 15ms", a.firstStart)
	}
	wantGaps := []time.Duration{20 * time.Millisecond, 30 * time.Millisecond}
	wantOver := []time.Duration{400 * time.Millisecond, 500 * time.Millisecond, 35*time.Millisecond - 5*time.Second}
	for i := range wantGaps {
		if a.gaps[i] != wantGaps[i] {
			t.Errorf("gap %d = %s, want %s", i, a.gaps[i], wantGaps[i])
		}
	}
	for i := range wantOver {
		if a.overheads[i] != wantOver[i] {
			t.Errorf("overhead %d = %s, want %s", i, a.overheads[i], wantOver[i])
		}
	}
	if a.killed != 2 || a.verdicts["held"] != 2 || a.verdicts["skipped"] != 1 {
		t.Errorf("killed %d, verdicts %v", a.killed, a.verdicts)
	}
	if got := summarize(a.phaseTimes[journal.PhaseSelect]).ms(); got != "400 ms (300–500)" {
		t.Errorf("select phase %q", got)
	}
}

// TestAttachMemory: each run gets the first sample at or after its end,
// and the peak of the samples taken while it ran.
func TestAttachMemory(t *testing.T) {
	runs := []runResult{{started: at(0), ended: at(1000)}, {started: at(1100), ended: at(2000)}}
	samples := []sample{
		{at: at(-250), rssKiB: 100},
		{at: at(250), rssKiB: 300, heapInuse: 5 << 20, heapOK: true},
		{at: at(1000), rssKiB: 200},
		{at: at(1250), rssKiB: 400, heapInuse: 6 << 20, heapOK: true},
		{at: at(2250), rssKiB: 250},
	}
	attachMemory(runs, samples)
	if r := runs[0]; r.rssEnd != 200 || r.rssMax != 300 || !r.heapEndOK || r.heapEnd != 6<<20 {
		t.Errorf("run 1: end %d max %d heap %v/%v; want 200, 300, 6 MiB", r.rssEnd, r.rssMax, r.heapEnd, r.heapEndOK)
	}
	if r := runs[1]; r.rssEnd != 250 || r.rssMax != 400 || r.heapEndOK {
		t.Errorf("run 2: end %d max %d heap ok %v; want 250, 400, no heap after its end", r.rssEnd, r.rssMax, r.heapEndOK)
	}
}

// TestNightOpening: the first whole minute at least the lead away.
func TestNightOpening(t *testing.T) {
	tests := []struct {
		now  time.Time
		want time.Time
	}{
		{now: t0.Add(10 * time.Second), want: t0.Add(time.Minute)},
		{now: t0.Add(39 * time.Second), want: t0.Add(time.Minute)},
		{now: t0.Add(41 * time.Second), want: t0.Add(2 * time.Minute)},
	}
	for _, tt := range tests {
		if got := nightOpening(tt.now, 20*time.Second); !got.Equal(tt.want) {
			t.Errorf("nightOpening(%s) = %s, want %s", tt.now.Format("15:04:05"), got.Format("15:04:05"), tt.want.Format("15:04:05"))
		}
	}
	if cfg := nightConfig(time.Date(2026, 12, 7, 22, 5, 0, 0, time.UTC)); !strings.Contains(cfg, `opens: "5 22 * * *"`) {
		t.Errorf("config does not open at 22:05:\n%s", cfg)
	}
}

// TestMetricValues: unlabelled samples only.
func TestMetricValues(t *testing.T) {
	m := proc.MetricValues("# HELP go_goroutines x\ngo_goroutines 42\ngo_memstats_heap_inuse_bytes 5.5e+06\nchaosnight_runs_total{verdict=\"held\"} 3\n")
	if m["go_goroutines"] != 42 || m["go_memstats_heap_inuse_bytes"] != 5.5e6 || len(m) != 2 {
		t.Errorf("metricValues = %v", m)
	}
}

// TestWriteExperiments: the night's experiments and the idle ones, all
// loadable by name, with the night selecting only its group.
func TestWriteExperiments(t *testing.T) {
	dir := t.TempDir()
	o := options{played: 2, loaded: 5, namespaces: 3, duration: 5 * time.Second, recovery: 3 * time.Second}
	if err := writeExperiments(dir, o); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if len(files) != 5 {
		t.Fatalf("%d files, want 5", len(files))
	}
	data, err := os.ReadFile(filepath.Join(dir, "night-002.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"name: night-002", "group: night", "namespaces: [bench-000, bench-001, bench-002]", "duration: 5s", "recovery: 3s", "pick: {count: 1}"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("night-002.yaml lacks %q:\n%s", want, data)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "idle-003.yaml")); !strings.Contains(string(data), "group: idle") {
		t.Errorf("idle-003.yaml:\n%s", data)
	}
}
