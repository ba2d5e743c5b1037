package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosnight/chaosnight/pkg/gate"
)

// The gate's settings reach its configuration from every source, and a
// selector that does not parse is a SafetyError naming the setting.
func TestGateSettings(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		file    string
		want    gate.Config
		wantErr string
	}{
		{name: "defaults: both checks on, critical alerts",
			want: gate.Config{Alerts: true, AlertSelector: `severity="critical"`, Rollouts: true}},
		{name: "flags", args: []string{"--gate-alert-selector", `severity=~"critical|page"`, "--gate-rollouts=false"},
			want: gate.Config{Alerts: true, AlertSelector: `severity=~"critical|page"`, Rollouts: false}},
		{name: "environment", env: map[string]string{"CHAOSNIGHT_GATE_ALERTS": "false", "CHAOSNIGHT_GATE_ALERTSELECTOR": `team="shop"`},
			want: gate.Config{Alerts: false, AlertSelector: `team="shop"`, Rollouts: true}},
		{name: "config file", file: "gate:\n  alertSelector: 'severity=\"page\",namespace=\"shop\"'\n  rollouts: false\n",
			want: gate.Config{Alerts: true, AlertSelector: `severity="page",namespace="shop"`, Rollouts: false}},
		{name: "empty selector: every firing alert", args: []string{"--gate-alert-selector="},
			want: gate.Config{Alerts: true, Rollouts: true}},
		{name: "a selector that does not parse", args: []string{"--gate-alert-selector", "severity=critical"},
			want:    gate.Config{Alerts: true, AlertSelector: "severity=critical", Rollouts: true},
			wantErr: `gate.alertSelector (--gate-alert-selector): alert selector "severity=critical": at offset 9: a value in double quotes must follow severity=`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := safetyGlobals(t, tc.args, tc.env, tc.file)
			if got := g.gateConfig(); got != tc.want {
				t.Errorf("config %+v, want %+v", got, tc.want)
			}
			err := g.checkSafety()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("checkSafety: %v", err)
				}
				return
			}
			var se *SafetyError
			if !errors.As(err, &se) || se.Setting != keyGateAlertSelector || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want a SafetyError containing %q", err, tc.wantErr)
			}
		})
	}
}

// `config view` shows the gate, and the file's gate section passes the
// strict decoding of chaosnight.yaml.
func TestConfigViewShowsTheGate(t *testing.T) {
	clearEnv(t)
	file := filepath.Join(t.TempDir(), "chaosnight.yaml")
	if err := os.WriteFile(file, []byte("gate:\n  alertSelector: 'severity=\"page\"'\n  rollouts: false\nnights: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := run(t, "config", "view", "--config", file)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	want := "gate:\n  alerts: true\n  alertSelector: severity=\"page\"\n  rollouts: false\n"
	if !strings.Contains(out, want) {
		t.Errorf("config view:\n%s\nwant it to contain\n%s", out, want)
	}
}
