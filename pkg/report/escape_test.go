package report

import (
	"bytes"
	"testing"

	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/report/reporttest"
)

// hostileRecords are the fixtures with hostile text in every field a page
// shows (names, descriptions, reasons, queries, pods, notes, commands).
func hostileRecords() []*journal.Record {
	recs := fixtures()
	for _, r := range recs {
		r.Experiment.Metadata.Name += reporttest.Hostile
		r.Experiment.Spec.Description = reporttest.Hostile
		r.Reasons = append(r.Reasons, reporttest.Hostile)
		r.File, r.Replay, r.RunID = reporttest.Hostile, reporttest.Hostile, r.RunID+reporttest.Hostile
		for i := range r.Experiment.Spec.Hypothesis.Probes {
			p := &r.Experiment.Spec.Hypothesis.Probes[i]
			p.Query += reporttest.Hostile
		}
		for i := range r.Samples {
			r.Samples[i].Result.Reason = reporttest.Hostile
		}
		for i := range r.Targets {
			r.Targets[i].Name += reporttest.Hostile
			r.Targets[i].Node = reporttest.Hostile
		}
		for i := range r.Phases {
			r.Phases[i].Note = reporttest.Hostile
		}
		for i := range r.Injections {
			for j := range r.Injections[i].Outcomes {
				r.Injections[i].Outcomes[j].Detail = reporttest.Hostile
			}
		}
		for i := range r.Rounds {
			r.Rounds[i].Note = reporttest.Hostile
		}
		for i := range r.Leftovers {
			r.Leftovers[i].What, r.Leftovers[i].Error = reporttest.Hostile, reporttest.Hostile
		}
	}
	return recs
}

// Journal text is shown as text, never as markup: the page is written in
// plain Go (no template escaping), so every value must be escaped by hand.
func TestHTMLEscapesJournalText(t *testing.T) {
	for _, n := range []int{1, 4} { // one run; several (summary, recovery chart legend, a failed revert)
		var buf bytes.Buffer
		if err := HTML(&buf, hostileRecords()[:n]); err != nil {
			t.Fatal(err)
		}
		reporttest.CheckInert(t, buf.String())
	}
}
