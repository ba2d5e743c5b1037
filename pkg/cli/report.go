package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/report"
)

// Report formats.
const (
	formatHTML     = "html"
	formatJUnit    = "junit"
	formatMarkdown = "markdown"
)

// renderer returns the report function of a format.
func renderer(format string) (func(io.Writer, []*journal.Record) error, error) {
	switch format {
	case formatHTML:
		return report.HTML, nil
	case formatJUnit:
		return report.JUnit, nil
	case formatMarkdown:
		return report.Markdown, nil
	}
	return nil, fmt.Errorf("--format %q: unknown format (allowed: html, junit, markdown)", format)
}

// newReportCommand builds `chaosnight report JOURNAL... -o FILE`.
func newReportCommand(streams Streams, _ *globals) *cobra.Command {
	var output, format string
	cmd := &cobra.Command{
		Use:   "report JOURNAL...",
		Short: "Render journals as an HTML report with charts, JUnit XML or Markdown",
		Long: `Render one or more run journals as a report.

html (default): a self-contained page (no network needed to open it) with, per
run, the verdict and its reasons, a chart of every probe and stop condition
(tolerance band, injection window, each fault start), the targets, the phases,
the seed and the replay command; with several journals, a summary across runs
(verdicts per experiment, recovery time over time).
junit: one test suite per run, one test case per experiment and per probe.
markdown: a summary for a CI job summary or a pull-request comment.

-o - writes to standard output.`,
		Example: `  chaosnight report journals/*.json -o report.html
  chaosnight report journals/checkout-*.json --format markdown -o - >> "$GITHUB_STEP_SUMMARY"`,
		Args: cobra.MinimumNArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return []string{"json"}, cobra.ShellCompDirectiveFilterFileExt
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			render, err := renderer(format)
			if err != nil {
				return withExitCode(ExitInvalid, err)
			}
			recs := make([]*journal.Record, 0, len(args))
			for _, path := range args {
				rec, err := journal.Read(path)
				if err != nil {
					return withExitCode(ExitInvalid, err)
				}
				recs = append(recs, rec)
			}
			if output == "-" {
				if err := render(streams.Out, recs); err != nil {
					return withExitCode(ExitInvalid, err)
				}
				return nil
			}
			if err := writeReport(output, render, recs); err != nil {
				return withExitCode(ExitInvalid, err)
			}
			fmt.Fprintf(streams.Err, "report: %s (%d run(s))\n", output, len(recs))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&output, "output", "o", "report.html", "file to write, - for standard output")
	fl.StringVar(&format, "format", formatHTML, "report format: html, junit or markdown")
	_ = cmd.RegisterFlagCompletionFunc("format", fixedCompletion(formatHTML, formatJUnit, formatMarkdown))
	return cmd
}

// writeReport renders recs in memory, then writes the file, so that a
// rendering error leaves no half-written file behind.
func writeReport(path string, render func(io.Writer, []*journal.Record) error, recs []*journal.Record) error {
	var buf bytes.Buffer
	if err := render(&buf, recs); err != nil {
		return fmt.Errorf("report %s: %w", path, err)
	}
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("report %s: %w", path, err)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("report %s: %w", path, err)
	}
	return nil
}

// runReports are the report files `chaosnight run` writes after the run.
type runReports struct {
	junit, markdown string
}

// addFlags adds --junit and --markdown to `run`.
func (r *runReports) addFlags(fl *pflag.FlagSet) {
	fl.StringVar(&r.junit, "junit", "", "also write the verdict as JUnit XML to this file (one test case per experiment and per probe)")
	fl.StringVar(&r.markdown, "markdown", "", "also write a Markdown summary to this file (for a CI job summary or a pull-request comment)")
}

// write writes the requested reports of rec. A run's report is written for
// every verdict; a failure to write one is an error of its own (exit 3).
func (r runReports) write(rec *journal.Record) error {
	for _, out := range []struct {
		path   string
		render func(io.Writer, []*journal.Record) error
	}{{r.junit, report.JUnit}, {r.markdown, report.Markdown}} {
		if out.path == "" {
			continue
		}
		if err := writeReport(out.path, out.render, []*journal.Record{rec}); err != nil {
			return err
		}
	}
	return nil
}
