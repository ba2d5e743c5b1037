package sandbox

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The archive is what `ctr images import` reads: an OCI layout whose index
// names the image, whose manifest's digests are the blobs' and whose config
// lists the layer's digest as its diff ID (the layer is uncompressed).
func TestWriteImageArchive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "img.tar")
	if err := writeImageArchive(path, "chaosnight.local/x:1", []imageFile{{path: "x", data: []byte("binary"), mode: 0o755}}, []string{"/x"}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = b
	}
	blob := func(digest string) []byte {
		t.Helper()
		b, ok := files["blobs/sha256/"+digest[len("sha256:"):]]
		if !ok {
			t.Fatalf("no blob %s", digest)
		}
		if got := fmt.Sprintf("sha256:%x", sha256.Sum256(b)); got != digest {
			t.Fatalf("blob %s has digest %s", digest, got)
		}
		return b
	}
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout %q", files["oci-layout"])
	}
	type desc struct {
		Digest      string            `json:"digest"`
		Annotations map[string]string `json:"annotations"`
	}
	var index struct{ Manifests []desc }
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index %s: %v", files["index.json"], err)
	}
	if n := index.Manifests[0].Annotations["io.containerd.image.name"]; n != "chaosnight.local/x:1" {
		t.Errorf("image name %q", n)
	}
	var manifest struct {
		Config desc
		Layers []desc
	}
	if err := json.Unmarshal(blob(index.Manifests[0].Digest), &manifest); err != nil || len(manifest.Layers) != 1 {
		t.Fatalf("manifest: %v", err)
	}
	var config struct {
		Config struct{ Entrypoint []string }
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(blob(manifest.Config.Digest), &config); err != nil {
		t.Fatal(err)
	}
	if len(config.RootFS.DiffIDs) != 1 || config.RootFS.DiffIDs[0] != manifest.Layers[0].Digest || config.Config.Entrypoint[0] != "/x" {
		t.Errorf("config %+v does not match layer %s", config, manifest.Layers[0].Digest)
	}
	lr := tar.NewReader(bytes.NewReader(blob(manifest.Layers[0].Digest)))
	seen := map[string]int64{}
	for {
		h, err := lr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[h.Name] = h.Mode
	}
	if seen["x"] != 0o755 || seen["tmp/"] != 0o1777 {
		t.Errorf("layer entries %v", seen)
	}
}
