package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

func newValidateCommand(streams Streams, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate PATH...",
		Short: "Check experiment files offline: format, selectors, durations and PromQL",
		Long: `Check experiment files offline, without a cluster or Prometheus.

PATH may be a file or a directory; directories are searched recursively for
*.yaml and *.yml files. Every problem is printed on its own line as
FILE:LINE: field.path: what is wrong (what is allowed).

Exit codes: 0 when every experiment is valid, 3 otherwise.`,
		Example: `  chaosnight validate experiments/
  chaosnight validate experiments/checkout-pod-kill.yaml`,
		Args: cobra.MinimumNArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
		},
		RunE: func(_ *cobra.Command, args []string) error {
			exps, err := experiment.CheckPaths(g.faults.Formats(), args...)
			if err != nil {
				var problems experiment.Problems
				if !errors.As(err, &problems) {
					return withExitCode(ExitInvalid, err)
				}
				for _, p := range problems {
					fmt.Fprintln(streams.Out, p.String())
				}
				fmt.Fprintf(streams.Err, "%d problem(s) found\n", len(problems))
				return silentExit(ExitInvalid)
			}
			files := map[string]bool{}
			for _, e := range exps {
				files[e.Source.File] = true
			}
			_, err = fmt.Fprintf(streams.Out, "ok: %d experiment(s) in %d file(s) are valid\n", len(exps), len(files))
			return err
		},
	}
}
