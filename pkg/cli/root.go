// Package cli holds chaosnight's command line: one file per command, built
// by constructors (no package state), with configuration resolved through
// viper. It is the only package that imports cobra and viper; everything
// below it receives plain Go values.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes, as documented in the README.
const (
	ExitHeld    = 0 // the hypothesis held, or the command succeeded
	ExitFailed  = 1 // the hypothesis was refuted (deviated)
	ExitAborted = 2 // aborted or skipped: nothing conclusive
	ExitInvalid = 3 // error or invalid input
)

// Streams are the process's standard streams, injected so that commands are
// testable without touching os.Stdout.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// BuildInfo identifies the binary; main fills it from -ldflags.
type BuildInfo struct {
	Version string
	Commit  string
}

// exitError carries a specific exit code through cobra's error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withExitCode wraps err so that Run exits with code.
func withExitCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: code, err: err}
}

// silentExit ends the command with code without printing anything more:
// the command has already told the user what happened.
func silentExit(code int) error {
	return &exitError{code: code, err: errSilent}
}

var errSilent = errors.New("silent exit")

// Run executes the chaosnight command line and returns the process exit code.
// SIGINT and SIGTERM cancel the command's context so that commands which
// inject faults can revert before exiting.
func Run(streams Streams, info BuildInfo, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return RunContext(ctx, streams, info, args)
}

// RunContext is Run with a caller-supplied context (used by tests).
func RunContext(ctx context.Context, streams Streams, info BuildInfo, args []string) int {
	root := NewRootCommand(streams, info)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitHeld
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if !errors.Is(ee.err, errSilent) {
			fmt.Fprintf(streams.Err, "error: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(streams.Err, "error: %v\n", err)
	return ExitInvalid
}

// NewRootCommand builds the whole command tree. Each call returns an
// independent tree with its own configuration, so tests can run commands in
// parallel.
func NewRootCommand(streams Streams, info BuildInfo) *cobra.Command {
	g := newGlobals()
	g.version = info.Version
	root := &cobra.Command{
		Use:   "chaosnight",
		Short: "Hypothesis-based chaos experiments and scheduled chaos nights for Kubernetes",
		Long: `chaosnight runs chaos experiments against a Kubernetes cluster.

An experiment is a falsifiable hypothesis: "while we do X to the cluster, these
Prometheus measurements stay inside these bounds". chaosnight checks the steady
state, injects the fault, keeps measuring, reverts, checks recovery, and records
a verdict with its evidence.

Exit codes: 0 held, 1 deviated, 2 aborted or skipped, 3 error or invalid input.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.load(cmd, streams); err != nil {
				return withExitCode(ExitInvalid, err)
			}
			return nil
		},
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	g.addFlags(root)

	root.AddCommand(
		newStressCommand(streams),
		newVersionCommand(streams, info),
		newValidateCommand(streams, g),
		newSchemaCommand(streams, g),
		newConfigCommand(streams, g),
		newRunCommand(streams, g),
		newPauseCommand(streams, g),
		newResumeCommand(streams, g),
		newStatusCommand(streams, g),
		newScheduleCommand(streams, g),
		newServeCommand(streams, g),
		newReportCommand(streams, g),
		newDoctorCommand(streams, g),
	)
	return root
}
