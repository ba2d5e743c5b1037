// Package stressor is the stress process itself (`chaosnight-stress`, and
// `chaosnight stress`): pure Go, no external tool, and self-terminating. It
// burns CPU with a duty cycle per worker thread, allocates and holds memory,
// fills and loads disks, and ends at a hard deadline even if nobody tells it
// to, because the process that started it (an injector across the network)
// may be gone by then. Its command line is package stresscmd.
//
// Each kind of load is a Stressor; Run starts them, holds until the
// deadline or cancellation, stops them in reverse order and reports what
// was achieved. The disk stressors (fill and I/O) write only under
// their own subdirectory of the given path and remove it when stopped.
package stressor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Stressor is one kind of load.
type Stressor interface {
	// Name is the load's name in errors and logs ("cpu", "memory").
	Name() string
	// Start begins the load and returns once it is established, or early
	// with ctx's error. The load lasts until Stop, or until ctx ends.
	Start(ctx context.Context) error
	// Stop ends the load, frees everything it holds and adds what was
	// achieved to r. Run calls it once, also after a failed Start.
	Stop(r *Report) error
}

// EndReason says why a stress ended.
type EndReason string

const (
	EndDeadline EndReason = "deadline" // Config.Duration elapsed or Config.Until was reached
	EndSignal   EndReason = "signal"   // the context was canceled with a *SignalError
	EndCanceled EndReason = "canceled" // the context was canceled otherwise
	EndError    EndReason = "error"    // a load could not be started
)

// SignalError is the cancel cause a caller uses when a signal stops the
// stress, so the report can say "signal" and which one.
type SignalError struct {
	Signal os.Signal
}

func (e *SignalError) Error() string {
	if s, ok := e.Signal.(syscall.Signal); ok {
		return "received " + unix.SignalName(s)
	}
	return "received signal " + e.Signal.String()
}

// Report is what a stress achieved. Durations are in seconds and sizes in
// bytes, so that the JSON form is read the same way from any language.
type Report struct {
	Started        time.Time       `json:"started"`
	PlannedSeconds float64         `json:"plannedSeconds"`
	ElapsedSeconds float64         `json:"elapsedSeconds"`
	Ended          EndReason       `json:"ended"`
	Cause          string          `json:"cause,omitempty"`
	CPU            *CPUReport      `json:"cpu,omitempty"`
	Memory         *MemoryReport   `json:"memory,omitempty"`
	DiskFill       *DiskFillReport `json:"diskFill,omitempty"`
	DiskIO         *DiskIOReport   `json:"diskIO,omitempty"`
	// DiskLeftovers are what killed stresses had left under the disk
	// path, removed before this one started (see RemoveDiskLeftovers).
	DiskLeftovers []Leftover `json:"diskLeftoversRemoved,omitempty"`
}

// CPUReport is the CPU share each worker really had: its thread's CPU
// time over its wall time, in percent of one core.
type CPUReport struct {
	Workers         int       `json:"workers"`
	TargetPercent   int       `json:"targetPercent"`
	AchievedPercent float64   `json:"achievedPercent"` // mean over workers
	WorkerPercent   []float64 `json:"workerPercent"`
	CPUSeconds      float64   `json:"cpuSeconds"` // all workers together
}

// MemoryReport is the process's resident size (VmRSS) at the moments that
// matter. It includes the process's own few MiB (BaselineResidentBytes).
type MemoryReport struct {
	RequestedBytes        int64   `json:"requestedBytes"`
	BaselineResidentBytes int64   `json:"baselineResidentBytes"` // before the allocation
	ResidentBytes         int64   `json:"residentBytes"`         // once every page was written
	SecondsToResident     float64 `json:"secondsToResident"`     // from the start of Run
	ResidentAtEndBytes    int64   `json:"residentAtEndBytes"`    // just before release
	PeakResidentBytes     int64   `json:"peakResidentBytes"`     // VmHWM
}

// errDeadline is the cause Run's own deadline cancels with.
var errDeadline = errors.New("deadline reached")

// Run stresses until cfg.End (its Duration has passed or its Until is
// reached) or ctx ends, whichever comes first, then frees everything and
// reports. An end already past returns at once, having started nothing. It
// returns an error only when the config is invalid or a load could not be
// started; the report is filled as far as the stress got.
func Run(ctx context.Context, cfg Config) (Report, error) {
	start := time.Now()
	end := cfg.End(start)
	logw := cfg.Log
	if logw == nil {
		logw = io.Discard
	}
	logf := func(format string, args ...any) { fmt.Fprintf(logw, "stress: "+format+"\n", args...) }
	if !cfg.Until.IsZero() && !end.After(start) {
		// Checked before Validate: a late start past its deadline is not
		// an invalid stress, it is one with nothing left to do.
		logf("the deadline %s had passed before the start: no load", cfg.Until.UTC().Format(time.RFC3339Nano))
		return Report{Started: start, Ended: EndDeadline, Cause: PastDeadlineCause(cfg.Until)}, nil
	}
	if err := cfg.Validate(Limits{}); err != nil {
		return Report{}, err
	}
	rep := Report{Started: start, PlannedSeconds: end.Sub(start).Seconds()}

	runCtx, cancel := context.WithDeadlineCause(ctx, end, errDeadline)
	defer cancel()

	// Workers must be shared out by the kernel, as the load they model
	// would be. With GOMAXPROCS below workers+1 (Go derives it from a
	// cgroup CPU quota) Go's scheduler would time-slice the workers on too
	// few Ps and starve the goroutine that watches the deadline.
	if cfg.CPUWorkers > 0 {
		if prev := runtime.GOMAXPROCS(0); prev < cfg.CPUWorkers+1 {
			runtime.GOMAXPROCS(cfg.CPUWorkers + 1)
			defer runtime.GOMAXPROCS(prev)
		}
	}

	var stressors []Stressor
	if cfg.CPUWorkers > 0 {
		stressors = append(stressors, newCPUStress(cfg, logf))
	}
	if cfg.Memory > 0 {
		stressors = append(stressors, newMemoryStress(cfg, start, logf))
	}
	dir := &diskDir{base: cfg.DiskPath}
	if cfg.DiskFill > 0 || cfg.DiskFillPercent > 0 {
		stressors = append(stressors, newDiskFillStress(cfg, dir, logf))
	}
	if cfg.DiskIOWorkers > 0 {
		stressors = append(stressors, newDiskIOStress(cfg, dir, logf))
	}

	var startErr error
	var started []Stressor
	for _, s := range stressors {
		started = append(started, s)
		if err := s.Start(runCtx); err != nil {
			if runCtx.Err() == nil { // not just the deadline or a signal during start
				startErr = fmt.Errorf("start %s stress: %w", s.Name(), err)
			}
			break
		}
	}
	if startErr == nil {
		<-runCtx.Done()
	}

	var stopErrs []error
	for i := len(started) - 1; i >= 0; i-- {
		if err := started[i].Stop(&rep); err != nil {
			stopErrs = append(stopErrs, fmt.Errorf("stop %s stress: %w", started[i].Name(), err))
		}
	}
	rep.ElapsedSeconds = round3(time.Since(start).Seconds())

	var sig *SignalError
	cause := context.Cause(runCtx)
	switch {
	case startErr != nil:
		rep.Ended, rep.Cause = EndError, startErr.Error()
	case errors.Is(cause, errDeadline):
		rep.Ended = EndDeadline
	case errors.As(cause, &sig):
		rep.Ended, rep.Cause = EndSignal, sig.Error()
	default:
		rep.Ended, rep.Cause = EndCanceled, cause.Error()
	}
	logf("ended (%s) after %.3fs", rep.Ended, rep.ElapsedSeconds)
	return rep, errors.Join(append([]error{startErr}, stopErrs...)...)
}

// PastDeadlineCause is the report's cause when a stress started after its
// Until: it ran no load at all.
func PastDeadlineCause(until time.Time) string {
	return "the deadline " + until.UTC().Format(time.RFC3339) + " had passed before the start; no load was run"
}

// residentBytes is this process's VmRSS, from /proc/self/statm (one
// read, no parsing of the long status file).
func residentBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, fmt.Errorf("read resident size: %w", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("read resident size: unexpected /proc/self/statm %q", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read resident size: %w", err)
	}
	return pages * int64(os.Getpagesize()), nil
}

// peakResidentBytes is VmHWM, the highest VmRSS the process has had.
func peakResidentBytes() (int64, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("read peak resident size: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil {
					return 0, fmt.Errorf("read peak resident size: %w", err)
				}
				return kb * 1024, nil
			}
		}
	}
	return 0, errors.New("read peak resident size: no VmHWM in /proc/self/status")
}

func round2(x float64) float64 { return math.Round(x*100) / 100 }
func round3(x float64) float64 { return math.Round(x*1000) / 1000 }
