package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// hostImageFiles reads host files through symlinks into a layer in image
// path order, keeping the permission bits, and refuses paths that leave
// the image, collide, or name no regular file.
func TestHostImageFiles(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "tool")
	lib := filepath.Join(dir, "libx.so.1.2")
	if err := os.WriteFile(bin, []byte("ELF tool"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lib, []byte("ELF lib"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Debian's libraries are symlinks to versioned files, as ldd lists them.
	link := filepath.Join(dir, "libx.so.1")
	if err := os.Symlink(lib, link); err != nil {
		t.Fatal(err)
	}

	got, err := hostImageFiles(map[string]string{"/usr/bin/tool": bin, "lib/x86_64-linux-gnu/libx.so.1": link})
	if err != nil {
		t.Fatal(err)
	}
	want := []imageFile{
		{path: "lib/x86_64-linux-gnu/libx.so.1", data: []byte("ELF lib"), mode: 0o644},
		{path: "usr/bin/tool", data: []byte("ELF tool"), mode: 0o755},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d files, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i].path != want[i].path || !bytes.Equal(got[i].data, want[i].data) || got[i].mode != want[i].mode {
			t.Errorf("file %d: got {%s %q %o}, want {%s %q %o}", i, got[i].path, got[i].data, got[i].mode, want[i].path, want[i].data, want[i].mode)
		}
	}

	for _, tt := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"none", nil, "no files"},
		{"leaves the root", map[string]string{"../etc/passwd": bin}, "not a file inside the image"},
		{"leaves the root midway", map[string]string{"/a/../../b": bin}, "not a file inside the image"},
		{"the root itself", map[string]string{"/": bin}, "not a file inside the image"},
		{"same file twice", map[string]string{"/a/tool": bin, "a/tool": bin}, "are the same file"},
		{"missing host file", map[string]string{"/x": filepath.Join(dir, "missing")}, "no such file"},
		{"a directory", map[string]string{"/x": dir}, "not a regular file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := hostImageFiles(tt.files)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// The layer of an image made of host files holds them at their nested
// paths with their modes (containerd creates the missing parent
// directories when it unpacks), and the config names the entrypoint.
func TestHostImageArchiveLayer(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "tool")
	if err := os.WriteFile(bin, []byte("ELF tool"), 0o755); err != nil {
		t.Fatal(err)
	}
	files, err := hostImageFiles(map[string]string{"/usr/bin/tool": bin, "/lib64/ld.so": bin})
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "img.tar")
	if err := writeImageArchive(archive, "chaosnight.local/tool:1", files, []string{"/usr/bin/tool", "--flag"}); err != nil {
		t.Fatal(err)
	}
	blobs := readTar(t, mustOpen(t, archive))
	var index struct{ Manifests []struct{ Digest string } }
	if err := json.Unmarshal(blobs["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index %s: %v", blobs["index.json"], err)
	}
	blob := func(d string) []byte { return blobs["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")] }
	var manifest struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	if err := json.Unmarshal(blob(index.Manifests[0].Digest), &manifest); err != nil || len(manifest.Layers) != 1 {
		t.Fatalf("manifest: %v", err)
	}
	var config struct{ Config struct{ Entrypoint []string } }
	if err := json.Unmarshal(blob(manifest.Config.Digest), &config); err != nil {
		t.Fatal(err)
	}
	if strings.Join(config.Config.Entrypoint, " ") != "/usr/bin/tool --flag" {
		t.Errorf("entrypoint %q", config.Config.Entrypoint)
	}
	layer := readTar(t, io.NopCloser(bytes.NewReader(blob(manifest.Layers[0].Digest))))
	for _, p := range []string{"usr/bin/tool", "lib64/ld.so"} {
		if string(layer[p]) != "ELF tool" {
			t.Errorf("layer entry %s = %q, want the host file", p, layer[p])
		}
	}
}

// ImportImage needs the real node's containerd: without one it says so
// with the typed error, before it writes anything.
func TestImportImageWithoutRealNode(t *testing.T) {
	err := (&Sandbox{}).ImportImage(context.Background(), "chaosnight.local/x:1", map[string]string{"/x": "/bin/true"}, []string{"/x"})
	var unavailable *RealNodeUnavailableError
	if !errors.As(err, &unavailable) {
		t.Fatalf("error %v, want a *RealNodeUnavailableError", err)
	}
}

func mustOpen(t *testing.T, path string) io.ReadCloser {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// readTar returns every regular file of a tar stream by name.
func readTar(t *testing.T, r io.ReadCloser) map[string][]byte {
	t.Helper()
	defer r.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			out[h.Name] = b
		}
	}
}

// parseLdd keeps the files a binary needs: resolved libraries and the
// loader, not the vDSO; a missing library is an error.
func TestParseLdd(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    []string
		wantErr string
	}{
		{
			name: "Debian's stress-ng",
			out: "\tlinux-vdso.so.1 (0x00007ffd4b3f2000)\n" +
				"\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007fcd4fbf7000)\n" +
				"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fcd4ec1e000)\n" +
				"\t/lib64/ld-linux-x86-64.so.2 (0x00007fcd50e2b000)\n",
			want: []string{"/lib/x86_64-linux-gnu/libm.so.6", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"},
		},
		{name: "static", out: "\tnot a dynamic executable\n", want: nil},
		{name: "missing library", out: "\tlibJudy.so.1 => not found\n", wantErr: "libJudy.so.1 not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseLdd(tt.out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

// HostBinaryFiles of a dynamically linked host binary names the binary
// by its real path and the C library it needs, each mapped to itself, and
// every file is readable by hostImageFiles.
func TestHostBinaryFiles(t *testing.T) {
	if _, err := exec.LookPath("ldd"); err != nil {
		t.Skip("no ldd on this machine")
	}
	bin, err := exec.LookPath("true")
	if err != nil {
		t.Skip("no `true` on PATH")
	}
	real, err := filepath.EvalSymlinks(bin)
	if err != nil {
		t.Fatal(err)
	}
	files, err := HostBinaryFiles(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	if files[real] != real {
		t.Errorf("files %v lack the binary %s", files, real)
	}
	libc := false
	for image, host := range files {
		if image != host {
			t.Errorf("%s is mapped to %s, want itself", image, host)
		}
		libc = libc || strings.Contains(image, "libc.so")
	}
	if !libc {
		t.Errorf("files %v lack the C library", files)
	}
	if _, err := hostImageFiles(files); err != nil {
		t.Errorf("the files do not make a layer: %v", err)
	}
}
