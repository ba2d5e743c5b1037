// Command imagearchive writes the chaosnight image as an OCI image layout
// tar (and optionally a layout directory) without a Docker engine:
//
//	go run ./hack/image/cmd/imagearchive -version v0.1.0 -commit $(git rev-parse HEAD) \
//	    -o bin/chaosnight-image.oci.tar
//
// With -chaosnight and -stress it packs binaries built already (`make
// build` builds them as the Dockerfile does); without, it builds both
// from the module in -module. It prints the image name and digest.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"time"

	"github.com/chaosnight/chaosnight/hack/image"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "imagearchive:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("imagearchive", flag.ContinueOnError)
	out := fs.String("o", "bin/chaosnight-image.oci.tar", "the OCI image layout tar to write")
	layout := fs.String("layout", "", "also write an OCI image layout directory here (must not exist or be empty)")
	var c image.Config
	fs.StringVar(&c.Chaosnight, "chaosnight", "", "built chaosnight binary (default: build it from -module)")
	fs.StringVar(&c.Stress, "stress", "", "built chaosnight-stress binary (default: build it from -module)")
	module := fs.String("module", ".", "the chaosnight module to build the binaries from")
	fs.StringVar(&c.Name, "name", "", "image name with a tag (default ghcr.io/chaosnight/chaosnight:VERSION)")
	fs.StringVar(&c.Version, "version", "dev", "version label (and chaosnight's stamped version when building)")
	fs.StringVar(&c.Commit, "commit", "unknown", "revision label (and chaosnight's stamped commit when building)")
	fs.StringVar(&c.Arch, "arch", "", "linux architecture of the binaries (default the running one)")
	fs.StringVar(&c.CACerts, "ca-certs", image.DefaultCACerts, "CA bundle to ship as /etc/ssl/certs/ca-certificates.crt")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// SOURCE_DATE_EPOCH (reproducible-builds.org) sets the creation time
	// and mtimes; without it they are the Unix epoch.
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", s, err)
		}
		c.Created = time.Unix(sec, 0)
	}
	if c.Chaosnight == "" && c.Stress == "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		dir, err := os.MkdirTemp("", "chaosnight-image-")
		if err != nil {
			return err
		}
		defer func() { _ = os.RemoveAll(dir) }()
		built, err := image.BuildBinariesFor(ctx, *module, dir, c.Version, c.Commit, c.Arch)
		if err != nil {
			return err
		}
		c.Chaosnight, c.Stress, c.Arch = built.Chaosnight, built.Stress, built.Arch
	}
	digest, err := image.WriteArchive(*out, c)
	if err != nil {
		return err
	}
	if *layout != "" {
		if _, err := image.WriteLayout(*layout, c); err != nil {
			return err
		}
	}
	name := c.Name
	if name == "" {
		name = image.DefaultRepository + ":" + c.Version
	}
	fmt.Printf("%s %s %s\n", name, digest, *out)
	return nil
}
