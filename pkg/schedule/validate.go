package schedule

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

// overlapHorizon and overlapWindows bound the search for overlapping
// windows of one night: a year covers every pattern of a cron expression
// except rare weekday and leap-year alignments, and the count keeps a
// minutely night cheap to check.
const (
	overlapHorizon = 366 * 24 * time.Hour
	overlapWindows = 1000
)

// validate checks the whole file; f places each problem at its line.
func (c *Config) validate(f *experiment.Findings, now time.Time) {
	c.validateSettings(f)
	first := map[string]string{} // night name -> path of its first use
	for i := range c.Nights {
		path := "nights[" + strconv.Itoa(i) + "]"
		n := &c.Nights[i]
		n.validate(f, path, now)
		if n.Name == "" {
			continue
		}
		if prev, dup := first[n.Name]; dup {
			where := prev
			if line := f.Line(prev + ".name"); line > 0 {
				where += ", line " + strconv.Itoa(line)
			}
			f.Add(path+".name", "duplicate night name %s (also used by %s)", experiment.QuoteValue(n.Name), where)
			continue
		}
		first[n.Name] = path
	}
}

func (c *Config) validateSettings(f *experiment.Findings) {
	if u := c.Prometheus.URL; u != "" {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			f.Add("prometheus.url", "invalid URL %s (an http or https URL such as http://prometheus.monitoring:9090)", experiment.QuoteValue(u))
		}
	}
	duration(f, "prometheus.timeout", c.Prometheus.Timeout, true)
	if u := c.ExternalURL; u != "" {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			f.Add("externalURL", "invalid URL %s (the runner's page as users reach it, such as https://chaosnight.example.com)", experiment.QuoteValue(u))
		}
	}
	oneOf(f, "log.format", c.Log.Format, "text", "json")
	oneOf(f, "log.level", c.Log.Level, "debug", "info", "warn", "error")
	if c.Kube.QPS < 0 {
		f.Add("kube.qps", "must not be negative, got %s", strconv.FormatFloat(c.Kube.QPS, 'g', -1, 64))
	}
	if c.Kube.Burst < 0 {
		f.Add("kube.burst", "must not be negative, got %d", c.Kube.Burst)
	}
	duration(f, "journal.retention", c.Journal.Retention, false)
	for _, list := range []struct {
		path  string
		names []string
	}{{"safety.excludeNamespaces", c.Safety.ExcludeNamespaces}, {"safety.allowSystemNamespaces", c.Safety.AllowSystemNamespaces}, {"customResources.namespaces", c.CustomResources.Namespaces}} {
		for i, ns := range list.names {
			if len(validation.IsDNS1123Label(ns)) > 0 {
				f.Add(fmt.Sprintf("%s[%d]", list.path, i), "invalid namespace %s (%s)", experiment.QuoteValue(ns), experiment.DNSLabelRule)
			}
		}
	}
	if c.Safety.MaxTargets < 0 {
		f.Add("safety.maxTargets", "must not be negative, got %d (0 means no operator ceiling)", c.Safety.MaxTargets)
	}
	if c.Safety.MinHealthy < 0 {
		f.Add("safety.minHealthy", "must not be negative, got %d (0 means no operator floor)", c.Safety.MinHealthy)
	}
	if ns := c.KillSwitch.Namespace; ns != "" && len(validation.IsDNS1123Label(ns)) > 0 {
		f.Add("killSwitch.namespace", "invalid namespace %s (%s)", experiment.QuoteValue(ns), experiment.DNSLabelRule)
	}
}

// oneOf checks an optional enumerated setting.
func oneOf(f *experiment.Findings, path, value string, allowed ...string) bool {
	if value == "" {
		return true
	}
	for _, a := range allowed {
		if value == a {
			return true
		}
	}
	msg := fmt.Sprintf("unknown value %s (allowed: %s)", experiment.QuoteValue(value), strings.Join(allowed, ", "))
	if guess := experiment.Suggest(value, allowed); guess != "" {
		msg += "; did you mean " + strconv.Quote(guess) + "?"
	}
	f.Add(path, "%s", msg)
	return false
}

// duration checks an optional duration; positive says whether 0 is
// refused once written. It returns the value and whether it is usable.
func duration(f *experiment.Findings, path string, d experiment.Duration, positive bool) (time.Duration, bool) {
	if d.Raw != "" {
		if _, err := experiment.ParseDuration(d.Raw); err != nil {
			f.Add(path, "%v", err)
			return 0, false
		}
	}
	switch {
	case d.Duration < 0:
		f.Add(path, "must not be negative, got %s", d)
		return 0, false
	case positive && d.Duration == 0 && !d.IsZero():
		f.Add(path, "must be positive, got %s", d)
		return 0, false
	}
	return d.Duration, true
}

// validate checks one night. The checks that need a working schedule
// (never opens, overlapping windows) run only when every part of it is
// valid, so one mistake is reported once.
func (n *Night) validate(f *experiment.Findings, path string, now time.Time) {
	at := func(field string) string { return path + "." + field }

	switch {
	case n.Name == "":
		f.Add(at("name"), "required (%s, such as weeknights)", experiment.DNSLabelRule)
	case len(validation.IsDNS1123Label(n.Name)) > 0:
		f.Add(at("name"), "invalid name %s (%s)", experiment.QuoteValue(n.Name), experiment.DNSLabelRule)
	}

	var loc *time.Location
	if n.Timezone == "" {
		f.Add(at("timezone"), "required (an IANA time zone such as Europe/Paris, America/New_York or UTC)")
	} else if l, err := loadLocation(n.Timezone); err != nil {
		f.Add(at("timezone"), "%v", err)
	} else {
		loc = l
	}

	opensOK := false
	if strings.TrimSpace(n.Opens) == "" {
		f.Add(at("opens"), "required (a cron expression: %s)", cronHint)
	} else if _, err := parseOpens(n.Opens, time.UTC); err != nil {
		f.Add(at("opens"), "%v", err)
	} else {
		opensOK = true
	}

	lastsOK := false
	switch {
	case n.Lasts.IsZero():
		f.Add(at("lasts"), "required (how long each window stays open, such as 6h; shorter than %s)", experiment.FormatDuration(MaxLasts))
	default:
		if _, err := lastsOf(n.Lasts); err != nil {
			f.Add(at("lasts"), "%v", err)
		} else {
			lastsOK = true
		}
	}

	skipOK := n.validateSkip(f, at("skip"))
	n.validateSelection(f, at("experiments"))

	if n.Order != "" && n.Order != OrderListed && n.Order != OrderShuffled {
		oneOf(f, at("order"), n.Order, OrderListed, OrderShuffled)
	}
	duration(f, at("cooldown"), n.Cooldown, false)
	if n.MaxPerNight < 0 {
		f.Add(at("maxPerNight"), "must not be negative (0 means no limit), got %d", n.MaxPerNight)
	}

	if loc != nil && opensOK && lastsOK && skipOK {
		n.validateWindows(f, path, now)
	}
}

func (n *Night) validateSkip(f *experiment.Findings, path string) bool {
	ok := true
	for i, d := range n.Skip.Dates {
		if _, err := parseDate(d); err != nil {
			f.Add(fmt.Sprintf("%s.dates[%d]", path, i), "%v", err)
			ok = false
		}
	}
	var days [7]bool
	for i, w := range n.Skip.Weekdays {
		d, valid := parseWeekday(w)
		if !valid {
			msg := fmt.Sprintf("unknown weekday %s (allowed: Mon, Tue, Wed, Thu, Fri, Sat, Sun, or the full names, in any case)", experiment.QuoteValue(w))
			if guess := experiment.Suggest(w, weekdayShortNames()); guess != "" {
				msg += "; did you mean " + strconv.Quote(guess) + "?"
			}
			f.Add(fmt.Sprintf("%s.weekdays[%d]", path, i), "%s", msg)
			ok = false
			continue
		}
		days[d] = true
	}
	if ok && days == [7]bool{true, true, true, true, true, true, true} {
		f.Add(path+".weekdays", "skips every day of the week: the night would never open")
		ok = false
	}
	return ok
}

func (n *Night) validateSelection(f *experiment.Findings, path string) {
	s := n.Experiments
	hasSelector := strings.TrimSpace(s.Selector) != ""
	switch {
	case !hasSelector && len(s.Names) == 0:
		f.Add(path, "required: a selector on the experiments' labels (selector: team=payments) or their names (names: [checkout-pod-kill]); a night plays only what it selects")
		return
	case hasSelector && len(s.Names) > 0:
		f.Add(path, "set selector or names, not both")
		return
	}
	if hasSelector {
		if _, err := parseSelector(s.Selector); err != nil {
			f.Add(path+".selector", "%v", err)
		}
		return
	}
	first := map[string]int{}
	for i, name := range s.Names {
		p := fmt.Sprintf("%s.names[%d]", path, i)
		if len(validation.IsDNS1123Label(name)) > 0 {
			f.Add(p, "invalid experiment name %s (experiment names are %s)", experiment.QuoteValue(name), experiment.DNSLabelRule)
			continue
		}
		if j, dup := first[name]; dup {
			f.Add(p, "%s is listed twice (first at names[%d])", experiment.QuoteValue(name), j)
			continue
		}
		first[name] = i
	}
}

// validateWindows checks that the night opens at all and that its windows
// never overlap: two windows of one night open at once would play its
// experiments twice over.
func (n *Night) validateWindows(f *experiment.Findings, path string, now time.Time) {
	c, err := n.compile()
	if err != nil {
		f.Add(path, "%v", err) // unreachable: every part was checked above
		return
	}
	prev, err := c.next(now)
	if err != nil {
		f.Add(path+".opens", "opens no window in the %d years after %s (the cron expression and the skip rules leave no opening)",
			searchYears, now.In(c.loc).Format(time.DateOnly))
		return
	}
	horizon := now.Add(overlapHorizon)
	for range overlapWindows {
		w, err := c.next(prev.Opens)
		if err != nil || w.Opens.After(horizon) {
			return
		}
		if w.Opens.Before(prev.Closes) {
			f.Add(path+".lasts", "%s is longer than the %s between two openings (%s and %s); windows of one night must not overlap",
				n.Lasts, experiment.FormatDuration(w.Opens.Sub(prev.Opens)), stamp(prev.Opens), stamp(w.Opens))
			return
		}
		prev = w
	}
}

// stamp writes an instant as the night's local date and time with its
// zone abbreviation: "2026-03-29 03:30 CEST".
func stamp(t time.Time) string {
	return t.Format("2006-01-02 15:04 MST")
}
