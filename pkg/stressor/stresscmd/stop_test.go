package stresscmd

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestIsStressorCmdline(t *testing.T) {
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"chaosnight", "stress", "--cpu-workers", "2", "--duration", "5m0s"}, true},
		{[]string{"/usr/local/bin/chaosnight", "stress"}, true},
		{[]string{"chaosnight", "--log-level=debug", "stress", "--memory", "1Gi"}, true},
		{[]string{"chaosnight", "stress", "stop"}, false},
		{[]string{"chaosnight", "serve"}, false},
		{[]string{"chaosnight"}, false},
		{[]string{"chaosnight", "run", "stress.yaml"}, false},
		{[]string{"chaosnight", "--memory", "stress"}, true}, // flags are skipped without knowing them: values must use '='
		{[]string{"chaosnight-stress", "--cpu-workers", "2", "--duration", "5m0s"}, true},
		{[]string{"/usr/local/bin/chaosnight-stress"}, true},
		{[]string{"/chaosnight-stress", "stop"}, false},
		{[]string{"chaosnight-stress", "stop", "--timeout", "5s"}, false},
		{[]string{}, false},
	}
	for _, tt := range tests {
		if got := IsStressorCmdline(tt.args); got != tt.want {
			t.Errorf("IsStressorCmdline(%q) = %v, want %v", tt.args, got, tt.want)
		}
	}
}

func TestAliveReadsTheProcessState(t *testing.T) {
	dir := t.TempDir()
	for pid, stat := range map[string]string{
		"10": "10 (chaosnight) S 0 1 1 0",
		"11": "11 (chaos night) Z 1 1 1 0", // a space in comm: the state follows the last ')'
		"12": "12 (x) R 1",
	} {
		if err := os.MkdirAll(filepath.Join(dir, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, pid, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for pid, want := range map[int]bool{10: true, 11: false, 12: true, 13: false} {
		if got := alive(dir, pid); got != want {
			t.Errorf("alive(%d) = %v, want %v", pid, got, want)
		}
	}
}

// envFakeProcess makes the test binary act as a long-running process
// (TestFakeProcess) until SIGTERM.
const envFakeProcess = "CHAOSNIGHT_STRESS_FAKE_PROCESS"

// TestFakeProcess is not a test: it is the body of the processes that
// TestStopLocalStopsOnlyTheStressors starts from this test binary.
func TestFakeProcess(t *testing.T) {
	if os.Getenv(envFakeProcess) != "1" {
		t.Skip("helper process for TestStopLocalStopsOnlyTheStressors")
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	select {
	case <-sigs:
		os.Exit(0)
	case <-time.After(time.Minute):
		os.Exit(2)
	}
}

// Real processes of the same executable: two run "stress", one runs
// "stress stop" and one "serve". StopLocal ends exactly the two stressors.
func TestStopLocalStopsOnlyTheStressors(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skip("no /proc")
	}
	start := func(args ...string) *exec.Cmd {
		t.Helper()
		cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestFakeProcess$"}, args...)...)
		cmd.Env = append(os.Environ(), envFakeProcess+"=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-done
		})
		return cmd
	}
	s1 := start("stress", "--cpu-workers", "1", "--duration", "1m0s")
	s2 := start("stress", "--memory", "1Mi", "--duration", "1m0s")
	stop := start("stress", "stop")
	serve := start("serve")
	ours := map[int]string{s1.Process.Pid: "s1", s2.Process.Pid: "s2", stop.Process.Pid: "stop", serve.Process.Pid: "serve"}

	// Wait until the children run the test binary (their cmdline shows
	// the arguments once exec has happened) and handle SIGTERM.
	deadline := time.Now().Add(10 * time.Second)
	for pid := range ours {
		for {
			args, err := readCmdline("/proc", pid)
			if err == nil && slices.Contains(args, "-test.run=^TestFakeProcess$") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("pid %d never ran the helper", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(200 * time.Millisecond) // signal.Notify is installed early in the helper; leave it time

	found, err := StopLocal(context.Background(), StopConfig{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range found {
		name, ok := ours[s.PID]
		if !ok {
			t.Errorf("found pid %d (%s), which this test did not start", s.PID, s.Cmdline)
			continue
		}
		names = append(names, name)
		if !strings.Contains(s.Cmdline, " stress --") {
			t.Errorf("pid %d cmdline %q", s.PID, s.Cmdline)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"s1", "s2"}) {
		t.Errorf("stopped %v, want [s1 s2]", names)
	}
	for _, c := range []*exec.Cmd{s1, s2} {
		if alive("/proc", c.Process.Pid) {
			t.Errorf("stressor %d still alive", c.Process.Pid)
		}
	}
	for _, c := range []*exec.Cmd{stop, serve} {
		if !alive("/proc", c.Process.Pid) {
			t.Errorf("%v (pid %d) was stopped but is not a stressor", c.Args[2:], c.Process.Pid)
		}
	}
	// Idempotent: nothing left to stop is success.
	again, err := StopLocal(context.Background(), StopConfig{Timeout: time.Second})
	if err != nil || len(again) != 0 {
		t.Errorf("second stop: %v, %v", again, err)
	}
}

func TestStopLocalReportsAStressorThatWillNotDie(t *testing.T) {
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A fake /proc: pid 1 is a stressor of our executable that ignores
	// signals (its stat never changes).
	if err := os.MkdirAll(filepath.Join(dir, "1"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dir, "1", "cmdline"), "chaosnight\x00stress\x00--duration\x005m0s\x00")
	mustWrite(t, filepath.Join(dir, "1", "stat"), "1 (chaosnight) S 0")
	if err := os.Symlink(self, filepath.Join(dir, "1", "exe")); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "7"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(dir, "7", "exe")); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dir, "7", "cmdline"), "chaosnight\x00stress\x00stop\x00")
	var signalled []int
	_, err = StopLocal(context.Background(), StopConfig{ProcDir: dir, Self: 7, Timeout: 200 * time.Millisecond, Poll: 10 * time.Millisecond,
		Kill: func(pid int, sig syscall.Signal) error {
			if sig != syscall.SIGTERM {
				t.Errorf("signal %v", sig)
			}
			signalled = append(signalled, pid)
			return nil
		}})
	if !slices.Equal(signalled, []int{1}) {
		t.Errorf("signalled %v, want [1]", signalled)
	}
	if err == nil || !strings.Contains(err.Error(), "still running 200ms after SIGTERM: pid 1") {
		t.Errorf("err = %v", err)
	}
}

func mustWrite(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
