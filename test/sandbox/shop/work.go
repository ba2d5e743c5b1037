package shop

import (
	"crypto/sha256"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Work is a fixed amount of real computation: a chain of SHA-256 hashes,
// each over the previous digest, so no step can be skipped or hoisted by
// the compiler and the result depends on every step.
//
// The amount is fixed in iterations, not in time, on purpose: a request then
// costs the same computation whatever happens to the machine, so when the
// CPU is stressed or the pod is throttled by its cgroup limit the same work
// takes longer on the wall clock and the latency histogram shows it. A loop
// that ran "for 20ms of wall time" would hide exactly what the chaos
// experiments want to see.
type Work struct {
	iterations int
}

// calibration is how much CPU time Calibrate spends measuring the speed of
// one iteration: long enough that the clock's resolution and one scheduler
// tick do not matter, short enough not to delay the start.
const calibration = 30 * time.Millisecond

// Calibrate returns the Work that takes d of CPU time on this machine. It
// measures the calling OS thread's own CPU clock (CLOCK_THREAD_CPUTIME_ID),
// not the wall clock, so a busy machine at start-up (time slices given to
// other processes) does not shrink the work: only the CPU time the
// computation itself used counts.
func Calibrate(d time.Duration) (Work, error) {
	if d < 0 {
		return Work{}, fmt.Errorf("calibrate work: negative duration %s", d)
	}
	if d == 0 {
		return Work{}, nil
	}
	// The thread CPU clock measures this goroutine only while it cannot
	// migrate to another OS thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	n := 256
	for {
		before, err := ThreadCPU()
		if err != nil {
			return Work{}, err
		}
		Work{iterations: n}.Do(nil)
		after, err := ThreadCPU()
		if err != nil {
			return Work{}, err
		}
		if used := after - before; used >= calibration {
			it := int(float64(n) * float64(d) / float64(used))
			return Work{iterations: max(it, 1)}, nil
		}
		n *= 2
	}
}

// Iterations is the number of hash steps one Do performs.
func (w Work) Iterations() int { return w.iterations }

// Do performs the work once, starting from seed, and returns the final
// digest (the caller sends it back so that the computation has a use).
func (w Work) Do(seed []byte) [sha256.Size]byte {
	sum := sha256.Sum256(seed)
	for range w.iterations {
		sum = sha256.Sum256(sum[:])
	}
	return sum
}

// ThreadCPU is the CPU time the calling OS thread has used (user and
// kernel), from the scheduler's own accounting. Callers lock the goroutine
// to its thread (runtime.LockOSThread) around the measured code.
func ThreadCPU() (time.Duration, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, fmt.Errorf("read thread CPU clock: %w", err)
	}
	return time.Duration(ts.Nano()), nil
}
