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
