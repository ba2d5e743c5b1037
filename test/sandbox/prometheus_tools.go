package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// The sandbox's Prometheus is built from the Go module proxy like the
// control plane, so neither the demo nor the tests need root, apt or a
// system package: hack/tools/prometheus pins it. Debian's package, or any
// binary named by EnvPrometheus or Config.Prometheus, stays usable.
const (
	// PrometheusVersion is the Prometheus release of the pinned module
	// (github.com/prometheus/prometheus v0.316.0 is Prometheus 3.16.0).
	PrometheusVersion = "3.16.0"
	// prometheusModuleVersion is its Go module version.
	prometheusModuleVersion = "v0.316.0"
	binPrometheus           = "prometheus"
	// prometheusTags leave every service discovery out but the file and
	// static ones (the sandbox writes a file_sd file itself) and the web
	// UI's embedded assets: a third of the build, and the HTTP API is all
	// the sandbox and chaosnight use.
	prometheusTags = "remove_all_sd"
)

// PrometheusKey names the cache directory of the built Prometheus.
func PrometheusKey() string {
	return fmt.Sprintf("prometheus-%s_%s", PrometheusVersion, goMinor(runtime.Version()))
}

// DefaultPrometheusDir is where BuildPrometheus puts the binary:
// <user cache dir>/chaosnight/sandbox/<PrometheusKey>/bin.
func DefaultPrometheusDir() (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("locate the user cache directory (set XDG_CACHE_HOME or %s): %w", EnvPrometheus, err)
	}
	return filepath.Join(cache, "chaosnight", "sandbox", PrometheusKey(), "bin"), nil
}

func prometheusStamp() string { return "prometheus=" + PrometheusVersion + "\n" }

// cachedPrometheus is the built binary when the cache holds a complete
// build, else "".
func cachedPrometheus() string {
	dir, err := DefaultPrometheusDir()
	if err != nil {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(dir, stampFile))
	if err != nil || string(b) != prometheusStamp() {
		return ""
	}
	bin := filepath.Join(dir, binPrometheus)
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		return ""
	}
	return bin
}

// BuildPrometheus builds Prometheus from hack/tools/prometheus into the
// cache unless it is there, with BuildTools' lock, partial directory and
// progress lines. cfg.ToolsModule is hack/tools; cfg.Dest, when set,
// replaces the cache directory.
func BuildPrometheus(ctx context.Context, cfg BuildConfig) (string, error) {
	cfg.defaults()
	dest := cfg.Dest
	if dest == "" {
		d, err := DefaultPrometheusDir()
		if err != nil {
			return "", err
		}
		dest = d
	}
	complete := func() bool {
		b, err := os.ReadFile(filepath.Join(dest, stampFile))
		_, serr := os.Stat(filepath.Join(dest, binPrometheus))
		return err == nil && serr == nil && string(b) == prometheusStamp()
	}
	mod, err := filepath.Abs(filepath.Join(cfg.ToolsModule, "prometheus"))
	if err != nil {
		return "", fmt.Errorf("resolve tools module path: %w", err)
	}
	if !complete() {
		if _, err := os.Stat(filepath.Join(mod, "go.mod")); err != nil {
			return "", fmt.Errorf("prometheus tools module not found at %q (run from the repository root): %w", mod, err)
		}
	}
	err = cachedBuild(dest, "prometheus "+PrometheusVersion, cfg.Log, complete, prometheusStamp(), func(partial string) error {
		// What `prometheus --version` prints, as the release build stamps it.
		const v = "github.com/prometheus/common/version"
		ldflags := fmt.Sprintf("-s -w -X %s.Version=%s -X %s.Branch=HEAD -X %s.Revision=%s -X %s.BuildUser=chaosnight-sandbox",
			v, PrometheusVersion, v, v, prometheusModuleVersion, v)
		fmt.Fprintf(cfg.Log, "sandbox tools: building Prometheus %s (module %s, tags %s) into %s; about 2 minutes on 2 cores the first time\n",
			PrometheusVersion, prometheusModuleVersion, prometheusTags, dest)
		steps := []buildStep{{name: binPrometheus, module: mod, pkg: "github.com/prometheus/prometheus/cmd/prometheus", ldflags: ldflags, tags: prometheusTags, noCgo: true}}
		return runBuildSteps(ctx, cfg.Go, cfg.Log, cfg.Heartbeat, partial, steps, 1)
	})
	if err != nil {
		return "", err
	}
	return dest, nil
}

// prometheusMajor runs `bin --version` and returns the major version
// (2 for Debian 12's 2.42, 3 for the built one); 0 when it cannot tell.
// Prometheus 3 removed flags that 2 needs here (the console templates).
func prometheusMajor(ctx context.Context, bin string) int {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	if err != nil {
		return 0
	}
	return parsePrometheusMajor(string(out))
}

// parsePrometheusMajor reads "prometheus, version 3.16.0 (branch: ...".
func parsePrometheusMajor(out string) int {
	const marker = "version "
	i := strings.Index(out, marker)
	if i < 0 {
		return 0
	}
	rest := out[i+len(marker):]
	if j := strings.IndexByte(rest, '.'); j > 0 {
		if n, err := strconv.Atoi(rest[:j]); err == nil {
			return n
		}
	}
	return 0
}
