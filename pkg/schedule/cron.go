package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

// searchYears bounds the search for the next window, as robfig/cron
// bounds its own: a schedule that opens nothing within five years (the
// 30th of February, every weekday skipped) opens nothing at all.
const searchYears = 5

// cronHint is what a cron error adds, for users who guessed the format.
const cronHint = "five fields: minute hour day-of-month month day-of-week, such as \"0 22 * * 1-4\"; or @daily, @weekly, @monthly"

// compiled is a night ready to compute windows: its cron schedule in its
// zone, its elapsed duration and its skip rules. Next, OpenAt and Windows
// compile on every call rather than caching in Night: a Night is a plain
// value that callers copy and edit, a cache in it would go stale, and
// compiling costs microseconds next to a window that lasts hours.
type compiled struct {
	name     string
	spec     *cron.SpecSchedule
	loc      *time.Location
	lasts    time.Duration
	dates    map[string]bool // YYYY-MM-DD local dates that are skipped
	weekdays [7]bool         // indexed by time.Weekday
}

// compile parses what the window computations need. It repeats, in
// short, the checks that validation reports in detail, so that a Night
// built in Go and never validated still cannot produce nonsense windows.
func (n Night) compile() (*compiled, error) {
	if n.Timezone == "" {
		return nil, fmt.Errorf("night %s: no timezone", n.Name)
	}
	loc, err := loadLocation(n.Timezone)
	if err != nil {
		return nil, fmt.Errorf("night %s: %w", n.Name, err)
	}
	spec, err := parseOpens(n.Opens, loc)
	if err != nil {
		return nil, fmt.Errorf("night %s: opens: %w", n.Name, err)
	}
	lasts, err := lastsOf(n.Lasts)
	if err != nil {
		return nil, fmt.Errorf("night %s: lasts: %w", n.Name, err)
	}
	c := &compiled{name: n.Name, spec: spec, loc: loc, lasts: lasts, dates: map[string]bool{}}
	for _, d := range n.Skip.Dates {
		day, err := parseDate(d)
		if err != nil {
			return nil, fmt.Errorf("night %s: skip: %w", n.Name, err)
		}
		c.dates[day.Format(time.DateOnly)] = true
	}
	for _, w := range n.Skip.Weekdays {
		day, ok := parseWeekday(w)
		if !ok {
			return nil, fmt.Errorf("night %s: skip: unknown weekday %q", n.Name, w)
		}
		c.weekdays[day] = true
	}
	return c, nil
}

// loadLocation loads an IANA zone. "Local" is refused: it would make the
// plan depend on the machine it is computed on (a laptop in Paris, a
// container in UTC), which is exactly the surprise a zone is written to
// avoid.
func loadLocation(name string) (*time.Location, error) {
	if name == "Local" {
		return nil, errors.New(`time zone "Local" depends on the machine (name an IANA zone such as Europe/Paris, or UTC)`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%w (an IANA name such as Europe/Paris, America/New_York or UTC)", err)
	}
	return loc, nil
}

// parseOpens parses a five-field cron expression or a descriptor with
// robfig/cron/v3's standard parser, in loc.
func parseOpens(s string, loc *time.Location) (*cron.SpecSchedule, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return nil, errors.New("empty cron expression")
	case strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ="):
		// Two places for one zone would disagree sooner or later; robfig
		// also panics on "TZ=X" without a space after it.
		return nil, errors.New("the time zone goes in timezone, not in opens")
	case strings.HasPrefix(s, "@every"):
		return nil, errors.New("@every counts from whenever the runner started, so it opens no fixed windows (use a cron expression)")
	}
	sched, err := cron.ParseStandard(s)
	if err != nil {
		return nil, fmt.Errorf("invalid cron expression %s: %w (%s)", experiment.QuoteValue(s), err, cronHint)
	}
	spec, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("unsupported cron expression %s (%s)", experiment.QuoteValue(s), cronHint)
	}
	c := *spec // robfig returns a fresh value, but the copy keeps that its business
	c.Location = loc
	return &c, nil
}

func lastsOf(d experiment.Duration) (time.Duration, error) {
	if d.Raw != "" {
		if _, err := experiment.ParseDuration(d.Raw); err != nil {
			return 0, err
		}
	}
	switch {
	case d.Duration <= 0:
		return 0, fmt.Errorf("must be positive, got %s", d)
	case d.Duration >= MaxLasts:
		return 0, fmt.Errorf("must be shorter than %s, got %s", experiment.FormatDuration(MaxLasts), d)
	}
	return d.Duration, nil
}

func parseDate(s string) (time.Time, error) {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid date %s (a local date written YYYY-MM-DD, such as 2026-12-24)", experiment.QuoteValue(s))
	}
	return d, nil
}

// weekdayShortNames are the spellings messages suggest, Sunday first as
// time.Weekday counts.
func weekdayShortNames() []string {
	return []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
}

// parseWeekday reads Mon..Sun or Monday..Sunday, in any case.
func parseWeekday(s string) (time.Weekday, bool) {
	for d := time.Sunday; d <= time.Saturday; d++ {
		if strings.EqualFold(s, d.String()) || strings.EqualFold(s, d.String()[:3]) {
			return d, true
		}
	}
	return 0, false
}

// nextOpening returns the first opening strictly after `after`, or the
// zero time when there is none within robfig's horizon.
//
// robfig/cron reads the expression on the wall clock of the zone, which
// is right except on the two DST days of a year:
//   - spring forward: a wall-clock time inside the gap (02:30 in
//     Europe/Paris on the last Sunday of March) does not exist, and robfig
//     silently skips that day's opening. Here it opens instead at the
//     instant that reading would have had before the jump, as Go's
//     time.Date normalises it (02:30 CET, which the clocks show as 03:30
//     CEST): a weekly chaos night does not vanish once a year without a
//     word, and it still opens 24 hours after the previous one.
//   - fall back: a wall-clock time inside the repeated hour (01:30 in
//     America/New_York on the first Sunday of November) happens twice,
//     and robfig opens at both. Here it opens once, at the first.
func (c *compiled) nextOpening(after time.Time) time.Time {
	for {
		r := c.spec.Next(after)
		if g := c.gapOpening(after, r); !g.IsZero() && (r.IsZero() || !r.Before(g)) {
			return g
		}
		if r.IsZero() || !repeatedWallClock(r.In(c.loc)) {
			return r
		}
		after = r // the second pass of a repeated hour: look past it
	}
}

// gapOpening finds the earliest opening strictly after `after` and before
// limit whose wall-clock reading fell in a spring-forward gap, read with
// the offset in force before the jump; zero if there is none.
func (c *compiled) gapOpening(after, limit time.Time) time.Time {
	if limit.IsZero() {
		limit = after.AddDate(searchYears, 0, 0)
	}
	t := after.In(c.loc)
	for {
		_, end := t.ZoneBounds()
		if end.IsZero() || end.After(limit) {
			return time.Time{}
		}
		_, before := end.Add(-time.Nanosecond).Zone()
		_, now := end.Zone()
		if now > before {
			gap := time.Duration(now-before) * time.Second
			fixed := *c.spec
			fixed.Location = time.FixedZone("", before)
			from := end.Add(-time.Second)
			if from.Before(after) {
				from = after
			}
			if g := fixed.Next(from); !g.IsZero() && g.Before(end.Add(gap)) {
				return g.In(c.loc)
			}
		}
		t = end
	}
}

// repeatedWallClock reports whether t falls in the second pass of a
// repeated hour: its wall-clock reading was already shown, with a larger
// offset, just before the clocks went back.
func repeatedWallClock(t time.Time) bool {
	start, _ := t.ZoneBounds()
	if start.IsZero() {
		return false
	}
	_, off := t.Zone()
	_, prev := start.Add(-time.Nanosecond).Zone()
	return prev > off && t.Sub(start) < time.Duration(prev-off)*time.Second
}

// skipped reports whether a window opening at o is skipped: by the local
// date or weekday it opens on.
func (c *compiled) skipped(o time.Time) bool {
	local := o.In(c.loc)
	return c.weekdays[local.Weekday()] || c.dates[local.Format(time.DateOnly)]
}

// endOfDay returns the last instant of o's local day, so that a search
// that skips a day starts again at the next local midnight instead of
// stepping through every opening of a skipped day.
func (c *compiled) endOfDay(o time.Time) time.Time {
	local := o.In(c.loc)
	next := time.Date(local.Year(), local.Month(), local.Day()+1, 0, 0, 0, 0, c.loc).Add(-time.Nanosecond)
	if !next.After(o) {
		// Only possible if midnight fell in a DST gap and Go resolved it
		// backwards; progress is what matters.
		return o
	}
	return next
}
