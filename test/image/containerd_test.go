package image_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/test/sandbox"
)

// ctrImport imports the archive with the real node's own containerd and
// ctr (the sandbox's cached binaries, never built here) into a private
// containerd: its own root, state and socket in a temporary directory, the
// native snapshotter (plain directories, no mounts), no CRI. This is the
// command the real node and INSTALL.md use; the daemon is this test's
// child and is stopped by it.
func ctrImport(t *testing.T, ctx context.Context, archive, name, version string) {
	t.Helper()
	bin, ok := containerdBinaries(t)
	if !ok {
		return
	}
	dir, err := os.MkdirTemp("", "cn-ctr-") // short: a unix socket path is at most 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "containerd.sock")
	config := fmt.Sprintf(`version = 3
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images", "io.containerd.cri.v1.runtime",
  "io.containerd.snapshotter.v1.overlayfs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.erofs"]
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), sock, filepath.Join(dir, "ttrpc.sock"), filepath.Join(dir, "opt"))
	if err := os.WriteFile(filepath.Join(dir, "config.toml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	daemon := exec.Command(filepath.Join(bin, "containerd"), "--config", filepath.Join(dir, "config.toml"))
	daemon.Stdout, daemon.Stderr = &log, &log
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = daemon.Process.Signal(syscall.SIGTERM)
		_ = daemon.Wait()
	}()
	// ctr's standard output; its standard error (warnings such as the
	// cgroup v1 deprecation) goes into errors only.
	ctr := func(args ...string) (string, error) {
		all := append([]string{"--address", sock, "-n", "k8s.io"}, args...)
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "ctr"), all...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			err = fmt.Errorf("%w: %s", err, stderr.String())
		}
		return string(out), err
	}
	// Wait for the socket (containerd boots in milliseconds; the bound is
	// for a busy machine).
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, err := ctr("version"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("containerd did not answer:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// --local: the transfer service needs the overlayfs snapshotter,
	// disabled here; the import itself is the same code.
	if out, err := ctr("images", "import", "--local", "--snapshotter", "native", archive); err != nil {
		t.Fatalf("ctr images import: %v\n%s\n%s", err, out, log.String())
	}
	out, err := ctr("images", "ls", "-q")
	if err != nil || strings.TrimSpace(out) != name {
		t.Fatalf("ctr images ls: %q (%v), want %s", out, err, name)
	}
	// The unpacked root filesystem: the nonroot home is 65532's, the
	// entrypoint runs.
	snaps, _ := filepath.Glob(filepath.Join(dir, "root", "io.containerd.snapshotter.v1.native", "snapshots", "*"))
	if len(snaps) != 1 {
		t.Fatalf("%d unpacked snapshots, want 1", len(snaps))
	}
	fi, err := os.Stat(filepath.Join(snaps[0], "home", "nonroot"))
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !ok || st.Uid != 65532 || st.Gid != 65532 {
		t.Errorf("/home/nonroot unpacked with owner %v", fi.Sys())
	}
	// The symlinks are absolute: they resolve inside the container only.
	if l, err := os.Readlink(filepath.Join(snaps[0], "usr", "local", "bin", "chaosnight")); err != nil || l != "/chaosnight" {
		t.Errorf("/usr/local/bin/chaosnight links to %q (%v)", l, err)
	}
	v, err := exec.CommandContext(ctx, filepath.Join(snaps[0], "chaosnight"), "version").CombinedOutput()
	if err != nil || !strings.Contains(string(v), version) {
		t.Errorf("/chaosnight version: %q (%v)", v, err)
	}
}

// containerdBinaries is the directory of the sandbox's cached containerd
// and ctr. Without them or without root the check is skipped, except under
// make test (CHAOSNIGHT_SANDBOX=require), where it fails.
func containerdBinaries(t *testing.T) (string, bool) {
	t.Helper()
	mode := os.Getenv("CHAOSNIGHT_SANDBOX")
	if mode == "off" {
		t.Skip("CHAOSNIGHT_SANDBOX=off")
	}
	skip := func(reason string) (string, bool) {
		if mode == "require" {
			t.Fatalf("%s (CHAOSNIGHT_SANDBOX=require)", reason)
		}
		t.Skip(reason)
		return "", false
	}
	if os.Geteuid() != 0 {
		return skip("containerd needs root")
	}
	dir, err := sandbox.DefaultRealNodeToolsDir(sandbox.DefaultRealNodeVersions())
	if err != nil {
		return skip(err.Error())
	}
	for _, b := range []string{"containerd", "ctr"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			return skip(fmt.Sprintf("no %s in %s: `go run ./test/sandbox/cmd/sandbox tools -realnode` builds it", b, dir))
		}
	}
	return dir, true
}
