package stressor

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// cpuStress runs workers that each burn a fixed share of one core.
//
// Each worker owns an OS thread (runtime.LockOSThread), so the kernel's
// per-thread CPU clock measures exactly that worker. A worker does not
// time its duty cycle by the wall clock alone, as stress-ng does: it keeps
// the CPU time it has really had on the line load × wall time. In each
// period it spins until its thread CPU time reaches the target for the end
// of the period, then sleeps to the period's end. Time the kernel gave to
// other threads (contention, preemption, a slow wake-up) is therefore made
// up in the following periods instead of being lost, which is what keeps
// the measured load within about a point of the target on a busy 2-core
// machine (bench/results-stress.md).
type cpuStress struct {
	workers int
	load    int
	period  time.Duration
	log     func(format string, args ...any)

	cancel  context.CancelFunc
	wg      sync.WaitGroup
	results []workerResult
}

type workerResult struct {
	cpu, wall time.Duration
	err       error
}

// maxDebtPeriods bounds how much lost CPU time a worker makes up, in
// periods' worth of its load (240 ms of CPU at 80 %). That covers ordinary
// preemption, slow wake-ups and a neighbour's burst of a few hundred ms,
// and a catch-up never runs a worker above 100 % of its core, the most it
// could take anyway. A worker starved for seconds (a stopped container, a
// saturated node) is not owed those seconds: replaying them would hold the
// core at 100 % long after the experiment's neighbour went away, so the
// loss beyond this debt is forgiven.
const maxDebtPeriods = 3

func newCPUStress(cfg Config, log func(string, ...any)) *cpuStress {
	return &cpuStress{workers: cfg.CPUWorkers, load: cfg.CPULoad, period: cfg.period(), log: log}
}

func (s *cpuStress) Name() string { return "cpu" }

// Start launches the workers and returns at once; they run until ctx ends
// or Stop is called.
func (s *cpuStress) Start(ctx context.Context) error {
	ctx, s.cancel = context.WithCancel(ctx)
	s.results = make([]workerResult, s.workers)
	for i := range s.workers {
		s.wg.Go(func() { s.results[i] = burn(ctx, float64(s.load)/100, s.period) })
	}
	s.log("cpu: %d worker(s) at %d%% of one core each, period %s", s.workers, s.load, s.period)
	return nil
}

// Stop ends the workers, waits for them (their threads exit with them)
// and reports the CPU share each one really had.
func (s *cpuStress) Stop(r *Report) error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	cr := &CPUReport{Workers: s.workers, TargetPercent: s.load}
	var sum float64
	for _, res := range s.results {
		if res.err != nil {
			return fmt.Errorf("cpu worker: %w", res.err)
		}
		pct := 0.0
		if res.wall > 0 {
			pct = round2(100 * res.cpu.Seconds() / res.wall.Seconds())
		}
		cr.WorkerPercent = append(cr.WorkerPercent, pct)
		cr.CPUSeconds = round3(cr.CPUSeconds + res.cpu.Seconds())
		sum += pct
	}
	if len(cr.WorkerPercent) > 0 {
		cr.AchievedPercent = round2(sum / float64(len(cr.WorkerPercent)))
	}
	r.CPU = cr
	return nil
}

// burn is one worker. It deliberately never unlocks its OS thread: when
// the goroutine returns, the runtime ends the thread, so no thread with a
// worker's CPU history lingers in the process.
func burn(ctx context.Context, load float64, period time.Duration) workerResult {
	runtime.LockOSThread()
	return dutyCycle(ctx.Done(), threadClock{}, load, period)
}

// cpuClock is what the duty-cycle controller reads and does: the wall
// clock, the worker's own CPU clock, spinning and sleeping. threadClock is
// the real one; the tests drive the controller with a simulated scheduler
// (contention, starvation, a stopped process), so its arithmetic is
// checked exactly and no test depends on how busy the machine is.
type cpuClock interface {
	Now() time.Time
	CPU() (time.Duration, error)
	// Spin burns CPU until the wall clock reaches until; false when done
	// was closed first.
	Spin(until time.Time, done <-chan struct{}) bool
	// Sleep waits, without using CPU, until the wall clock reaches until;
	// false when done was closed first.
	Sleep(until time.Time, done <-chan struct{}) bool
}

// dutyCycle runs one worker's control loop on clk until done is closed.
func dutyCycle(done <-chan struct{}, clk cpuClock, load float64, period time.Duration) workerResult {
	start := clk.Now()
	cpu0, err := clk.CPU()
	if err != nil {
		return workerResult{err: err}
	}
	finish := func() workerResult {
		cpu, err := clk.CPU()
		return workerResult{cpu: cpu - cpu0, wall: clk.Now().Sub(start), err: err}
	}

	maxDebt := time.Duration(maxDebtPeriods * load * float64(period))
	var forgiven time.Duration // CPU time written off after starvation
	for k := int64(1); ; k++ {
		periodEnd := start.Add(time.Duration(k) * period)
		now := clk.Now()
		if now.After(periodEnd) {
			// Overslept by more than a period (a stopped or starved
			// process): skip the lost periods rather than replay them.
			k = int64(now.Sub(start)/period) + 1
			periodEnd = start.Add(time.Duration(k) * period)
		}
		got, err := clk.CPU()
		if err != nil {
			return workerResult{err: err}
		}
		got -= cpu0
		if debt := time.Duration(load*float64(now.Sub(start))) - forgiven - got; debt > maxDebt {
			forgiven += debt - maxDebt
		}
		target := time.Duration(load*float64(periodEnd.Sub(start))) - forgiven

		// Spin until the thread has had its CPU time, reading the thread
		// clock (a system call) only when the cheap wall clock says the
		// time should be up: a spin that was not preempted is done at
		// once, a preempted one goes on for what it lost.
		for got < target && now.Before(periodEnd) {
			spinEnd := now.Add(target - got)
			if spinEnd.After(periodEnd) {
				spinEnd = periodEnd
			}
			if !clk.Spin(spinEnd, done) {
				return finish()
			}
			now = clk.Now()
			if got, err = clk.CPU(); err != nil {
				return workerResult{err: err}
			}
			got -= cpu0
		}
		if !clk.Sleep(periodEnd, done) {
			return finish()
		}
	}
}

// threadClock is the real cpuClock of a worker locked to its OS thread.
type threadClock struct{}

func (threadClock) Now() time.Time { return time.Now() }

// CPU is the CPU time the calling OS thread has used, in user and
// kernel mode, to the nanosecond (the scheduler's own accounting).
func (threadClock) CPU() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, fmt.Errorf("read thread CPU clock: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}

func (threadClock) Spin(until time.Time, done <-chan struct{}) bool {
	for time.Now().Before(until) {
		select {
		case <-done:
			return false
		default:
		}
	}
	return true
}

func (threadClock) Sleep(until time.Time, done <-chan struct{}) bool {
	timer := time.NewTimer(max(time.Until(until), 0))
	defer timer.Stop()
	select {
	case <-done:
		return false
	case <-timer.C:
		return true
	}
}
