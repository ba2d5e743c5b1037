package experiment

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
)

// alertNameRE is what Prometheus accepts as an alerting rule's name (a
// metric name), and labelNameRE as a label name.
var (
	alertNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Labels of the ALERTS series that chaosnight sets itself.
const (
	alertNameLabel  = "alertname"
	alertStateLabel = "alertstate"
)

// detect checks spec.detect.
func (v *validator) detect(s *Spec, durationOK bool) {
	const path = "spec.detect"
	seen := map[string]int{}
	recovery := s.Recovery.Duration
	if !s.Recovery.set() {
		recovery = DefaultRecovery
	}
	for i := range s.Detect {
		d := &s.Detect[i]
		dp := indexPath(path, i)
		switch {
		case d.Alert == "":
			v.add(dp+".alert", "required (the name of the alerting rule that must fire, such as CheckoutHighErrorRate)")
		case !alertNameRE.MatchString(d.Alert):
			v.add(dp+".alert", "invalid alert name %s (an alerting rule's name: letters, digits, '_' and ':', not starting with a digit)", quoteValue(d.Alert))
		}
		for _, k := range slices.Sorted(maps.Keys(d.Labels)) {
			lp := keyPath(dp+".labels", k)
			switch {
			case k == alertNameLabel:
				v.add(lp, "set the alert's name with alert, not as a label")
			case k == alertStateLabel:
				v.add(lp, "chaosnight reads the state itself (pending, then firing); leave it out")
			case !labelNameRE.MatchString(k):
				v.add(lp, "invalid label name %s (letters, digits and '_', not starting with a digit)", quoteValue(k))
			}
		}
		within, ok := v.duration(dp+".within", d.Within, durationRule{required: true, positive: true})
		if ok && durationOK && within > s.Duration.Duration+recovery {
			v.add(dp+".within", "%s is longer than spec.duration plus spec.recovery (%s): the run ends before the bound (shorten it, or lengthen recovery)",
				d.Within, formatDuration(s.Duration.Duration+recovery))
		}
		v.duration(dp+".resolveWithin", d.ResolveWithin, durationRule{})
		key := d.Alert + "{" + labelsKey(d.Labels) + "}"
		if j, dup := seen[key]; dup {
			v.add(dp, "duplicate detection of %s (also %s)", quoteValue(d.Alert), indexPath(path, j))
		} else {
			seen[key] = i
		}
	}
}

func labelsKey(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

// DetectionHorizon is how long after the fault starts a run keeps watching
// for the alerts of spec.detect: the longest within.
func DetectionHorizon(s *Spec) time.Duration {
	var h time.Duration
	for _, d := range s.Detect {
		h = max(h, d.Within.Duration)
	}
	return h
}
