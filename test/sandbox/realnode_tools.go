package sandbox

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// RealNodeVersions are the versions of the real node's binaries (see
// Config.RealNode). Kubernetes matches hack/tools/go.mod (the kubelet),
// Containerd hack/tools/containerd/go.mod; Runc and CNIPlugins are Debian
// package versions, fetched with `apt-get download` and unpacked in the cache
// (nothing is installed on the host).
type RealNodeVersions struct {
	Kubernetes string
	Containerd string
	Runc       string
	CNIPlugins string
}

// DefaultRealNodeVersions are the pinned real-node versions. When Debian
// replaces a package version (a security update), BuildRealNodeTools says
// so and the pin here moves with it.
func DefaultRealNodeVersions() RealNodeVersions {
	return RealNodeVersions{
		Kubernetes: DefaultVersions().Kubernetes,
		Containerd: "2.4.2",
		Runc:       "1.1.5+ds1-1+deb12u1",
		CNIPlugins: "1.1.1+ds1-3+b5",
	}
}

// Key names the cache directory of the real-node binaries. It differs from
// Versions.Key on purpose: the control plane's cache entry is never rebuilt
// or invalidated by the real node's.
func (v RealNodeVersions) Key() string {
	return fmt.Sprintf("realnode_k8s-%s_containerd-%s_runc-%s_cni-%s_%s",
		v.Kubernetes, v.Containerd, v.Runc, v.CNIPlugins, goMinor(runtime.Version()))
}

func (v RealNodeVersions) stamp() string {
	return fmt.Sprintf("kubelet=%s\ncontainerd=%s\nrunc=%s\ncni-plugins=%s\n", v.Kubernetes, v.Containerd, v.Runc, v.CNIPlugins)
}

// Real-node binary names, as found in the real-node tools directory.
const (
	binKubelet    = "kubelet"
	binContainerd = "containerd"
	binShim       = "containerd-shim-runc-v2"
	binCtr        = "ctr"
	binRunc       = "runc"
	// cniDir holds the CNI plugins the node's network uses.
	cniDir = "cni"
)

// EnvRealNodeBinDir points at a directory holding the real node's binaries
// (kubelet, containerd, containerd-shim-runc-v2, ctr, runc, cni/), bypassing
// the cache.
const EnvRealNodeBinDir = "CHAOSNIGHT_SANDBOX_REALNODE_BIN"

func realNodeFiles() []string {
	return []string{binKubelet, binContainerd, binShim, binCtr, binRunc,
		filepath.Join(cniDir, "bridge"), filepath.Join(cniDir, "host-local"), filepath.Join(cniDir, "loopback")}
}

// DefaultRealNodeToolsDir is $CHAOSNIGHT_SANDBOX_REALNODE_BIN if set, else
// <user cache dir>/chaosnight/sandbox/<RealNodeVersions.Key>/bin.
func DefaultRealNodeToolsDir(v RealNodeVersions) (string, error) {
	if d := os.Getenv(EnvRealNodeBinDir); d != "" {
		return d, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("locate the user cache directory (set %s or XDG_CACHE_HOME): %w", EnvRealNodeBinDir, err)
	}
	return filepath.Join(cache, "chaosnight", "sandbox", v.Key(), "bin"), nil
}

// checkRealNodeTools reports what is missing from dir and how to get it.
func checkRealNodeTools(dir string, v RealNodeVersions) error {
	var missing []string
	for _, b := range realNodeFiles() {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
			missing = append(missing, b)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("real-node binaries missing in %s (%s): run `go run ./test/sandbox/cmd/sandbox tools -realnode` "+
		"(or `bash hack/sandbox-tools.sh -realnode`), which builds the kubelet %s and containerd %s from the Go module proxy "+
		"and unpacks Debian's runc %s and containernetworking-plugins %s into that cache, or set %s to a directory that holds them",
		dir, strings.Join(missing, ", "), v.Kubernetes, v.Containerd, v.Runc, v.CNIPlugins, EnvRealNodeBinDir)
}

func realNodeStampMatches(dir string, v RealNodeVersions) bool {
	b, err := os.ReadFile(filepath.Join(dir, stampFile))
	if os.IsNotExist(err) {
		return os.Getenv(EnvRealNodeBinDir) != ""
	}
	return err == nil && string(b) == v.stamp()
}

// RealNodeBuildConfig says where the pinned modules are and where the
// real-node binaries go.
type RealNodeBuildConfig struct {
	// ToolsModule is hack/tools (the kubelet); hack/tools/containerd is
	// containerd's own module.
	ToolsModule string
	// Dest is the output directory; DefaultRealNodeToolsDir when empty.
	Dest string
	// Go is the go command ("go" when empty); AptGet and DpkgDeb the Debian
	// tools ("apt-get", "dpkg-deb").
	Go, AptGet, DpkgDeb string
	// Log receives the same progress lines as BuildTools.
	Log io.Writer
	// Heartbeat is how often a "still building" line is printed (default 30s).
	Heartbeat time.Duration
	// Versions default to DefaultRealNodeVersions.
	Versions RealNodeVersions
}

// BuildRealNodeTools builds the kubelet and containerd and unpacks runc and
// the CNI plugins into the cache, unless they are already there. Like
// BuildTools it is idempotent, locked and renamed into place when complete.
func BuildRealNodeTools(ctx context.Context, cfg RealNodeBuildConfig) (string, error) {
	if cfg.Versions == (RealNodeVersions{}) {
		cfg.Versions = DefaultRealNodeVersions()
	}
	if cfg.Go == "" {
		cfg.Go = "go"
	}
	if cfg.AptGet == "" {
		cfg.AptGet = "apt-get"
	}
	if cfg.DpkgDeb == "" {
		cfg.DpkgDeb = "dpkg-deb"
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 30 * time.Second
	}
	v := cfg.Versions
	dest := cfg.Dest
	if dest == "" {
		d, err := DefaultRealNodeToolsDir(v)
		if err != nil {
			return "", err
		}
		dest = d
	}
	complete := func() bool { return checkRealNodeTools(dest, v) == nil && realNodeStampMatches(dest, v) }
	if !complete() {
		if _, err := os.Stat(filepath.Join(cfg.ToolsModule, "containerd", "go.mod")); err != nil {
			return "", fmt.Errorf("containerd tools module not found under %q (run from the repository root): %w", cfg.ToolsModule, err)
		}
	}
	kmod, err := filepath.Abs(cfg.ToolsModule)
	if err != nil {
		return "", fmt.Errorf("resolve tools module path: %w", err)
	}
	err = cachedBuild(dest, "real node", cfg.Log, complete, v.stamp(), func(partial string) error {
		if err := os.MkdirAll(filepath.Join(partial, cniDir), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", partial, err)
		}
		cmod := filepath.Join(kmod, "containerd")
		// containerd without cgo: the storage drivers that need it are left out,
		// overlayfs and native stay.
		ctags := "no_btrfs no_devmapper no_zfs no_aufs"
		steps := []buildStep{
			{name: binKubelet, module: kmod, pkg: "k8s.io/kubernetes/cmd/kubelet", ldflags: "-s -w " + strings.Join(kubeLdflags(v.Kubernetes), " ")},
			{name: binContainerd, module: cmod, pkg: "github.com/containerd/containerd/v2/cmd/containerd", ldflags: "-s -w", tags: ctags, noCgo: true},
			{name: binShim, module: cmod, pkg: "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2", ldflags: "-s -w", tags: ctags, noCgo: true},
			{name: binCtr, module: cmod, pkg: "github.com/containerd/containerd/v2/cmd/ctr", ldflags: "-s -w", tags: ctags, noCgo: true},
		}
		fmt.Fprintf(cfg.Log, "sandbox tools: building the real node (kubelet %s, containerd %s; Debian runc %s, CNI plugins %s) into %s\n",
			v.Kubernetes, v.Containerd, v.Runc, v.CNIPlugins, dest)
		n := len(steps) + 1
		if err := runBuildSteps(ctx, cfg.Go, cfg.Log, cfg.Heartbeat, partial, steps, n); err != nil {
			return err
		}
		fmt.Fprintf(cfg.Log, "sandbox tools: [%d/%d] fetching Debian's runc %s and containernetworking-plugins %s (apt-get download, dpkg-deb -x: nothing is installed)\n",
			n, n, v.Runc, v.CNIPlugins)
		return unpackDebs(ctx, cfg, partial)
	})
	if err != nil {
		return "", err
	}
	return dest, nil
}

// unpackDebs downloads the pinned runc and CNI plugin packages and copies
// the few files the node needs out of them.
func unpackDebs(ctx context.Context, cfg RealNodeBuildConfig, partial string) error {
	v := cfg.Versions
	work := filepath.Join(partial, "debs")
	if err := os.RemoveAll(work); err != nil {
		return fmt.Errorf("clean %s: %w", work, err)
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", work, err)
	}
	// apt runs the download as _apt where it can; a root-owned directory
	// only costs a warning.
	dl := exec.CommandContext(ctx, cfg.AptGet, "download", "runc="+v.Runc, "containernetworking-plugins="+v.CNIPlugins)
	dl.Dir = work
	if out, err := dl.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get download runc=%s containernetworking-plugins=%s: %w\n%s\n"+
			"(if Debian no longer offers these versions, `apt-cache policy runc containernetworking-plugins` shows the current ones: "+
			"update DefaultRealNodeVersions in test/sandbox/realnode_tools.go)", v.Runc, v.CNIPlugins, err, strings.TrimSpace(string(out)))
	}
	debs, err := filepath.Glob(filepath.Join(work, "*.deb"))
	if err != nil || len(debs) != 2 {
		return fmt.Errorf("apt-get download left %d packages in %s, want 2", len(debs), work)
	}
	root := filepath.Join(work, "root")
	for _, d := range debs {
		if out, err := exec.CommandContext(ctx, cfg.DpkgDeb, "-x", d, root).CombinedOutput(); err != nil {
			return fmt.Errorf("dpkg-deb -x %s: %w\n%s", d, err, out)
		}
	}
	copies := map[string]string{
		"usr/sbin/runc":          binRunc,
		"usr/lib/cni/bridge":     filepath.Join(cniDir, "bridge"),
		"usr/lib/cni/host-local": filepath.Join(cniDir, "host-local"),
		"usr/lib/cni/loopback":   filepath.Join(cniDir, "loopback"),
	}
	for from, to := range copies {
		b, err := os.ReadFile(filepath.Join(root, from))
		if err != nil {
			return fmt.Errorf("unpacked package lacks %s: %w", from, err)
		}
		if err := os.WriteFile(filepath.Join(partial, to), b, 0o755); err != nil {
			return fmt.Errorf("write %s: %w", to, err)
		}
	}
	return os.RemoveAll(work)
}
