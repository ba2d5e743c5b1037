// Package image writes the chaosnight runtime image as an OCI image layout
// (a directory, or the tar of one: what `ctr images import`, `skopeo copy
// oci-archive:...`, `podman load` and, extracted, `crane push` read) from
// the built binaries, without a Docker engine.
//
// The image is the one the Dockerfile's final stage builds on
// gcr.io/distroless/static-debian12:nonroot: the same user, entrypoint,
// command, labels and files, plus what that base gives chaosnight (the
// nonroot account, CA certificates, /tmp, a home). test/image parses the
// Dockerfile with BuildKit's parser and fails when the two disagree; the
// Dockerfile stays the reference for people with a Docker engine.
//
// Why by hand and not with go-containerregistry (mutate, layout, tarball):
// the format is five small JSON documents and two tars, test/sandbox
// already writes it this way (realnode_image.go), and owning every byte is
// what makes the digest reproducible (fixed times, sorted entries, no
// compression) without depending on a library's defaults across versions.
// The JSON types are image-spec's, already in the module graph.
//
// Why the layer is not compressed: its digest is then its diff ID and
// depends on the bytes of the files only, not on a gzip implementation
// that may change with the Go version; ctr, skopeo, podman, crane and
// registries accept uncompressed OCI layers. The cost is transfer size
// (~35 MB instead of ~15 MB per pull); the offline bundle is a .tar.gz, so
// the copy carried into an air-gapped site is compressed anyway.
package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// What the Dockerfile's final stage sets; test/image compares each with
// the Dockerfile.
const (
	// DefaultRepository is the image's name without the tag.
	DefaultRepository = "ghcr.io/chaosnight/chaosnight"
	// User is the Dockerfile's USER: distroless' nonroot account.
	User = "65532:65532"
	// UID and GID of the nonroot account.
	UID, GID = 65532, 65532
	// DefaultCACerts is the host's Debian ca-certificates bundle, the file
	// distroless/static-debian12 ships at the same path (both come from
	// Debian's ca-certificates package).
	DefaultCACerts = "/etc/ssl/certs/ca-certificates.crt"
	// ContainerdNameAnnotation names the image for `ctr images import`.
	ContainerdNameAnnotation = "io.containerd.image.name"
)

// Entrypoint and Cmd are the Dockerfile's ENTRYPOINT and CMD.
func Entrypoint() []string { return []string{"/chaosnight"} }

// Cmd is the Dockerfile's CMD.
func Cmd() []string { return []string{"--help"} }

// Env is what distroless static nonroot sets (the Dockerfile adds none).
func Env() []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"SSL_CERT_FILE=" + DefaultCACerts,
	}
}

// WorkingDir is distroless nonroot's working directory, the account's home.
const WorkingDir = "/home/nonroot"

// Labels are the Dockerfile's LABELs with its build arguments substituted.
func Labels(version, commit string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "chaosnight",
		"org.opencontainers.image.description": "Hypothesis-based chaos experiments and chaos nights for Kubernetes",
		"org.opencontainers.image.source":      "https://github.com/chaosnight/chaosnight",
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.revision":    commit,
	}
}

// Config says what goes into the image.
type Config struct {
	// Chaosnight and Stress are the paths of the built binaries
	// (BuildBinaries builds them as the Dockerfile does).
	Chaosnight, Stress string
	// Name is the image reference with a tag; default
	// ghcr.io/chaosnight/chaosnight:VERSION.
	Name string
	// Version and Commit go into the labels (the Dockerfile's VERSION and
	// COMMIT build arguments); defaults dev and unknown, as there.
	Version, Commit string
	// Arch is the binaries' GOARCH; default the running one.
	Arch string
	// CACerts is the CA bundle copied to /etc/ssl/certs/ca-certificates.crt;
	// default DefaultCACerts (the host's).
	CACerts string
	// Created is the config's creation time and every file's mtime; zero
	// means the Unix epoch, so the digest depends on the inputs only.
	Created time.Time
}

// ConfigError is a Config that cannot make an image.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string { return "image config: " + e.Field + ": " + e.Reason }

// withDefaults fills the defaults and checks the name.
func (c Config) withDefaults() (Config, error) {
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Commit == "" {
		c.Commit = "unknown"
	}
	if c.Name == "" {
		c.Name = DefaultRepository + ":" + c.Version
	}
	if c.Arch == "" {
		c.Arch = runtime.GOARCH
	}
	if c.CACerts == "" {
		c.CACerts = DefaultCACerts
	}
	if c.Created.IsZero() {
		c.Created = time.Unix(0, 0)
	}
	c.Created = c.Created.UTC().Truncate(time.Second)
	if c.Chaosnight == "" || c.Stress == "" {
		return c, &ConfigError{Field: "Chaosnight/Stress", Reason: "both binary paths are needed"}
	}
	if _, err := Tag(c.Name); err != nil {
		return c, err
	}
	return c, nil
}

// Tag is the tag of an image reference (what org.opencontainers.image.ref.name
// holds, as BuildKit's OCI exporter writes it).
func Tag(name string) (string, error) {
	if strings.Contains(name, "@") {
		return "", &ConfigError{Field: "Name", Reason: fmt.Sprintf("%q: a digest reference cannot name an image being written", name)}
	}
	i := strings.LastIndexByte(name, ':')
	if i < 0 || i < strings.LastIndexByte(name, '/') || i == len(name)-1 {
		return "", &ConfigError{Field: "Name", Reason: fmt.Sprintf("%q has no tag", name)}
	}
	if tag := name[i+1:]; !validTag(tag) {
		return "", &ConfigError{Field: "Name", Reason: fmt.Sprintf("%q: tag %q is not a valid tag ([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})", name, tag)}
	}
	return name[i+1:], nil
}

// validTag is the distribution spec's tag grammar,
// [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
func validTag(tag string) bool {
	if tag == "" || len(tag) > 128 || tag[0] == '.' || tag[0] == '-' {
		return false
	}
	for _, r := range tag {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-'
		if !ok {
			return false
		}
	}
	return true
}

// entry is one entry of the image's only layer.
type entry struct {
	name     string // without the leading slash; directories end in /
	typeflag byte
	mode     int64
	uid, gid int
	data     []byte // regular files
	link     string // symlinks
}

// Files the distroless base provides that chaosnight needs. /etc/passwd
// and /etc/group are distroless' own (root, nobody, nonroot and its
// groups); nsswitch.conf makes Go's resolver read /etc/hosts before DNS,
// as in distroless. Left out of distroless: /etc/os-release, tzdata
// (chaosnight embeds time/tzdata), /root and the Debian package metadata.
const (
	passwd = "root:x:0:0:root:/root:/sbin/nologin\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	group = "root:x:0:\nnobody:x:65534:\ntty:x:5:\nstaff:x:50:\nnonroot:x:65532:\n"
	// nsswitch is distroless' /etc/nsswitch.conf.
	nsswitch = "passwd:         files\ngroup:          files\nshadow:         files\n\n" +
		"hosts:          files dns\nnetworks:       files\n\n" +
		"protocols:      db files\nservices:       db files\nethers:         db files\nrpc:            db files\n"
)

// layerEntries lists the layer's entries, sorted by name (so parents come
// before their children).
func layerEntries(c Config) ([]entry, error) {
	read := func(field, path string) ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, &ConfigError{Field: field, Reason: err.Error()}
		}
		return b, nil
	}
	chaosnight, err := read("Chaosnight", c.Chaosnight)
	if err != nil {
		return nil, err
	}
	stress, err := read("Stress", c.Stress)
	if err != nil {
		return nil, err
	}
	ca, err := read("CACerts", c.CACerts)
	if err != nil {
		return nil, err
	}
	dir := func(name string, mode int64) entry { return entry{name: name, typeflag: tar.TypeDir, mode: mode} }
	file := func(name string, mode int64, data []byte) entry {
		return entry{name: name, typeflag: tar.TypeReg, mode: mode, data: data}
	}
	home := dir("home/nonroot/", 0o700)
	home.uid, home.gid = UID, GID
	es := []entry{
		// The binaries are root's and not writable by the nonroot user.
		file("chaosnight", 0o755, chaosnight),
		file("chaosnight-stress", 0o755, stress),
		dir("etc/", 0o755),
		file("etc/group", 0o644, []byte(group)),
		file("etc/nsswitch.conf", 0o644, []byte(nsswitch)),
		file("etc/passwd", 0o644, []byte(passwd)),
		dir("etc/ssl/", 0o755),
		dir("etc/ssl/certs/", 0o755),
		file("etc/ssl/certs/ca-certificates.crt", 0o644, ca),
		dir("home/", 0o755),
		home,
		dir("tmp/", 0o1777),
		dir("usr/", 0o755),
		dir("usr/local/", 0o755),
		dir("usr/local/bin/", 0o755),
		{name: "usr/local/bin/chaosnight", typeflag: tar.TypeSymlink, mode: 0o777, link: "/chaosnight"},
		{name: "usr/local/bin/chaosnight-stress", typeflag: tar.TypeSymlink, mode: 0o777, link: "/chaosnight-stress"},
	}
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
	return es, nil
}

// writeTar writes entries as a tar with fixed times and no user names.
func writeTar(w *tar.Writer, es []entry, mtime time.Time) error {
	for _, e := range es {
		h := &tar.Header{
			Typeflag: e.typeflag, Name: e.name, Linkname: e.link, Mode: e.mode,
			Uid: e.uid, Gid: e.gid, Size: int64(len(e.data)), ModTime: mtime,
			Format: tar.FormatPAX,
		}
		if err := w.WriteHeader(h); err != nil {
			return err
		}
		if len(e.data) > 0 {
			if _, err := w.Write(e.data); err != nil {
				return err
			}
		}
	}
	return w.Close()
}

// Image is an image in memory: its blobs and its index.
type Image struct {
	// Name is the full reference; Digest the manifest's digest; Arch the
	// platform's architecture (the OS is linux).
	Name, Digest, Arch string
	// Index is index.json; Blobs maps a digest ("sha256:...") to its bytes.
	Index []byte
	Blobs map[string][]byte
}

// Build assembles the image in memory.
func Build(cfg Config) (*Image, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	es, err := layerEntries(c)
	if err != nil {
		return nil, err
	}
	var layer bytes.Buffer
	if err := writeTar(tar.NewWriter(&layer), es, c.Created); err != nil {
		return nil, fmt.Errorf("image layer: %w", err)
	}
	img := &Image{Name: c.Name, Arch: c.Arch, Blobs: map[string][]byte{}}
	add := func(mediaType string, b []byte) v1.Descriptor {
		d := digest.Digest(fmt.Sprintf("sha256:%x", sha256.Sum256(b)))
		img.Blobs[d.String()] = b
		return v1.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(b))}
	}
	layerDesc := add(v1.MediaTypeImageLayer, layer.Bytes())
	created := c.Created
	config := v1.Image{
		Created:  &created,
		Platform: v1.Platform{Architecture: c.Arch, OS: "linux"},
		Config: v1.ImageConfig{
			User: User, Env: Env(), Entrypoint: Entrypoint(), Cmd: Cmd(),
			WorkingDir: WorkingDir, Labels: Labels(c.Version, c.Commit),
		},
		// Uncompressed: the diff ID is the layer's digest.
		RootFS: v1.RootFS{Type: "layers", DiffIDs: []digest.Digest{layerDesc.Digest}},
		History: []v1.History{{
			Created:   &created,
			CreatedBy: "hack/image: the Dockerfile's final stage on distroless/static-debian12:nonroot, without a Docker engine",
		}},
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	configDesc := add(v1.MediaTypeImageConfig, configJSON)
	manifestJSON, err := json.Marshal(v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    configDesc,
		Layers:    []v1.Descriptor{layerDesc},
	})
	if err != nil {
		return nil, fmt.Errorf("image manifest: %w", err)
	}
	manDesc := add(v1.MediaTypeImageManifest, manifestJSON)
	tag, _ := Tag(c.Name) // checked by withDefaults
	manDesc.Annotations = map[string]string{ContainerdNameAnnotation: c.Name, v1.AnnotationRefName: tag}
	manDesc.Platform = &v1.Platform{Architecture: c.Arch, OS: "linux"}
	img.Digest = manDesc.Digest.String()
	img.Index, err = json.Marshal(v1.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageIndex,
		Manifests: []v1.Descriptor{manDesc},
	})
	if err != nil {
		return nil, fmt.Errorf("image index: %w", err)
	}
	return img, nil
}

// layoutEntries are the files of the OCI image layout, sorted.
func (img *Image) layoutEntries() []entry {
	es := []entry{
		{name: "blobs/", typeflag: tar.TypeDir, mode: 0o755},
		{name: "blobs/sha256/", typeflag: tar.TypeDir, mode: 0o755},
		{name: v1.ImageIndexFile, typeflag: tar.TypeReg, mode: 0o644, data: img.Index},
		{name: v1.ImageLayoutFile, typeflag: tar.TypeReg, mode: 0o644, data: []byte(`{"imageLayoutVersion":"` + v1.ImageLayoutVersion + `"}`)},
	}
	for d, b := range img.Blobs {
		es = append(es, entry{name: "blobs/sha256/" + strings.TrimPrefix(d, "sha256:"), typeflag: tar.TypeReg, mode: 0o644, data: b})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].name < es[j].name })
	return es
}

// WriteArchive writes the image as an OCI image layout tar at path and
// returns the manifest's digest: the same inputs give the same digest and
// the same bytes.
func WriteArchive(path string, cfg Config) (string, error) {
	img, err := Build(cfg)
	if err != nil {
		return "", err
	}
	return img.Digest, img.WriteArchive(path)
}

// WriteArchive writes the image as an OCI image layout tar at path.
func (img *Image) WriteArchive(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("image archive: %w", err)
	}
	if err := writeTar(tar.NewWriter(f), img.layoutEntries(), time.Unix(0, 0)); err != nil {
		_ = f.Close()
		return fmt.Errorf("image archive %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("image archive %s: %w", path, err)
	}
	return nil
}

// WriteLayout writes the image as an OCI image layout directory (what
// `crane push DIR REF` and `skopeo copy oci:DIR:TAG` read); dir must not
// exist or be empty. It returns the manifest's digest.
func WriteLayout(dir string, cfg Config) (string, error) {
	img, err := Build(cfg)
	if err != nil {
		return "", err
	}
	return img.Digest, img.WriteLayout(dir)
}

// WriteLayout writes the image as an OCI image layout directory; dir must
// not exist or be empty.
func (img *Image) WriteLayout(dir string) error {
	if des, err := os.ReadDir(dir); err == nil && len(des) > 0 {
		return &ConfigError{Field: "layout directory", Reason: dir + " is not empty"}
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("image layout: %w", err)
	}
	for _, e := range img.layoutEntries() {
		p := filepath.Join(dir, filepath.FromSlash(e.name))
		if e.typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return fmt.Errorf("image layout: %w", err)
			}
			continue
		}
		if err := os.WriteFile(p, e.data, 0o644); err != nil {
			return fmt.Errorf("image layout: %w", err)
		}
	}
	return nil
}
