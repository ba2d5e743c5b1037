package bundle

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/chaosnight/chaosnight/hack/image"
)

const (
	version  = "v9.8.7-bundletest"
	registry = "registry.example.internal:5000/tools"
)

// chartDir is charts/chaosnight, found from this file.
func chartDir(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "charts", "chaosnight")
}

// writeBundle writes a bundle of the real chart with small fake binaries
// (test/image proves the real ones; here the packaging is under test).
func writeBundle(t *testing.T) *Bundle {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	b, err := Write(Options{
		OutDir:   filepath.Join(dir, "dist"),
		ChartDir: chartDir(t),
		Image: image.Config{
			Chaosnight: write("chaosnight", "main binary"),
			Stress:     write("chaosnight-stress", "stress binary"),
			CACerts:    write("ca.crt", "-----BEGIN CERTIFICATE-----\n"),
			Version:    version,
			Commit:     "abc123",
			Arch:       "amd64",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBundle(t *testing.T) {
	b := writeBundle(t)
	if want := "chaosnight-bundle-" + version; filepath.Base(b.Dir) != want || b.Tarball != b.Dir+".tar.gz" {
		t.Errorf("bundle %s, %s; want %s and its .tar.gz", b.Dir, b.Tarball, want)
	}
	wantFiles := []string{b.Chart, b.ImageArchive, b.CLI, InstallFile, SumsFile}
	for _, f := range wantFiles {
		if _, err := os.Stat(filepath.Join(b.Dir, f)); err != nil {
			t.Errorf("bundle file: %v", err)
		}
	}
	if b.ImageArchive != "chaosnight-image-"+version+".oci.tar" || b.CLI != "chaosnight-linux-amd64" || !strings.HasPrefix(b.Chart, "chaosnight-") {
		t.Errorf("file names %s, %s, %s", b.ImageArchive, b.CLI, b.Chart)
	}

	t.Run("checksums", func(t *testing.T) { checkSums(t, b) })
	t.Run("chart", func(t *testing.T) { checkChart(t, b) })
	t.Run("image", func(t *testing.T) { checkImage(t, b) })
	t.Run("install text", func(t *testing.T) { checkInstall(t, b) })
	t.Run("tarball", func(t *testing.T) { checkTarball(t, b) })
}

// checkSums: every file of the bundle is in SHA256SUMS with its sum, and
// nothing else is.
func checkSums(t *testing.T, b *Bundle) {
	f, err := os.Open(filepath.Join(b.Dir, SumsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ") // sha256sum's text mode
		if !ok || len(sum) != 64 {
			t.Fatalf("SHA256SUMS line %q", sc.Text())
		}
		got, err := fileSum(filepath.Join(b.Dir, name))
		if err != nil || got != sum {
			t.Errorf("%s: sum %s, file %s (%v)", name, sum, got, err)
		}
		listed[name] = true
	}
	des, err := os.ReadDir(b.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, de := range des {
		if de.Name() != SumsFile && !listed[de.Name()] {
			t.Errorf("%s is not in SHA256SUMS", de.Name())
		}
	}
	if len(listed) != len(des)-1 {
		t.Errorf("SHA256SUMS lists %d files, the bundle has %d besides it", len(listed), len(des)-1)
	}
}

// render renders a chart like `helm template` (schema checked, no cluster).
func render(t *testing.T, c *chart.Chart, values map[string]any) string {
	t.Helper()
	inst := action.NewInstall(&action.Configuration{Releases: storage.Init(driver.NewMemory()), Log: func(string, ...any) {}})
	inst.DryRun, inst.DryRunOption, inst.ClientOnly, inst.Replace = true, "client", true, true
	inst.ReleaseName, inst.Namespace = "chaosnight", "chaosnight"
	inst.KubeVersion = &chartutil.KubeVersion{Version: "v1.36.3", Major: "1", Minor: "36"}
	rel, err := inst.RunWithContext(context.Background(), c, values)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return rel.Manifest
}

// deploymentImage is the runner container's image in a manifest.
func deploymentImage(t *testing.T, manifest string) string {
	t.Helper()
	d := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	for {
		var dep appsv1.Deployment
		if err := d.Decode(&dep); errors.Is(err, io.EOF) {
			t.Fatal("no Deployment")
		} else if err != nil {
			continue // another kind: not every object decodes as a Deployment
		}
		if dep.Kind == "Deployment" {
			return dep.Spec.Template.Spec.Containers[0].Image
		}
	}
}

// checkChart: the package loads with Helm's loader, its appVersion is the
// image tag, and the registry override of INSTALL.md gives the Deployment
// the imported image.
func checkChart(t *testing.T, b *Bundle) {
	c, err := loader.Load(filepath.Join(b.Dir, b.Chart))
	if err != nil {
		t.Fatalf("load %s: %v", b.Chart, err)
	}
	if c.Metadata.AppVersion != version {
		t.Errorf("appVersion %q, want %q", c.Metadata.AppVersion, version)
	}
	src, err := loader.Load(chartDir(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Templates) != len(src.Templates) || len(c.Files) != len(src.Files) || len(c.CRDObjects()) != len(src.CRDObjects()) || len(c.Schema) == 0 {
		t.Errorf("package has %d templates, %d files, %d CRDs; the source %d, %d, %d (schema %d bytes)",
			len(c.Templates), len(c.Files), len(c.CRDObjects()), len(src.Templates), len(src.Files), len(src.CRDObjects()), len(c.Schema))
	}
	cases := map[string]map[string]any{
		"repository and tag": {"image": map[string]any{"repository": registry + "/chaosnight", "tag": version}},
		"repository only":    {"image": map[string]any{"repository": registry + "/chaosnight"}},
	}
	for name, values := range cases {
		if got, want := deploymentImage(t, render(t, c, values)), registry+"/chaosnight:"+version; got != want {
			t.Errorf("%s: Deployment image %q, want %q", name, got, want)
		}
	}
}

// checkImage: the archive's index names the image and its manifest.
func checkImage(t *testing.T, b *Bundle) {
	f, err := os.Open(filepath.Join(b.Dir, b.ImageArchive))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("no index.json: %v", err)
		}
		if h.Name != "index.json" {
			continue
		}
		var index v1.Index
		if err := json.NewDecoder(tr).Decode(&index); err != nil || len(index.Manifests) != 1 {
			t.Fatalf("index.json: %v", err)
		}
		m := index.Manifests[0]
		if n := m.Annotations[image.ContainerdNameAnnotation]; n != "ghcr.io/chaosnight/chaosnight:"+version || n != b.ImageName {
			t.Errorf("index names %q (bundle says %q)", n, b.ImageName)
		}
		if m.Annotations[v1.AnnotationRefName] != version || m.Digest.String() != b.ImageDigest {
			t.Errorf("ref name %q digest %s, want %s %s", m.Annotations[v1.AnnotationRefName], m.Digest, version, b.ImageDigest)
		}
		return
	}
}

// checkInstall: INSTALL.md names the bundle's files and the commands and
// values that work with them, and each value key exists in the chart.
func checkInstall(t *testing.T, b *Bundle) {
	raw, err := os.ReadFile(filepath.Join(b.Dir, InstallFile))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for _, want := range []string{
		b.Chart, b.ImageArchive, b.CLI, SumsFile, b.ImageDigest, b.ImageName,
		"sha256sum -c " + SumsFile,
		"skopeo copy oci-archive:" + b.ImageArchive + " docker://$REGISTRY/chaosnight:" + version,
		"tar -xf " + b.ImageArchive + " -C chaosnight-image",
		"crane push chaosnight-image $REGISTRY/chaosnight:" + version,
		"podman load -i " + b.ImageArchive,
		"ctr -n k8s.io images import " + b.ImageArchive,
		"helm install chaosnight ./" + b.Chart,
		"--set image.repository=$REGISTRY/chaosnight",
		"--set image.tag=" + version,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("INSTALL.md does not say %q", want)
		}
	}
	if p := regexp.MustCompile(`@[A-Z]+@`).FindString(text); p != "" {
		t.Errorf("INSTALL.md has the placeholder %s left", p)
	}
	c, err := loader.Load(filepath.Join(b.Dir, b.Chart))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"image.repository", "image.tag", "image.digest", "image.pullPolicy", "imagePullSecrets", "stress.image", "rbac.namespaces", "dryRun"} {
		if !strings.Contains(text, key) {
			t.Errorf("INSTALL.md does not mention %s", key)
		}
		if _, err := chartutil.Values(c.Values).PathValue(key); err != nil {
			if _, isTable := c.Values[key]; !isTable {
				t.Errorf("INSTALL.md names %s, not a value of the chart: %v", key, err)
			}
		}
	}
}

// checkTarball: the .tar.gz holds the bundle directory, file for file.
func checkTarball(t *testing.T, b *Bundle) {
	f, err := os.Open(b.Tarball)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	top := filepath.Base(b.Dir) + "/"
	var got []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == top {
			continue
		}
		name := strings.TrimPrefix(h.Name, top)
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(b.Dir, name))
		if err != nil || string(data) != string(want) {
			t.Errorf("%s differs from the directory's (%v)", h.Name, err)
		}
		got = append(got, name)
	}
	if strings.Join(got, " ") != strings.Join(b.Files, " ") {
		t.Errorf("tarball holds %v, the directory %v", got, b.Files)
	}
}

func TestBundleRefusesABadVersion(t *testing.T) {
	for _, v := range []string{"", "v1/2", "-v1", "v1 2", strings.Repeat("x", 129)} {
		_, err := Write(Options{OutDir: t.TempDir(), ChartDir: chartDir(t), Image: image.Config{Version: v}})
		var be *Error
		if !errors.As(err, &be) || be.Step != "version" {
			t.Errorf("version %q: %v, want a bundle error on the version", v, err)
		}
	}
}
