package main

import (
	"debug/elf"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestBinaryHasNoTemplateExecutor builds the binary and looks at its symbols:
// text/template's executor must not be linked in. Executing a template
// (html/template included) calls methods by name, and a program that can
// do that makes the linker keep every exported method of every type: it
// made the binary 20 MB larger and every chaosnight process about 10 MiB
// larger in memory (BENCHMARKS.md). The pages are written in plain Go
// instead (pkg/report/page.go, pkg/runner/pages.go); this test keeps it so.
func TestBinaryHasNoTemplateExecutor(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "chaosnight")
	build := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-o", bin, ".")
	build.Env = append(build.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, s := range syms {
		if strings.HasPrefix(s.Name, "text/template.(*state).") {
			found = append(found, s.Name)
		}
	}
	if len(found) > 0 {
		t.Errorf("the binary executes templates (%d symbols such as %s): some code path runs a text/template or html/template; write that output in plain Go",
			len(found), found[0])
	}
}
