package stress

import (
	"sync"
	"testing"
	"time"
)

// TestInjectorForEachLimit proves the stress fan-out calls every index once
// and never runs more than Concurrency calls at a time, and that it does
// reach the limit (the first calls wait for each other, so a fan-out with a
// lower limit would not get past them).
func TestInjectorForEachLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int // Injector.Concurrency
		n     int
		want  int // calls that must be in flight together
	}{
		{name: "none", limit: 3, n: 0},
		{name: "one", limit: 3, n: 1, want: 1},
		{name: "serial", limit: 1, n: 4, want: 1},
		{name: "limited", limit: 3, n: 10, want: 3},
		{name: "fewer than limit", limit: 8, n: 5, want: 5},
		{name: "default limit", limit: 0, n: DefaultConcurrency + 2, want: DefaultConcurrency},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Injector{Concurrency: tc.limit}
			var (
				mu       sync.Mutex
				inFlight int
				maxSeen  int
				calls    = make([]int, tc.n)
				full     = make(chan struct{})
				fullOnce sync.Once
			)
			done := make(chan struct{})
			go func() {
				defer close(done)
				s.forEach(tc.n, func(i int) {
					mu.Lock()
					calls[i]++
					inFlight++
					maxSeen = max(maxSeen, inFlight)
					if inFlight == tc.want {
						fullOnce.Do(func() { close(full) })
					}
					mu.Unlock()
					<-full
					mu.Lock()
					inFlight--
					mu.Unlock()
				})
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("forEach(%d) did not finish: fewer than %d calls ever ran together", tc.n, tc.want)
			}
			for i, c := range calls {
				if c != 1 {
					t.Errorf("index %d called %d times, want 1", i, c)
				}
			}
			if maxSeen != tc.want {
				t.Errorf("at most %d calls ran together, want %d", maxSeen, tc.want)
			}
		})
	}
}
