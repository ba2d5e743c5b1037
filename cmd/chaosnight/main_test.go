package main

import (
	"debug/elf"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildSymbols builds the binary as the image does and returns the names of
// its symbols.
func buildSymbols(t *testing.T) []string {
	t.Helper()
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
	names := make([]string, len(syms))
	for i, s := range syms {
		names[i] = s.Name
	}
	return names
}

// linked are the symbols whose name starts with one of the prefixes.
func linked(names []string, prefixes ...string) []string {
	var found []string
	for _, n := range names {
		for _, p := range prefixes {
			if strings.HasPrefix(n, p) {
				found = append(found, n)
				break
			}
		}
	}
	return found
}

// TestBinaryHasNoTemplateExecutor builds the binary and looks at its symbols:
// text/template's executor must not be linked in. Executing a template
// (html/template included) calls methods by name, and a program that can
// do that makes the linker keep every exported method of every type: it
// made the binary 20 MB larger and every chaosnight process about 10 MiB
// larger in memory (BENCHMARKS.md). The pages are written in plain Go
// instead (pkg/report/page.go, pkg/runner/pages.go); this test keeps it so.
func TestBinaryHasNoTemplateExecutor(t *testing.T) {
	if found := linked(buildSymbols(t), "text/template.(*state)."); len(found) > 0 {
		t.Errorf("the binary executes templates (%d symbols such as %s): some code path runs a text/template or html/template; write that output in plain Go",
			len(found), found[0])
	}
}

// TestBinaryHasNoPlottingLibrary: gonum.org/v1/plot parses its fonts in its
// package init, in every process that links it (it has no lazy option);
// with what it brings (go-fonts, go-latex, freetype, x/image) it cost every
// command ~5 MiB of ru_maxrss (BENCHMARKS.md, "What the floor is made
// of"). The report's charts are SVG written by pkg/report/svg.go instead;
// this test fails if any of those packages is linked again.
func TestBinaryHasNoPlottingLibrary(t *testing.T) {
	found := linked(buildSymbols(t), "gonum.org/v1/plot", "codeberg.org/go-fonts/", "codeberg.org/go-latex/",
		"github.com/golang/freetype", "golang.org/x/image/")
	if len(found) > 0 {
		t.Errorf("a plotting library or its fonts are linked (%d symbols such as %s): they parse fonts at the start of every command; draw with pkg/report/svg.go",
			len(found), found[0])
	}
}

// The check above must be able to fail: it finds a package's symbols by
// prefix in a symbol table.
func TestLinkedFindsPrefixes(t *testing.T) {
	names := []string{"main.main", "gonum.org/v1/plot.init", "codeberg.org/go-fonts/liberation.init.0", "text/template.(*state).walk"}
	if got := linked(names, "gonum.org/v1/plot", "codeberg.org/go-fonts/"); len(got) != 2 {
		t.Errorf("linked found %q, want the plot and fonts symbols", got)
	}
	if got := linked(names, "text/template.(*state)."); len(got) != 1 {
		t.Errorf("linked found %q, want the executor", got)
	}
	if got := linked(names, "k8s.io/"); len(got) != 0 {
		t.Errorf("linked found %q, want none", got)
	}
}
