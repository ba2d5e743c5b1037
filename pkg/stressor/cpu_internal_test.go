package stressor

import (
	"errors"
	"fmt"
	"math"
	"testing"
	"time"
)

// simClock is a simulated scheduler for the duty-cycle controller: the
// worker gets share(t) of a core while it spins at wall time t, nothing
// while it sleeps or while the process is stopped (pauses), and the run
// ends at stopAt. It advances in steps of a millisecond, so the results
// are exact and independent of the machine that runs the test.
type simClock struct {
	t0     time.Time
	wall   time.Duration
	cpu    time.Duration
	share  func(at time.Duration) float64
	pauses [][2]time.Duration // [from, to): the process is stopped
	stopAt time.Duration
	cpuErr error
	// at records the CPU time at every whole 100 ms of wall time.
	at map[time.Duration]time.Duration
}

const simStep = time.Millisecond

func newSim(stopAt time.Duration, share func(time.Duration) float64, pauses ...[2]time.Duration) *simClock {
	return &simClock{t0: time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC), share: share, pauses: pauses, stopAt: stopAt,
		at: map[time.Duration]time.Duration{0: 0}}
}

func (c *simClock) Now() time.Time { return c.t0.Add(c.wall) }

func (c *simClock) CPU() (time.Duration, error) { return c.cpu, c.cpuErr }

func (c *simClock) paused(at time.Duration) bool {
	for _, p := range c.pauses {
		if at >= p[0] && at < p[1] {
			return true
		}
	}
	return false
}

// advance moves the wall clock to until (or to stopAt), spinning or not.
func (c *simClock) advance(until time.Time, spinning bool) bool {
	end := until.Sub(c.t0)
	for c.wall < end || c.paused(c.wall) {
		if c.wall >= c.stopAt {
			return false
		}
		if spinning && !c.paused(c.wall) {
			c.cpu += time.Duration(c.share(c.wall) * float64(simStep))
		}
		c.wall += simStep
		if c.wall%(100*time.Millisecond) == 0 {
			c.at[c.wall] = c.cpu
		}
	}
	return c.wall < c.stopAt
}

func (c *simClock) Spin(until time.Time, _ <-chan struct{}) bool  { return c.advance(until, true) }
func (c *simClock) Sleep(until time.Time, _ <-chan struct{}) bool { return c.advance(until, false) }

// load is the worker's share of a core between two wall times, in percent.
func (c *simClock) load(t *testing.T, from, to time.Duration) float64 {
	t.Helper()
	a, okA := c.at[from]
	b, okB := c.at[to]
	if !okA || !okB {
		t.Fatalf("no sample at %s or %s (multiples of 100ms only)", from, to)
	}
	return 100 * float64(b-a) / float64(to-from)
}

func full(time.Duration) float64 { return 1 }

// TestDutyCycle checks the controller of a CPU worker deterministically:
// on an idle core it keeps its load exactly; CPU it lost to neighbours is
// made up afterwards up to maxDebtPeriods; a stopped process is not owed
// the seconds it was stopped; it ends when told to. How close a real
// process gets on a real machine is a measurement, in bench/stress.
func TestDutyCycle(t *testing.T) {
	const period = DefaultCPUPeriod
	s := time.Second
	type window struct {
		from, to time.Duration
		want     float64 // percent of a core
		within   float64 // points
	}
	tests := []struct {
		name    string
		load    float64
		sim     *simClock
		windows []window
	}{
		{"idle core, 25%", 0.25, newSim(10*s, full), []window{{0, 10 * s, 25, 0.2}, {s, 2 * s, 25, 0.2}, {9 * s, 10 * s, 25, 0.2}}},
		{"idle core, 50%", 0.50, newSim(10*s, full), []window{{0, 10 * s, 50, 0.2}, {5 * s, 6 * s, 50, 0.2}}},
		{"idle core, 80%", 0.80, newSim(10*s, full), []window{{0, 10 * s, 80, 0.2}, {3 * s, 4 * s, 80, 0.2}}},
		{"idle core, 100%", 1, newSim(5*s, full), []window{{0, 5 * s, 100, 0.2}}},
		{
			// Half a core for 1 s at 80 %: 0.3 s lost, of which 0.24 s
			// (3 periods' worth) is made up at full speed afterwards and
			// 0.06 s forgiven; then back to 80 %.
			"a neighbour takes half the core for a second", 0.80,
			newSim(10*s, func(at time.Duration) float64 {
				if at >= 2*s && at < 3*s {
					return 0.5
				}
				return 1
			}),
			[]window{
				{2 * s, 3 * s, 50, 0.2},                       // all it could get
				{3 * s, 3*s + 200*time.Millisecond, 100, 0.5}, // catching up
				{5 * s, 10 * s, 80, 0.2},                      // steady again
				{0, 10 * s, 79.4, 0.2},                        // the loss beyond the debt is forgiven
			},
		},
		{
			// Stopped for 5 s (SIGSTOP, a frozen cgroup): the worker does
			// not replay 2.5 s of CPU at 100 % when it resumes.
			"a stopped process is not owed its lost seconds", 0.50,
			newSim(12*s, full, [2]time.Duration{2 * s, 7 * s}),
			[]window{
				{2 * s, 7 * s, 0, 0},
				{7 * s, 8 * s, 50, 15.1}, // at most maxDebtPeriods periods' worth on top
				{9 * s, 12 * s, 50, 0.2},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := dutyCycle(nil, tt.sim, tt.load, period)
			if res.err != nil {
				t.Fatal(res.err)
			}
			if res.wall != tt.sim.stopAt {
				t.Errorf("wall %s, want the run's %s", res.wall, tt.sim.stopAt)
			}
			if got := 100 * float64(res.cpu) / float64(res.wall); math.Abs(got-100*float64(tt.sim.cpu)/float64(tt.sim.wall)) > 1e-9 {
				t.Errorf("reported %.3f%%, the simulation gave %s of %s", got, tt.sim.cpu, tt.sim.wall)
			}
			for _, w := range tt.windows {
				if got := tt.sim.load(t, w.from, w.to); math.Abs(got-w.want) > w.within {
					t.Errorf("%s–%s: %.2f%% of a core, want %.1f ± %.1f", w.from, w.to, got, w.want, w.within)
				}
			}
		})
	}
}

// TestDutyCycleStopsWhenDone: a stop in the middle of a period ends the
// worker there, with the CPU time it had.
func TestDutyCycleStopsWhenDone(t *testing.T) {
	for _, stop := range []time.Duration{0, 30 * time.Millisecond, 2350 * time.Millisecond} {
		t.Run(fmt.Sprint(stop), func(t *testing.T) {
			sim := newSim(stop, full)
			res := dutyCycle(nil, sim, 0.8, DefaultCPUPeriod)
			if res.err != nil || res.wall != stop || res.cpu != sim.cpu {
				t.Fatalf("result %+v, want wall %s and cpu %s", res, stop, sim.cpu)
			}
			if max := time.Duration(0.8*float64(stop)) + DefaultCPUPeriod; res.cpu > max {
				t.Errorf("cpu %s after %s at 80%%, more than %s", res.cpu, stop, max)
			}
		})
	}
}

// TestDutyCycleClockError: a thread clock that cannot be read ends the
// worker with the error, which Stop reports.
func TestDutyCycleClockError(t *testing.T) {
	sim := newSim(time.Second, full)
	sim.cpuErr = errors.New("no clock")
	if res := dutyCycle(nil, sim, 0.5, DefaultCPUPeriod); !errors.Is(res.err, sim.cpuErr) {
		t.Errorf("err %v, want the clock's", res.err)
	}
}
