// Command chaosnight-stress is the stress process alone: what the stress
// injector runs in a target pod's ephemeral container or a helper pod. It
// is `chaosnight stress` without the rest of chaosnight (Kubernetes
// clients, reports), so that the process living in a target pod takes a
// few MiB rather than the main binary's ~30 (BENCHMARKS.md). Both ship in
// the same image.
package main

import (
	"context"
	"os"

	"github.com/chaosnight/chaosnight/pkg/stressor/stresscmd"
)

func main() {
	os.Exit(stresscmd.Main(context.Background(), "chaosnight-stress",
		stresscmd.Streams{Out: os.Stdout, Err: os.Stderr}, stresscmd.ProcessDeps(), os.Args[1:]))
}
