package inject

import (
	"sync"
	"testing"
	"time"
)

// TestGuardForEachLimit proves the guard's fan-out calls every index once
// and never runs more than Concurrency calls at a time, and that it does
// reach the limit (the first calls wait for each other, so a fan-out with a
// lower limit would not get past them).
func TestGuardForEachLimit(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int // Guard.Concurrency
		n     int
		want  int // calls that must be in flight together
	}{
		{name: "none", limit: 3, n: 0},
		{name: "one runs inline", limit: 3, n: 1, want: 1},
		{name: "serial", limit: 1, n: 4, want: 1},
		{name: "limited", limit: 3, n: 10, want: 3},
		{name: "fewer than limit", limit: 8, n: 5, want: 5},
		{name: "default limit", limit: 0, n: DefaultConcurrency + 2, want: DefaultConcurrency},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &Guard{Concurrency: tc.limit}
			checkForEach(t, g.forEach, tc.n, tc.want)
		})
	}
}

// checkForEach runs forEach(n, …) with calls that block until want of them
// are in flight together, then checks every index ran once and no more than
// want ran together.
func checkForEach(t *testing.T, forEach func(int, func(int)), n, want int) {
	t.Helper()
	var (
		mu       sync.Mutex
		inFlight int
		maxSeen  int
		calls    = make([]int, n)
		full     = make(chan struct{})
		fullOnce sync.Once
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		forEach(n, func(i int) {
			mu.Lock()
			calls[i]++
			inFlight++
			maxSeen = max(maxSeen, inFlight)
			if inFlight == want {
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
		t.Fatalf("forEach(%d) did not finish: fewer than %d calls ever ran together", n, want)
	}
	for i, c := range calls {
		if c != 1 {
			t.Errorf("index %d called %d times, want 1", i, c)
		}
	}
	if maxSeen != want {
		t.Errorf("at most %d calls ran together, want %d", maxSeen, want)
	}
}
