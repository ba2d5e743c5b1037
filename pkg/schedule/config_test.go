package schedule

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

var update = flag.Bool("update", false, "rewrite testdata/invalid/*.err from the current output")

// fixtureNow is the instant every fixture is checked from: overlap and
// "never opens" look at the year after it.
func fixtureNow() time.Time {
	return time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
}

// TestInvalidFixtures loads every file of testdata/invalid and compares the
// full report with NAME.yaml.err, so that a change in any message, path or
// line shows up in review.
func TestInvalidFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 12 {
		t.Fatalf("only %d invalid fixtures, want at least 12", len(files))
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(name, data, fixtureNow())
			var problems experiment.Problems
			if !errors.As(err, &problems) {
				t.Fatalf("LoadConfig returned %v (%T), want Problems", err, err)
			}
			if cfg != nil {
				t.Errorf("a Config came back with the problems")
			}
			got := problems.Error() + "\n"
			golden := file + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("problems differ from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}

func TestValidFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			cfg, err := LoadConfigFile(file, fixtureNow())
			if err != nil {
				t.Fatalf("%v", err)
			}
			if len(cfg.Nights) == 0 {
				t.Fatal("no nights")
			}
			for _, n := range cfg.Nights {
				if _, err := n.Next(fixtureNow()); err != nil {
					t.Errorf("night %s: %v", n.Name, err)
				}
			}
			if err := cfg.Validate(fixtureNow()); err != nil {
				t.Errorf("Validate refuses what LoadConfig accepted: %v", err)
			}
		})
	}
}

func TestLoadConfigDecodes(t *testing.T) {
	cfg, err := LoadConfigFile("testdata/valid/full.yaml", fixtureNow())
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	want := Config{
		Kubeconfig: "/home/sre/.kube/config",
		Context:    "staging",
		Namespace:  "chaosnight",
		Prometheus: Prometheus{
			URL:             "http://prometheus.monitoring:9090",
			BearerTokenFile: "/var/run/secrets/prometheus/token",
			CAFile:          "/etc/chaosnight/ca.pem",
			Timeout:         experiment.Duration{Duration: 10 * time.Second, Raw: "10s"},
		},
		Log:         Log{Format: "json", Level: "info"},
		Kube:        Kube{QPS: 50, Burst: 100},
		Experiments: "/etc/chaosnight/experiments",
		Journal:     Journal{Directory: "/var/lib/chaosnight/journals", Retention: experiment.Duration{Duration: 720 * time.Hour, Raw: "720h"}},
		DryRun:      &yes,
		Safety:      Safety{ExcludeNamespaces: []string{"payments-prod"}, AllowSystemNamespaces: []string{}, RequireOptIn: &yes, MaxTargets: 5, MinHealthy: 1},
		KillSwitch:  KillSwitch{Namespace: "chaosnight"},
		Nights: []Night{
			{
				Name:        "weeknights",
				Opens:       "0 22 * * 1-4",
				Lasts:       experiment.Duration{Duration: 6 * time.Hour, Raw: "6h"},
				Timezone:    "Europe/Paris",
				Skip:        Skip{Dates: []string{"2026-12-24", "2026-12-31"}, Weekdays: []string{"Fri"}},
				Experiments: Selection{Selector: "team=payments"},
				Cooldown:    experiment.Duration{Duration: 10 * time.Minute, Raw: "10m"},
				MaxPerNight: 4,
			},
			{
				Name:        "sunday-soak",
				Opens:       "@weekly",
				Lasts:       experiment.Duration{Duration: 3 * time.Hour, Raw: "3h"},
				Timezone:    "America/New_York",
				Experiments: Selection{Names: []string{"checkout-survives-pod-loss", "cart-survives-memory-pressure"}},
				Order:       OrderShuffled,
			},
		},
	}
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("decoded\n%#v\nwant\n%#v", *cfg, want)
	}
	if !cfg.ServeDryRun() || !(&Config{}).ServeDryRun() {
		t.Error("serve must dry-run unless told otherwise")
	}
}

func TestLoadConfigEmpty(t *testing.T) {
	for _, data := range []string{"", "# only a comment\n", "---\n"} {
		cfg, err := LoadConfig("empty.yaml", []byte(data), fixtureNow())
		if err != nil || cfg == nil || len(cfg.Nights) != 0 {
			t.Errorf("%q: %v, %v", data, cfg, err)
		}
	}
}

func TestLoadConfigFileMissing(t *testing.T) {
	_, err := LoadConfigFile(filepath.Join(t.TempDir(), "nope.yaml"), fixtureNow())
	var ps experiment.Problems
	if !errors.As(err, &ps) || len(ps) != 1 || !strings.HasSuffix(ps[0].String(), "nope.yaml: does not exist") {
		t.Errorf("got %v", err)
	}
}

// TestValidateGoBuilt checks a Config built in Go: the same messages,
// with field paths and no lines.
func TestValidateGoBuilt(t *testing.T) {
	n := testNight("0 22 * * *", "Europe/Pariss", 6*time.Hour)
	n.Order = "random"
	c := &Config{Nights: []Night{n, testNight("0 * * * *", "UTC", 2*time.Hour)}}
	err := c.Validate(fixtureNow())
	want := `nights[0].order: unknown value "random" (allowed: listed, shuffled)
nights[0].timezone: unknown time zone Europe/Pariss (an IANA name such as Europe/Paris, America/New_York or UTC)
nights[1].lasts: 2h is longer than the 1h between two openings (2026-07-01 13:00 UTC and 2026-07-01 14:00 UTC); windows of one night must not overlap
nights[1].name: duplicate night name "night" (also used by nights[0])`
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
	if err := (&Config{Nights: []Night{testNight("0 22 * * *", "UTC", 6*time.Hour)}}).Validate(fixtureNow()); err != nil {
		t.Errorf("valid night: %v", err)
	}
}
