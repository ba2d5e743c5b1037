package cli

import (
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaosnight/chaosnight/pkg/killswitch"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// killSwitch builds the kill switch of the namespace chaosnight works in
// (--namespace, else the kubeconfig context's namespace).
func (g *globals) killSwitch() (*killswitch.Switch, error) {
	cc := g.kubeClientConfig()
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	restCfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	client, err := target.NewClientset(restCfg, 5, 10)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &killswitch.Switch{Client: client, Namespace: ns}, nil
}

// whoAmI names the person or process that pulls the switch, for the record.
func whoAmI() string {
	host, _ := os.Hostname()
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username + "@" + host
	}
	return host
}

func newPauseCommand(streams Streams, g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "pause",
		Short: "Engage the kill switch: abort every experiment in flight (they revert) and start no new one",
		Long: `Engage the kill switch: a ConfigMap (chaosnight-kill-switch) in the namespace
chaosnight works in (--namespace, else the kubeconfig context's). Runners abort
and revert what is in flight at once (they watch the switch) and start nothing new, and
chaosnight run refuses to inject, until chaosnight resume.`,
		Example: `  chaosnight pause --reason "incident INC-123 in progress" --namespace chaosnight`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, err := g.killSwitch()
			if err != nil {
				return withExitCode(ExitInvalid, err)
			}
			st := killswitch.State{Engaged: true, Reason: reason, By: whoAmI(), Since: time.Now()}
			if err := ks.Set(cmd.Context(), st); err != nil {
				return withExitCode(ExitInvalid, err)
			}
			g.log.Info("kill switch engaged", "namespace", ks.Namespace, "reason", reason, "by", st.By)
			_, err = fmt.Fprintf(streams.Out, "paused: chaosnight will inject nothing in namespace %s's scope until `chaosnight resume`\n", ks.Namespace)
			return err
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the people who will see it (logs, metrics, status)")
	return cmd
}

func newResumeCommand(streams Streams, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "resume",
		Short: "Release the kill switch: scheduled experiments may run again",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, err := g.killSwitch()
			if err != nil {
				return withExitCode(ExitInvalid, err)
			}
			st := killswitch.State{Engaged: false, By: whoAmI(), Since: time.Now()}
			if err := ks.Set(cmd.Context(), st); err != nil {
				return withExitCode(ExitInvalid, err)
			}
			g.log.Info("kill switch released", "namespace", ks.Namespace, "by", st.By)
			_, err = fmt.Fprintln(streams.Out, "resumed: the kill switch is released")
			return err
		},
	}
}

func newStatusCommand(streams Streams, g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show whether the kill switch is engaged",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, err := g.killSwitch()
			if err != nil {
				return withExitCode(ExitInvalid, err)
			}
			st, err := ks.Get(cmd.Context())
			if err != nil {
				return withExitCode(ExitInvalid, err)
			}
			if !st.Engaged {
				_, err = fmt.Fprintf(streams.Out, "kill switch: released (namespace %s)\n", ks.Namespace)
				return err
			}
			_, err = fmt.Fprintf(streams.Out, "kill switch: ENGAGED (namespace %s) by %s since %s: %s\n",
				ks.Namespace, st.By, st.Since.Format(time.RFC3339), st.Reason)
			return err
		},
	}
}
