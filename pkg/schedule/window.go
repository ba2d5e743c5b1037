package schedule

import (
	"fmt"
	"time"
)

// Window is one opening of a night: the experiments it plays must start
// at or after Opens and finish before Closes. Opens and Closes are
// absolute instants, given in Location so that they print as the night's
// wall clock; a window is open on [Opens, Closes).
type Window struct {
	Night         string
	Opens, Closes time.Time
	Location      *time.Location
}

// Contains reports whether the window is open at t.
func (w Window) Contains(t time.Time) bool {
	return !t.Before(w.Opens) && t.Before(w.Closes)
}

// CloseReason is why what was still to come is skipped (and what is in
// flight aborted) when the window closes; the plan and the runner use the
// same words.
func (w Window) CloseReason() string {
	return "the window closed at " + clock(w.Closes, w.Location)
}

// NoWindowError is returned by Next when a night opens nothing within
// five years after a given instant.
type NoWindowError struct {
	Night string
	After time.Time
}

func (e *NoWindowError) Error() string {
	return fmt.Sprintf("night %s opens no window in the %d years after %s", e.Night, searchYears, e.After.Format(time.RFC3339))
}

// Next returns the first window of the night that opens strictly after
// `after`, skip rules applied. The error is a *NoWindowError when there is
// none within five years, or says why the night itself is unusable.
func (n Night) Next(after time.Time) (Window, error) {
	c, err := n.compile()
	if err != nil {
		return Window{}, err
	}
	return c.next(after)
}

// OpenAt returns the window of the night that is open at t, if any. It
// looks back one duration of the night, so a window that opened before t
// counts: a night that opens at 22:00 for 6h is open at 01:00, and a
// runner that starts then plays what still fits in it.
func (n Night) OpenAt(t time.Time) (Window, bool) {
	c, err := n.compile()
	if err != nil {
		return Window{}, false
	}
	return c.openAt(t)
}

// Windows returns up to count windows of the night that have not closed
// at from, by opening: the one open at from (if any), then the ones that
// open after it. It returns fewer when the night has no more (or is
// invalid: Next tells why).
func (n Night) Windows(from time.Time, count int) []Window {
	if count <= 0 {
		return nil
	}
	c, err := n.compile()
	if err != nil {
		return nil
	}
	return c.windows(from, count)
}

func (c *compiled) window(o time.Time) Window {
	return Window{Night: c.name, Opens: o.In(c.loc), Closes: o.Add(c.lasts).In(c.loc), Location: c.loc}
}

func (c *compiled) next(after time.Time) (Window, error) {
	limit := after.AddDate(searchYears, 0, 0)
	for from := after; ; {
		o := c.nextOpening(from)
		if o.IsZero() || o.After(limit) {
			return Window{}, &NoWindowError{Night: c.name, After: after}
		}
		if c.skipped(o) {
			from = c.endOfDay(o)
			continue
		}
		return c.window(o), nil
	}
}

func (c *compiled) openAt(t time.Time) (Window, bool) {
	// The window open at t opened in (t - lasts, t].
	for from := t.Add(-c.lasts); ; {
		o := c.nextOpening(from)
		if o.IsZero() || o.After(t) {
			return Window{}, false
		}
		if !c.skipped(o) {
			return c.window(o), true
		}
		from = c.endOfDay(o)
	}
}

func (c *compiled) windows(from time.Time, count int) []Window {
	var out []Window
	if w, ok := c.openAt(from); ok {
		out = append(out, w)
	}
	for after := from; len(out) < count; {
		w, err := c.next(after)
		if err != nil {
			break
		}
		out = append(out, w)
		after = w.Opens
	}
	return out
}

// clock writes an instant as the wall clock of loc, with the zone name:
// "04:00 Europe/Paris" (seconds only when there are some).
func clock(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = t.Location()
	}
	t = t.In(loc)
	layout := "15:04"
	if t.Second() != 0 {
		layout = "15:04:05"
	}
	return t.Format(layout) + " " + loc.String()
}
