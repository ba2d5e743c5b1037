package journal

import "github.com/chaosnight/chaosnight/pkg/probe"

// Baseline is the measured baseline of one hypothesis probe with a
// relative expectation (expect.baseline): the range query's window, step
// and statistic, and per series the median, its spread and the points it
// was computed from, so that a verdict can be checked by hand. Every
// evaluation of the probe in the run (preflight, observe, recover) is made
// against it.
type Baseline struct {
	// Index is the probe's position in spec.hypothesis.probes: names are
	// optional, the position is not.
	Index int `json:"index"`
	probe.Baseline
}

// BaselineOf returns the baseline of the hypothesis probe at index i, or
// nil when none was measured.
func (r *Record) BaselineOf(i int) *Baseline {
	for k := range r.Baselines {
		if r.Baselines[k].Index == i {
			return &r.Baselines[k]
		}
	}
	return nil
}
