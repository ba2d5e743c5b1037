package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// safetyGlobals loads the run command with args, env (name=value) and,
// when not empty, a chaosnight.yaml.
func safetyGlobals(t *testing.T, args []string, env map[string]string, file string) *globals {
	t.Helper()
	clearEnv(t)
	t.Setenv("POD_NAMESPACE", "")
	for k, v := range env {
		t.Setenv(k, v)
	}
	streams := Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}
	g := newGlobals()
	g.addFlags(&cobra.Command{Use: "root"})
	cmd := newRunCommand(streams, g)
	if file != "" {
		path := filepath.Join(t.TempDir(), "chaosnight.yaml")
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		g.configFile = path
	}
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	if err := g.load(cmd, streams); err != nil {
		t.Fatal(err)
	}
	return g
}

// The settings reach the policy from every source, and the floor is
// always there: --exclude-namespaces adds to it.
func TestPolicyFromSettings(t *testing.T) {
	tests := []struct {
		name          string
		args          []string
		env           map[string]string
		file          string
		wantDeny      []string
		wantOwn       []string
		wantAllow     []string
		wantMax       int
		wantMin       int
		wantProtected []string
	}{
		{
			name:          "defaults",
			wantOwn:       []string{"chaosnight"},
			wantProtected: []string{"chaosnight", "kube-node-lease", "kube-public", "kube-system"},
		},
		{
			name:          "--exclude-namespaces=foo adds to the floor",
			args:          []string{"--exclude-namespaces=foo"},
			wantDeny:      []string{"foo"},
			wantOwn:       []string{"chaosnight"},
			wantProtected: []string{"chaosnight", "foo", "kube-node-lease", "kube-public", "kube-system"},
		},
		{
			name:          "flags",
			args:          []string{"--allow-system-namespaces", "kube-system", "--max-targets", "3", "--min-healthy", "2", "--kill-switch-namespace", "chaos-ops"},
			wantOwn:       []string{"chaos-ops"},
			wantAllow:     []string{"kube-system"},
			wantMax:       3,
			wantMin:       2,
			wantProtected: []string{"chaos-ops", "kube-node-lease", "kube-public"},
		},
		{
			name: "environment, lists comma separated, and the runner pod's namespace",
			env: map[string]string{
				"CHAOSNIGHT_SAFETY_EXCLUDENAMESPACES":     "a,b",
				"CHAOSNIGHT_SAFETY_ALLOWSYSTEMNAMESPACES": "kube-public",
				"CHAOSNIGHT_SAFETY_MAXTARGETS":            "4",
				"CHAOSNIGHT_SAFETY_MINHEALTHY":            "1",
				"CHAOSNIGHT_KILLSWITCH_NAMESPACE":         "ops",
				"POD_NAMESPACE":                           "runner",
			},
			wantDeny:      []string{"a", "b"},
			wantOwn:       []string{"ops", "runner"},
			wantAllow:     []string{"kube-public"},
			wantMax:       4,
			wantMin:       1,
			wantProtected: []string{"a", "b", "kube-node-lease", "kube-system", "ops", "runner"},
		},
		{
			name:          "config file",
			file:          "safety:\n  excludeNamespaces: [payments]\n  allowSystemNamespaces: [kube-node-lease]\n  maxTargets: 5\n  minHealthy: 2\nkillSwitch:\n  namespace: chaos\n",
			wantDeny:      []string{"payments"},
			wantOwn:       []string{"chaos"},
			wantAllow:     []string{"kube-node-lease"},
			wantMax:       5,
			wantMin:       2,
			wantProtected: []string{"chaos", "kube-public", "kube-system", "payments"},
		},
		{
			name:          "a flag wins over the file",
			args:          []string{"--max-targets", "1", "--kill-switch-namespace", "flagged"},
			file:          "safety: {maxTargets: 5}\nkillSwitch: {namespace: chaos}\n",
			wantOwn:       []string{"flagged"},
			wantMax:       1,
			wantProtected: []string{"flagged", "kube-node-lease", "kube-public", "kube-system"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := safetyGlobals(t, tt.args, tt.env, tt.file)
			if err := g.checkSafety(); err != nil {
				t.Fatalf("checkSafety: %v", err)
			}
			p := g.policy(true)
			if !slices.Equal(p.DenyNamespaces, tt.wantDeny) || !slices.Equal(p.OwnNamespaces, tt.wantOwn) || !slices.Equal(p.AllowSystemNamespaces, tt.wantAllow) {
				t.Errorf("deny %v own %v allow %v, want %v %v %v", p.DenyNamespaces, p.OwnNamespaces, p.AllowSystemNamespaces, tt.wantDeny, tt.wantOwn, tt.wantAllow)
			}
			if p.MaxTargets != tt.wantMax || p.MinHealthy != tt.wantMin || !p.DryRun {
				t.Errorf("maxTargets %d minHealthy %d dryRun %v, want %d %d true", p.MaxTargets, p.MinHealthy, p.DryRun, tt.wantMax, tt.wantMin)
			}
			var prot []string
			for ns := range p.Protected() {
				prot = append(prot, ns)
			}
			slices.Sort(prot)
			if !slices.Equal(prot, tt.wantProtected) {
				t.Errorf("protected %v, want %v", prot, tt.wantProtected)
			}
		})
	}
}

// Bad safety settings stop the command with a message that names the
// setting and its flag, and says what is allowed.
func TestCheckSafety(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"lifting a namespace that is not a system one", []string{"--allow-system-namespaces", "shop"}, nil,
			[]string{`safety.allowSystemNamespaces (--allow-system-namespaces): "shop" is not a system namespace (allowed: kube-system, kube-public, kube-node-lease;`}},
		{"lifting what is excluded", []string{"--allow-system-namespaces", "kube-system", "--exclude-namespaces", "kube-system"}, nil,
			[]string{`safety.allowSystemNamespaces (--allow-system-namespaces): "kube-system" is also in safety.excludeNamespaces: remove it from one of them`}},
		{"negative limits", []string{"--max-targets=-1", "--min-healthy=-2"}, nil,
			[]string{"safety.maxTargets (--max-targets): must not be negative, got -1", "safety.minHealthy (--min-healthy): must not be negative, got -2"}},
		{"a limit that is not a number", nil, map[string]string{"CHAOSNIGHT_SAFETY_MAXTARGETS": "three"},
			[]string{`safety.maxTargets (--max-targets): "three" is not a whole number`}},
		{"bad namespace names", []string{"--kill-switch-namespace", "Chaos_Night", "--exclude-namespaces", "ok,Not-OK"}, nil,
			[]string{`killSwitch.namespace (--kill-switch-namespace): invalid namespace "Chaos_Night"`, `safety.excludeNamespaces (--exclude-namespaces): invalid namespace "Not-OK"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := safetyGlobals(t, tt.args, tt.env, "")
			err := g.checkSafety()
			if err == nil {
				t.Fatal("no error")
			}
			var se *SafetyError
			if !errors.As(err, &se) {
				t.Errorf("error %v is not a *SafetyError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nwant it to contain %q", err, w)
				}
			}
			if n := len(strings.Split(err.Error(), "\n")); n != len(tt.want) {
				t.Errorf("%d problems, want %d: %v", n, len(tt.want), err)
			}
		})
	}
}
