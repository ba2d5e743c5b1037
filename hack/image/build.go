package image

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// BuildError is a `go build` that failed, with its output.
type BuildError struct {
	Package string
	Output  string
	Err     error
}

func (e *BuildError) Error() string {
	return fmt.Sprintf("go build %s: %v\n%s", e.Package, e.Err, e.Output)
}

func (e *BuildError) Unwrap() error { return e.Err }

// BuildBinaries builds chaosnight and chaosnight-stress from the module at
// moduleDir into outDir exactly as the Dockerfile's build stage does
// (static, -trimpath, stripped, version and commit stamped into chaosnight
// only) for linux and $GOARCH (default the running architecture). It
// returns a Config for WriteArchive with the binaries, version, commit and
// architecture filled in.
func BuildBinaries(ctx context.Context, moduleDir, outDir, version, commit string) (Config, error) {
	return BuildBinariesFor(ctx, moduleDir, outDir, version, commit, "")
}

// BuildBinariesFor is BuildBinaries for linux/arch; an empty arch is
// $GOARCH, else the running architecture. The commands take the
// architecture as a flag: `GOARCH=arm64 go run` would build the command
// itself for arm64.
func BuildBinariesFor(ctx context.Context, moduleDir, outDir, version, commit, arch string) (Config, error) {
	if arch == "" {
		arch = os.Getenv("GOARCH")
	}
	if arch == "" {
		arch = runtime.GOARCH
	}
	c := Config{
		Chaosnight: filepath.Join(outDir, "chaosnight"),
		Stress:     filepath.Join(outDir, "chaosnight-stress"),
		Version:    version,
		Commit:     commit,
		Arch:       arch,
	}
	c, err := c.withDefaults()
	if err != nil {
		return c, err
	}
	builds := []struct{ pkg, out, ldflags string }{
		{"./cmd/chaosnight", c.Chaosnight, "-s -w -X main.version=" + c.Version + " -X main.commit=" + c.Commit},
		{"./cmd/chaosnight-stress", c.Stress, "-s -w"},
	}
	for _, b := range builds {
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", b.ldflags, "-o", b.out, b.pkg)
		cmd.Dir = moduleDir
		// GOWORK=off: a go.work around the checkout must not change what
		// the image holds.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			return c, &BuildError{Package: b.pkg, Output: string(out), Err: err}
		}
	}
	return c, nil
}
