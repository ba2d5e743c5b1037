package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/stressor"
)

// build compiles this command into a temporary directory.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "chaosnight-stress")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-o", bin, ".")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The real binary: a stress that `chaosnight-stress stop` ends at once
// (what the injector's revert execs in the container), with its JSON
// report on stdout and exit 0; invalid input is exit 3.
func TestBinaryStressAndStop(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := build(t)
	var out, errOut bytes.Buffer
	stress := exec.Command(bin, "--cpu-workers", "1", "--cpu-load", "20", "--memory", "4Mi", "--duration", "1m", "-o", "json")
	stress.Stdout, stress.Stderr = &out, &errOut
	if err := stress.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- stress.Wait() }()
	t.Cleanup(func() { _ = stress.Process.Kill() })
	time.Sleep(500 * time.Millisecond) // let it install its signal handler

	stop, err := exec.Command(bin, "stop", "--timeout", "5s").CombinedOutput()
	if err != nil {
		t.Fatalf("stop: %v\n%s", err, stop)
	}
	if !strings.Contains(string(stop), "stopped pid ") || !strings.Contains(string(stop), "chaosnight-stress --cpu-workers 1") {
		t.Errorf("stop said %q", stop)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the stress exited with %v: %s", err, errOut.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the stress did not end after stop")
	}
	var rep stressor.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %q", err, out.String())
	}
	if rep.Ended != stressor.EndSignal || rep.Cause != "received SIGTERM" || rep.Memory == nil || rep.CPU == nil {
		t.Errorf("report %+v", rep)
	}

	bad := exec.Command(bin, "--memory", "1Mi")
	msg, err := bad.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).ExitStatus() != 3 ||
		string(msg) != "error: invalid stress: --duration is required (for example 5m): a stress always ends by itself\n" {
		t.Errorf("without --duration: %v, %q", err, msg)
	}
}
