package cli

import (
	"strings"
	"testing"
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
