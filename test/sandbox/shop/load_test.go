package shop

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// counting is a target that counts what reaches it.
func counting(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s, &n
}

// The generator stops by itself at its count or its duration, whichever
// comes first, and every request it reports reached a target.
func TestLoadStops(t *testing.T) {
	tests := []struct {
		name     string
		cfg      LoadConfig
		wantSent int // exact, or -1 with maxSent
		maxSent  int
	}{
		{name: "count", cfg: LoadConfig{RPS: 1000, Concurrency: 3, Count: 7}, wantSent: 7},
		{name: "count before duration", cfg: LoadConfig{RPS: 1000, Count: 3, Duration: time.Hour}, wantSent: 3},
		// The schedule starts request i at i/RPS, so 200ms at 50 rps starts
		// at most 10, however slow the machine (a slow one starts fewer).
		{name: "duration", cfg: LoadConfig{RPS: 50, Concurrency: 2, Duration: 200 * time.Millisecond}, wantSent: -1, maxSent: 10},
		{name: "duration before count", cfg: LoadConfig{RPS: 20, Count: 1000, Duration: 100 * time.Millisecond}, wantSent: -1, maxSent: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, hits := counting(t, nil)
			tt.cfg.Targets = []string{srv.URL + "/"}
			rep, err := RunLoad(context.Background(), tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantSent >= 0 && rep.Sent != tt.wantSent {
				t.Errorf("sent %d, want %d", rep.Sent, tt.wantSent)
			}
			if tt.wantSent < 0 && (rep.Sent < 1 || rep.Sent > tt.maxSent) {
				t.Errorf("sent %d, want 1 to %d", rep.Sent, tt.maxSent)
			}
			if got := int(hits.Load()); got != rep.Sent || rep.Codes[200] != rep.Sent || rep.Errors != 0 {
				t.Errorf("report %+v, the target saw %d: want every request sent answered 200", rep, got)
			}
		})
	}
}

// Requests go to the given targets in turn and nowhere else: a redirect to
// another host is reported, not followed.
func TestLoadOnlyGivenTargets(t *testing.T) {
	elsewhere, elsewhereHits := counting(t, nil)
	a, aHits := counting(t, nil)
	b, bHits := counting(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/", http.StatusFound)
	})
	rep, err := RunLoad(context.Background(), LoadConfig{Targets: []string{a.URL + "/", b.URL + "/"}, RPS: 1000, Concurrency: 2, Count: 6})
	if err != nil {
		t.Fatal(err)
	}
	if aHits.Load() != 3 || bHits.Load() != 3 || rep.PerTarget[a.URL+"/"] != 3 || rep.PerTarget[b.URL+"/"] != 3 {
		t.Errorf("a saw %d, b saw %d, report %v: want 3 each", aHits.Load(), bHits.Load(), rep.PerTarget)
	}
	if n := elsewhereHits.Load(); n != 0 {
		t.Errorf("a host not given got %d requests", n)
	}
	if rep.Codes[200] != 3 || rep.Codes[302] != 3 {
		t.Errorf("codes %v, want 3 answered 200 and 3 redirects counted as such", rep.Codes)
	}
}

// A refused connection is counted as an error, not lost.
func TestLoadCountsErrors(t *testing.T) {
	srv, _ := counting(t, nil)
	url := srv.URL + "/"
	srv.Close()
	rep, err := RunLoad(context.Background(), LoadConfig{Targets: []string{url}, RPS: 1000, Count: 4})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sent != 4 || rep.Errors != 4 || len(rep.Codes) != 0 {
		t.Errorf("report %+v, want 4 sent and 4 errors", rep)
	}
}

func TestLoadRefusesBadConfig(t *testing.T) {
	ok := []string{"http://127.0.0.1:8080/"}
	tests := []struct {
		name      string
		cfg       LoadConfig
		wantField string
	}{
		{"no target", LoadConfig{RPS: 1, Count: 1}, "target"},
		{"not http", LoadConfig{Targets: []string{"ftp://127.0.0.1/"}, RPS: 1, Count: 1}, "target"},
		{"no host", LoadConfig{Targets: []string{"127.0.0.1:8080"}, RPS: 1, Count: 1}, "target"},
		{"zero rate", LoadConfig{Targets: ok, Count: 1}, "rps"},
		{"rate too high", LoadConfig{Targets: ok, RPS: MaxRPS + 1, Count: 1}, "rps"},
		{"rate NaN", LoadConfig{Targets: ok, RPS: math.NaN(), Count: 1}, "rps"},
		{"concurrency too high", LoadConfig{Targets: ok, RPS: 1, Count: 1, Concurrency: MaxConcurrency + 1}, "concurrency"},
		{"never stops", LoadConfig{Targets: ok, RPS: 1}, "count"},
		{"negative count", LoadConfig{Targets: ok, RPS: 1, Count: -1}, "count"},
		{"duration too long", LoadConfig{Targets: ok, RPS: 1, Duration: MaxDuration + time.Second}, "duration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RunLoad(context.Background(), tt.cfg)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.wantField {
				t.Fatalf("RunLoad = %v, want a ConfigError on %s", err, tt.wantField)
			}
		})
	}
}

// A resolver decides each request's target as it goes: requests follow
// the endpoints it offers now, none is sent while it offers nothing (a
// proxy without backends), and Observe sees every request, answered or
// not.
func TestLoadResolve(t *testing.T) {
	a, hitsA := counting(t, nil)
	b, hitsB := counting(t, nil)
	var calls atomic.Int64 // requests 0-3 go to a, 4-5 to nobody, then b
	resolve := func() []string {
		switch n := calls.Add(1) - 1; {
		case n < 4:
			return []string{a.URL + "/"}
		case n < 6:
			return nil
		default:
			return []string{b.URL + "/", "ftp://not-http/"}
		}
	}
	var observed, unanswered atomic.Int64
	rep, err := RunLoad(context.Background(), LoadConfig{RPS: 1000, Count: 10, Resolve: resolve,
		Observe: func(target string, code int, ok bool) {
			observed.Add(1)
			if !ok {
				unanswered.Add(1)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	// Requests 6..9 alternate between b (even i) and the refused ftp URL
	// (odd i), which is never requested and counts as no target.
	if hitsA.Load() != 4 || hitsB.Load() != 2 {
		t.Errorf("a got %d, b got %d: want 4 and 2", hitsA.Load(), hitsB.Load())
	}
	if rep.Sent != 6 || rep.NoTarget != 4 || rep.Codes[200] != 6 {
		t.Errorf("report %+v: want 6 sent and answered, 4 without a target", rep)
	}
	if observed.Load() != 10 || unanswered.Load() != 4 {
		t.Errorf("Observe saw %d requests, %d unanswered: want 10 and 4", observed.Load(), unanswered.Load())
	}
}

func TestLoadTargetsXorResolve(t *testing.T) {
	for _, cfg := range []LoadConfig{
		{RPS: 1, Count: 1},
		{RPS: 1, Count: 1, Targets: []string{"http://a/"}, Resolve: func() []string { return nil }},
	} {
		var ce *ConfigError
		if _, err := RunLoad(context.Background(), cfg); !errors.As(err, &ce) || ce.Field != "target" {
			t.Errorf("%+v: got %v, want a ConfigError on target", cfg, err)
		}
	}
}
