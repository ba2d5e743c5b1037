// Package demo runs `make demo`'s script the way a new user without root
// would: no real node (the shop on kwok), and no Prometheus on PATH, so
// the sandbox must run the one `make sandbox-tools` built from the Go module
// proxy. It proves the first contact: from a clone to verdicts and a report.
package demo

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/test/sandbox"
)

// pathWithout is PATH without the directories that hold a prometheus
// binary (Debian's /usr/bin/prometheus hides with /usr/bin, so that one is
// replaced by a directory of links to everything else it holds).
func pathWithout(t *testing.T, bin string) string {
	t.Helper()
	var dirs []string
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(d, bin)); err != nil {
			dirs = append(dirs, d)
			continue
		}
		shadow := t.TempDir()
		entries, err := os.ReadDir(d)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != bin {
				_ = os.Symlink(filepath.Join(d, e.Name()), filepath.Join(shadow, e.Name()))
			}
		}
		dirs = append(dirs, shadow)
	}
	return strings.Join(dirs, string(filepath.ListSeparator))
}

func TestDemoWithoutRealNodeOrSystemPrometheus(t *testing.T) {
	if sandbox.Disabled() {
		t.Skipf("the demo needs the sandbox, disabled on purpose (%s=off)", sandbox.EnvSandbox)
	}
	root, err := sandbox.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	path := pathWithout(t, "prometheus")
	for _, d := range filepath.SplitList(path) {
		if _, err := os.Stat(filepath.Join(d, "prometheus")); err == nil {
			t.Fatalf("a prometheus is still on the PATH given to the demo, in %s", d)
		}
	}
	state, out := t.TempDir(), t.TempDir()
	// Whatever happens to the script, its background sandbox goes.
	t.Cleanup(func() {
		down := exec.Command(filepath.Join(state, "bin", "sandbox"), "down", "-state", state)
		if b, err := down.CombinedOutput(); err != nil && !os.IsNotExist(err) {
			t.Logf("sandbox down: %v\n%s", err, b)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "hack", "demo.sh"))
	cmd.Dir = root
	// On timeout the script gets Ctrl-C, so its trap stops serve and the
	// sandbox, as it does for a person.
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = time.Minute
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, sandbox.EnvPrometheus+"=") && !strings.HasPrefix(kv, "MAKEFLAGS=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "PATH="+path, "SANDBOX_STATE="+state, "DEMO_DIR="+filepath.Join(out, "night"), "SANDBOX_UP_FLAGS=-realnode=false")
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	started := time.Now()
	err = cmd.Run()
	t.Logf("make demo (no real node, no system Prometheus) took %s", time.Since(started).Round(time.Second))
	output := buf.String()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, output)
	}
	for _, want := range []string{
		"No real node in this sandbox",
		"night demo-night is open until",
		"demo-checkout-evict-one: HELD (exit 0",
		"demo-recommendations-pod-loss: DEVIATED (exit 1",
		"detected: ShopHighErrorRate fired ",
		"after the fault started (time to detect)",
		"the night played 2 experiment(s)",
		"HTML report: " + filepath.Join(out, "night", "report.html"),
	} {
		if !strings.Contains(output, want) {
			t.Errorf("the demo's output lacks %q:\n%s", want, output)
		}
	}
	if strings.Contains(output, "demo-checkout-cpu-latency") {
		t.Errorf("without the real node the CPU stress demo must be left out:\n%s", output)
	}
	if fi, err := os.Stat(filepath.Join(out, "night", "report.html")); err != nil || fi.Size() == 0 {
		t.Errorf("no report: %v", err)
	}
	// serve's logs went to a file, not to the person watching.
	if strings.Contains(output, `"level":"INFO"`) || strings.Contains(output, "level=INFO") {
		t.Errorf("log lines in the demo's output:\n%s", output)
	}
}
