package sandbox

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// ImportImage writes an image holding files (image path -> host path) and
// imports it into the real node's containerd under name, so pods can run
// it with imagePullPolicy Never. It is for images the sandbox does not
// build itself, such as a host tool with the shared libraries it needs
// (HostBinaryFiles lists them; bench/realnode runs Debian's stress-ng this
// way). Host paths are read through symlinks: the image holds plain
// files only. name needs a registry part with a dot (as PauseImage), or
// the CRI rewrites it to docker.io. Without a real node it returns a *RealNodeUnavailableError.
func (s *Sandbox) ImportImage(ctx context.Context, name string, files map[string]string, entrypoint []string) error {
	if s.node == nil {
		return &RealNodeUnavailableError{Reason: "ImportImage needs a sandbox started with Config.RealNode"}
	}
	if !strings.Contains(name, ":") || !strings.Contains(strings.SplitN(name, "/", 2)[0], ".") {
		return fmt.Errorf("image name %q: want registry.with.dot/name:tag", name)
	}
	layer, err := hostImageFiles(files)
	if err != nil {
		return fmt.Errorf("image %s: %w", name, err)
	}
	dir := filepath.Join(s.node.dir, "images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("image %s: %w", name, err)
	}
	archive := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(name)+".oci.tar")
	if err := writeImageArchive(archive, name, layer, entrypoint); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(s.node.tools, binCtr), "--address", s.node.sock(), "--namespace", "k8s.io", "images", "import", archive)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ctr images import %s: %w\n%s", archive, err, out)
	}
	return nil
}

// ImportImageArchive imports an OCI image archive (an image layout tar,
// such as hack/image writes: the runner's image as users get it) into the
// real node's containerd, in the namespace the kubelet uses; ctr names the
// image by its io.containerd.image.name annotation. Without a real node it
// returns a *RealNodeUnavailableError.
func (s *Sandbox) ImportImageArchive(ctx context.Context, archive string) error {
	if s.node == nil {
		return &RealNodeUnavailableError{Reason: "ImportImageArchive needs a sandbox started with Config.RealNode"}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(s.node.tools, binCtr), "--address", s.node.sock(), "--namespace", "k8s.io", "images", "import", archive)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ctr images import %s: %w\n%s", archive, err, out)
	}
	return nil
}

// hostImageFiles reads the host files of an image, in image path order
// (so the same files give the same layer digest), with the host files'
// permission bits. Image paths are absolute or relative to the image's
// root; one that leaves the root is refused.
func hostImageFiles(files map[string]string) ([]imageFile, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("no files")
	}
	type entry struct{ image, asGiven string }
	entries := make([]entry, 0, len(files))
	seen := map[string]string{}
	for p := range files {
		clean := strings.TrimPrefix(path.Clean("/"+p), "/")
		if clean == "" || strings.HasPrefix(p, "..") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
			return nil, fmt.Errorf("image path %q is not a file inside the image", p)
		}
		if other, dup := seen[clean]; dup {
			return nil, fmt.Errorf("image paths %q and %q are the same file", min(other, p), max(other, p))
		}
		seen[clean] = p
		entries = append(entries, entry{clean, p})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.image, b.image) })
	out := make([]imageFile, 0, len(entries))
	for _, e := range entries {
		p, clean := e.asGiven, e.image
		host := files[p]
		info, err := os.Stat(host)
		if err != nil {
			return nil, fmt.Errorf("image path %s: %w", p, err)
		}
		if !info.Mode().IsRegular() {
			return nil, fmt.Errorf("image path %s: %s is not a regular file", p, host)
		}
		data, err := os.ReadFile(host)
		if err != nil {
			return nil, fmt.Errorf("image path %s: %w", p, err)
		}
		out = append(out, imageFile{path: clean, data: data, mode: int64(info.Mode().Perm())})
	}
	return out, nil
}

// HostBinaryFiles is what ImportImage needs to run a dynamically linked
// host binary: the binary at its path (symlinks resolved) plus every
// shared library ldd resolves and the dynamic loader, each at the path ldd
// prints, so that the loader's search path inside the image is the host's.
func HostBinaryFiles(ctx context.Context, bin string) (map[string]string, error) {
	real, err := filepath.EvalSymlinks(bin)
	if err != nil {
		return nil, fmt.Errorf("host binary %s: %w", bin, err)
	}
	out, err := exec.CommandContext(ctx, "ldd", real).Output()
	// ldd fails on a static binary ("not a dynamic executable"), which
	// needs no libraries.
	var libs []string
	if err == nil {
		if libs, err = parseLdd(string(out)); err != nil {
			return nil, fmt.Errorf("ldd %s: %w", real, err)
		}
	}
	files := map[string]string{real: real}
	for _, l := range libs {
		files[l] = l
	}
	return files, nil
}

// parseLdd returns the absolute paths in ldd's output: "name => /path
// (addr)" for a library, "/path (addr)" for the loader. The vDSO has no
// file; a library that is "not found" is an error, since the binary could
// not start without it.
func parseLdd(out string) ([]string, error) {
	var paths []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if name, rest, ok := strings.Cut(line, "=>"); ok {
			rest = strings.TrimSpace(rest)
			if strings.HasPrefix(rest, "not found") {
				return nil, fmt.Errorf("library %s not found", strings.TrimSpace(name))
			}
			line = rest
		}
		if p, _, _ := strings.Cut(line, " "); filepath.IsAbs(p) {
			paths = append(paths, p)
		}
	}
	return paths, sc.Err()
}
