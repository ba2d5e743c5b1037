package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/chaosnight/chaosnight/test/sandbox"
)

// golangciLint builds the pinned golangci-lint into the cache when it is not
// there (hack/tools/golangci-lint; progress on stderr, so stdout is only the
// linter's) and runs it with the remaining arguments in the current
// directory: `sandbox golangci-lint run ./...` is what `make lint` calls.
// With -path it prints the binary's path instead (for editors and scripts).
// It returns the linter's exit code, so make fails exactly when it does.
func golangciLint(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("golangci-lint", flag.ContinueOnError)
	printPath := fs.Bool("path", false, "only build it if needed and print the binary's path")
	if err := fs.Parse(args); err != nil {
		return 2, err
	}
	root, err := sandbox.FindRepoRoot(".")
	if err != nil {
		return 1, err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	bin, err := sandbox.BuildGolangciLint(ctx, sandbox.BuildConfig{
		ToolsModule: filepath.Join(root, "hack", "tools"),
		Log:         stderr,
	})
	if err != nil {
		return 1, err
	}
	if *printPath {
		fmt.Fprintln(stdout, bin)
		return 0, nil
	}
	cmd := exec.CommandContext(ctx, bin, fs.Args()...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, stdout, stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() > 0 {
		// The linter has said why (its findings); repeating "exit status 1"
		// would only add noise under them.
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 1, fmt.Errorf("run %s: %w", bin, err)
	}
	return 0, nil
}
