package stresscmd

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// StopConfig configures StopLocal, the body of `chaosnight-stress stop`
// (and `chaosnight stress stop`).
type StopConfig struct {
	// ProcDir is the proc filesystem; default "/proc".
	ProcDir string
	// Self is the calling process's pid, never signalled; default
	// os.Getpid().
	Self int
	// Timeout bounds the wait for the stressors to exit; default 10 s
	// (the stressor's watchdog ends it 5 s after a signal at worst).
	Timeout time.Duration
	// Poll is how often the wait looks; default 50 ms.
	Poll time.Duration
	// Kill sends a signal; default syscall.Kill.
	Kill func(pid int, sig syscall.Signal) error
}

// Stressor is one stress process found by StopLocal.
type Stressor struct {
	PID     int
	Cmdline string
}

// StopLocal sends SIGTERM to every stress process visible in this PID
// namespace (the same executable as the caller, running a stress rather
// than stop: see IsStressorCmdline) and waits until they are gone. In the
// ephemeral container of a stress injection that is exactly one process,
// PID 1. Finding none is success: the stress already ended (the call is
// idempotent). When the stressor is PID 1 of the container, its exit ends
// the container and the caller with it, so the caller may never return.
func StopLocal(ctx context.Context, cfg StopConfig) ([]Stressor, error) {
	if cfg.ProcDir == "" {
		cfg.ProcDir = "/proc"
	}
	if cfg.Self == 0 {
		cfg.Self = os.Getpid()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 50 * time.Millisecond
	}
	if cfg.Kill == nil {
		cfg.Kill = syscall.Kill
	}
	found, err := FindStressors(cfg.ProcDir, cfg.Self)
	if err != nil {
		return nil, err
	}
	var errs []error
	var signalled []Stressor
	for _, s := range found {
		if err := cfg.Kill(s.PID, syscall.SIGTERM); err != nil {
			if errors.Is(err, syscall.ESRCH) {
				continue // ended meanwhile
			}
			errs = append(errs, fmt.Errorf("signal pid %d: %w", s.PID, err))
			continue
		}
		signalled = append(signalled, s)
	}
	deadline := time.Now().Add(cfg.Timeout)
	for {
		var left []string
		for _, s := range signalled {
			if alive(cfg.ProcDir, s.PID) {
				left = append(left, strconv.Itoa(s.PID))
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			errs = append(errs, fmt.Errorf("still running %s after SIGTERM: pid %s", cfg.Timeout, strings.Join(left, ", ")))
			break
		}
		select {
		case <-ctx.Done():
			return found, fmt.Errorf("stop: %w", ctx.Err())
		case <-time.After(cfg.Poll):
		}
	}
	if err := errors.Join(errs...); err != nil {
		return found, fmt.Errorf("stop: %w", err)
	}
	return found, nil
}

// FindStressors lists the stress processes in procDir, except self.
func FindStressors(procDir string, self int) ([]Stressor, error) {
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", procDir, err)
	}
	selfExe, selfErr := os.Stat(filepath.Join(procDir, strconv.Itoa(self), "exe"))
	selfArgs, _ := readCmdline(procDir, self)
	var out []Stressor
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		args, err := readCmdline(procDir, pid)
		if err != nil || !IsStressorCmdline(args) {
			continue // gone meanwhile, a kernel thread, or something else
		}
		// The same program as ours: in a pod sharing one PID namespace,
		// another container's process that happens to have "stress" in
		// its arguments is not ours to stop.
		same := false
		if exe, err := os.Stat(filepath.Join(procDir, e.Name(), "exe")); err == nil && selfErr == nil {
			same = os.SameFile(exe, selfExe)
		} else if len(selfArgs) > 0 {
			same = filepath.Base(args[0]) == filepath.Base(selfArgs[0])
		}
		if same {
			out = append(out, Stressor{PID: pid, Cmdline: strings.Join(args, " ")})
		}
	}
	slices.SortFunc(out, func(a, b Stressor) int { return a.PID - b.PID })
	return out, nil
}

// LeanBinary is the name of the stress-only binary that stress
// containers run.
const LeanBinary = "chaosnight-stress"

// IsStressorCmdline says whether args run a stress (and not stop):
// `chaosnight-stress FLAGS` (anything but `chaosnight-stress stop`), or
// the main binary's `chaosnight [FLAGS] stress FLAGS`, where "stress" is
// the first argument that is not a flag and is not followed by "stop".
func IsStressorCmdline(args []string) bool {
	if len(args) == 0 {
		return false
	}
	if filepath.Base(args[0]) == LeanBinary {
		return len(args) < 2 || args[1] != "stop"
	}
	for i := 1; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			continue
		}
		return a == "stress" && (i+1 >= len(args) || args[i+1] != "stop")
	}
	return false
}

func readCmdline(procDir string, pid int) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(procDir, strconv.Itoa(pid), "cmdline"))
	if err != nil {
		return nil, err
	}
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil, errors.New("no command line")
	}
	return strings.Split(string(b), "\x00"), nil
}

// alive says whether pid still runs: present and not a zombie.
func alive(procDir string, pid int) bool {
	b, err := os.ReadFile(filepath.Join(procDir, strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	// "pid (comm) S ...": the state follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return true
	}
	return b[i+2] != 'Z' && b[i+2] != 'X'
}

// mainStop is `stop`: SIGTERM to the stress processes of this container,
// and wait until they are gone.
func mainStop(ctx context.Context, name string, streams Streams, args []string) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	timeout := fs.Duration("timeout", 10*time.Second, "how long to wait for the stress processes to exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(streams.Out, "Usage: %s [--timeout D]\n\n%s\n", name, stopHelp)
			return ExitOK
		}
		fmt.Fprintf(streams.Err, "error: %s\n", flagError(err))
		return ExitInvalid
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(streams.Err, "error: unexpected argument %q (%s takes flags only)\n", fs.Arg(0), name)
		return ExitInvalid
	}
	found, err := StopLocal(ctx, StopConfig{Timeout: *timeout})
	for _, s := range found {
		fmt.Fprintf(streams.Out, "stopped pid %d: %s\n", s.PID, s.Cmdline)
	}
	if err != nil {
		fmt.Fprintf(streams.Err, "error: %v\n", err)
		return ExitInvalid
	}
	if len(found) == 0 {
		fmt.Fprintln(streams.Out, "no stress process running")
	}
	return ExitOK
}

const stopHelp = `Send SIGTERM to every stress process this process can see (the same
executable, running a stress) and wait until they have exited. In the
ephemeral container of a pod-scope stress that is PID 1, the stressor itself:
when it exits the container ends, and this command with it. The stress
injector runs it through pods/exec to end a stress before its deadline:
ephemeral containers cannot be removed, and the distroless image has no shell
or kill to do it otherwise.

Finding no stress process is success: the stress already ended by itself, so
running stop twice is harmless. Exit codes: 0 stopped or nothing to stop,
3 when a process could not be signalled or was still running after --timeout.`
