package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaosnight/chaosnight/pkg/inject/stress"
)

// newStressStopCommand builds `chaosnight stress stop`, which the stress
// injector runs through pods/exec in a target's ephemeral container to end
// the stress before its deadline: ephemeral containers cannot be removed,
// and the distroless image has no shell or kill to do it otherwise.
func newStressStopCommand(streams Streams) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop the `chaosnight stress` processes running in this container",
		Long: `Send SIGTERM to every ` + "`chaosnight stress`" + ` process this process can see
(the same executable, run with the stress subcommand) and wait until they have
exited. In the ephemeral container of a pod-scope stress that is PID 1, the
stressor itself: when it exits the container ends, and this command with it.

Finding no stress process is success: the stress already ended by itself, so
running stop twice is harmless. Exit codes: 0 stopped or nothing to stop,
3 when a process could not be signalled or was still running after --timeout.`,
		Example: `  kubectl exec POD -c chaosnight-stress-RUNID -- chaosnight stress stop`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			found, err := stress.StopLocal(cmd.Context(), stress.StopConfig{Timeout: timeout})
			for _, s := range found {
				fmt.Fprintf(streams.Out, "stopped pid %d: %s\n", s.PID, s.Cmdline)
			}
			if err != nil {
				return withExitCode(ExitInvalid, err)
			}
			if len(found) == 0 {
				fmt.Fprintln(streams.Out, "no stress process running")
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for the stress processes to exit")
	return cmd
}
