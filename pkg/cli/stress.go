package cli

import (
	"github.com/spf13/cobra"

	"github.com/chaosnight/chaosnight/pkg/stressor/stresscmd"
)

// newStressCommand builds `chaosnight stress`: the stress process, the
// same as the small `chaosnight-stress` binary that the stress injector
// runs in an ephemeral container or a helper pod. Its flags are parsed by
// package stresscmd (cobra's parsing is off), so that both binaries take
// exactly the same command line, `stop` included.
func newStressCommand(streams Streams) *cobra.Command {
	return &cobra.Command{
		Use:                "stress --duration D [--cpu-workers N --cpu-load PERCENT] [--memory SIZE] [--disk-fill SIZE|PERCENT] [--disk-io N] [--disk-path DIR] | stress stop",
		Short:              "Burn CPU, hold memory, fill or load a disk from this process, then exit by itself",
		Long:               stresscmd.Help + "\n\n`chaosnight stress stop` ends the stress processes of this container.\nThe stress containers run the same command as the small chaosnight-stress binary.",
		Example:            stresscmd.Examples,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			code := stresscmd.Main(cmd.Context(), "chaosnight stress", stresscmd.Streams{Out: streams.Out, Err: streams.Err}, stresscmd.ProcessDeps(), args)
			if code != stresscmd.ExitOK {
				return silentExit(code)
			}
			return nil
		},
	}
}
