package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// golangci-lint is not a sandbox binary, but it is built the same way and
// by the same code: from a pinned tools module (hack/tools/golangci-lint)
// through the Go module proxy, once, into the user cache, under a lock and
// a partial directory. `make lint` needs no release download, no install
// script, no root and nothing on PATH; a fresh clone builds it once.
const (
	// GolangciLintVersion is the golangci-lint module version that
	// hack/tools/golangci-lint/go.mod requires (a unit test checks that).
	GolangciLintVersion = "v2.15.0"
	binGolangciLint     = "golangci-lint"
	// golangciLintPkg is its command inside the module.
	golangciLintPkg = "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
)

// GolangciLintKey names the cache directory of the built golangci-lint.
// The Go minor version is part of it because golangci-lint can only load
// code written for the Go it was built with: a toolchain upgrade must
// rebuild it, a patch release need not.
func GolangciLintKey() string {
	return fmt.Sprintf("golangci-lint-%s_%s", GolangciLintVersion, goMinor(runtime.Version()))
}

// DefaultGolangciLintDir is where BuildGolangciLint puts the binary:
// <user cache dir>/chaosnight/tools/<GolangciLintKey>/bin (the user cache
// dir honours $XDG_CACHE_HOME). It is beside, not inside, the sandbox's
// cache: a lint tool, not part of the cluster.
func DefaultGolangciLintDir() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("locate the user cache directory (set XDG_CACHE_HOME): %w", err)
	}
	return filepath.Join(cache, "chaosnight", "tools", GolangciLintKey(), "bin"), nil
}

func golangciLintStamp() string { return "golangci-lint=" + GolangciLintVersion + "\n" }

// BuildGolangciLint builds golangci-lint from hack/tools/golangci-lint into
// the cache unless it is there, and returns the binary's path.
// cfg.ToolsModule is hack/tools; cfg.Dest, when set, replaces the cache
// directory. About 2 minutes on 2 cores the first time, module downloads
// included (docs/lint.md). `golangci-lint version` reports the pinned
// version by itself: the main package's module is golangci-lint's.
func BuildGolangciLint(ctx context.Context, cfg BuildConfig) (string, error) {
	cfg.defaults()
	dest := cfg.Dest
	if dest == "" {
		d, err := DefaultGolangciLintDir()
		if err != nil {
			return "", err
		}
		dest = d
	}
	bin := filepath.Join(dest, binGolangciLint)
	complete := func() bool {
		b, err := os.ReadFile(filepath.Join(dest, stampFile))
		fi, serr := os.Stat(bin)
		return err == nil && serr == nil && !fi.IsDir() && string(b) == golangciLintStamp()
	}
	mod, err := filepath.Abs(filepath.Join(cfg.ToolsModule, "golangci-lint"))
	if err != nil {
		return "", fmt.Errorf("resolve tools module path: %w", err)
	}
	if !complete() {
		if _, err := os.Stat(filepath.Join(mod, "go.mod")); err != nil {
			return "", fmt.Errorf("golangci-lint tools module not found at %q (run from the repository root): %w", mod, err)
		}
	}
	err = cachedBuild(dest, "golangci-lint "+GolangciLintVersion, cfg.Log, complete, golangciLintStamp(), func(partial string) error {
		fmt.Fprintf(cfg.Log, "lint tools: building golangci-lint %s from the Go module proxy into %s; about 2 minutes on 2 cores the first time\n",
			GolangciLintVersion, dest)
		steps := []buildStep{{name: binGolangciLint, module: mod, pkg: golangciLintPkg, ldflags: "-s -w", noCgo: true}}
		return runBuildSteps(ctx, cfg.Go, cfg.Log, cfg.Heartbeat, partial, steps, 1)
	})
	if err != nil {
		return "", err
	}
	return bin, nil
}
