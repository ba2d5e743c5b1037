// Command rusage runs a command and writes its peak resident set size, in
// KiB, to a file: rusage OUT -- COMMAND [ARG...]. It exits with the
// command's exit code.
//
// bench/plan starts chaosnight through it on purpose. Go's os/exec starts a
// child with vfork (CLONE_VM), so until the exec the child shares its
// parent's address space, and Linux folds that address space's high-water
// RSS into the child's ru_maxrss: a chaosnight started straight from the
// benchmark (which holds a sandbox exporter and its informers) would report
// the benchmark's peak memory, not its own. This launcher is a tiny process,
// so what it folds in is far below anything chaosnight uses.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	if len(args) < 3 || args[1] != "--" {
		fmt.Fprintln(os.Stderr, "usage: rusage OUT -- COMMAND [ARG...]")
		return 125
	}
	cmd := exec.Command(args[2], args[3:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	// Take the command along if this launcher is killed (a timeout).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err := cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		fmt.Fprintf(os.Stderr, "rusage: %v\n", err)
		return 125
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		fmt.Fprintln(os.Stderr, "rusage: no rusage on this platform")
		return 125
	}
	if err := os.WriteFile(args[0], []byte(strconv.FormatInt(int64(ru.Maxrss), 10)+"\n"), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "rusage: %v\n", err)
		return 125
	}
	return cmd.ProcessState.ExitCode()
}
