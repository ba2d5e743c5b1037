package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/gate"
	"github.com/chaosnight/chaosnight/pkg/probe"
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

type alertsQuerier struct{ queries []string }

func (q *alertsQuerier) Query(_ context.Context, query string, _ time.Time) ([]probe.Sample, error) {
	q.queries = append(q.queries, query)
	return []probe.Sample{{Labels: map[string]string{"alertname": "KubePodCrashLooping", "namespace": "shop", "severity": "critical"}, Value: 1}}, nil
}

// serve's gate reads the settings at every check: a reload that changes
// them applies to the next injection.
func TestServeGateFollowsTheSettings(t *testing.T) {
	g := safetyGlobals(t, nil, nil, "")
	q := &alertsQuerier{}
	var mu sync.Mutex
	live := &liveGate{mu: &mu, g: g, prom: q}
	c := live.Check(t.Context(), gate.Request{Round: 1})
	if c.Open || c.Reason() != "gate: alert KubePodCrashLooping firing in shop" || c.Rollouts == nil {
		t.Fatalf("defaults: %+v", c)
	}
	g.v.Set(keyGateAlertSelector, `severity="page"`)
	g.v.Set(keyGateRollouts, false)
	c = live.Check(t.Context(), gate.Request{Round: 1})
	if c.Alerts == nil || c.Alerts.Query != `ALERTS{alertstate="firing",severity="page"}` || c.Rollouts != nil {
		t.Fatalf("after the change: %+v", c)
	}
	if q.queries[len(q.queries)-1] != `ALERTS{alertstate="firing",severity="page"}` {
		t.Errorf("queries %q", q.queries)
	}
}

// run has no gate at all when both checks are off: nothing is asked and
// nothing journaled.
func TestRunGateOff(t *testing.T) {
	g := safetyGlobals(t, []string{"--gate-alerts=false", "--gate-rollouts=false"}, nil, "")
	if gt := g.newGate(&alertsQuerier{}, nil); gt != nil {
		t.Errorf("gate %v, want none", gt)
	}
	g = safetyGlobals(t, []string{"--gate-rollouts=false"}, nil, "")
	if gt := g.newGate(&alertsQuerier{}, nil); gt == nil {
		t.Error("no gate with the alert check on")
	}
}
