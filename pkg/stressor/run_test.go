package stressor_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/stressor"
)

// selfRSS is this process's VmRSS.
func selfRSS(t *testing.T) int64 {
	t.Helper()
	rss, err := vmRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	return rss
}

func TestRunInvalidConfig(t *testing.T) {
	rep, err := stressor.Run(context.Background(), stressor.Config{CPUWorkers: 1, CPULoad: 101, Duration: time.Second})
	var ice *stressor.InvalidConfigError
	if !errors.As(err, &ice) {
		t.Fatalf("want *InvalidConfigError, got %v", err)
	}
	if !rep.Started.IsZero() {
		t.Fatalf("an invalid config must not start anything, report %+v", rep)
	}
}

// TestRunEndsAndFrees runs both loads in this process and checks why
// each run ended, what it reports, and that the memory is returned to the
// kernel as soon as Run returns.
func TestRunEndsAndFrees(t *testing.T) {
	const size = 64 << 20
	tests := []struct {
		name      string
		cancel    func(context.CancelCauseFunc) // nil: let the deadline end it
		wantEnded stressor.EndReason
		wantCause string
	}{
		{name: "deadline", wantEnded: stressor.EndDeadline},
		{
			name:      "signal",
			cancel:    func(c context.CancelCauseFunc) { c(&stressor.SignalError{Signal: syscall.SIGTERM}) },
			wantEnded: stressor.EndSignal, wantCause: "received SIGTERM",
		},
		{
			name:      "canceled",
			cancel:    func(c context.CancelCauseFunc) { c(nil) },
			wantEnded: stressor.EndCanceled, wantCause: "context canceled",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			procs := runtime.GOMAXPROCS(0)
			before := selfRSS(t)
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			duration := 500 * time.Millisecond
			if tt.cancel != nil {
				duration = time.Minute
				time.AfterFunc(300*time.Millisecond, func() { tt.cancel(cancel) })
			}
			var log bytes.Buffer
			start := time.Now()
			rep, err := stressor.Run(ctx, stressor.Config{CPUWorkers: 2, CPULoad: 30, Memory: size, Duration: duration, Log: &log})
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			// A liveness bound, not a speed claim: a cancelled run (one
			// minute long) must have ended by its cancellation.
			if took > 30*time.Second {
				t.Fatalf("Run took %s", took)
			}
			if rep.Ended != tt.wantEnded || rep.Cause != tt.wantCause {
				t.Fatalf("ended %q (%q), want %q (%q)", rep.Ended, rep.Cause, tt.wantEnded, tt.wantCause)
			}
			if c := rep.CPU; c == nil || c.Workers != 2 || c.TargetPercent != 30 || len(c.WorkerPercent) != 2 ||
				c.AchievedPercent <= 0 || c.AchievedPercent > 100 || c.CPUSeconds <= 0 {
				t.Fatalf("cpu report %+v", rep.CPU)
			}
			if m := rep.Memory; m == nil || m.RequestedBytes != size || m.ResidentBytes < size ||
				m.ResidentAtEndBytes < size || m.PeakResidentBytes < size || m.SecondsToResident <= 0 {
				t.Fatalf("memory report %+v", rep.Memory)
			}
			if rep.PlannedSeconds != duration.Seconds() || rep.ElapsedSeconds <= 0 {
				t.Fatalf("report times %+v", rep)
			}
			// munmap returns the pages at once: no waiting for a GC.
			if after := selfRSS(t); after > before+size/4 {
				t.Fatalf("RSS %s after Run, %s before: the memory was not freed",
					stressor.FormatBytes(after), stressor.FormatBytes(before))
			}
			if got := runtime.GOMAXPROCS(0); got != procs {
				t.Fatalf("GOMAXPROCS left at %d, was %d", got, procs)
			}
			for _, want := range []string{
				"stress: cpu: 2 worker(s) at 30% of one core each, period 100ms\n",
				"stress: memory: 64Mi resident after ",
				"stress: ended (" + string(tt.wantEnded) + ") after ",
			} {
				if !strings.Contains(log.String(), want) {
					t.Errorf("log lacks %q:\n%s", want, log.String())
				}
			}
		})
	}
}

// TestRunAlreadyCanceled: a context that is done before Run starts still
// yields a clean, immediate end with nothing left behind.
func TestRunAlreadyCanceled(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(&stressor.SignalError{Signal: syscall.SIGINT})
	rep, err := stressor.Run(ctx, stressor.Config{CPUWorkers: 1, CPULoad: 100, Memory: 1 << 30, Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ended != stressor.EndSignal || rep.Cause != "received SIGINT" {
		t.Fatalf("ended %q (%s)", rep.Ended, rep.Cause)
	}
	if rep.Memory == nil || rep.Memory.ResidentBytes != 0 {
		t.Fatalf("memory must not have been made resident: %+v", rep.Memory)
	}
	if rep.ElapsedSeconds > 30 { // an hour-long run: the signal ended it
		t.Fatalf("took %.3fs", rep.ElapsedSeconds)
	}
}

// TestSignalErrorText keeps the cause text stable: the injector matches it.
func TestSignalErrorText(t *testing.T) {
	for sig, want := range map[os.Signal]string{
		syscall.SIGTERM: "received SIGTERM",
		syscall.SIGINT:  "received SIGINT",
	} {
		if got := (&stressor.SignalError{Signal: sig}).Error(); got != want {
			t.Errorf("%v: %q, want %q", sig, got, want)
		}
	}
}
