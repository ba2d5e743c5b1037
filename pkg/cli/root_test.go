package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// run executes the CLI in-process and returns the exit code and both streams.
func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = RunContext(context.Background(), Streams{In: strings.NewReader(""), Out: &out, Err: &errOut},
		BuildInfo{Version: "v1.2.3-test", Commit: "abc123"}, args)
	return code, out.String(), errOut.String()
}

// clearEnv removes every CHAOSNIGHT_* variable for the test, so the
// developer's own environment cannot change the outcome.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, envPrefix+"_") {
			t.Setenv(name, "")
			if err := os.Unsetenv(name); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestSettingsPrecedence(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "chaosnight.yaml")
	if err := os.WriteFile(cfg, []byte(`
prometheus:
  url: http://from-file:9090
log:
  level: warn
  format: json
namespace: file-ns
context: file-ctx
`), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(t *testing.T, v settingsView)
	}{
		{
			name: "defaults without file, env or flag",
			check: func(t *testing.T, v settingsView) {
				assertEq(t, "log.format", v.Log.Format, "text")
				assertEq(t, "log.level", v.Log.Level, "info")
				assertEq(t, "prometheus.url", v.Prometheus.URL, "")
			},
		},
		{
			name: "file beats default",
			args: []string{"--config", cfg},
			check: func(t *testing.T, v settingsView) {
				assertEq(t, "prometheus.url", v.Prometheus.URL, "http://from-file:9090")
				assertEq(t, "log.level", v.Log.Level, "warn")
				assertEq(t, "namespace", v.Namespace, "file-ns")
			},
		},
		{
			name: "config file named by CHAOSNIGHT_CONFIG",
			env:  map[string]string{"CHAOSNIGHT_CONFIG": cfg},
			check: func(t *testing.T, v settingsView) {
				assertEq(t, "context", v.Context, "file-ctx")
			},
		},
		{
			name: "env beats file",
			env:  map[string]string{"CHAOSNIGHT_PROMETHEUS_URL": "http://from-env:9090", "CHAOSNIGHT_LOG_LEVEL": "debug"},
			args: []string{"--config", cfg},
			check: func(t *testing.T, v settingsView) {
				assertEq(t, "prometheus.url", v.Prometheus.URL, "http://from-env:9090")
				assertEq(t, "log.level", v.Log.Level, "debug")
				assertEq(t, "namespace (file only)", v.Namespace, "file-ns")
			},
		},
		{
			name: "flag beats env and file",
			env:  map[string]string{"CHAOSNIGHT_PROMETHEUS_URL": "http://from-env:9090", "CHAOSNIGHT_NAMESPACE": "env-ns"},
			args: []string{"--config", cfg, "--prometheus-url", "http://from-flag:9090", "--log-level", "error"},
			check: func(t *testing.T, v settingsView) {
				assertEq(t, "prometheus.url", v.Prometheus.URL, "http://from-flag:9090")
				assertEq(t, "log.level", v.Log.Level, "error")
				assertEq(t, "namespace (env beats file)", v.Namespace, "env-ns")
				assertEq(t, "log.format (file only)", v.Log.Format, "json")
			},
		},
		{
			name: "the kill switch's namespace is its own setting, not the context's namespace",
			env:  map[string]string{"CHAOSNIGHT_NAMESPACE": "env-ns"},
			check: func(t *testing.T, v settingsView) {
				assertEq(t, "killSwitch.namespace", v.KillSwitch.Namespace, "chaosnight")
			},
		},
		{
			name: "kill switch and safety from the environment",
			env:  map[string]string{"CHAOSNIGHT_KILLSWITCH_NAMESPACE": "chaos-ops", "CHAOSNIGHT_SAFETY_MAXTARGETS": "3"},
			check: func(t *testing.T, v settingsView) {
				assertEq(t, "killSwitch.namespace", v.KillSwitch.Namespace, "chaos-ops")
				assertEq(t, "safety.maxTargets", fmt.Sprint(v.Safety.MaxTargets), "3")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			code, out, stderr := run(t, append(tt.args, "config", "view")...)
			if code != 0 {
				t.Fatalf("exit %d, stderr: %s", code, stderr)
			}
			var v settingsView
			if err := yaml.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("config view printed unparsable YAML: %v\n%s", err, out)
			}
			tt.check(t, v)
		})
	}
}

func assertEq(t *testing.T, what, got, want string) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func TestGlobalFlagErrors(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad log format", []string{"--log-format", "xml", "version"}, `--log-format "xml": unknown format (allowed: text, json)`},
		{"bad log level", []string{"--log-level", "loud", "version"}, `--log-level "loud": unknown level (allowed: debug, info, warn, error)`},
		{"missing config file", []string{"--config", "/nonexistent/chaosnight.yaml", "version"}, "config file /nonexistent/chaosnight.yaml: not found"},
		{"unknown command", []string{"explode"}, `unknown command "explode"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := run(t, tt.args...)
			if code != ExitInvalid {
				t.Errorf("exit %d, want %d", code, ExitInvalid)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not contain %q", stderr, tt.want)
			}
		})
	}
}

func TestKubeconfigFollowsKubectlRules(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
current-context: a
clusters:
- name: ca
  cluster: {server: "https://a.example:6443"}
- name: cb
  cluster: {server: "https://b.example:6443"}
contexts:
- name: a
  context: {cluster: ca, user: u, namespace: team-a}
- name: b
  context: {cluster: cb, user: u, namespace: team-b}
users:
- name: u
  user: {token: t}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		env        map[string]string
		settings   Settings
		wantServer string
		wantNS     string
	}{
		{"KUBECONFIG and current context", map[string]string{"KUBECONFIG": kc}, Settings{}, "https://a.example:6443", "team-a"},
		{"--context switches cluster and namespace", map[string]string{"KUBECONFIG": kc}, Settings{Context: "b"}, "https://b.example:6443", "team-b"},
		{"--namespace overrides the context's", map[string]string{"KUBECONFIG": kc}, Settings{Context: "b", Namespace: "mine"}, "https://b.example:6443", "mine"},
		{"--kubeconfig without KUBECONFIG", nil, Settings{Kubeconfig: kc}, "https://a.example:6443", "team-a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", "")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			g := &globals{settings: tt.settings}
			cc := g.kubeClientConfig()
			rc, err := cc.ClientConfig()
			if err != nil {
				t.Fatal(err)
			}
			ns, _, err := cc.Namespace()
			if err != nil {
				t.Fatal(err)
			}
			assertEq(t, "server", rc.Host, tt.wantServer)
			assertEq(t, "namespace", ns, tt.wantNS)
		})
	}
}

func TestVersion(t *testing.T) {
	clearEnv(t)
	code, out, _ := run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "chaosnight v1.2.3-test (commit abc123,") {
		t.Errorf("version: exit %d, output %q", code, out)
	}
}

func TestCompletion(t *testing.T) {
	clearEnv(t)
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			code, out, stderr := run(t, "completion", shell)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			if !strings.Contains(out, "chaosnight") || len(out) < 500 {
				t.Errorf("completion script for %s looks wrong (%d bytes)", shell, len(out))
			}
		})
	}
	// Dynamic completion of flag values goes through cobra's hidden __complete.
	code, out, _ := run(t, "__complete", "--log-format", "")
	if code != 0 || !strings.Contains(out, "text\njson\n") {
		t.Errorf("log-format completion: exit %d, %q", code, out)
	}
}

// run and serve declare the same flags (--kube-qps, --exclude-namespaces,
// ...); each command's own flag must win for that command, whichever was
// built last.
func TestSharedFlagsBindToTheRunningCommand(t *testing.T) {
	clearEnv(t)
	streams := Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}
	for _, which := range []string{"run", "serve"} {
		t.Run(which, func(t *testing.T) {
			g := newGlobals()
			g.addFlags(&cobra.Command{Use: "root"}) // the global flags' defaults
			cmds := map[string]*cobra.Command{"run": newRunCommand(streams, g), "serve": newServeCommand(streams, g)}
			cmd := cmds[which]
			if err := cmd.ParseFlags([]string{"--kube-qps", "123", "--exclude-namespaces", "a,b", "--require-opt-in=false"}); err != nil {
				t.Fatal(err)
			}
			if err := g.load(cmd, streams); err != nil {
				t.Fatal(err)
			}
			if got := g.v.GetFloat64(keyKubeQPS); got != 123 {
				t.Errorf("kube.qps = %v, want 123", got)
			}
			if got := g.v.GetStringSlice(keyExcludeNamespaces); strings.Join(got, ",") != "a,b" {
				t.Errorf("safety.excludeNamespaces = %v", got)
			}
			if g.v.GetBool(keyRequireOptIn) {
				t.Error("safety.requireOptIn is still true")
			}
		})
	}
}
