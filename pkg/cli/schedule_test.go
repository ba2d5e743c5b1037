package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runScheduleCLI runs `chaosnight ARGS` on a command tree that holds the
// global flags and `schedule` only, wired as NewRootCommand wires its
// commands, and maps the error to an exit code as RunContext does.
func runScheduleCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := Streams{In: strings.NewReader(""), Out: &out, Err: &errOut}
	g := newGlobals()
	root := &cobra.Command{
		Use:           "chaosnight",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.load(cmd, streams); err != nil {
				return withExitCode(ExitInvalid, err)
			}
			return nil
		},
	}
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	g.addFlags(root)
	root.AddCommand(newScheduleCommand(streams, g))
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	switch ee := (*exitError)(nil); {
	case err == nil:
		return ExitHeld, out.String(), errOut.String()
	case errors.As(err, &ee):
		if !errors.Is(ee.err, errSilent) {
			fmt.Fprintf(&errOut, "error: %v\n", ee.err)
		}
		return ee.code, out.String(), errOut.String()
	default:
		fmt.Fprintf(&errOut, "error: %v\n", err)
		return ExitInvalid, out.String(), errOut.String()
	}
}

// scheduleExperiment is an experiment file with a name, a team label and
// durations, for plans with known lengths.
func scheduleExperiment(name, team, duration, recovery string) string {
	return fmt.Sprintf(`apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata:
  name: %s
  labels: {team: %s}
spec:
  hypothesis:
    probes:
      - name: up
        query: up{job="shop"}
        expect: {equals: 1}
  target:
    namespaces: [shop]
    selector: app=checkout
  action:
    podKill: {}
  duration: %s
  recovery: %s
`, name, team, duration, recovery)
}

// scheduleFixture writes three experiments and a configuration with two
// nights; it returns the configuration and the experiments directory.
func scheduleFixture(t *testing.T) (cfg, exps string) {
	t.Helper()
	dir := t.TempDir()
	exps = filepath.Join(dir, "experiments")
	writeFile(t, exps, "pod-kill.yaml", scheduleExperiment("checkout-pod-kill", "payments", "3m", "2m"))
	writeFile(t, exps, "cpu.yaml", scheduleExperiment("checkout-cpu-stress", "payments", "5m", "2m"))
	writeFile(t, exps, "soak.yaml", scheduleExperiment("checkout-soak", "payments", "7h", "1m"))
	writeFile(t, exps, "cart.yaml", scheduleExperiment("cart-memory", "basket", "4m", "1m"))
	cfg = writeFile(t, dir, "chaosnight.yaml", `prometheus: {url: http://prometheus.monitoring:9090}
experiments: `+exps+`
dryRun: true
nights:
  - name: weeknights
    opens: "0 22 * * 1-4"
    lasts: 6h
    timezone: Europe/Paris
    skip: {dates: ["2026-03-31"], weekdays: [Fri]}
    experiments: {selector: team=payments}
    cooldown: 10m
  - name: sunday-early
    opens: "30 2 * * 0"
    lasts: 1h
    timezone: Europe/Paris
    experiments: {names: [cart-memory, checkout-pod-kill, gone]}
    order: shuffled
    maxPerNight: 1
`)
	return cfg, exps
}

// TestScheduleGolden previews the nights around Europe/Paris' spring
// forward (2026-03-29), from inside an open window.
func TestScheduleGolden(t *testing.T) {
	clearEnv(t)
	cfg, _ := scheduleFixture(t)
	code, out, stderr := runScheduleCLI(t, "schedule", "--config", cfg, "--next", "4", "--from", "2026-03-27T02:30:00+01:00")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, stderr)
	}
	want := `The next 4 window(s) from Fri 2026-03-27 01:30 UTC:

weeknights (Europe/Paris), open now: planned from 02:30 CET
  opens   Thu 2026-03-26 22:00 CET  Thu 2026-03-26 21:00 UTC
  closes  Fri 2026-03-27 04:00 CET  Fri 2026-03-27 03:00 UTC
  order listed, cooldown 10m, selector team=payments
    Fri 02:30 CET  Fri 01:30 UTC  checkout-cpu-stress (5m + 2m recovery, until 02:37 CET)
    Fri 02:47 CET  Fri 01:47 UTC  checkout-pod-kill (3m + 2m recovery, until 02:52 CET)
    skipped                       checkout-soak: cannot finish before the window closes at 04:00 Europe/Paris (needs 7h1m, 58m left)

sunday-early (Europe/Paris)
  opens   Sun 2026-03-29 03:30 CEST  Sun 2026-03-29 01:30 UTC
  closes  Sun 2026-03-29 04:30 CEST  Sun 2026-03-29 02:30 UTC
  order shuffled (seed 2055052447213853714), at most 1 per night
    Sun 03:30 CEST  Sun 01:30 UTC  cart-memory (4m + 1m recovery, until 03:35 CEST)
    skipped                        gone: no experiment has this name
    skipped                        checkout-pod-kill: the night's maximum of 1 experiment(s) is reached

weeknights (Europe/Paris)
  opens   Mon 2026-03-30 22:00 CEST  Mon 2026-03-30 20:00 UTC
  closes  Tue 2026-03-31 04:00 CEST  Tue 2026-03-31 02:00 UTC
  order listed, cooldown 10m, selector team=payments
    Mon 22:00 CEST  Mon 20:00 UTC  checkout-cpu-stress (5m + 2m recovery, until 22:07 CEST)
    Mon 22:17 CEST  Mon 20:17 UTC  checkout-pod-kill (3m + 2m recovery, until 22:22 CEST)
    skipped                        checkout-soak: cannot finish before the window closes at 04:00 Europe/Paris (needs 7h1m, 5h28m left)

weeknights (Europe/Paris)
  opens   Wed 2026-04-01 22:00 CEST  Wed 2026-04-01 20:00 UTC
  closes  Thu 2026-04-02 04:00 CEST  Thu 2026-04-02 02:00 UTC
  order listed, cooldown 10m, selector team=payments
    Wed 22:00 CEST  Wed 20:00 UTC  checkout-cpu-stress (5m + 2m recovery, until 22:07 CEST)
    Wed 22:17 CEST  Wed 20:17 UTC  checkout-pod-kill (3m + 2m recovery, until 22:22 CEST)
    skipped                        checkout-soak: cannot finish before the window closes at 04:00 Europe/Paris (needs 7h1m, 5h28m left)
`
	if out != want {
		t.Errorf("output differs\n--- got\n%s--- want\n%s", out, want)
	}
}

func TestScheduleSources(t *testing.T) {
	clearEnv(t)
	cfg, exps := scheduleFixture(t)
	other := filepath.Join(t.TempDir(), "other")
	writeFile(t, other, "only.yaml", scheduleExperiment("only-one", "payments", "1m", "1m"))
	noDir := writeFile(t, t.TempDir(), "nodir.yaml", `nights:
  - {name: nightly, opens: "0 22 * * *", lasts: 1h, timezone: UTC, experiments: {selector: team=payments}}
`)
	broken := filepath.Join(t.TempDir(), "broken")
	writeFile(t, broken, "bad.yaml", strings.Replace(scheduleExperiment("bad", "payments", "1m", "1m"), "duration: 1m", "duration: soon", 1))
	const now = "2026-07-01T12:00:00Z"

	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		want     []string // substrings of stdout
		wantErr  []string // substrings of stderr
		not      []string // must not be in stdout
	}{
		{
			name: "experiments from the configuration key", args: []string{"--config", cfg, "--next", "1"},
			want: []string{"checkout-cpu-stress (5m"}, not: []string{"only-one"},
		},
		{
			name: "--experiments beats the configuration", args: []string{"--config", cfg, "--next", "1", "--experiments", other},
			want: []string{"only-one (1m"}, not: []string{"checkout-cpu-stress"},
		},
		{
			name: "CHAOSNIGHT_EXPERIMENTS beats the configuration", env: map[string]string{"CHAOSNIGHT_EXPERIMENTS": other},
			args: []string{"--config", cfg, "--next", "1"},
			want: []string{"only-one (1m"}, not: []string{"checkout-cpu-stress"},
		},
		{
			name: "--next counts windows across nights", args: []string{"--config", cfg, "--next", "7"},
			want: []string{"The next 7 window(s)", "sunday-early (Europe/Paris)", "weeknights (Europe/Paris)"},
		},
		{
			name: "config from CHAOSNIGHT_CONFIG", env: map[string]string{"CHAOSNIGHT_CONFIG": cfg},
			args: []string{"--next", "1"},
			want: []string{"weeknights (Europe/Paris)"},
		},
		{
			name: "no experiments directory: windows only", args: []string{"--config", noDir, "--next", "2"},
			want: []string{"nightly (UTC)", "opens   Wed 2026-07-01 22:00 UTC", "(experiments not listed: set experiments in the configuration, or --experiments DIR)"},
		},
		{
			name: "a selector that matches nothing says so", args: []string{"--config", noDir, "--next", "1", "--experiments", exps + "/cart.yaml"},
			want: []string{"nothing selected: no experiment matches team=payments"},
		},
		{
			name: "invalid experiments: problems and exit 3", args: []string{"--config", cfg, "--experiments", broken},
			wantCode: ExitInvalid, want: []string{filepath.Join(broken, "bad.yaml") + ":17: spec.duration: invalid duration \"soon\""},
			wantErr: []string{"1 problem(s) found"},
		},
		{
			name: "no configuration", args: []string{}, wantCode: ExitInvalid,
			wantErr: []string{"error: no configuration: give --config FILE"},
		},
		{
			name: "a configuration without nights", args: []string{"--config", writeFile(t, t.TempDir(), "c.yaml", "dryRun: true\n")},
			wantCode: ExitInvalid, wantErr: []string{"c.yaml: no nights (add a nights: list; see docs/nights.md)"},
		},
		{
			name: "bad --from", args: []string{"--config", cfg, "--from", "tomorrow"}, wantCode: ExitInvalid,
			wantErr: []string{`error: --from "tomorrow": not an RFC 3339 time such as 2026-07-01T21:00:00+02:00`},
		},
		{
			name: "bad --next", args: []string{"--config", cfg, "--next", "0"}, wantCode: ExitInvalid,
			wantErr: []string{"error: --next 0: must be at least 1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append([]string{"schedule"}, tt.args...)
			if !strings.Contains(strings.Join(tt.args, " "), "--from") {
				args = append(args, "--from", now)
			}
			code, out, stderr := runScheduleCLI(t, args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(out, w) {
					t.Errorf("stdout has %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestScheduleInvalidConfig prints every problem of the nights, FILE:LINE
// first, and exits 3.
func TestScheduleInvalidConfig(t *testing.T) {
	clearEnv(t)
	cfg := writeFile(t, t.TempDir(), "chaosnight.yaml", `nights:
  - name: weeknights
    opens: "0 22 * * 1-4"
    lasts: 6h
    timezone: Europe/Pariss
    experiments: {selector: team=payments}
  - name: weekends
    open: "0 22 * * 6"
    lasts: 6h
    timezone: UTC
    experiments: {selector: team=payments}
`)
	code, out, stderr := runScheduleCLI(t, "schedule", "--config", cfg, "--now", "2026-07-01T12:00:00Z")
	if code != ExitInvalid {
		t.Fatalf("exit %d, want %d", code, ExitInvalid)
	}
	want := cfg + ":5: nights[0].timezone: unknown time zone Europe/Pariss (an IANA name such as Europe/Paris, America/New_York or UTC)\n" +
		cfg + ":8: nights[1].open: unknown field (allowed: name, opens, lasts, timezone, skip, experiments, order, cooldown, maxPerNight); did you mean \"opens\"?\n"
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if stderr != "2 problem(s) found\n" {
		t.Errorf("stderr %q", stderr)
	}
}
