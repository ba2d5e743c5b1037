package shop

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// cpuPerDo is the thread CPU time one Do of w costs, the least of three
// runs (the least is the computation alone, without a stray interrupt).
func cpuPerDo(t *testing.T, w Work) time.Duration {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	best := time.Duration(-1)
	for range 3 {
		before, err := ThreadCPU()
		if err != nil {
			t.Fatal(err)
		}
		w.Do([]byte("x"))
		after, err := ThreadCPU()
		if err != nil {
			t.Fatal(err)
		}
		if d := after - before; best < 0 || d < best {
			best = d
		}
	}
	return best
}

// More work per request costs more CPU time, measured on the thread's own
// CPU clock (CPU time, not wall time, so a busy machine cannot break it).
func TestWorkCostsCPUTime(t *testing.T) {
	durations := []time.Duration{2 * time.Millisecond, 8 * time.Millisecond, 32 * time.Millisecond}
	var prevIt int
	var prevCPU time.Duration
	for _, d := range durations {
		t.Run(d.String(), func(t *testing.T) {
			w, err := Calibrate(d)
			if err != nil {
				t.Fatal(err)
			}
			cpu := cpuPerDo(t, w)
			t.Logf("work %s: %d iterations, %s of thread CPU", d, w.Iterations(), cpu)
			if w.Iterations() <= prevIt || cpu <= prevCPU {
				t.Errorf("work %s: %d iterations and %s of CPU, want more than the smaller work's %d and %s", d, w.Iterations(), cpu, prevIt, prevCPU)
			}
			// Calibration and use are both in CPU time; a factor of 4 leaves
			// room for frequency changes and a busy hyperthread sibling.
			if cpu < d/4 {
				t.Errorf("work %s cost only %s of CPU time", d, cpu)
			}
			prevIt, prevCPU = w.Iterations(), cpu
		})
	}
}

func TestWorkNoneAndInvalid(t *testing.T) {
	w, err := Calibrate(0)
	if err != nil || w.Iterations() != 0 {
		t.Errorf("Calibrate(0) = %d iterations, %v; want none", w.Iterations(), err)
	}
	if _, err := Calibrate(-time.Millisecond); err == nil {
		t.Error("Calibrate(-1ms): want an error")
	}
	// The digest depends on every step: it is the computation's product.
	if a, b := (Work{iterations: 10}).Do(nil), (Work{iterations: 11}).Do(nil); a == b {
		t.Error("10 and 11 iterations gave the same digest")
	}
	if a, b := (Work{iterations: 10}).Do([]byte("a")), (Work{iterations: 10}).Do([]byte("a")); a != b {
		t.Error("the same work gave two digests")
	}
}

func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ts.Nano())
}

// Through the real server: the process's CPU clock grows by at least the
// configured work for each request served (the handler runs on other
// threads, so the process clock, which sums them, is the one to read).
func TestServerRequestsCostCPUTime(t *testing.T) {
	const n = 10
	var cost [2]time.Duration
	for i, work := range []time.Duration{0, 20 * time.Millisecond} {
		t.Run(fmt.Sprint(work), func(t *testing.T) {
			r := start(t, Config{Service: "checkout", Work: work})
			httpGet(t, r.url+"/") // connection set up outside the measure
			before := processCPU(t)
			for range n {
				if code, body := httpGet(t, r.url+"/"); code != 200 {
					t.Fatalf("GET / = %d %s", code, body)
				}
			}
			cost[i] = processCPU(t) - before
		})
	}
	t.Logf("CPU time for %d requests: %s without work, %s with 20ms each", n, cost[0], cost[1])
	if extra := cost[1] - cost[0]; extra < n*20*time.Millisecond/4 {
		t.Errorf("20ms of work per request added %s of CPU time over %d requests, want at least %s", extra, n, n*20*time.Millisecond/4)
	}
}
