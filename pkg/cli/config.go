package cli

import (
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/chaosnight/chaosnight/pkg/probe/prometheus"
)

// settingsView is the effective configuration in the shape of chaosnight.yaml,
// so that `config view` output can be pasted into a config file.
type settingsView struct {
	Kubeconfig string `yaml:"kubeconfig"`
	Context    string `yaml:"context"`
	Namespace  string `yaml:"namespace"`
	Prometheus struct {
		URL string `yaml:"url"`
		// HTTP is the config file's prometheus.http block as loaded
		// (file names made absolute); it holds no secret, only file names.
		HTTP *prometheus.HTTPConfig `yaml:"http,omitempty"`
	} `yaml:"prometheus"`
	Log struct {
		Format string `yaml:"format"`
		Level  string `yaml:"level"`
	} `yaml:"log"`
	KillSwitch struct {
		Namespace string `yaml:"namespace"`
	} `yaml:"killSwitch"`
	// Safety shows the operator's settings; the protection floor (system
	// namespaces, the kill switch's and the runner's namespace) applies
	// whatever they say.
	Safety struct {
		ExcludeNamespaces     []string `yaml:"excludeNamespaces"`
		AllowSystemNamespaces []string `yaml:"allowSystemNamespaces"`
		RequireOptIn          bool     `yaml:"requireOptIn"`
		MaxTargets            int      `yaml:"maxTargets"`
		MinHealthy            int      `yaml:"minHealthy"`
	} `yaml:"safety"`
	// Gate is the incident-aware gate (docs/gate.md).
	Gate struct {
		Alerts        bool   `yaml:"alerts"`
		AlertSelector string `yaml:"alertSelector"`
		Rollouts      bool   `yaml:"rollouts"`
	} `yaml:"gate"`
}

func newConfigCommand(streams Streams, g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Inspect chaosnight's configuration",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "view",
		Short: "Print the effective settings (flag > CHAOSNIGHT_* environment > config file > default)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			s := g.settings
			var view settingsView
			view.Kubeconfig, view.Context, view.Namespace = s.Kubeconfig, s.Context, s.Namespace
			view.Prometheus.URL = s.PrometheusURL
			block, err := loadPromHTTP(s.ConfigFile)
			if err != nil {
				return err
			}
			if block != (prometheus.HTTPConfig{}) {
				view.Prometheus.HTTP = &block
			}
			view.Log.Format, view.Log.Level = s.LogFormat, s.LogLevel
			view.KillSwitch.Namespace = g.killSwitchNamespace()
			p := g.policy(false)
			view.Safety.ExcludeNamespaces, view.Safety.AllowSystemNamespaces = p.DenyNamespaces, p.AllowSystemNamespaces
			view.Safety.RequireOptIn, view.Safety.MaxTargets, view.Safety.MinHealthy = p.RequireOptIn, p.MaxTargets, p.MinHealthy
			gc := g.gateConfig()
			view.Gate.Alerts, view.Gate.AlertSelector, view.Gate.Rollouts = gc.Alerts, gc.AlertSelector, gc.Rollouts
			enc := yaml.NewEncoder(streams.Out)
			enc.SetIndent(2)
			if err := enc.Encode(view); err != nil {
				return err
			}
			return enc.Close()
		},
	})
	return cmd
}
