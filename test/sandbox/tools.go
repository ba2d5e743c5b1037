package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Versions are the component versions the sandbox runs. They must match the
// pins in hack/tools (a unit test checks that), because the cache key below
// is derived from them.
type Versions struct {
	Kubernetes string // kube-apiserver, kube-controller-manager, kube-scheduler
	Etcd       string
	Kwok       string
}

// DefaultVersions are the versions pinned by hack/tools/go.mod,
// hack/tools/etcd/go.mod and hack/tools/kwok/go.mod.
func DefaultVersions() Versions {
	return Versions{Kubernetes: "1.36.3", Etcd: "3.6.6", Kwok: "0.8.0"}
}

// Key names the cache directory of one set of binaries. The Go minor version
// is part of it so that a toolchain upgrade rebuilds, but a patch release does not.
func (v Versions) Key() string {
	return fmt.Sprintf("k8s-%s_etcd-%s_kwok-%s_%s", v.Kubernetes, v.Etcd, v.Kwok, goMinor(runtime.Version()))
}

// goMinor turns "go1.26.8" into "go1.26"; anything else (devel builds) is kept whole.
func goMinor(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 2 || !strings.HasPrefix(v, "go") {
		return strings.ReplaceAll(v, " ", "_")
	}
	return parts[0] + "." + parts[1]
}

// Binary names, as found in the tools directory.
const (
	binEtcd       = "etcd"
	binAPIServer  = "kube-apiserver"
	binController = "kube-controller-manager"
	binScheduler  = "kube-scheduler"
	binKwok       = "kwok"
	// kwokStagesFile is generated next to the binaries from the kwok module's
	// kustomize/stage files (see BuildTools).
	kwokStagesFile = "kwok-stages.yaml"
	// stampFile records what was built, so a half-written directory is never
	// mistaken for a complete one.
	stampFile = "VERSIONS"
)

// Environment variables understood by the sandbox.
const (
	// EnvBinDir points at a directory holding the five binaries and
	// kwok-stages.yaml, bypassing the cache.
	EnvBinDir = "CHAOSNIGHT_SANDBOX_BIN"
	// EnvPrometheus names the prometheus binary (default: "prometheus" on PATH).
	EnvPrometheus = "CHAOSNIGHT_PROMETHEUS_BIN"
	// EnvSandbox=off makes RunTests skip the integration tests on purpose
	// (make unit), even in CI.
	EnvSandbox = "CHAOSNIGHT_SANDBOX"
	// EnvKeep=1 keeps the sandbox directory (logs, data) after Stop.
	EnvKeep = "CHAOSNIGHT_SANDBOX_KEEP"
)

func allBinaries() []string {
	return []string{binEtcd, binAPIServer, binController, binScheduler, binKwok}
}

// DefaultToolsDir is where BuildTools puts the binaries and where Start looks
// for them: $CHAOSNIGHT_SANDBOX_BIN if set, else
// <user cache dir>/chaosnight/sandbox/<key>/bin (the user cache dir honours
// $XDG_CACHE_HOME). It lives outside the work tree so a fresh clone reuses it.
func DefaultToolsDir(v Versions) (string, error) {
	if d := os.Getenv(EnvBinDir); d != "" {
		return d, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("locate the user cache directory (set %s or XDG_CACHE_HOME): %w", EnvBinDir, err)
	}
	return filepath.Join(cache, "chaosnight", "sandbox", v.Key(), "bin"), nil
}

// checkTools reports, in words a person can act on, what is missing from dir.
func checkTools(dir string, v Versions) error {
	var missing []string
	for _, b := range append(allBinaries(), kwokStagesFile) {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
			missing = append(missing, b)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("sandbox binaries missing in %s (%s): run `make sandbox-tools` (or `bash hack/sandbox-tools.sh`), "+
		"which builds Kubernetes %s, etcd %s and kwok %s from the Go module proxy into that cache "+
		"(about 9 minutes on 2 cores the first time), or set %s to a directory that holds them",
		dir, strings.Join(missing, ", "), v.Kubernetes, v.Etcd, v.Kwok, EnvBinDir)
}

// BuildConfig says where the pinned tools modules are and where to put the binaries.
type BuildConfig struct {
	// ToolsModule is the directory of hack/tools (the Kubernetes module;
	// etcd/ and kwok/ below it are their own modules).
	ToolsModule string
	// Dest is the output directory; DefaultToolsDir when empty.
	Dest string
	// Go is the go command; "go" when empty.
	Go string
	// Log receives progress lines; the build is slow, so it is never silent.
	Log io.Writer
	// Heartbeat is how often a "still building" line is printed (default 30s).
	Heartbeat time.Duration
	// Versions default to DefaultVersions.
	Versions Versions
}

type buildStep struct {
	name    string // output binary name
	module  string // directory of the module to build in
	pkg     string
	ldflags string
	tags    string // build tags, space separated
	noCgo   bool   // CGO_ENABLED=0
}

// BuildTools builds the sandbox binaries into the cache unless they are
// already there. It is idempotent, takes a file lock so two builders do not
// race, and builds into a sibling directory that is renamed into place only
// when complete.
func BuildTools(ctx context.Context, cfg BuildConfig) (string, error) {
	if cfg.Versions == (Versions{}) {
		cfg.Versions = DefaultVersions()
	}
	cfg.defaults()
	v := cfg.Versions
	dest := cfg.Dest
	if dest == "" {
		d, err := DefaultToolsDir(v)
		if err != nil {
			return "", err
		}
		dest = d
	}
	complete := func() bool { return checkTools(dest, v) == nil && stampMatches(dest, v) }
	if !complete() {
		if _, err := os.Stat(filepath.Join(cfg.ToolsModule, "go.mod")); err != nil {
			return "", fmt.Errorf("tools module not found at %q (run from the repository root): %w", cfg.ToolsModule, err)
		}
	}
	kmod, err := filepath.Abs(cfg.ToolsModule)
	if err != nil {
		return "", fmt.Errorf("resolve tools module path: %w", err)
	}
	err = cachedBuild(dest, "control plane", cfg.Log, complete, stamp(v), func(partial string) error {
		kld := kubeLdflags(v.Kubernetes)
		steps := []buildStep{
			{name: binEtcd, module: filepath.Join(kmod, "etcd"), pkg: "go.etcd.io/etcd/server/v3", ldflags: "-s -w"},
			{name: binKwok, module: filepath.Join(kmod, "kwok"), pkg: "sigs.k8s.io/kwok/cmd/kwok", ldflags: "-s -w"},
			{name: binAPIServer, module: kmod, pkg: "k8s.io/kubernetes/cmd/kube-apiserver", ldflags: "-s -w " + strings.Join(kld, " ")},
			{name: binController, module: kmod, pkg: "k8s.io/kubernetes/cmd/kube-controller-manager", ldflags: "-s -w " + strings.Join(kld, " ")},
			{name: binScheduler, module: kmod, pkg: "k8s.io/kubernetes/cmd/kube-scheduler", ldflags: "-s -w " + strings.Join(kld, " ")},
		}
		fmt.Fprintf(cfg.Log, "sandbox tools: building Kubernetes %s, etcd %s, kwok %s into %s\n", v.Kubernetes, v.Etcd, v.Kwok, dest)
		fmt.Fprintf(cfg.Log, "sandbox tools: the first build takes about 9 minutes on 2 cores; later ones reuse the Go build cache\n")
		if err := runBuildSteps(ctx, cfg.Go, cfg.Log, cfg.Heartbeat, partial, steps, len(steps)); err != nil {
			return err
		}
		fmt.Fprintf(cfg.Log, "sandbox tools: generating %s from the kwok module\n", kwokStagesFile)
		return writeKwokStages(ctx, cfg.Go, filepath.Join(kmod, "kwok"), v.Kwok, filepath.Join(partial, kwokStagesFile))
	})
	if err != nil {
		return "", err
	}
	return dest, nil
}

// kubeLdflags stamps the version information the Kubernetes build scripts
// would; without it /version reports v0.0.0-master.
func kubeLdflags(version string) []string {
	var kld []string
	for _, p := range []string{"k8s.io/client-go/pkg/version", "k8s.io/component-base/version"} {
		kld = append(kld,
			"-X", p+".gitVersion=v"+version,
			"-X", p+".gitMajor="+strings.Split(version, ".")[0],
			"-X", p+".gitMinor="+strings.Split(version, ".")[1],
			"-X", p+".gitTreeState=clean")
	}
	return kld
}

// runBuildSteps builds each step into partial, skipping binaries an
// interrupted run already finished; total numbers the progress lines.
func runBuildSteps(ctx context.Context, goCmd string, log io.Writer, heartbeat time.Duration, partial string, steps []buildStep, total int) error {
	for i, st := range steps {
		if fi, err := os.Stat(filepath.Join(partial, st.name)); err == nil && !fi.IsDir() {
			fmt.Fprintf(log, "sandbox tools: [%d/%d] %s already built by an interrupted run\n", i+1, total, st.name)
			continue
		}
		fmt.Fprintf(log, "sandbox tools: [%d/%d] building %s (%s)\n", i+1, total, st.name, st.pkg)
		start := time.Now()
		out := filepath.Join(partial, st.name)
		args := []string{"build", "-trimpath", "-ldflags", st.ldflags}
		if st.tags != "" {
			args = append(args, "-tags", st.tags)
		}
		cmd := exec.CommandContext(ctx, goCmd, append(args, "-o", out+".tmp", st.pkg)...)
		cmd.Dir = st.module
		// Never let a go.work or GOFLAGS of the caller change the pinned set.
		cmd.Env = append(os.Environ(), "GOWORK=off", "GOTOOLCHAIN=local",
			"GOFLAGS="+strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=readonly -buildvcs=false"))
		if st.noCgo {
			cmd.Env = append(cmd.Env, "CGO_ENABLED=0")
		}
		cmd.Stdout = log
		cmd.Stderr = log
		if err := runWithHeartbeat(cmd, log, st.name, heartbeat); err != nil {
			return fmt.Errorf("build %s: %w", st.name, err)
		}
		if err := os.Rename(out+".tmp", out); err != nil {
			return fmt.Errorf("install %s: %w", st.name, err)
		}
		fmt.Fprintf(log, "sandbox tools: [%d/%d] %s built in %s\n", i+1, total, st.name, time.Since(start).Round(time.Second))
	}
	return nil
}

func stamp(v Versions) string {
	return fmt.Sprintf("kubernetes=%s\netcd=%s\nkwok=%s\n", v.Kubernetes, v.Etcd, v.Kwok)
}

// stampMatches is true for a directory BuildTools completed for v, and for a
// user-provided directory (CHAOSNIGHT_SANDBOX_BIN) that has no stamp at all.
func stampMatches(dir string, v Versions) bool {
	b, err := os.ReadFile(filepath.Join(dir, stampFile))
	if errors.Is(err, os.ErrNotExist) {
		return os.Getenv(EnvBinDir) != ""
	}
	return err == nil && string(b) == stamp(v)
}

// runWithHeartbeat runs cmd and prints a line every interval, so a long
// compile is never mistaken for a hang.
func runWithHeartbeat(cmd *exec.Cmd, log io.Writer, what string, every time.Duration) error {
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", strings.Join(cmd.Args, " "), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	start := time.Now()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-t.C:
			fmt.Fprintf(log, "sandbox tools:       still building %s (%s elapsed)\n", what, time.Since(start).Round(time.Second))
		}
	}
}

// kwokStageDirs are the stage sets DESIGN.md found to work: nodes become Ready
// at once and keep a lease (without leases the node-lifecycle controller
// flips the zone into PartialDisruption and marks pods not ready), pods
// become Running/Ready at once and go away at once when deleted.
func kwokStageDirs() []string {
	return []string{
		"kustomize/stage/node/fast",
		"kustomize/stage/node/heartbeat-with-lease",
		"kustomize/stage/pod/fast",
	}
}

// writeKwokStages concatenates the stage YAML of the pinned kwok module.
func writeKwokStages(ctx context.Context, goCmd, kwokModule, version, out string) error {
	cmd := exec.CommandContext(ctx, goCmd, "mod", "download", "-json", "sigs.k8s.io/kwok")
	cmd.Dir = kwokModule
	cmd.Env = append(os.Environ(), "GOWORK=off")
	b, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("locate the kwok %s module: %w", version, err)
	}
	dir := ""
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, `"Dir":`) {
			dir = strings.Trim(strings.TrimSuffix(strings.TrimPrefix(line, `"Dir":`), ","), ` "`)
		}
	}
	if dir == "" {
		return fmt.Errorf("locate the kwok %s module: no Dir in `go mod download -json` output", version)
	}
	var buf strings.Builder
	fmt.Fprintf(&buf, "# Generated by chaosnight's sandbox tools from sigs.k8s.io/kwok@v%s:\n# %s\n", version, strings.Join(kwokStageDirs(), ", "))
	for _, d := range kwokStageDirs() {
		files, err := filepath.Glob(filepath.Join(dir, d, "*.yaml"))
		if err != nil {
			return fmt.Errorf("list %s: %w", d, err)
		}
		n := 0
		for _, f := range files {
			if filepath.Base(f) == "kustomization.yaml" {
				continue
			}
			c, err := os.ReadFile(f)
			if err != nil {
				return fmt.Errorf("read kwok stage: %w", err)
			}
			fmt.Fprintf(&buf, "---\n# %s/%s\n%s\n", d, filepath.Base(f), strings.TrimSpace(string(c)))
			n++
		}
		if n == 0 {
			return fmt.Errorf("no stage files in %s of kwok %s", d, version)
		}
	}
	if err := os.WriteFile(out, []byte(buf.String()), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	return nil
}

// lockFile takes an exclusive advisory lock, waiting for other holders.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}

// FindRepoRoot walks up from dir to the directory holding hack/tools/go.mod,
// so the tools build works from any package directory (go test runs there).
func FindRepoRoot(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", dir, err)
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "hack", "tools", "go.mod")); err == nil {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no hack/tools/go.mod above %s", dir)
		}
		d = parent
	}
}

// cachedBuild is the shape every tools build shares: nothing to do when
// complete() says dest is done; otherwise, under dest's lock (checked
// again there: another builder may have finished meanwhile), build fills
// dest+".partial", which is renamed into place only when build and the
// stamp succeeded, so a half-written directory is never taken for a
// complete one. what names the build in the log ("real node", ...).
func cachedBuild(dest, what string, log io.Writer, complete func() bool, stamp string, build func(partial string) error) error {
	if complete() {
		fmt.Fprintf(log, "sandbox tools: %s cached in %s\n", what, dest)
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return fmt.Errorf("create cache directory: %w", err)
	}
	unlock, err := lockFile(dest + ".lock")
	if err != nil {
		return err
	}
	defer unlock()
	if complete() {
		fmt.Fprintf(log, "sandbox tools: %s cached in %s\n", what, dest)
		return nil
	}
	partial := dest + ".partial"
	if err := os.MkdirAll(partial, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", partial, err)
	}
	start := time.Now()
	if err := build(partial); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(partial, stampFile), []byte(stamp), 0o644); err != nil {
		return fmt.Errorf("write stamp: %w", err)
	}
	if err := os.RemoveAll(dest); err != nil {
		return fmt.Errorf("replace %s: %w", dest, err)
	}
	if err := os.Rename(partial, dest); err != nil {
		return fmt.Errorf("move %s into place: %w", partial, err)
	}
	fmt.Fprintf(log, "sandbox tools: %s done in %s: %s\n", what, time.Since(start).Round(time.Second), dest)
	return nil
}

// defaults fills what every tools build shares.
func (c *BuildConfig) defaults() {
	if c.Go == "" {
		c.Go = "go"
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 30 * time.Second
	}
}
