package schedule

import (
	"errors"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

// local is how window tests write instants: the night's wall clock with
// the zone's abbreviation, which pins the instant and shows the DST side.
const local = "2006-01-02 15:04 MST"

func instant(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func testNight(opens, zone string, lasts time.Duration) Night {
	return Night{
		Name:        "night",
		Opens:       opens,
		Lasts:       experiment.NewDuration(lasts),
		Timezone:    zone,
		Experiments: Selection{Selector: "team=payments"},
	}
}

// span renders a window as "OPENS -> CLOSES" in its zone.
func span(w Window) string {
	return w.Opens.Format(local) + " -> " + w.Closes.Format(local)
}

func TestWindows(t *testing.T) {
	tests := []struct {
		name  string
		night Night
		from  string
		want  []string
	}{
		{
			name:  "crosses midnight, cron weekdays Mon-Thu",
			night: testNight("0 22 * * 1-4", "Europe/Paris", 6*time.Hour),
			from:  "2026-07-01T12:00:00+02:00", // a Wednesday
			want: []string{
				"2026-07-01 22:00 CEST -> 2026-07-02 04:00 CEST",
				"2026-07-02 22:00 CEST -> 2026-07-03 04:00 CEST",
				"2026-07-06 22:00 CEST -> 2026-07-07 04:00 CEST",
			},
		},
		{
			name:  "Europe/Paris spring forward: a 6h night lasts 6 real hours, so 7 on the wall clock",
			night: testNight("0 22 * * *", "Europe/Paris", 6*time.Hour),
			from:  "2026-03-28T12:00:00+01:00",
			want: []string{
				"2026-03-28 22:00 CET -> 2026-03-29 05:00 CEST",
				"2026-03-29 22:00 CEST -> 2026-03-30 04:00 CEST",
			},
		},
		{
			name:  "Europe/Paris spring forward: 02:30 does not exist and opens at 03:30 CEST, 24h after the night before",
			night: testNight("30 2 * * *", "Europe/Paris", time.Hour),
			from:  "2026-03-28T00:00:00+01:00",
			want: []string{
				"2026-03-28 02:30 CET -> 2026-03-28 03:30 CET",
				"2026-03-29 03:30 CEST -> 2026-03-29 04:30 CEST",
				"2026-03-30 02:30 CEST -> 2026-03-30 03:30 CEST",
			},
		},
		{
			name:  "Europe/Paris spring forward: openings in the gap land on real ones, never twice",
			night: testNight("*/30 1-3 * * *", "Europe/Paris", 20*time.Minute),
			from:  "2026-03-29T00:00:00+01:00",
			want: []string{
				"2026-03-29 01:00 CET -> 2026-03-29 01:20 CET",
				"2026-03-29 01:30 CET -> 2026-03-29 01:50 CET",
				"2026-03-29 03:00 CEST -> 2026-03-29 03:20 CEST", // 02:00 CET, and the real 03:00
				"2026-03-29 03:30 CEST -> 2026-03-29 03:50 CEST", // 02:30 CET, and the real 03:30
				"2026-03-30 01:00 CEST -> 2026-03-30 01:20 CEST",
			},
		},
		{
			name:  "Europe/Paris fall back: a 6h night lasts 6 real hours, so 5 on the wall clock",
			night: testNight("0 22 * * *", "Europe/Paris", 6*time.Hour),
			from:  "2026-10-24T12:00:00+02:00",
			want: []string{
				"2026-10-24 22:00 CEST -> 2026-10-25 03:00 CET",
				"2026-10-25 22:00 CET -> 2026-10-26 04:00 CET",
			},
		},
		{
			name:  "Europe/Paris fall back: 02:30 happens twice and opens once, at the first",
			night: testNight("30 2 * * *", "Europe/Paris", 20*time.Minute),
			from:  "2026-10-24T12:00:00+02:00",
			want: []string{
				"2026-10-25 02:30 CEST -> 2026-10-25 02:50 CEST",
				"2026-10-26 02:30 CET -> 2026-10-26 02:50 CET",
			},
		},
		{
			name:  "America/New_York spring forward: 02:30 opens at 03:30 EDT",
			night: testNight("30 2 * * *", "America/New_York", 2*time.Hour),
			from:  "2026-03-07T12:00:00-05:00",
			want: []string{
				"2026-03-08 03:30 EDT -> 2026-03-08 05:30 EDT",
				"2026-03-09 02:30 EDT -> 2026-03-09 04:30 EDT",
			},
		},
		{
			name:  "America/New_York spring forward: a night across the change closes an hour later on the wall clock",
			night: testNight("0 22 * * *", "America/New_York", 6*time.Hour),
			from:  "2026-03-07T12:00:00-05:00",
			want: []string{
				"2026-03-07 22:00 EST -> 2026-03-08 05:00 EDT",
				"2026-03-08 22:00 EDT -> 2026-03-09 04:00 EDT",
			},
		},
		{
			name:  "America/New_York fall back: 01:30 happens twice and opens once",
			night: testNight("30 1 * * *", "America/New_York", time.Hour),
			from:  "2026-10-31T12:00:00-04:00",
			want: []string{
				"2026-11-01 01:30 EDT -> 2026-11-01 01:30 EST", // one real hour later, the same wall clock
				"2026-11-02 01:30 EST -> 2026-11-02 02:30 EST",
			},
		},
		{
			name:  "America/New_York fall back: half-hourly openings skip the repeated hour's second pass",
			night: testNight("*/30 0-2 * * *", "America/New_York", 20*time.Minute),
			from:  "2026-11-01T00:55:00-04:00",
			want: []string{
				"2026-11-01 01:00 EDT -> 2026-11-01 01:20 EDT",
				"2026-11-01 01:30 EDT -> 2026-11-01 01:50 EDT",
				"2026-11-01 02:00 EST -> 2026-11-01 02:20 EST",
				"2026-11-01 02:30 EST -> 2026-11-01 02:50 EST",
				"2026-11-02 00:00 EST -> 2026-11-02 00:20 EST",
			},
		},
		{
			name: "skip dates and weekdays look at the local date a window opens on",
			night: func() Night {
				n := testNight("0 22 * * *", "Europe/Paris", 6*time.Hour)
				n.Skip = Skip{Dates: []string{"2026-12-24"}, Weekdays: []string{"fri", "SATURDAY"}}
				return n
			}(),
			from: "2026-12-22T12:00:00+01:00",
			want: []string{
				"2026-12-22 22:00 CET -> 2026-12-23 04:00 CET",
				"2026-12-23 22:00 CET -> 2026-12-24 04:00 CET", // runs into the 24th: not skipped
				"2026-12-27 22:00 CET -> 2026-12-28 04:00 CET", // Thu 24 (date), Fri 25, Sat 26 skipped
			},
		},
		{
			name:  "starting inside an open window lists it first",
			night: testNight("0 22 * * *", "Europe/Paris", 6*time.Hour),
			from:  "2026-07-02T01:00:00+02:00",
			want: []string{
				"2026-07-01 22:00 CEST -> 2026-07-02 04:00 CEST",
				"2026-07-02 22:00 CEST -> 2026-07-03 04:00 CEST",
			},
		},
		{
			name:  "descriptor @weekly in UTC",
			night: testNight("@weekly", "UTC", time.Hour),
			from:  "2026-07-01T12:00:00Z",
			want: []string{
				"2026-07-05 00:00 UTC -> 2026-07-05 01:00 UTC",
				"2026-07-12 00:00 UTC -> 2026-07-12 01:00 UTC",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.night.Windows(instant(t, tt.from), len(tt.want))
			if len(got) != len(tt.want) {
				t.Fatalf("got %d windows, want %d", len(got), len(tt.want))
			}
			for i, w := range got {
				if span(w) != tt.want[i] {
					t.Errorf("window %d: got %s, want %s", i, span(w), tt.want[i])
				}
				if d := w.Closes.Sub(w.Opens); d != tt.night.Lasts.Duration {
					t.Errorf("window %d lasts %s, want %s elapsed", i, d, tt.night.Lasts.Duration)
				}
				if w.Night != "night" || w.Location.String() != tt.night.Timezone {
					t.Errorf("window %d: night %q, location %v", i, w.Night, w.Location)
				}
			}
		})
	}
}

// TestRobfigDST pins what robfig/cron/v3 itself does on DST days, which is
// why nextOpening corrects it: if a new version changes this, the
// corrections must be reviewed.
func TestRobfigDST(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	next := func(spec string, loc *time.Location, from string, n int) []string {
		s, err := cron.ParseStandard(spec)
		if err != nil {
			t.Fatal(err)
		}
		s.(*cron.SpecSchedule).Location = loc
		var out []string
		for at := instant(t, from); len(out) < n; {
			at = s.Next(at)
			out = append(out, at.In(loc).Format(local))
		}
		return out
	}
	gap := next("30 2 * * *", paris, "2026-03-28T12:00:00Z", 1)
	if gap[0] != "2026-03-30 02:30 CEST" {
		t.Errorf("robfig now opens %s on the spring-forward day (it used to skip the day)", gap[0])
	}
	twice := next("30 1 * * *", ny, "2026-11-01T00:00:00Z", 2)
	if twice[1] != "2026-11-01 01:30 EST" {
		t.Errorf("robfig now opens %v on the fall-back day (it used to open at both 01:30)", twice)
	}
}

func TestOpenAt(t *testing.T) {
	n := testNight("0 22 * * *", "Europe/Paris", 6*time.Hour)
	n.Skip.Dates = []string{"2026-07-04"}
	tests := []struct {
		name, at string
		want     string // "" when no window is open
	}{
		{"runner starts at 01:00 inside yesterday's window", "2026-07-02T01:00:00+02:00", "2026-07-01 22:00 CEST -> 2026-07-02 04:00 CEST"},
		{"at the opening instant", "2026-07-01T22:00:00+02:00", "2026-07-01 22:00 CEST -> 2026-07-02 04:00 CEST"},
		{"one second before the close", "2026-07-02T03:59:59+02:00", "2026-07-01 22:00 CEST -> 2026-07-02 04:00 CEST"},
		{"at the close (windows are [opens, closes))", "2026-07-02T04:00:00+02:00", ""},
		{"between windows", "2026-07-02T12:00:00+02:00", ""},
		{"the night of a skipped date is not open", "2026-07-05T01:00:00+02:00", ""},
		{"the night after a skipped date is", "2026-07-06T01:00:00+02:00", "2026-07-05 22:00 CEST -> 2026-07-06 04:00 CEST"},
		{"across the fall-back change", "2026-10-25T02:30:00+01:00", "2026-10-24 22:00 CEST -> 2026-10-25 03:00 CET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := instant(t, tt.at)
			w, ok := n.OpenAt(at)
			switch {
			case tt.want == "" && ok:
				t.Errorf("open: %s", span(w))
			case tt.want != "" && !ok:
				t.Errorf("not open, want %s", tt.want)
			case ok && (span(w) != tt.want || !w.Contains(at)):
				t.Errorf("got %s, want %s", span(w), tt.want)
			}
		})
	}
}

func TestNext(t *testing.T) {
	after := instant(t, "2026-07-01T12:00:00Z")
	w, err := testNight("0 22 * * 1-4", "Europe/Paris", 6*time.Hour).Next(instant(t, "2026-07-01T20:00:00Z"))
	if err != nil || span(w) != "2026-07-02 22:00 CEST -> 2026-07-03 04:00 CEST" {
		t.Errorf("Next strictly after an opening: %s, %v", span(w), err)
	}

	_, err = testNight("0 22 30 2 *", "UTC", time.Hour).Next(after)
	var none *NoWindowError
	if !errors.As(err, &none) || none.Night != "night" || !none.After.Equal(after) {
		t.Errorf("30 February: got %v, want a NoWindowError", err)
	}
	if want := "night night opens no window in the 5 years after 2026-07-01T12:00:00Z"; err == nil || err.Error() != want {
		t.Errorf("error text %q, want %q", err, want)
	}

	everyDay := testNight("* * * * *", "UTC", time.Second)
	everyDay.Skip.Weekdays = []string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}
	start := time.Now()
	if _, err := everyDay.Next(after); !errors.As(err, &none) {
		t.Errorf("every day skipped: got %v, want a NoWindowError", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("skipping every day of a minutely night took %s: skipped days must be jumped, not stepped through", d)
	}

	for _, bad := range []Night{
		testNight("0 22 * * *", "Mars/Olympus", time.Hour),
		testNight("0 22 * * *", "Local", time.Hour),
		testNight("0 22 * *", "UTC", time.Hour),
		testNight("TZ=Europe/Paris", "UTC", time.Hour), // robfig itself panics on this one
		testNight("0 22 * * *", "UTC", 0),
	} {
		if _, err := bad.Next(after); err == nil {
			t.Errorf("%+v: no error", bad)
		}
		if ws := bad.Windows(after, 3); ws != nil {
			t.Errorf("%+v: windows %v", bad, ws)
		}
		if _, ok := bad.OpenAt(after); ok {
			t.Errorf("%+v: open", bad)
		}
	}
}

func TestWindowCloseReason(t *testing.T) {
	w, err := testNight("0 22 * * *", "Europe/Paris", 6*time.Hour).Next(instant(t, "2026-07-01T12:00:00Z"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := w.CloseReason(), "the window closed at 04:00 Europe/Paris"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func BenchmarkNext(b *testing.B) {
	n := testNight("0 22 * * 1-4", "Europe/Paris", 6*time.Hour)
	after := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		if _, err := n.Next(after); err != nil {
			b.Fatal(err)
		}
	}
}
