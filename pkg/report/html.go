package report

import (
	"fmt"
	"io"
	"time"

	"github.com/chaosnight/chaosnight/pkg/journal"
)

// The page's view model.
type htmlPage struct {
	Title   string
	Summary *htmlSummary
	Runs    []htmlRun
}

type htmlSummary struct {
	Total    counts
	PerExp   []counts
	Recovery string // SVG markup, generated

	Detection string // SVG markup of the TTD trend, "" without detections (detect.go)
}

type htmlRun struct {
	Anchor      string
	Name        string
	RunID       string
	Description string
	Verdict     string
	Reasons     []string
	File        string
	Seed        int64
	Replay      string
	Started     string
	Duration    string
	Action      string
	Injected    string   // "1 of 3 targets ...", "" when nothing reached the injector
	Rounds      []string // notes of the rounds that did not touch every target
	Leftovers   []string // what a failed revert left in effect, and until when
	Charts      []htmlChart
	Targets     []htmlTarget
	Phases      []htmlPhase
	Timeline    []htmlBar
	Injections  []htmlMark

	// spec.detect's alerts and the time to recover (detect.go)
	Detections    []detectionRow
	TimeToRecover string
}

type htmlChart struct {
	Name    string
	Role    string
	Query   string
	Expect  string
	Samples int
	Failed  int
	Reasons []string
	SVG     string // SVG markup, generated
}

type htmlTarget struct {
	Key, UID, Node, Owner string
	Outcomes              []string
}

type htmlPhase struct {
	Name, Start, End, Duration, Note string
}

// htmlBar is one phase in the timeline, as percentages of the run.
type htmlBar struct {
	Name        string
	Left, Width string
}

type htmlMark struct {
	At, What string
}

// HTML writes a self-contained HTML report of recs: per run, the verdict and
// its reasons, a chart per probe and stop condition, the targets, the phase
// timeline, the seed and the replay command; with several runs, a summary
// across them first. The page needs no network: styles are inline and the
// charts are inline SVG.
func HTML(w io.Writer, recs []*journal.Record) error {
	if err := checkRecords(recs); err != nil {
		return err
	}
	page := htmlPage{Title: "chaosnight report"}
	if len(recs) == 1 {
		page.Title = "chaosnight: " + recs[0].Experiment.Metadata.Name + " " + string(recs[0].Verdict)
	}
	if len(recs) > 1 {
		page.Summary = &htmlSummary{Total: total(recs), PerExp: perExperiment(recs),
			Recovery: recoveryChart(recs), Detection: detectionChart(recs)}
	}
	for i, rec := range recs {
		page.Runs = append(page.Runs, htmlRunOf(rec, i))
	}
	if err := writePage(w, page); err != nil {
		return fmt.Errorf("writing the HTML report: %w", err)
	}
	return nil
}

func htmlRunOf(rec *journal.Record, i int) htmlRun {
	run := htmlRun{
		Anchor:      fmt.Sprintf("run-%d", i+1),
		Name:        rec.Experiment.Metadata.Name,
		RunID:       rec.RunID,
		Description: rec.Experiment.Spec.Description,
		Verdict:     string(rec.Verdict),
		Reasons:     rec.Reasons,
		File:        rec.File,
		Seed:        rec.Seed,
		Replay:      rec.Replay,
		Started:     rec.Started.UTC().Format(time.RFC3339),
		Duration:    formatDuration(runEnd(rec).Sub(rec.Started)),
		Action:      actionOf(rec),
		Injected:    Injected(rec),
	}
	run.Detections, run.TimeToRecover = detectionRows(rec), timeToRecoverText(rec)
	for _, r := range rec.Rounds {
		if r.Note != "" {
			run.Rounds = append(run.Rounds, r.Note)
		}
	}
	for _, l := range rec.Leftovers {
		run.Leftovers = append(run.Leftovers, Leftover(l))
	}
	for _, pr := range probes(rec) {
		role := "hypothesis"
		if pr.Role != "" && pr.Role != "hypothesis" {
			role = "stop condition"
		}
		run.Charts = append(run.Charts, htmlChart{
			Name: pr.Probe.Name, Role: role, Query: pr.Probe.Query, Expect: pr.ExpectWords(),
			Samples: len(pr.Samples), Failed: pr.Failed(), Reasons: pr.Reasons(),
			SVG: probeChart(rec, pr),
		})
	}
	run.Targets = targetsOf(rec)
	end := runEnd(rec)
	length := end.Sub(rec.Started).Seconds()
	for _, p := range rec.Phases {
		ph := htmlPhase{Name: p.Name, Start: offset(rec, p.Started), Note: p.Note}
		pend := p.Ended
		if !p.Ended.IsZero() {
			ph.End = offset(rec, p.Ended)
			ph.Duration = formatDuration(p.Ended.Sub(p.Started))
		} else {
			pend = end
		}
		run.Phases = append(run.Phases, ph)
		if length > 0 {
			left := p.Started.Sub(rec.Started).Seconds() / length * 100
			width := pend.Sub(p.Started).Seconds() / length * 100
			run.Timeline = append(run.Timeline, htmlBar{Name: p.Name, Left: pct(left), Width: pct(max(width, 0.5))})
		}
	}
	for _, t := range injectionMarks(rec) {
		run.Injections = append(run.Injections, htmlMark{At: offset(rec, t), What: "fault started"})
	}
	return run
}

func pct(v float64) string { return fmt.Sprintf("%.2f%%", v) }

// actionOf describes the fault in words.
func actionOf(rec *journal.Record) string {
	s := rec.Experiment.Spec.Action.Kind
	if rec.Fault != nil && rec.Fault.Action != "" {
		s = rec.Fault.Action
	}
	if d := rec.Experiment.Spec.Duration.Duration; d > 0 {
		s += " for " + d.String()
	}
	return s
}

// targetsOf lists the targets with what happened to each (the last outcome).
func targetsOf(rec *journal.Record) []htmlTarget {
	var out []htmlTarget
	last := map[string]int{}
	for _, t := range rec.Targets {
		ht := htmlTarget{Key: t.Key(), UID: t.UID, Node: t.Node}
		if t.Owner != nil {
			ht.Owner = t.Owner.Kind + "/" + t.Owner.Name
		}
		last[t.UID+"|"+t.Key()] = len(out)
		out = append(out, ht)
	}
	for _, inj := range rec.Injections {
		for _, o := range inj.Outcomes {
			k := o.Pod.UID + "|" + o.Pod.Key()
			i, ok := last[k]
			if !ok {
				i = len(out)
				last[k] = i
				out = append(out, htmlTarget{Key: o.Pod.Key(), UID: o.Pod.UID, Node: o.Pod.Node})
			}
			what := o.Status + " at " + offset(rec, o.At)
			if o.Detail != "" {
				what += " (" + o.Detail + ")"
			}
			out[i].Outcomes = append(out[i].Outcomes, what)
		}
	}
	return out
}
