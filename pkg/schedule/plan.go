package schedule

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

// PlanItem is what planning needs to know of one experiment.
type PlanItem struct {
	Name     string
	Labels   map[string]string
	Duration time.Duration // spec.duration: how long the fault is applied
	Recovery time.Duration // spec.recovery: how long the hypothesis has to come back
	// Done marks an experiment already played (or in flight) in this
	// window: it counts toward maxPerNight and is not planned again. The
	// runner passes the whole list at every decision point and marks what
	// is behind it, so the rest keeps its order and the cap holds.
	Done bool
}

// Need is the time an experiment occupies a window: its duration plus its
// recovery. Both must end before the window closes, or the recovery check
// would be cut short by the close.
func (it PlanItem) Need() time.Duration {
	return it.Duration + it.Recovery
}

// ItemOf returns the plan item of a loaded experiment (defaults applied;
// an unset recovery counts as its default).
func ItemOf(e experiment.Experiment) PlanItem {
	recovery := e.Spec.Recovery.Duration
	if e.Spec.Recovery.IsZero() {
		recovery = experiment.DefaultRecovery
	}
	return PlanItem{Name: e.Metadata.Name, Labels: e.Metadata.Labels, Duration: e.Spec.Duration.Duration, Recovery: recovery}
}

// Planned is the fate of one selected experiment in a window: when it
// starts and ends (End = Start + duration + recovery), or why it is
// skipped.
type Planned struct {
	Experiment string
	Start, End time.Time
	Skipped    bool
	// Skip says why, as a kind a program checks; Reason says it in words.
	Skip   SkipKind
	Reason string
}

// SkipKind is why a planned experiment is skipped. The runner decides on
// it (a skip that a shorter run before it could undo is not final), so it
// is a value, never read back from Reason's words.
type SkipKind int

// Skip kinds.
const (
	NotSkipped     SkipKind = iota
	SkipUnknown             // a listed name matches no experiment
	SkipClosed              // the window has closed
	SkipMaximum             // the night's maxPerNight is reached
	SkipNoTimeLeft          // it cannot finish before the window closes
)

// Plan lays out the experiments a night plays in window w, from now on:
//   - selection: by the night's names (in the order listed) or selector
//     (matches by name); a listed name that is not among exps is skipped
//     with that reason;
//   - order: listed, or shuffled with seed (the order of a set of names
//     depends on the seed alone, so planning again without the
//     experiments already done keeps the order of the rest);
//   - the first starts at max(now, w.Opens): a runner that starts inside
//     an open window plays what still fits, starting now;
//   - each takes its duration plus recovery, then the night's cooldown;
//   - one that cannot finish before w.Closes is skipped with the reason,
//     and the next ones are still tried (a shorter one may fit);
//   - once maxPerNight are planned (Done ones included), the rest are
//     skipped;
//   - when now is at or after the close, everything left is skipped with
//     w.CloseReason(): what the runner records at the close, while it
//     aborts and reverts the experiment in flight.
//
// Plan is pure and cheap (no I/O, one pass): the runner calls it at every
// decision point with the clock's reading, and `chaosnight schedule`
// calls it to preview a night. Items marked Done get no entry.
func Plan(w Window, exps []PlanItem, n Night, now time.Time, seed int64) []Planned {
	cands := selectItems(n, exps)
	if n.Order == OrderShuffled {
		shuffle(cands, seed)
	}

	played := 0
	for _, c := range cands {
		if c.Done {
			played++
		}
	}
	cursor := now
	if cursor.Before(w.Opens) {
		cursor = w.Opens
	}
	out := make([]Planned, 0, len(cands))
	for _, c := range cands {
		need := c.Need()
		switch {
		case c.Done:
			continue
		case c.problem != "":
			out = append(out, skipped(c.Name, SkipUnknown, c.problem))
		case !now.Before(w.Closes):
			out = append(out, skipped(c.Name, SkipClosed, w.CloseReason()))
		case n.MaxPerNight > 0 && played >= n.MaxPerNight:
			out = append(out, skipped(c.Name, SkipMaximum, fmt.Sprintf("the night's maximum of %d experiment(s) is reached", n.MaxPerNight)))
		case cursor.Add(need).After(w.Closes):
			left := max(w.Closes.Sub(cursor), 0).Truncate(time.Second)
			out = append(out, skipped(c.Name, SkipNoTimeLeft, fmt.Sprintf("cannot finish before the window closes at %s (needs %s, %s left)",
				clock(w.Closes, w.Location), experiment.FormatDuration(need), experiment.FormatDuration(left))))
		default:
			end := cursor.Add(need)
			out = append(out, Planned{Experiment: c.Name, Start: cursor, End: end})
			played++
			cursor = end.Add(n.Cooldown.Duration)
		}
	}
	return out
}

// Fits reports whether an experiment that needs `need` (duration plus
// recovery), started at max(now, w.Opens), ends by the time w closes. The
// runner checks it again just before it starts one, because the one
// before may have run late.
func Fits(w Window, now time.Time, need time.Duration) bool {
	start := now
	if start.Before(w.Opens) {
		start = w.Opens
	}
	return start.Before(w.Closes) && !start.Add(need).After(w.Closes)
}

// Seed derives a seed from the window (its night and its opening): the
// shuffled order `chaosnight schedule` previews is then the order the
// runner plays, if the runner uses it too. Either way the runner records
// the seed it used.
func Seed(w Window) int64 {
	h := fnv.New64a()
	h.Write([]byte(w.Night))
	h.Write([]byte{0})
	h.Write(strconv.AppendInt(nil, w.Opens.Unix(), 10))
	return int64(h.Sum64() &^ (1 << 63)) // non-negative, like run's seeds
}

func skipped(name string, kind SkipKind, reason string) Planned {
	return Planned{Experiment: name, Skipped: true, Skip: kind, Reason: reason}
}

// candidate is a selected experiment, or a listed name that matches
// none (problem says so).
type candidate struct {
	PlanItem
	problem string
}

// selectItems returns the experiments the night selects, in listed
// order: by names, a listed name that matches no experiment stays in its
// place with a problem; by selector, the matches sorted by name.
func selectItems(n Night, exps []PlanItem) []candidate {
	var out []candidate
	if len(n.Experiments.Names) > 0 {
		byName := make(map[string]PlanItem, len(exps))
		for _, it := range exps {
			byName[it.Name] = it
		}
		seen := map[string]bool{}
		for _, name := range n.Experiments.Names {
			if seen[name] {
				continue
			}
			seen[name] = true
			it, ok := byName[name]
			if !ok {
				out = append(out, candidate{PlanItem: PlanItem{Name: name}, problem: "no experiment has this name"})
				continue
			}
			out = append(out, candidate{PlanItem: it})
		}
		return out
	}
	sel, err := parseSelector(n.Experiments.Selector)
	if err != nil {
		// Validation refuses this; a night built in Go and never
		// validated still gets a word rather than an empty plan.
		return []candidate{{problem: err.Error()}}
	}
	for _, it := range exps {
		if sel.Matches(labels.Set(it.Labels)) {
			out = append(out, candidate{PlanItem: it})
		}
	}
	slices.SortStableFunc(out, func(a, b candidate) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Selects says whether the night plays e when it fits: by name, or by its
// labels.
func (n Night) Selects(e experiment.Experiment) bool {
	if len(n.Experiments.Names) > 0 {
		return slices.Contains(n.Experiments.Names, e.Metadata.Name)
	}
	sel, err := parseSelector(n.Experiments.Selector)
	return err == nil && sel.Matches(labels.Set(e.Metadata.Labels))
}

// parseSelector parses a night's label selector. An empty one selects
// nothing: a night plays only what it names.
func parseSelector(s string) (labels.Selector, error) {
	if strings.TrimSpace(s) == "" {
		return labels.Nothing(), nil
	}
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid label selector %s: %w", experiment.QuoteValue(s), err)
	}
	return sel, nil
}

// shuffle orders items by a seeded hash of their names. For distinct
// names that is a random permutation given a random seed, and unlike a
// Fisher-Yates shuffle it keeps the relative order of the rest when some
// items are removed, so a plan recomputed mid-night does not reshuffle.
// FNV and splitmix64 are fixed algorithms: a recorded seed replays the
// same order with any Go version.
func shuffle(items []candidate, seed int64) {
	mixed := splitmix64(uint64(seed))
	keys := make(map[string]uint64, len(items))
	for _, it := range items {
		keys[it.Name] = splitmix64(fnv64a(it.Name) ^ mixed)
	}
	slices.SortStableFunc(items, func(a, b candidate) int {
		return cmp.Or(cmp.Compare(keys[a.Name], keys[b.Name]), strings.Compare(a.Name, b.Name))
	})
}

// fnv64a is FNV-1a, written out to hash a name without an allocation.
func fnv64a(s string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	for i := range len(s) {
		h ^= uint64(s[i])
		h *= prime
	}
	return h
}

// splitmix64 is the finaliser of SplitMix64: every input bit affects
// every output bit, so neighbouring seeds give unrelated orders.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
