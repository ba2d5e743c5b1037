// Command bundle writes the offline bundle for air-gapped clusters
// (docs/airgapped.md):
//
//	go run ./hack/bundle/cmd/bundle -version v0.1.0 -commit $(git rev-parse HEAD) -o dist
//
// writes dist/chaosnight-bundle-v0.1.0/ and dist/chaosnight-bundle-v0.1.0.tar.gz.
// With -chaosnight and -stress it packs binaries built already (`make
// build`); without, it builds both from -module as the Dockerfile does.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"time"

	"github.com/chaosnight/chaosnight/hack/bundle"
	"github.com/chaosnight/chaosnight/hack/image"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bundle:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("bundle", flag.ContinueOnError)
	var o bundle.Options
	fs.StringVar(&o.OutDir, "o", "dist", "directory receiving chaosnight-bundle-VERSION/ and its .tar.gz")
	module := fs.String("module", ".", "the chaosnight module (binaries and charts/chaosnight)")
	fs.StringVar(&o.ChartDir, "chart", "", "chart source (default MODULE/charts/chaosnight)")
	fs.StringVar(&o.ChartVersion, "chart-version", "", "chart version (default Chart.yaml's)")
	fs.StringVar(&o.Image.Chaosnight, "chaosnight", "", "built chaosnight binary (default: build it from -module)")
	fs.StringVar(&o.Image.Stress, "stress", "", "built chaosnight-stress binary (default: build it from -module)")
	fs.StringVar(&o.Image.Name, "name", "", "image name with a tag (default ghcr.io/chaosnight/chaosnight:VERSION)")
	fs.StringVar(&o.Image.Version, "version", "dev", "version: image tag, chart appVersion, bundle name")
	fs.StringVar(&o.Image.Commit, "commit", "unknown", "revision label")
	fs.StringVar(&o.Image.Arch, "arch", "", "linux architecture of the binaries (default the running one)")
	fs.StringVar(&o.Image.CACerts, "ca-certs", image.DefaultCACerts, "CA bundle shipped in the image")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.ChartDir == "" {
		o.ChartDir = filepath.Join(*module, "charts", "chaosnight")
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
		}
		o.Image.Created = time.Unix(sec, 0)
	}
	if o.Image.Chaosnight == "" && o.Image.Stress == "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		dir, err := os.MkdirTemp("", "chaosnight-bundle-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(dir) }()
		built, err := image.BuildBinariesFor(ctx, *module, dir, o.Image.Version, o.Image.Commit, o.Image.Arch)
		if err != nil {
			return err
		}
		o.Image.Chaosnight, o.Image.Stress, o.Image.Arch = built.Chaosnight, built.Stress, built.Arch
	}
	b, err := bundle.Write(o)
	if err != nil {
		return err
	}
	fmt.Printf("%s\n%s\nimage %s %s\n", b.Dir, b.Tarball, b.ImageName, b.ImageDigest)
	return nil
}
