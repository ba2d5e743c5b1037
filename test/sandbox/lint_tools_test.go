package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The cache key comes from GolangciLintVersion; a bump of the tools module
// that forgets it would keep running the old linter from the cache.
func TestGolangciLintVersionMatchesToolsModule(t *testing.T) {
	root, err := FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "hack/tools/golangci-lint/go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	want := "github.com/golangci/golangci-lint/v2 " + GolangciLintVersion + "\n"
	if !strings.Contains(string(b), want) {
		t.Errorf("hack/tools/golangci-lint/go.mod does not require %q directly", strings.TrimSpace(want))
	}
	if k := GolangciLintKey(); !strings.HasPrefix(k, "golangci-lint-"+GolangciLintVersion+"_go") {
		t.Errorf("key %q", k)
	}
}

// A complete cache entry is used as it is: no tools module and no go
// command are needed (Go is set to one that cannot run), and a stamp of
// another version is not complete.
func TestBuildGolangciLintCache(t *testing.T) {
	for _, c := range []struct {
		name     string
		stamp    string
		wantUsed bool
	}{
		{"cached", golangciLintStamp(), true},
		{"other version", "golangci-lint=v0.0.1\n", false},
		{"no stamp", "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dest := t.TempDir()
			if err := os.WriteFile(filepath.Join(dest, binGolangciLint), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			if c.stamp != "" {
				if err := os.WriteFile(filepath.Join(dest, stampFile), []byte(c.stamp), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			bin, err := BuildGolangciLint(context.Background(), BuildConfig{
				ToolsModule: filepath.Join(t.TempDir(), "no-tools-here"),
				Dest:        dest,
				Go:          filepath.Join(t.TempDir(), "no-go-here"),
			})
			if c.wantUsed {
				if err != nil || bin != filepath.Join(dest, binGolangciLint) {
					t.Fatalf("BuildGolangciLint = %q, %v; want the cached %s", bin, err, filepath.Join(dest, binGolangciLint))
				}
				return
			}
			// Not complete: it must look for the tools module and say where.
			if err == nil || !strings.Contains(err.Error(), "golangci-lint tools module not found") {
				t.Fatalf("BuildGolangciLint = %q, %v; want a missing tools module error", bin, err)
			}
		})
	}
}
