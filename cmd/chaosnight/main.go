// Command chaosnight runs hypothesis-based chaos experiments against
// Kubernetes. Everything lives in pkg/cli; main only wires the process.
package main

import (
	"os"

	"github.com/chaosnight/chaosnight/pkg/cli"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
// They are the only package-level variables: the linker can set nothing else.
var (
	version = "dev"
	commit  = ""
)

func main() {
	os.Exit(cli.Run(cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr},
		cli.BuildInfo{Version: version, Commit: commit}, os.Args[1:]))
}
