package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/chaosnight/chaosnight/pkg/faults"
	"github.com/chaosnight/chaosnight/pkg/inject"
)

// Configuration keys. A key with a dot is a nested key in chaosnight.yaml
// ("prometheus.url" is `prometheus: {url: ...}`) and maps to the environment
// variable CHAOSNIGHT_PROMETHEUS_URL.
const (
	keyKubeconfig    = "kubeconfig"
	keyContext       = "context"
	keyNamespace     = "namespace"
	keyPrometheusURL = "prometheus.url"
	keyLogFormat     = "log.format"
	keyLogLevel      = "log.level"
)

// envPrefix is the prefix of every environment variable chaosnight reads.
const envPrefix = "CHAOSNIGHT"

// globalFlag ties a persistent flag to its configuration key.
type globalFlag struct {
	flag, key, def, usage string
	short                 string // kubectl's shorthand, if any
}

func globalFlags() []globalFlag {
	return []globalFlag{
		{"kubeconfig", keyKubeconfig, "", "path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, as kubectl)", ""},
		{"context", keyContext, "", "the kubeconfig context to use (default: the current context)", ""},
		{"namespace", keyNamespace, "", "the namespace for chaosnight's own objects, and of the Experiment in run experiment/NAME (default: the context's namespace)", "n"},
		{"prometheus-url", keyPrometheusURL, "", "base URL of the Prometheus server that answers the probes", ""},
		{"log-format", keyLogFormat, "text", "log format: text or json", ""},
		{"log-level", keyLogLevel, "info", "log level: debug, info, warn or error", ""},
	}
}

// Settings are the resolved global settings (flag > CHAOSNIGHT_* env >
// config file > default).
type Settings struct {
	ConfigFile    string
	Kubeconfig    string
	Context       string
	Namespace     string
	PrometheusURL string
	LogFormat     string
	LogLevel      string
}

// globals is the per-command-tree configuration state: one viper instance,
// never the package-level one.
type globals struct {
	v       *viper.Viper
	version string // of this binary: the default stress image's tag
	// commandFlags maps configuration keys to the name of the command flag
	// that sets them. Several commands declare the same flag (run and serve
	// both have --kube-qps); viper keeps one flag per key, so the binding is
	// made in load, for the command that actually runs.
	commandFlags map[string]string
	configFile   string
	settings     Settings
	log          *slog.Logger
	// faults is the registry of fault kinds: loading, checking and
	// running experiments consult it, never a kind by name.
	faults *inject.Registry
}

func newGlobals() *globals {
	v := viper.New()
	v.SetEnvPrefix(envPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))
	v.AutomaticEnv()
	return &globals{v: v, commandFlags: map[string]string{}, faults: faults.Must()}
}

func (g *globals) addFlags(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringVar(&g.configFile, "config", "", "path to a chaosnight.yaml configuration file (also $CHAOSNIGHT_CONFIG)")
	for _, f := range globalFlags() {
		pf.StringP(f.flag, f.short, f.def, f.usage)
		g.v.SetDefault(f.key, f.def)
		// BindPFlag only fails for a nil flag, which would be a programming
		// error caught by every test.
		if err := g.v.BindPFlag(f.key, pf.Lookup(f.flag)); err != nil {
			panic(fmt.Sprintf("binding flag %s: %v", f.flag, err))
		}
	}
	_ = root.RegisterFlagCompletionFunc("log-format", fixedCompletion("text", "json"))
	_ = root.RegisterFlagCompletionFunc("log-level", fixedCompletion("debug", "info", "warn", "error"))
	_ = root.RegisterFlagCompletionFunc("context", g.completeContexts)
	_ = root.MarkPersistentFlagFilename("config", "yaml", "yml")
	_ = root.MarkPersistentFlagFilename("kubeconfig")
}

func fixedCompletion(values ...string) cobra.CompletionFunc {
	return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return values, cobra.ShellCompDirectiveNoFileComp
	}
}

// completeContexts offers the contexts of the kubeconfig, as kubectl does.
func (g *globals) completeContexts(cmd *cobra.Command, _ []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if f := cmd.Flag("kubeconfig"); f != nil && f.Value.String() != "" {
		rules.ExplicitPath = f.Value.String()
	}
	cfg, err := rules.Load()
	if err != nil {
		return nil, cobra.ShellCompDirectiveError
	}
	names := make([]string, 0, len(cfg.Contexts))
	for name := range cfg.Contexts {
		names = append(names, name)
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// load reads the config file (if any), resolves the settings and builds the
// logger. It runs before every command.
func (g *globals) load(cmd *cobra.Command, streams Streams) error {
	if err := g.bindCommandFlags(cmd); err != nil {
		return err
	}
	path := g.configFile
	if path == "" {
		path = os.Getenv(envPrefix + "_CONFIG")
	}
	if path != "" {
		g.v.SetConfigFile(path)
		if err := g.v.ReadInConfig(); err != nil {
			var notFound viper.ConfigFileNotFoundError
			if errors.As(err, &notFound) || errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("config file %s: not found", path)
			}
			return fmt.Errorf("config file %s: %w", path, err)
		}
	}
	s := Settings{
		ConfigFile:    path,
		Kubeconfig:    g.v.GetString(keyKubeconfig),
		Context:       g.v.GetString(keyContext),
		Namespace:     g.v.GetString(keyNamespace),
		PrometheusURL: g.v.GetString(keyPrometheusURL),
		LogFormat:     g.v.GetString(keyLogFormat),
		LogLevel:      g.v.GetString(keyLogLevel),
	}
	log, err := newLogger(streams.Err, s.LogFormat, s.LogLevel)
	if err != nil {
		return err
	}
	g.settings = s
	g.log = log
	return nil
}

// newLogger builds the structured logger: text for people, JSON for log
// pipelines in the cluster.
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: unknown level (allowed: debug, info, warn, error)", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: unknown format (allowed: text, json)", format)
	}
}

// kubeClientConfig follows kubectl's loading rules: --kubeconfig, then
// $KUBECONFIG (a path list), then ~/.kube/config; --context and --namespace
// override the kubeconfig's current context and its namespace.
func (g *globals) kubeClientConfig() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = g.settings.Kubeconfig
	overrides := &clientcmd.ConfigOverrides{
		CurrentContext: g.settings.Context,
		Context:        clientcmdapi.Context{Namespace: g.settings.Namespace},
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
}

// The bind*Flag helpers declare a command flag and bind it to a config key,
// so that it follows the same precedence as the global flags.
func (g *globals) bindFlag(fs *pflag.FlagSet, key, name, def, usage string) {
	fs.String(name, def, usage)
	g.bind(fs, key, name, def)
}

func (g *globals) bindBoolFlag(fs *pflag.FlagSet, key, name string, def bool, usage string) {
	fs.Bool(name, def, usage)
	g.bind(fs, key, name, def)
}

func (g *globals) bindDurationFlag(fs *pflag.FlagSet, key, name string, def time.Duration, usage string) {
	fs.Duration(name, def, usage)
	g.bind(fs, key, name, def)
}

func (g *globals) bindStringSliceFlag(fs *pflag.FlagSet, key, name string, def []string, usage string) {
	fs.StringSlice(name, def, usage)
	g.bind(fs, key, name, def)
}

func (g *globals) bindFloatFlag(fs *pflag.FlagSet, key, name string, def float64, usage string) {
	fs.Float64(name, def, usage)
	g.bind(fs, key, name, def)
}

func (g *globals) bindIntFlag(fs *pflag.FlagSet, key, name string, def int, usage string) {
	fs.Int(name, def, usage)
	g.bind(fs, key, name, def)
}

func (g *globals) bind(_ *pflag.FlagSet, key, name string, def any) {
	g.v.SetDefault(key, def)
	g.commandFlags[key] = name
}

// bindCommandFlags binds the running command's own flags to their keys.
func (g *globals) bindCommandFlags(cmd *cobra.Command) error {
	for key, name := range g.commandFlags {
		if fl := cmd.Flags().Lookup(name); fl != nil {
			if err := g.v.BindPFlag(key, fl); err != nil {
				return fmt.Errorf("binding flag --%s: %w", name, err)
			}
		}
	}
	return nil
}
