package schedule

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

// FuzzLoadConfig feeds arbitrary bytes to LoadConfig. Whatever the input,
// it must not panic and must return either a Config or Problems naming the
// file; a Config it returns must pass Validate, and every night of it must
// open windows that last exactly their duration, come in order, do not
// overlap within the checked year, are found again by OpenAt, respect the
// skip rules, and can be planned.
func FuzzLoadConfig(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	now := fixtureNow()
	items := []PlanItem{
		{Name: "a", Labels: map[string]string{"a": "b"}, Duration: time.Minute, Recovery: time.Minute},
		{Name: "b", Labels: map[string]string{"team": "payments"}, Duration: 5 * time.Minute, Recovery: time.Minute},
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := LoadConfig("fuzz.yaml", data, now)
		if err != nil {
			var ps experiment.Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error is %T %v, want non-empty Problems", err, err)
			}
			for _, p := range ps {
				if p.File != "fuzz.yaml" || p.Message == "" {
					t.Fatalf("malformed problem %#v", p)
				}
			}
			if cfg != nil {
				t.Fatal("a Config came back with problems")
			}
			return
		}
		if err := cfg.Validate(now); err != nil {
			t.Fatalf("LoadConfig accepted what Validate refuses: %v", err)
		}
		for _, n := range cfg.Nights {
			checkNight(t, n, now, items)
		}
	})
}

func checkNight(t *testing.T, n Night, now time.Time, items []PlanItem) {
	t.Helper()
	ws := n.Windows(now, 4)
	if len(ws) == 0 {
		t.Fatalf("night %s: a valid night opens no window", n.Name)
	}
	c, err := n.compile()
	if err != nil {
		t.Fatalf("night %s: valid, yet does not compile: %v", n.Name, err)
	}
	for i, w := range ws {
		if w.Closes.Sub(w.Opens) != n.Lasts.Duration {
			t.Fatalf("night %s: window %d lasts %s, want %s", n.Name, i, w.Closes.Sub(w.Opens), n.Lasts)
		}
		if c.skipped(w.Opens) {
			t.Fatalf("night %s: window %d opens on a skipped day: %s", n.Name, i, w.Opens)
		}
		if i > 0 {
			prev := ws[i-1]
			if !w.Opens.After(prev.Opens) {
				t.Fatalf("night %s: windows out of order: %s then %s", n.Name, prev.Opens, w.Opens)
			}
			if w.Opens.Before(prev.Closes) && w.Opens.Before(now.Add(overlapHorizon)) {
				t.Fatalf("night %s: windows overlap: %s to %s and %s", n.Name, prev.Opens, prev.Closes, w.Opens)
			}
		}
		if got, ok := n.OpenAt(w.Opens); !ok || !got.Opens.Equal(w.Opens) {
			t.Fatalf("night %s: OpenAt(%s) = %v, %v", n.Name, w.Opens, got.Opens, ok)
		}
		for _, p := range Plan(w, items, n, w.Opens, 1) {
			if p.Skipped {
				if p.Reason == "" {
					t.Fatalf("night %s: %s skipped without a reason", n.Name, p.Experiment)
				}
				continue
			}
			if p.Start.Before(w.Opens) || p.End.After(w.Closes) {
				t.Fatalf("night %s: %s planned %s to %s outside %s to %s", n.Name, p.Experiment, p.Start, p.End, w.Opens, w.Closes)
			}
		}
	}
}
