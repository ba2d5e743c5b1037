package safety_test

import (
	"os"
	"testing"

	"github.com/chaosnight/chaosnight/test/sandbox"
)

// sb is the package's sandbox, shared by its tests (docs/sandbox.md).
// No SeedWorkload: every case creates its own cluster.
var sb *sandbox.Sandbox

func TestMain(m *testing.M) {
	os.Exit(sandbox.RunTests(m, sandbox.Config{}, func(s *sandbox.Sandbox) { sb = s }))
}
