package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Images the real node runs. Nothing can be pulled in the sandbox: both
// are written by the sandbox from the project's own binaries and imported
// into containerd, so pods name them with imagePullPolicy Never or
// IfNotPresent. The registry part has a dot so that the CRI does not
// rewrite the names to docker.io.
const (
	// PauseImage is the pod sandbox image (test/sandbox/cmd/pause).
	PauseImage = "chaosnight.local/pause:1"
	// StressImage holds /chaosnight-stress (cmd/chaosnight-stress) as its
	// entrypoint, /memhog (test/sandbox/cmd/memhog) and an empty /tmp.
	StressImage = "chaosnight.local/chaosnight-stress:dev"
	// ShopImage holds /shop (test/sandbox/cmd/shop): the real shop's
	// services (`shop serve`) on the real node.
	ShopImage = "chaosnight.local/shop:dev"
)

// imageFile is one file of an image layer.
type imageFile struct {
	path string // inside the image, without the leading slash
	data []byte
	mode int64
}

// writeImageArchive writes an OCI image layout tar (what `ctr images
// import` reads) with one uncompressed layer holding files, and the name
// in the io.containerd.image.name annotation, which ctr uses as is.
func writeImageArchive(path, name string, files []imageFile, entrypoint []string) error {
	var layer bytes.Buffer
	lt := tar.NewWriter(&layer)
	// /tmp exists so a writable emptyDir can be mounted there or a
	// process can use it when the root filesystem is writable.
	if err := lt.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777}); err != nil {
		return fmt.Errorf("image %s: %w", name, err)
	}
	for _, f := range files {
		if err := lt.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.path, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return fmt.Errorf("image %s: %w", name, err)
		}
		if _, err := lt.Write(f.data); err != nil {
			return fmt.Errorf("image %s: %w", name, err)
		}
	}
	if err := lt.Close(); err != nil {
		return fmt.Errorf("image %s: %w", name, err)
	}
	type descriptor struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int               `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	blobs := map[string][]byte{}
	add := func(mediaType string, b []byte) descriptor {
		d := fmt.Sprintf("sha256:%x", sha256.Sum256(b))
		blobs[d] = b
		return descriptor{MediaType: mediaType, Digest: d, Size: len(b)}
	}
	layerDesc := add("application/vnd.oci.image.layer.v1.tar", layer.Bytes())
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config":       map[string]any{"Entrypoint": entrypoint, "Env": []string{"PATH=/"}, "WorkingDir": "/"},
		// The layer is uncompressed: its diff ID is its digest.
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDesc.Digest}},
	})
	if err != nil {
		return fmt.Errorf("image %s config: %w", name, err)
	}
	configDesc := add("application/vnd.oci.image.config.v1+json", config)
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        configDesc,
		"layers":        []descriptor{layerDesc},
	})
	if err != nil {
		return fmt.Errorf("image %s manifest: %w", name, err)
	}
	manDesc := add("application/vnd.oci.image.manifest.v1+json", manifest)
	tag := name[strings.LastIndexByte(name, ':')+1:]
	manDesc.Annotations = map[string]string{"io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []descriptor{manDesc},
	})
	if err != nil {
		return fmt.Errorf("image %s index: %w", name, err)
	}

	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("image %s: %w", name, err)
	}
	defer func() { _ = out.Close() }()
	tw := tar.NewWriter(out)
	write := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b))}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	if err := write("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return fmt.Errorf("image %s: %w", name, err)
	}
	if err := write("index.json", index); err != nil {
		return fmt.Errorf("image %s: %w", name, err)
	}
	for d, b := range blobs {
		if err := write("blobs/sha256/"+strings.TrimPrefix(d, "sha256:"), b); err != nil {
			return fmt.Errorf("image %s: %w", name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("image %s: %w", name, err)
	}
	return out.Close()
}

// buildImages compiles the pause, stress and shop commands of the repository at
// root (static, so the images need no libc) and writes both image archives
// into dir. It returns the archives' paths.
func buildImages(ctx context.Context, goCmd, root, dir string) ([]string, error) {
	type img struct {
		name string
		bins []string // the first is the entrypoint
		pkgs []string
	}
	imgs := []img{
		{PauseImage, []string{"pause"}, []string{"./test/sandbox/cmd/pause"}},
		{StressImage, []string{"chaosnight-stress", "memhog"}, []string{"./cmd/chaosnight-stress", "./test/sandbox/cmd/memhog"}},
		{ShopImage, []string{"shop"}, []string{"./test/sandbox/cmd/shop"}},
	}
	var archives []string
	for _, im := range imgs {
		var files []imageFile
		for i, b := range im.bins {
			bin := filepath.Join(dir, b)
			cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-ldflags=-s -w", "-o", bin, im.pkgs[i])
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
			if out, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("build %s for the %s image: %w\n%s", im.pkgs[i], im.name, err, out)
			}
			data, err := os.ReadFile(bin)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", bin, err)
			}
			files = append(files, imageFile{path: b, data: data, mode: 0o755})
		}
		archive := filepath.Join(dir, im.bins[0]+".oci.tar")
		if err := writeImageArchive(archive, im.name, files, []string{"/" + im.bins[0]}); err != nil {
			return nil, err
		}
		archives = append(archives, archive)
	}
	return archives, nil
}
