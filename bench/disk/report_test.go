package main

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestReportRendersTheFigures: the rows of results-disk.md come from the
// measured figures alone, formatted as the tables have always been.
func TestReportRendersTheFigures(t *testing.T) {
	r := results{
		at: time.Date(2026, 12, 7, 16, 0, 0, 0, time.UTC), dir: "/var/tmp", cpus: 2, system: "Linux 6.1", fsSize: 100 << 30, fsUsedPercent: 41.6,
		ngVersion: "stress-ng, version 0.15.06", reps: 2, window: 5 * time.Second,
		fill: []fillRep{
			{oursSeconds: 1.234, oursMiBPerSec: 829.7, oursDevWrite: 812.2, ngSeconds: 2, ngDevWrite: 500.4, ngReported: 612.3},
			{oursSeconds: 1.5, oursMiBPerSec: 682.6, oursDevWrite: 700, ngSeconds: 4, ngDevWrite: 250, ngReported: math.NaN()},
		},
		fallocateBogoOps: []string{"1234", "1300"},
		ioOrder:          []string{"chaosnight --disk-io 2"},
		io:               map[string][]ioResult{"chaosnight --disk-io 2": {{devWrite: 100.4, devRead: 50.6, toolWrite: 99, toolRead: 49, extra: "12"}, {devWrite: 90, devRead: 40, toolWrite: 88, toolRead: 39, extra: "10"}}},
	}
	md := report(r)
	for _, want := range []string{
		"on 2026-12-07 16:00 UTC.",
		"- Machine: 2 CPUs, Linux 6.1; directory /var/tmp on a 100 GiB filesystem (42% used)\n",
		"- stress-ng: stress-ng, version 0.15.06 (Debian package)\n- Method: 2 repetitions,",
		"| chaosnight --disk-fill 1Gi | 1.23, 1.50 s | 830, 683 | 812, 700 |\n",
		"| 2.00, 4.00 s (process lifetime: 1024 writes of 1 MiB, plus start and its delete) | 512 (it reports 612), 256 (it reports ?) | 500, 250 |\n",
		"| bogo ops per run: 1234, 1300 |",
		"## I/O load: 2 workers, 5s\n",
		"| chaosnight --disk-io 2 | 100, 90 | 51, 40 | 99 / 49; 88 / 39 | 12, 10 |\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
}
