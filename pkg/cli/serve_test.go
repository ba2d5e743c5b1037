package cli

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

func TestServeRefusesBadConfiguration(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	bad := writeFile(t, dir, "chaosnight.yaml", `experiments: exps
nights:
  - name: weeknights
    opens: "0 25 * * *"
    lasts: 6h
    timezone: Europe/Paris
    experiments: {selector: team=payments}
`)
	writeFile(t, dir, "exps/ok.yaml", validExperiment)
	noExps := writeFile(t, dir, "noexps.yaml", `nights:
  - name: n
    opens: "0 22 * * *"
    lasts: 1h
    timezone: UTC
    experiments: {names: [ok]}
`)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no config", []string{"serve"}, "serve needs a configuration file with nights"},
		{"bad cron", []string{"serve", "--config", bad}, bad + ":4: nights[0].opens:"},
		{"no experiments directory", []string{"serve", "--config", noExps}, "experiments: is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := run(t, tt.args...)
			if code != ExitInvalid || !strings.Contains(out+stderr, tt.want) {
				t.Errorf("exit %d, output does not contain %q:\n%s%s", code, tt.want, out, stderr)
			}
		})
	}
}

// The runner's Pod owns its Lease only when the downward API names it
// and it lives where the Lease is created.
func TestRunnerPodOwnsTheLease(t *testing.T) {
	tests := []struct {
		name, pod, uid, podNS string
		want                  bool
	}{
		{name: "in the chart", pod: "chaosnight-7d9", uid: "1b2c", podNS: "chaosnight", want: true},
		{name: "no uid", pod: "chaosnight-7d9", podNS: "chaosnight"},
		{name: "no name", uid: "1b2c", podNS: "chaosnight"},
		{name: "another namespace (--namespace differs)", pod: "chaosnight-7d9", uid: "1b2c", podNS: "ops"},
		{name: "outside a cluster"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("POD_NAME", tt.pod)
			t.Setenv("POD_UID", tt.uid)
			t.Setenv("POD_NAMESPACE", tt.podNS)
			got := runnerPod("chaosnight")
			if (got != nil) != tt.want {
				t.Fatalf("owner %+v, want one: %t", got, tt.want)
			}
			if got != nil && (got.Kind != "Pod" || got.APIVersion != "v1" || got.Name != tt.pod || string(got.UID) != tt.uid) {
				t.Errorf("owner %+v", got)
			}
		})
	}
}

// serve's loader re-reads dryRun and the safety settings from the config
// file at every reload; a flag or a CHAOSNIGHT_* variable keeps precedence
// over the file, before and after the change.
func TestServeReloadRereadsDryRunAndPolicy(t *testing.T) {
	night := `experiments: exps
nights:
  - name: n
    opens: "0 22 * * *"
    lasts: 1h
    timezone: UTC
    experiments: {names: [ok]}
`
	tests := []struct {
		name         string
		flags        []string
		env          map[string]string
		before, then string // the file's settings
		wantBefore   bool   // dry run before the change
		wantThen     bool
		wantOptIn    bool // safety.requireOptIn after the change
	}{
		{name: "file switches dry run on", before: "dryRun: false\n", then: "dryRun: true\n", wantThen: true, wantOptIn: true},
		{name: "file switches dry run off", before: "dryRun: true\n", then: "dryRun: false\n", wantBefore: true, wantOptIn: true},
		{name: "file changes the policy", before: "dryRun: false\n", then: "dryRun: false\nsafety: {requireOptIn: false}\n"},
		{name: "the flag wins over the file", flags: []string{"--dry-run=true"}, before: "dryRun: false\n", then: "dryRun: false\n", wantBefore: true, wantThen: true, wantOptIn: true},
		{name: "the environment wins over the file", env: map[string]string{"CHAOSNIGHT_DRYRUN": "false"}, before: "dryRun: true\n", then: "dryRun: true\n", wantOptIn: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			dir := t.TempDir()
			writeFile(t, dir, "exps/ok.yaml", validExperiment)
			cfg := writeFile(t, dir, "chaosnight.yaml", tt.before+night)
			streams := Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}
			g := newGlobals()
			root := &cobra.Command{Use: "root"}
			g.addFlags(root)
			cmd := newServeCommand(streams, g)
			root.AddCommand(cmd)
			if err := root.PersistentFlags().Parse([]string{"--config", cfg}); err != nil {
				t.Fatal(err)
			}
			if err := cmd.ParseFlags(tt.flags); err != nil {
				t.Fatal(err)
			}
			if err := g.load(cmd, streams); err != nil {
				t.Fatal(err)
			}
			exps := filepath.Join(dir, "exps")
			first, err := g.reloadSetup(cfg, exps, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, dir, "chaosnight.yaml", tt.then+night)
			second, err := g.reloadSetup(cfg, exps, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if first.DryRun != tt.wantBefore || second.DryRun != tt.wantThen {
				t.Errorf("dry run %v then %v, want %v then %v", first.DryRun, second.DryRun, tt.wantBefore, tt.wantThen)
			}
			if second.Policy.DryRun != second.DryRun || second.Policy.RequireOptIn != tt.wantOptIn {
				t.Errorf("policy after the change %+v, want dryRun %v and requireOptIn %v", second.Policy, second.DryRun, tt.wantOptIn)
			}
			if first.Fingerprint == second.Fingerprint && tt.before != tt.then {
				t.Error("the fingerprint did not change with the file: the runner would not apply it")
			}
		})
	}
}

// A config file that turns invalid keeps the last good setup: the reload
// fails with the file's name, and the runner keeps the settings in force.
func TestServeReloadOfABrokenFileFails(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	writeFile(t, dir, "exps/ok.yaml", validExperiment)
	cfg := writeFile(t, dir, "chaosnight.yaml", "dryRun: false\nexperiments: exps\nnights: []\n")
	streams := Streams{In: strings.NewReader(""), Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}
	g := newGlobals()
	g.addFlags(&cobra.Command{Use: "root"})
	g.configFile = cfg
	cmd := newServeCommand(streams, g)
	if err := g.load(cmd, streams); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "chaosnight.yaml", "dryRun: [true\n")
	_, err := g.reloadSetup(cfg, filepath.Join(dir, "exps"), time.Now())
	var problems experiment.Problems
	if !errors.As(err, &problems) || !strings.Contains(err.Error(), cfg) {
		t.Fatalf("reload of a broken file: %v, want problems naming %s", err, cfg)
	}
}
