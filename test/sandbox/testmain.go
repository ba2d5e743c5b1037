package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// RunTests is a TestMain body: it starts one sandbox for the test package,
// hands it to use (which stores it for the tests), runs the tests, and stops
// the sandbox. It returns the exit code for os.Exit.
//
// When the sandbox cannot start:
//   - under make test (CHAOSNIGHT_SANDBOX=require) and in CI (CI=true or
//     CI=1) the package fails (exit code 1) with the reason and the command
//     that fixes it: they never pass by skipping;
//   - otherwise (a plain go test) it prints "SKIP: sandbox unavailable:
//     <reason>", calls use(nil) and runs the tests, whose Require(t, sb)
//     calls skip.
//
// CHAOSNIGHT_SANDBOX=off (make unit) skips on purpose, also in CI.
// When the tests fail, the tail of every process log is printed; set
// CHAOSNIGHT_SANDBOX_KEEP=1 to keep the whole directory.
func RunTests(m *testing.M, cfg Config, use func(*Sandbox)) int {
	if Disabled() {
		fmt.Fprintf(os.Stderr, "SKIP: sandbox disabled (%s=off); integration tests skip\n", EnvSandbox)
		_ = os.Setenv(envSkipReason, EnvSandbox+"=off")
		use(nil)
		return m.Run()
	}
	if cfg.Log == nil && testingVerbose() {
		cfg.Log = os.Stderr
	}
	sb, err := Start(context.Background(), cfg)
	if err != nil {
		hint := FixHint
		if cfg.RealNode {
			hint += "; " + RealNodeFixHint
		}
		if Required() {
			fmt.Fprintf(os.Stderr, "FAIL: sandbox unavailable (make test and CI never pass by skipping the integration tests): %v\nFAIL: to fix: %s\n", err, hint)
			return 1
		}
		fmt.Fprintf(os.Stderr, "SKIP: sandbox unavailable: %v\nSKIP: to run these tests: %s\n", err, hint)
		// go test hides a passing package's output; carry the reason into
		// each skip message so `go test -v` and test2json show it.
		_ = os.Setenv(envSkipReason, err.Error())
		use(nil)
		return m.Run()
	}
	// A Ctrl-C or SIGTERM to the test binary still tears the sandbox down;
	// a SIGKILL or timeout panic is covered by the children's parent-death
	// signal.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		if _, ok := <-sigs; ok {
			_ = sb.Stop()
			os.Exit(130)
		}
	}()
	use(sb)
	code := m.Run()
	signal.Stop(sigs)
	close(sigs)
	if code != 0 {
		sb.DumpLogs(os.Stderr, 30)
	}
	if err := sb.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "sandbox teardown: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Require skips the test when the package has no sandbox (outside CI), and
// fails it in CI, where a missing sandbox is an error.
func Require(t testing.TB, sb *Sandbox) *Sandbox {
	t.Helper()
	if sb != nil {
		return sb
	}
	reason := os.Getenv(envSkipReason)
	if reason == "" {
		reason = "TestMain did not start one with sandbox.RunTests"
	}
	if Required() {
		t.Fatalf("sandbox unavailable (make test and CI may not skip): %s; to fix: %s", reason, FixHint)
	}
	t.Skipf("sandbox unavailable: %s", reason)
	return nil
}

// envSkipReason carries RunTests' reason for running without a sandbox to
// Require, within the test process.
const envSkipReason = "CHAOSNIGHT_SANDBOX_SKIP_REASON"

// DumpLogs writes the last lines of every process log, for failing tests.
func (s *Sandbox) DumpLogs(w interface{ Write([]byte) (int, error) }, lines int) {
	logs, _ := filepath.Glob(filepath.Join(s.Dir, "logs", "*.log"))
	for _, l := range logs {
		fmt.Fprintf(w, "--- sandbox log %s (last %d lines) ---\n%s\n", l, lines, tailFile(l, lines))
	}
}

// Required reports whether a sandbox that cannot start is a failure
// rather than a skip: under make test (CHAOSNIGHT_SANDBOX=require) and in
// CI (CI=true or CI=1, as CI systems set it), unless the sandbox is
// disabled on purpose (CHAOSNIGHT_SANDBOX=off, make unit).
func Required() bool {
	switch strings.ToLower(os.Getenv(EnvSandbox)) {
	case "off":
		return false
	case "require":
		return true
	}
	return inCI()
}

// Disabled reports whether the integration tests are turned off on
// purpose (CHAOSNIGHT_SANDBOX=off: make unit).
func Disabled() bool { return strings.ToLower(os.Getenv(EnvSandbox)) == "off" }

// FixHint is the command that installs what the sandbox needs.
const FixHint = "run `make sandbox-tools` (it builds the control plane, etcd, kwok and Prometheus from the Go module proxy into the cache; no root needed), " +
	"or `bash hack/ci-deps.sh`, which `make test` runs first (as root it also installs chromium and builds the real node); `make unit` runs only the tests that need no sandbox"

// RealNodeFixHint is what a sandbox with a real node needs on top of FixHint.
const RealNodeFixHint = "the real node also needs Linux, root and its binaries: `bash hack/sandbox-tools.sh -realnode` " +
	"(or `go run ./test/sandbox/cmd/sandbox tools -realnode`); docs/sandbox.md, section \"A real node\""

func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v == "true" || v == "1"
}

func testingVerbose() bool {
	for _, a := range os.Args[1:] {
		if a == "-test.v" || a == "-test.v=true" || a == "-test.v=test2json" {
			return true
		}
	}
	return false
}

// WaitFor calls f every 50 ms until it returns nil, and fails the test
// with what and f's last error if that has not happened within timeout.
// The integration tests wait on a real control plane with it: controllers
// and kwok act within moments, not at once.
func WaitFor(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	var last error
	// f's own error is kept (the poll's is only "deadline exceeded"): it is
	// what the failure must show.
	if wait.PollUntilContextTimeout(context.Background(), 50*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		last = f()
		return last == nil, nil
	}) != nil {
		t.Fatalf("%s: not after %s: %v", what, timeout, last)
	}
}
