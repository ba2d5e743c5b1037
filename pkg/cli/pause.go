package cli

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/killswitch"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// killSwitch builds the one kill switch: in the killSwitch.namespace
// setting's namespace, whatever the kubeconfig context's namespace is, so
// that pause from a laptop stops the runner in the cluster.
func (g *globals) killSwitch() (*killswitch.Switch, error) {
	if err := g.checkKillSwitchNamespace(); err != nil {
		return nil, err
	}
	restCfg, err := g.kubeClientConfig().ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	client, err := target.NewClientset(restCfg, 5, 10)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return g.newKillSwitch(client), nil
}

// checkKillSwitchNamespace validates killSwitch.namespace alone (pause,
// resume and status take no other safety setting).
func (g *globals) checkKillSwitchNamespace() error {
	if ns := g.killSwitchNamespace(); len(validation.IsDNS1123Label(ns)) > 0 {
		return &SafetyError{Setting: "killSwitch.namespace", Flag: "kill-switch-namespace", Problem: fmt.Sprintf("invalid namespace %q (%s)", ns, experiment.DNSLabelRule)}
	}
	return nil
}

// setSwitch sets the switch and explains the usual failure: the namespace
// does not exist (a laptop whose killSwitch.namespace is not where the
// runner lives).
func setSwitch(ctx context.Context, ks *killswitch.Switch, st killswitch.State) error {
	err := ks.Set(ctx, st)
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%w (does namespace %s exist? set --kill-switch-namespace or killSwitch.namespace to the namespace chaosnight's runner is installed in)", err, ks.Namespace)
	}
	return err
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
		Long: `Engage the kill switch: the ConfigMap chaosnight-kill-switch in the namespace
of the killSwitch.namespace setting (--kill-switch-namespace,
CHAOSNIGHT_KILLSWITCH_NAMESPACE; default chaosnight), never the kubeconfig
context's namespace. Runners abort and revert what is in flight at once (they
watch the switch) and start nothing new, and chaosnight run refuses to inject,
until chaosnight resume.`,
		Example: `  chaosnight pause --reason "incident INC-123 in progress"
  chaosnight pause --reason "INC-123" --kill-switch-namespace chaos-runner`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, err := g.killSwitch()
			if err != nil {
				return withExitCode(ExitInvalid, err)
			}
			st := killswitch.State{Engaged: true, Reason: reason, By: whoAmI(), Since: time.Now()}
			if err := setSwitch(cmd.Context(), ks, st); err != nil {
				return withExitCode(ExitInvalid, err)
			}
			g.log.Info("kill switch engaged", "namespace", ks.Namespace, "reason", reason, "by", st.By)
			_, err = fmt.Fprintf(streams.Out, "paused: chaosnight will inject nothing in namespace %s's scope until `chaosnight resume`\n", ks.Namespace)
			return err
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the people who will see it (logs, metrics, status)")
	g.addKillSwitchFlag(cmd.Flags())
	return cmd
}

func newResumeCommand(streams Streams, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "resume",
		Short: "Release the kill switch: scheduled experiments may run again",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, err := g.killSwitch()
			if err != nil {
				return withExitCode(ExitInvalid, err)
			}
			st := killswitch.State{Engaged: false, By: whoAmI(), Since: time.Now()}
			if err := setSwitch(cmd.Context(), ks, st); err != nil {
				return withExitCode(ExitInvalid, err)
			}
			g.log.Info("kill switch released", "namespace", ks.Namespace, "by", st.By)
			_, err = fmt.Fprintf(streams.Out, "resumed: the kill switch in namespace %s is released\n", ks.Namespace)
			return err
		},
	}
	g.addKillSwitchFlag(cmd.Flags())
	return cmd
}

func newStatusCommand(streams Streams, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show whether the kill switch is engaged",
		Long: `Show the kill switch of the killSwitch.namespace setting. A switch that cannot
be read, or whose value is not exactly true or false, counts as engaged: status
says so, and why, and exits 3 when it cannot read the switch.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, err := g.killSwitch()
			if err != nil {
				return withExitCode(ExitInvalid, err)
			}
			st, err := ks.Get(cmd.Context())
			if err != nil {
				fmt.Fprintf(streams.Out, "kill switch: ENGAGED (%s): it cannot be read, and an unreadable switch counts as engaged: %v\n", ks.Ref(), err)
				return withExitCode(ExitInvalid, err)
			}
			_, err = fmt.Fprintln(streams.Out, statusLine(ks, st))
			return err
		},
	}
	g.addKillSwitchFlag(cmd.Flags())
	return cmd
}

// statusLine renders the switch's state for status.
func statusLine(ks *killswitch.Switch, st killswitch.State) string {
	switch {
	case st.Unclear != "":
		return fmt.Sprintf("kill switch: ENGAGED (%s): %s", ks.Ref(), killswitch.Describe(st))
	case !st.Engaged:
		return fmt.Sprintf("kill switch: released (%s)", ks.Ref())
	}
	return fmt.Sprintf("kill switch: ENGAGED (%s) by %s since %s: %s", ks.Ref(), orNone(st.By), st.Since.Format(time.RFC3339), orNone(st.Reason))
}

func orNone(s string) string {
	if s == "" {
		return "(not given)"
	}
	return s
}
