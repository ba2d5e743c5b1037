package cli

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/schedule"
)

// scheduleDefaultNext is how many windows `schedule` shows by default: a
// working week of weeknights.
const scheduleDefaultNext = 5

// newScheduleCommand builds `chaosnight schedule`, the preview of the
// coming chaos nights: what serve will open, when, and what it will play.
func newScheduleCommand(streams Streams, g *globals) *cobra.Command {
	var (
		next     int
		expDir   string
		fromText string
	)
	cmd := &cobra.Command{
		Use:   "schedule --config FILE",
		Short: "Preview the coming chaos nights and the experiments each one plays",
		Long: `Preview the coming chaos nights of a serve configuration: for each of the next
windows across all nights, by opening, the night, when it opens and closes in
its time zone and in UTC, and the experiments it plays with their planned
start, or why they are skipped. Check the plan before the night.

The nights come from the configuration file (--config). The experiments come
from the directory named by the experiments key of the configuration
(CHAOSNIGHT_EXPERIMENTS, or --experiments). A shuffled night shows the order
played with the seed derived from the night and its opening.

--from previews from any instant instead of now (RFC 3339, with its offset):
check in advance a night that crosses a change of daylight saving time or a
skipped holiday.

Exit codes: 0 ok, 3 when the configuration or an experiment is invalid.`,
		Example: `  chaosnight schedule --config chaosnight.yaml
  chaosnight schedule --config chaosnight.yaml --next 10 --experiments experiments/
  chaosnight schedule --config chaosnight.yaml --from 2026-10-24T12:00:00+02:00   # the week the clocks go back`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			now := time.Now()
			if fromText != "" {
				t, err := time.Parse(time.RFC3339, fromText)
				if err != nil {
					return withExitCode(ExitInvalid, fmt.Errorf("--from %q: not an RFC 3339 time such as 2026-07-01T21:00:00+02:00", fromText))
				}
				now = t
			}
			if next < 1 {
				return withExitCode(ExitInvalid, fmt.Errorf("--next %d: must be at least 1", next))
			}
			// The flag is read directly rather than bound to the key:
			// viper holds one flag per key, and serve binds its own.
			dir := experimentsDir(cmd, g)
			return runSchedule(streams, g.faults.Formats(), g.settings.ConfigFile, dir, now, next)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&next, "next", scheduleDefaultNext, "how many coming windows to show, across all nights")
	fl.StringVar(&expDir, "experiments", "", "directory of the experiments (default: the experiments key of the configuration)")
	fl.StringVar(&fromText, "from", "", "preview from this instant (RFC 3339, e.g. 2026-10-24T12:00:00+02:00) instead of now")
	// --now was the hidden name of --from before it was documented.
	fl.StringVar(&fromText, "now", "", "")
	_ = fl.MarkHidden("now")
	_ = cmd.MarkFlagDirname("experiments")
	return cmd
}

// printScheduleProblems lists problems one per line on stdout, as validate does,
// and their count on stderr.
func printScheduleProblems(streams Streams, problems experiment.Problems) error {
	for _, p := range problems {
		fmt.Fprintln(streams.Out, p.String())
	}
	fmt.Fprintf(streams.Err, "%d problem(s) found\n", len(problems))
	return silentExit(ExitInvalid)
}

func runSchedule(streams Streams, kinds *experiment.Kinds, configFile, dir string, now time.Time, next int) error {
	if configFile == "" {
		return withExitCode(ExitInvalid, errors.New("no configuration: give --config FILE (a chaosnight.yaml with nights)"))
	}
	cfg, err := schedule.LoadConfigFile(configFile, now)
	if err != nil {
		var problems experiment.Problems
		if errors.As(err, &problems) {
			return printScheduleProblems(streams, problems)
		}
		return withExitCode(ExitInvalid, err)
	}
	if len(cfg.Nights) == 0 {
		return withExitCode(ExitInvalid, fmt.Errorf("%s: no nights (add a nights: list; see docs/nights.md)", configFile))
	}

	var items []schedule.PlanItem
	if dir != "" {
		exps, err := experiment.LoadPaths(kinds, dir)
		if err != nil {
			var problems experiment.Problems
			if errors.As(err, &problems) {
				return printScheduleProblems(streams, problems)
			}
			return withExitCode(ExitInvalid, err)
		}
		for _, e := range exps {
			items = append(items, schedule.ItemOf(e))
		}
	}

	type entry struct {
		night  *schedule.Night
		index  int
		window schedule.Window
	}
	var entries []entry
	for i := range cfg.Nights {
		n := &cfg.Nights[i]
		for _, w := range n.Windows(now, next) {
			entries = append(entries, entry{night: n, index: i, window: w})
		}
	}
	slices.SortStableFunc(entries, func(a, b entry) int {
		return cmp.Or(a.window.Opens.Compare(b.window.Opens), cmp.Compare(a.index, b.index))
	})
	entries = entries[:min(next, len(entries))]

	out := &scheduleWriter{w: streams.Out}
	out.printf("The next %d window(s) from %s:\n", len(entries), now.UTC().Format("Mon 2006-01-02 15:04 MST"))
	for _, e := range entries {
		out.printf("\n")
		printScheduleWindow(out, *e.night, e.window, items, dir != "", now)
	}
	return out.err
}

// printWindow shows one window and its plan.
func printScheduleWindow(out *scheduleWriter, n schedule.Night, w schedule.Window, items []schedule.PlanItem, haveExperiments bool, now time.Time) {
	const day = "Mon 2006-01-02 15:04 MST"
	out.printf("%s (%s)", n.Name, w.Location)
	if w.Contains(now) {
		out.printf(", open now: planned from %s", now.In(w.Location).Format("15:04 MST"))
	}
	out.printf("\n")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  opens\t%s\t%s\n", w.Opens.Format(day), w.Opens.UTC().Format(day))
	fmt.Fprintf(tw, "  closes\t%s\t%s\n", w.Closes.Format(day), w.Closes.UTC().Format(day))
	_ = tw.Flush()
	out.printf("  %s\n", describeNightRules(n, w))

	if !haveExperiments {
		out.printf("    (experiments not listed: set experiments in the configuration, or --experiments DIR)\n")
		return
	}
	plan := schedule.Plan(w, items, n, now, schedule.Seed(w))
	if len(plan) == 0 {
		out.printf("    nothing selected: no experiment matches %s\n", n.Experiments.Selector)
		return
	}
	byName := make(map[string]schedule.PlanItem, len(items))
	for _, it := range items {
		byName[it.Name] = it
	}
	const at = "Mon 15:04 MST"
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, p := range plan {
		if p.Skipped {
			fmt.Fprintf(tw, "    skipped\t\t%s: %s\n", p.Experiment, p.Reason)
			continue
		}
		it := byName[p.Experiment]
		fmt.Fprintf(tw, "    %s\t%s\t%s (%s + %s recovery, until %s)\n", p.Start.In(w.Location).Format(at), p.Start.UTC().Format(at),
			p.Experiment, experiment.FormatDuration(it.Duration), experiment.FormatDuration(it.Recovery), p.End.In(w.Location).Format("15:04 MST"))
	}
	_ = tw.Flush()
}

// describeNightRules says, in one line, how the night orders and spaces its
// experiments.
func describeNightRules(n schedule.Night, w schedule.Window) string {
	parts := []string{"order listed"}
	if n.Order == schedule.OrderShuffled {
		parts = []string{fmt.Sprintf("order shuffled (seed %d)", schedule.Seed(w))}
	}
	if n.Cooldown.Duration > 0 {
		parts = append(parts, "cooldown "+experiment.FormatDuration(n.Cooldown.Duration))
	}
	if n.MaxPerNight > 0 {
		parts = append(parts, fmt.Sprintf("at most %d per night", n.MaxPerNight))
	}
	if s := n.Experiments.Selector; s != "" {
		parts = append(parts, "selector "+s)
	}
	return strings.Join(parts, ", ")
}

// scheduleWriter keeps the first write error, so that a long report is not a
// wall of error checks and a closed stdout still fails the command.
type scheduleWriter struct {
	w   io.Writer
	err error
}

func (e *scheduleWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *scheduleWriter) printf(format string, args ...any) {
	fmt.Fprintf(e, format, args...)
}
