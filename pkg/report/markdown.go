package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/probe"
)

// Markdown writes a summary of recs fit for a CI job summary
// ($GITHUB_STEP_SUMMARY) or a pull-request comment: a table of the verdicts,
// then per run the reasons, the probes and the command that replays it.
func Markdown(w io.Writer, recs []*journal.Record) error {
	if err := checkRecords(recs); err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## chaosnight: %s\n\n", tally(total(recs)))
	markdownVerdicts(&b, recs)
	if len(recs) > 1 {
		markdownPerExperiment(&b, recs)
	}
	for _, rec := range recs {
		markdownRun(&b, rec)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("writing the Markdown report: %w", err)
	}
	return nil
}

// markdownVerdicts is the table of every run's verdict.
func markdownVerdicts(b *strings.Builder, recs []*journal.Record) {
	b.WriteString("| Experiment | Verdict | Duration | Targets | Injected | Seed |\n|---|---|---|---|---|---|\n")
	for _, rec := range recs {
		verdict := badge(rec.Verdict)
		if rec.RevertFailed() {
			verdict += ", ⛔ revert failed"
		}
		injected := "–"
		if touched, targets, ok := rec.Injected(); ok {
			injected = fmt.Sprintf("%d of %d", touched, targets)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %d | %s | `%d` |\n", cell(rec.Experiment.Metadata.Name), verdict,
			formatDuration(runEnd(rec).Sub(rec.Started)), len(rec.Targets), injected, rec.Seed)
	}
}

// markdownPerExperiment is the count of verdicts per experiment (only
// worth a table when there are several runs).
func markdownPerExperiment(b *strings.Builder, recs []*journal.Record) {
	b.WriteString("\n### Per experiment\n\n| Experiment | Runs | Held | Deviated | Aborted | Skipped | Other |\n|---|---|---|---|---|---|---|\n")
	for _, c := range perExperiment(recs) {
		fmt.Fprintf(b, "| %s | %d | %d | %d | %d | %d | %d |\n", cell(c.Experiment), c.Runs, c.Held, c.Deviated, c.Aborted, c.Skipped, c.Other)
	}
}

// markdownRun is one run's section: reasons, what was injected, what a
// failed revert left, the probes, the targets and the replay command.
func markdownRun(b *strings.Builder, rec *journal.Record) {
	fmt.Fprintf(b, "\n### %s %s: %s\n\n", icon(rec.Verdict), rec.Experiment.Metadata.Name, rec.Verdict)
	if rec.RunID != "" {
		fmt.Fprintf(b, "Run `%s`, started %s.\n\n", rec.RunID, rec.Started.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	markdownList(b, rec.Reasons)
	if inj := Injected(rec); inj != "" {
		fmt.Fprintf(b, "Injected: %s.\n\n", inj)
	}
	if rec.RevertFailed() {
		b.WriteString("⛔ **The revert failed** (exit code 3). Still in effect:\n\n")
		leftovers := make([]string, 0, len(rec.Leftovers))
		for _, l := range rec.Leftovers {
			leftovers = append(leftovers, Leftover(l))
		}
		markdownList(b, leftovers)
	}
	markdownProbes(b, probes(rec))
	if len(rec.Targets) > 0 {
		keys := make([]string, 0, len(rec.Targets))
		for _, tg := range rec.Targets {
			keys = append(keys, "`"+tg.Key()+"`")
		}
		fmt.Fprintf(b, "Targets: %s\n\n", strings.Join(keys, ", "))
	}
	if rec.Replay != "" {
		fmt.Fprintf(b, "Replay:\n\n```sh\n%s\n```\n", rec.Replay)
	}
}

// markdownList is a bullet list, one line per item, and a blank line
// after it; nothing for no items.
func markdownList(b *strings.Builder, items []string) {
	for _, it := range items {
		fmt.Fprintf(b, "- %s\n", oneLine(it))
	}
	if len(items) > 0 {
		b.WriteString("\n")
	}
}

// markdownProbes is the table of a run's probes with their first problem.
func markdownProbes(b *strings.Builder, prs []probeRef) {
	if len(prs) == 0 {
		return
	}
	b.WriteString("| Probe | Role | Expected | Samples | Bad | First problem |\n|---|---|---|---|---|---|\n")
	for _, pr := range prs {
		first := ""
		if rs := pr.Reasons(); len(rs) > 0 {
			first = rs[0]
		}
		role := "hypothesis"
		if pr.Role == probe.RoleStop {
			role = "stop condition"
		}
		fmt.Fprintf(b, "| %s | %s | %s | %d | %d | %s |\n", cell(pr.Probe.Name), role, cell(pr.ExpectWords()),
			len(pr.Samples), pr.Failed(), cell(first))
	}
	b.WriteString("\n")
	writeBaselines(b, prs)
}

func tally(c counts) string {
	parts := []string{fmt.Sprintf("%d held", c.Held), fmt.Sprintf("%d deviated", c.Deviated), fmt.Sprintf("%d aborted", c.Aborted)}
	if c.Skipped > 0 {
		parts = append(parts, fmt.Sprintf("%d skipped", c.Skipped))
	}
	if c.Other > 0 {
		parts = append(parts, fmt.Sprintf("%d other", c.Other))
	}
	if c.RevertFailed > 0 {
		parts = append(parts, fmt.Sprintf("%d revert failed", c.RevertFailed))
	}
	return strings.Join(parts, ", ")
}

func icon(v journal.Verdict) string {
	switch v {
	case journal.Held:
		return "✅"
	case journal.Deviated:
		return "❌"
	case journal.Aborted, journal.Skipped:
		return "⚠️"
	}
	return "ℹ️"
}

func badge(v journal.Verdict) string { return icon(v) + " " + string(v) }

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(oneLine(s), "|", `\|`)
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
