// Package chart_test tests the Helm chart in charts/chaosnight: it renders
// the chart with Helm's own Go SDK (lint, template) for the default values
// and a matrix of settings and asserts on the objects; it applies them to a
// real API server (the sandbox), checks the runner's rights with
// SubjectAccessReviews against the real RBAC, installs, upgrades and
// uninstalls the chart with Helm, and plays a real pod-kill night with
// `chaosnight serve` holding a token of the chart's ServiceAccount.
//
// Only this test package imports Helm; production packages never do.
package chart_test

import (
	"os"
	"testing"

	"github.com/chaosnight/chaosnight/test/sandbox"
)

// sb is the package's sandbox, started once by TestMain (nil without one:
// the tests that need it skip, or fail in CI).
var sb *sandbox.Sandbox

func TestMain(m *testing.M) {
	os.Exit(sandbox.RunTests(m, sandbox.Config{SeedWorkload: true}, func(s *sandbox.Sandbox) { sb = s }))
}
