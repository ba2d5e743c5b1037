package image_test

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
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/chaosnight/chaosnight/hack/image"
)

// moduleDir is the repository root, found from this file.
func moduleDir(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// archive is an image archive read back: its config and its only layer.
type archive struct {
	config  v1.Image
	headers map[string]*tar.Header
	files   map[string][]byte
}

// readArchive reads an OCI layout tar the way an importer does: index,
// manifest, config, layer, each checked against its digest.
func readArchive(t *testing.T, path, wantName string) *archive {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	_, files := untar(t, f)
	blob := func(d v1.Descriptor) []byte {
		t.Helper()
		b, ok := files["blobs/sha256/"+d.Digest.Encoded()]
		if !ok || d.Digest.Validate() != nil || d.Digest.Algorithm().FromBytes(b) != d.Digest || int64(len(b)) != d.Size {
			t.Fatalf("blob %s missing or not matching its descriptor", d.Digest)
		}
		return b
	}
	var index v1.Index
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v (%s)", err, files["index.json"])
	}
	if n := index.Manifests[0].Annotations[image.ContainerdNameAnnotation]; n != wantName {
		t.Errorf("the index names the image %q, want %q", n, wantName)
	}
	var m v1.Manifest
	if err := json.Unmarshal(blob(index.Manifests[0]), &m); err != nil || len(m.Layers) != 1 {
		t.Fatalf("manifest: %v", err)
	}
	a := &archive{}
	if err := json.Unmarshal(blob(m.Config), &a.config); err != nil {
		t.Fatal(err)
	}
	hs, lf := untar(t, bytes.NewReader(blob(m.Layers[0])))
	a.headers, a.files = map[string]*tar.Header{}, lf
	for _, h := range hs {
		a.headers[h.Name] = h
	}
	return a
}

func untar(t *testing.T, r io.Reader) ([]*tar.Header, map[string][]byte) {
	t.Helper()
	var hs []*tar.Header
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hs, files
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
		files[h.Name] = b
	}
}

// layer is the archive's layer as the Dockerfile comparison sees it.
func (a *archive) layer() map[string]layerEntry {
	out := map[string]layerEntry{}
	for name, h := range a.headers {
		out[name] = layerEntry{dir: h.Typeflag == tar.TypeDir, link: h.Linkname}
	}
	return out
}

// The image hack/image writes from binaries built as the Dockerfile builds
// them agrees with the Dockerfile's final stage, and a Dockerfile changed
// without hack/image does not. One build of both binaries (~1 min on two
// busy cores with a warm cache) serves every subtest.
func TestImageAgreesWithDockerfile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries")
	}
	const version, commit = "v0.0.0-imagetest", "0123456789abcdef"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cfg, err := image.BuildBinaries(ctx, moduleDir(t), dir, version, commit)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "chaosnight-image.oci.tar")
	if _, err := image.WriteArchive(path, cfg); err != nil {
		t.Fatal(err)
	}
	a := readArchive(t, path, "ghcr.io/chaosnight/chaosnight:"+version)
	dockerfile, err := os.ReadFile(filepath.Join(moduleDir(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("dockerfile", func(t *testing.T) {
		// Each case edits the real Dockerfile as someone might without
		// touching hack/image; want is a word the disagreement names.
		cases := []struct {
			name, old, new, want string
		}{
			{"as it is", "", "", ""},
			{"USER", "USER 65532:65532", "USER 1000:1000", "USER"},
			{"ENTRYPOINT", `ENTRYPOINT ["/chaosnight"]`, `ENTRYPOINT ["/chaosnight", "serve"]`, "ENTRYPOINT"},
			{"ENTRYPOINT in shell form", `ENTRYPOINT ["/chaosnight"]`, `ENTRYPOINT /chaosnight`, "shell form"},
			{"CMD", `CMD ["--help"]`, `CMD ["serve"]`, "CMD"},
			{"EXPOSE", `CMD ["--help"]`, "CMD [\"--help\"]\nEXPOSE 8080", "EXPOSE"},
			{"LABEL value", `image.title="chaosnight"`, `image.title="chaos"`, "LABEL"},
			{"LABEL build argument", `image.revision="${COMMIT}"`, `image.revision="${VERSION}"`, "LABEL"},
			{"ENV", "USER 65532:65532", "ENV GODEBUG=x=1\nUSER 65532:65532", "ENV"},
			{"WORKDIR", "USER 65532:65532", "WORKDIR /data\nUSER 65532:65532", "WORKDIR"},
			{"VOLUME", "USER 65532:65532", "VOLUME /data\nUSER 65532:65532", "does not reproduce"},
			{"base", "static-debian12:nonroot", "static-debian12:latest", "base"},
			{"another binary", "-o /out/rootfs/chaosnight-stress ./cmd/chaosnight-stress", "-o /out/rootfs/chaosnight-stress ./cmd/chaosnight-stress -o /out/rootfs/extra ./cmd/extra", "extra"},
			{"another symlink", "ln -s /chaosnight /out/rootfs/usr/local/bin/chaosnight", "ln -s /chaosnight /out/rootfs/usr/local/bin/chaosnight && ln -s /chaosnight /out/rootfs/usr/local/bin/cn", "usr/local/bin/cn"},
			{"binary moved", "-o /out/rootfs/chaosnight ./cmd/chaosnight", "-o /out/rootfs/bin/chaosnight ./cmd/chaosnight", "bin/chaosnight"},
			{"COPY", "COPY --from=build /out/rootfs/ /", "COPY --from=build /out/rootfs/ /app/", "COPY"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				df := string(dockerfile)
				if tc.old != "" {
					if !strings.Contains(df, tc.old) {
						t.Fatalf("the Dockerfile no longer contains %q: update this case", tc.old)
					}
					df = strings.Replace(df, tc.old, tc.new, 1)
				}
				got := disagreements([]byte(df), version, commit, a.config.Config, a.layer())
				if tc.want == "" {
					if len(got) > 0 {
						t.Fatalf("the image and the Dockerfile disagree (change hack/image with the Dockerfile):\n%s", strings.Join(got, "\n"))
					}
					return
				}
				if !strings.Contains(strings.Join(got, "\n"), tc.want) {
					t.Fatalf("edited Dockerfile: disagreements %q, want one naming %q", got, tc.want)
				}
			})
		}
	})

	t.Run("binaries", func(t *testing.T) {
		for _, name := range []string{"chaosnight", "chaosnight-stress"} {
			h := a.headers[name]
			if h == nil {
				t.Fatalf("no /%s", name)
			}
			// Root's, executable by all, writable by root alone: the
			// nonroot user (65532) cannot replace them.
			if h.Typeflag != tar.TypeReg || h.Uid != 0 || h.Gid != 0 || h.Mode&0o111 != 0o111 || h.Mode&0o022 != 0 {
				t.Errorf("/%s: type %c owner %d:%d mode %o", name, h.Typeflag, h.Uid, h.Gid, h.Mode)
			}
		}
		if c := a.config; c.OS != "linux" || c.Architecture != runtime.GOARCH {
			t.Errorf("platform %s/%s, want linux/%s", c.OS, c.Architecture, runtime.GOARCH)
		}
		if h := a.headers["etc/ssl/certs/ca-certificates.crt"]; h == nil || h.Size == 0 {
			t.Error("no CA certificates")
		}
		if !strings.Contains(string(a.files["etc/passwd"]), "nonroot:x:65532:65532:") {
			t.Errorf("/etc/passwd has no nonroot 65532:\n%s", a.files["etc/passwd"])
		}
	})

	t.Run("ctr images import", func(t *testing.T) {
		ctrImport(t, ctx, path, "ghcr.io/chaosnight/chaosnight:"+version, version)
	})

	t.Run("version", func(t *testing.T) {
		// The binary taken out of the layer runs and says the version
		// and commit it was given.
		bin := filepath.Join(t.TempDir(), "chaosnight")
		if err := os.WriteFile(bin, a.files["chaosnight"], 0o755); err != nil {
			t.Fatal(err)
		}
		out, err := exec.CommandContext(ctx, bin, "version").CombinedOutput()
		if err != nil {
			t.Fatalf("chaosnight version: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), version) || !strings.Contains(string(out), commit) {
			t.Errorf("chaosnight version printed %q, want %s and %s", out, version, commit)
		}
	})
}
