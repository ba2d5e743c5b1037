// Package proc holds what the benchmarks that drive a chaosnight process
// (bench/serve, bench/servescale) share: the tail of its log for error
// messages, sleeps that end with the context, and the samples of its
// /metrics.
package proc

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Tail returns the last n lines of a file, indented, for error messages.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  " + strings.Join(lines, "\n  ")
}

// Sleep waits d, or until ctx ends (an error then).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("interrupted: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}

// SleepUntil waits until t (at once if it has passed), or until ctx ends.
func SleepUntil(ctx context.Context, t time.Time) error {
	if d := time.Until(t); d > 0 {
		return Sleep(ctx, d)
	}
	return nil
}

// MetricValues reads the unlabelled samples of a Prometheus text
// exposition: those of names, or all of them when none is named.
func MetricValues(body string, names ...string) map[string]float64 {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || strings.HasPrefix(f[0], "#") || strings.Contains(f[0], "{") || (len(want) > 0 && !want[f[0]]) {
			continue
		}
		if v, err := strconv.ParseFloat(f[1], 64); err == nil {
			out[f[0]] = v
		}
	}
	return out
}
