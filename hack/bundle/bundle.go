// Package bundle writes the offline bundle for air-gapped clusters (#20.4,
// docs/airgapped.md): the Helm chart package, the image as an OCI image
// layout tar (hack/image), the chaosnight CLI, INSTALL.md and SHA256SUMS,
// in dist/chaosnight-bundle-VERSION/ and as a .tar.gz of that directory.
//
// The chart is packaged with Helm's Go SDK (loader + chartutil.Save, what
// `helm package --app-version` does) rather than the helm binary: helm v3
// is already in go.mod and the project builds no helm binary. Its
// appVersion is the image's tag, so `--set image.repository=...` alone
// points the chart at the imported image.
package bundle

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"

	"github.com/chaosnight/chaosnight/hack/image"
)

// Options say what goes into the bundle.
type Options struct {
	// OutDir receives chaosnight-bundle-VERSION/ and its .tar.gz
	// (make bundle: dist).
	OutDir string
	// ChartDir is the chart's source (charts/chaosnight).
	ChartDir string
	// ChartVersion overrides Chart.yaml's version (SemVer); default kept.
	ChartVersion string
	// Image is the image to bundle (hack/image.BuildBinaries fills it);
	// Image.Version names the bundle and is the chart's appVersion.
	Image image.Config
}

// Bundle is what Write wrote.
type Bundle struct {
	// Dir is the bundle directory, Tarball its .tar.gz.
	Dir, Tarball string
	// Chart, ImageArchive and CLI are file names inside Dir.
	Chart, ImageArchive, CLI string
	// ImageName and ImageDigest are the image's reference and manifest digest.
	ImageName, ImageDigest string
	// Files are every file of Dir, sorted, SHA256SUMS last.
	Files []string
}

// Error is a bundle that cannot be written; Step says which part failed.
type Error struct {
	Step string
	Err  error
}

func (e *Error) Error() string { return "bundle: " + e.Step + ": " + e.Err.Error() }

func (e *Error) Unwrap() error { return e.Err }

// SumsFile and InstallFile are the bundle's fixed names.
const (
	SumsFile    = "SHA256SUMS"
	InstallFile = "INSTALL.md"
)

// Write writes the bundle. An existing bundle directory of the same
// version is replaced.
func Write(opts Options) (*Bundle, error) {
	version := opts.Image.Version
	// The version is the image tag and names the bundle's files: it must
	// be a valid tag (no slash, no space).
	if _, err := image.Tag("chaosnight:" + version); err != nil {
		return nil, &Error{Step: "version", Err: err}
	}
	b := &Bundle{Dir: filepath.Join(opts.OutDir, "chaosnight-bundle-"+version)}
	b.Tarball = b.Dir + ".tar.gz"
	if err := os.RemoveAll(b.Dir); err != nil {
		return nil, &Error{Step: "clean", Err: err}
	}
	if err := os.MkdirAll(b.Dir, 0o755); err != nil {
		return nil, &Error{Step: "mkdir", Err: err}
	}

	b.ImageArchive = "chaosnight-image-" + version + ".oci.tar"
	img, err := image.Build(opts.Image)
	if err != nil {
		return nil, &Error{Step: "image", Err: err}
	}
	if err := img.WriteArchive(filepath.Join(b.Dir, b.ImageArchive)); err != nil {
		return nil, &Error{Step: "image", Err: err}
	}
	b.ImageName, b.ImageDigest = img.Name, img.Digest
	arch := img.Arch

	c, err := loader.Load(opts.ChartDir)
	if err != nil {
		return nil, &Error{Step: "chart", Err: err}
	}
	c.Metadata.AppVersion = version
	if opts.ChartVersion != "" {
		c.Metadata.Version = opts.ChartVersion
	}
	chartPath, err := chartutil.Save(c, b.Dir)
	if err != nil {
		return nil, &Error{Step: "chart", Err: err}
	}
	b.Chart = filepath.Base(chartPath)

	b.CLI = "chaosnight-linux-" + arch
	if err := copyFile(opts.Image.Chaosnight, filepath.Join(b.Dir, b.CLI), 0o755); err != nil {
		return nil, &Error{Step: "cli", Err: err}
	}
	if err := os.WriteFile(filepath.Join(b.Dir, InstallFile), []byte(installText(b, version, arch)), 0o644); err != nil {
		return nil, &Error{Step: "install text", Err: err}
	}
	if err := writeSums(b); err != nil {
		return nil, &Error{Step: "checksums", Err: err}
	}
	if err := writeTarball(b, opts.Image.Created); err != nil {
		return nil, &Error{Step: "tarball", Err: err}
	}
	return b, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, mode)
}

// writeSums writes SHA256SUMS in the format `sha256sum -c` reads, one line
// per file of the bundle, and sets b.Files.
func writeSums(b *Bundle) error {
	des, err := os.ReadDir(b.Dir)
	if err != nil {
		return err
	}
	var lines []string
	for _, de := range des {
		if de.IsDir() || de.Name() == SumsFile {
			continue
		}
		sum, err := fileSum(filepath.Join(b.Dir, de.Name()))
		if err != nil {
			return err
		}
		lines = append(lines, sum+"  "+de.Name())
		b.Files = append(b.Files, de.Name())
	}
	sort.Strings(b.Files)
	sort.Slice(lines, func(i, j int) bool { return lines[i][66:] < lines[j][66:] })
	b.Files = append(b.Files, SumsFile)
	return os.WriteFile(filepath.Join(b.Dir, SumsFile), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
}

// fileSum is the hex SHA-256 of a file.
func fileSum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer func() { _ = f.Close() }()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return fmt.Sprintf("%x", h.Sum(nil)), nil
}

// writeTarball writes OUT/chaosnight-bundle-VERSION.tar.gz holding the
// directory, with fixed times and owners so that only the files' content
// changes it.
func writeTarball(b *Bundle, created time.Time) error {
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	f, err := os.Create(b.Tarball)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	top := filepath.Base(b.Dir)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: top + "/", Mode: 0o755, ModTime: created, Format: tar.FormatPAX}); err != nil {
		return err
	}
	for _, name := range b.Files {
		data, err := os.ReadFile(filepath.Join(b.Dir, name))
		if err != nil {
			return err
		}
		mode := int64(0o644)
		if name == b.CLI {
			mode = 0o755
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: top + "/" + name, Mode: mode, Size: int64(len(data)), ModTime: created, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	return f.Close()
}
