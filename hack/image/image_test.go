package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// fakeConfig is a Config with small fake binaries and CA bundle, so the
// tests need no build and no host file.
func fakeConfig(t *testing.T) Config {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return Config{
		Chaosnight: write("chaosnight", "main binary"),
		Stress:     write("chaosnight-stress", "stress binary"),
		CACerts:    write("ca.crt", "-----BEGIN CERTIFICATE-----\n"),
		Version:    "v1.2.3",
		Commit:     "abc123",
		Arch:       "arm64",
	}
}

// readTar returns a tar's headers and contents by name, in order.
func readTar(t *testing.T, r io.Reader) ([]*tar.Header, map[string][]byte) {
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

// blob reads a blob of the layout and checks that its digest is its name.
func blob(t *testing.T, files map[string][]byte, d fmt.Stringer) []byte {
	t.Helper()
	s := d.String()
	b, ok := files["blobs/sha256/"+s[len("sha256:"):]]
	if !ok {
		t.Fatalf("no blob %s", s)
	}
	if got := fmt.Sprintf("sha256:%x", sha256.Sum256(b)); got != s {
		t.Fatalf("blob %s has digest %s", s, got)
	}
	return b
}

func TestWriteArchiveIsAnOCILayoutThatNamesTheImage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "img.tar")
	digest, err := WriteArchive(path, fakeConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	_, files := readTar(t, f)
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout %q", files["oci-layout"])
	}
	var index v1.Index
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index %s: %v", files["index.json"], err)
	}
	md := index.Manifests[0]
	if md.Digest.String() != digest {
		t.Errorf("index names manifest %s, WriteArchive returned %s", md.Digest, digest)
	}
	wantAnn := map[string]string{ContainerdNameAnnotation: "ghcr.io/chaosnight/chaosnight:v1.2.3", v1.AnnotationRefName: "v1.2.3"}
	if !reflect.DeepEqual(md.Annotations, wantAnn) {
		t.Errorf("annotations %v, want %v", md.Annotations, wantAnn)
	}
	var manifest v1.Manifest
	if err := json.Unmarshal(blob(t, files, md.Digest), &manifest); err != nil || len(manifest.Layers) != 1 {
		t.Fatalf("manifest: %v", err)
	}
	if manifest.Layers[0].MediaType != v1.MediaTypeImageLayer {
		t.Errorf("layer media type %s", manifest.Layers[0].MediaType)
	}
	var config v1.Image
	if err := json.Unmarshal(blob(t, files, manifest.Config.Digest), &config); err != nil {
		t.Fatal(err)
	}
	if config.OS != "linux" || config.Architecture != "arm64" {
		t.Errorf("platform %s/%s", config.OS, config.Architecture)
	}
	if len(config.RootFS.DiffIDs) != 1 || config.RootFS.DiffIDs[0] != manifest.Layers[0].Digest {
		t.Errorf("diff IDs %v, layer %s (uncompressed: they are equal)", config.RootFS.DiffIDs, manifest.Layers[0].Digest)
	}
	c := config.Config
	if c.User != "65532:65532" || !reflect.DeepEqual(c.Entrypoint, []string{"/chaosnight"}) || !reflect.DeepEqual(c.Cmd, []string{"--help"}) {
		t.Errorf("user %q entrypoint %q cmd %q", c.User, c.Entrypoint, c.Cmd)
	}
	if c.Labels["org.opencontainers.image.version"] != "v1.2.3" || c.Labels["org.opencontainers.image.revision"] != "abc123" {
		t.Errorf("labels %v", c.Labels)
	}
	if len(c.ExposedPorts) != 0 {
		t.Errorf("exposed ports %v", c.ExposedPorts)
	}
	checkLayer(t, blob(t, files, manifest.Layers[0].Digest))
}

// checkLayer compares the layer's entries with the file layout.
func checkLayer(t *testing.T, layer []byte) {
	t.Helper()
	hs, files := readTar(t, bytes.NewReader(layer))
	type want struct {
		typ      byte
		mode     int64
		uid, gid int
		content  string // regular files; symlinks: the target
	}
	wants := map[string]want{
		"chaosnight":                        {tar.TypeReg, 0o755, 0, 0, "main binary"},
		"chaosnight-stress":                 {tar.TypeReg, 0o755, 0, 0, "stress binary"},
		"etc/":                              {tar.TypeDir, 0o755, 0, 0, ""},
		"etc/group":                         {tar.TypeReg, 0o644, 0, 0, group},
		"etc/nsswitch.conf":                 {tar.TypeReg, 0o644, 0, 0, nsswitch},
		"etc/passwd":                        {tar.TypeReg, 0o644, 0, 0, passwd},
		"etc/ssl/":                          {tar.TypeDir, 0o755, 0, 0, ""},
		"etc/ssl/certs/":                    {tar.TypeDir, 0o755, 0, 0, ""},
		"etc/ssl/certs/ca-certificates.crt": {tar.TypeReg, 0o644, 0, 0, "-----BEGIN CERTIFICATE-----\n"},
		"home/":                             {tar.TypeDir, 0o755, 0, 0, ""},
		"home/nonroot/":                     {tar.TypeDir, 0o700, 65532, 65532, ""},
		"tmp/":                              {tar.TypeDir, 0o1777, 0, 0, ""},
		"usr/":                              {tar.TypeDir, 0o755, 0, 0, ""},
		"usr/local/":                        {tar.TypeDir, 0o755, 0, 0, ""},
		"usr/local/bin/":                    {tar.TypeDir, 0o755, 0, 0, ""},
		"usr/local/bin/chaosnight":          {tar.TypeSymlink, 0o777, 0, 0, "/chaosnight"},
		"usr/local/bin/chaosnight-stress":   {tar.TypeSymlink, 0o777, 0, 0, "/chaosnight-stress"},
	}
	var names []string
	for _, h := range hs {
		names = append(names, h.Name)
		w, ok := wants[h.Name]
		if !ok {
			t.Errorf("unexpected %s in the layer", h.Name)
			continue
		}
		content := string(files[h.Name])
		if h.Typeflag == tar.TypeSymlink {
			content = h.Linkname
		}
		if h.Typeflag != w.typ || h.Mode != w.mode || h.Uid != w.uid || h.Gid != w.gid || content != w.content {
			t.Errorf("%s: type %c mode %o owner %d:%d content %q, want %c %o %d:%d %q",
				h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, content, w.typ, w.mode, w.uid, w.gid, w.content)
		}
		if h.ModTime.Unix() != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: mtime %v user %q group %q: not reproducible", h.Name, h.ModTime, h.Uname, h.Gname)
		}
	}
	if len(names) != len(wants) {
		t.Errorf("layer has %d entries, want %d: %v", len(names), len(wants), names)
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("entries not sorted: %v", names)
	}
}

// Same inputs give the same bytes; any input that ends up in the image
// changes the digest; the name does not.
func TestWriteArchiveIsReproducible(t *testing.T) {
	base := fakeConfig(t)
	dir := t.TempDir()
	write := func(name string, c Config) (string, []byte) {
		t.Helper()
		p := filepath.Join(dir, name)
		d, err := WriteArchive(p, c)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return d, b
	}
	d1, b1 := write("a.tar", base)
	d2, b2 := write("b.tar", base)
	if d1 != d2 || !bytes.Equal(b1, b2) {
		t.Fatalf("two writes differ: %s, %s", d1, d2)
	}
	otherBinary := filepath.Join(dir, "other")
	if err := os.WriteFile(otherBinary, []byte("other binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	changes := map[string]func(*Config){
		"version": func(c *Config) { c.Version = "v1.2.4" },
		"commit":  func(c *Config) { c.Commit = "def456" },
		"arch":    func(c *Config) { c.Arch = "amd64" },
		"binary":  func(c *Config) { c.Stress = otherBinary },
	}
	// The name is in index.json only: a renamed image is the same image
	// (what a registry stores under the new name).
	renamed := base
	renamed.Name = "registry.example/chaosnight:v1.2.3"
	if d, b := write("renamed.tar", renamed); d != d1 || bytes.Equal(b, b1) {
		t.Errorf("renamed: digest %s (want %s), archive changed: %v", d, d1, !bytes.Equal(b, b1))
	}
	for name, change := range changes {
		c := base
		change(&c)
		if d, _ := write(name+".tar", c); d == d1 {
			t.Errorf("changing the %s keeps the digest %s", name, d)
		}
	}
}

// The layout directory holds exactly the archive's files.
func TestWriteLayoutHoldsTheArchiveFiles(t *testing.T) {
	c := fakeConfig(t)
	dir := t.TempDir()
	archive := filepath.Join(dir, "img.tar")
	ad, err := WriteArchive(archive, c)
	if err != nil {
		t.Fatal(err)
	}
	layout := filepath.Join(dir, "layout")
	ld, err := WriteLayout(layout, c)
	if err != nil {
		t.Fatal(err)
	}
	if ad != ld {
		t.Errorf("archive %s, layout %s", ad, ld)
	}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	hs, files := readTar(t, f)
	n := 0
	for _, h := range hs {
		if h.Typeflag != tar.TypeReg {
			continue
		}
		n++
		b, err := os.ReadFile(filepath.Join(layout, h.Name))
		if err != nil || !bytes.Equal(b, files[h.Name]) {
			t.Errorf("%s: layout differs from the archive (%v)", h.Name, err)
		}
	}
	var m int
	_ = filepath.WalkDir(layout, func(_ string, d os.DirEntry, _ error) error {
		if d != nil && !d.IsDir() {
			m++
		}
		return nil
	})
	if m != n {
		t.Errorf("layout has %d files, archive %d", m, n)
	}
	if _, err := WriteLayout(layout, c); !errors.As(err, new(*ConfigError)) {
		t.Errorf("writing into a non-empty layout directory: %v, want a ConfigError", err)
	}
}

func TestConfigErrors(t *testing.T) {
	base := fakeConfig(t)
	cases := []struct {
		name   string
		change func(*Config)
		field  string
	}{
		{"no tag", func(c *Config) { c.Name = "registry.example:5000/chaosnight" }, "Name"},
		{"empty tag", func(c *Config) { c.Name = "registry.example/chaosnight:" }, "Name"},
		{"digest", func(c *Config) { c.Name = "registry.example/chaosnight@sha256:00" }, "Name"},
		{"bad tag", func(c *Config) { c.Version = "v1+dirty" }, "Name"},
		{"no stress binary", func(c *Config) { c.Stress = "" }, "Chaosnight/Stress"},
		{"missing binary", func(c *Config) { c.Chaosnight = "/nonexistent/chaosnight" }, "Chaosnight"},
		{"missing CA bundle", func(c *Config) { c.CACerts = "/nonexistent/ca.crt" }, "CACerts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			tc.change(&c)
			_, err := WriteArchive(filepath.Join(t.TempDir(), "img.tar"), c)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tc.field {
				t.Fatalf("error %v, want a ConfigError on %s", err, tc.field)
			}
		})
	}
}

func TestTag(t *testing.T) {
	cases := map[string]string{
		"ghcr.io/chaosnight/chaosnight:v0.1.0":       "v0.1.0",
		"registry.example:5000/chaosnight:dev-dirty": "dev-dirty",
		"chaosnight:1": "1",
	}
	for name, want := range cases {
		if got, err := Tag(name); err != nil || got != want {
			t.Errorf("Tag(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
}
