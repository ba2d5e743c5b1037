// Package pkg_test holds the test of the import flow between chaosnight's
// packages (README, "Layout"): imports run one way, from a higher layer to
// a lower one, and never from pkg/ into the programs and test harnesses.
package pkg_test

import (
	"bufio"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// layers is the allowed import flow, written once: a package may import
// chaosnight packages of lower layers only (not its own layer, so two fault
// kinds or two report formats never depend on each other). Paths are
// relative to the module; "dir/*" stands for every direct subpackage of
// dir. A new package must be placed here, which is the moment to decide
// where it belongs.
var layers = [][]string{
	// 0: the experiment format, and leaves that need nothing of ours.
	{"pkg/experiment", "pkg/k8sevent", "pkg/killswitch", "pkg/stressor",
		// The CustomResourceDefinitions (types of apiextensions only).
		"pkg/crd"},
	// 1: what reads the format: selection, probes, nights and their
	// config (which reuses the format's strict decoding, durations and
	// located problems), the stress command line.
	{"pkg/target", "pkg/probe", "pkg/schedule", "pkg/stressor/stresscmd"},
	// 2: the Injector interface and the Guard; the Prometheus client; the
	// incident-aware gate (alerts from a probe.Querier, rollouts).
	{"pkg/inject", "pkg/probe/prometheus", "pkg/gate"},
	// 3: the fault kinds, one package each; the run record.
	{"pkg/inject/*", "pkg/journal"},
	// 4: fault kinds built on another kind's exported mechanics (a zone
	// outage drains nodes with pkg/inject/nodedrain's Drainer).
	{"pkg/inject/zoneoutage", "pkg/cr"},
	// 5: what reads run records; the list of the program's fault kinds
	// (the registry: one line per kind).
	{"pkg/metrics", "pkg/report", "pkg/faults"},
	// 6: runs one experiment.
	{"pkg/engine"},
	// 7: serve's decision loop.
	{"pkg/runner"},
	// 8: the commands.
	{"pkg/cli"},
}

// harness is what no package of the layers may import: programs, benchmark
// drivers and test harnesses. They may import any package.
var harness = []string{"cmd/", "bench/", "test/", "hack/",
	// Drives Chromium for the report's and runner's tests only (imported
	// from _test.go files), and starts the sandbox's pages for it.
	"pkg/report/reporttest",
	// Generates the JSON Schemas of the format and of each fault kind, in
	// their tests (it reads the sources' doc comments).
	"pkg/experiment/schemagen",
	// Generates the CRDs into the chart, in its tests; apart from pkg/crd
	// so that the binary does not link the apiextensions types.
	"pkg/crd/crdgen",
}

// place is where one package sits in the flow.
type place struct {
	harness bool
	layer   int // when !harness
}

// placeOf finds rel (a module-relative package path) in the flow; ok is
// false for a package that is in neither table.
func placeOf(rel string) (p place, ok bool) {
	for _, h := range harness {
		if rel == h || strings.HasSuffix(h, "/") && strings.HasPrefix(rel, h) {
			return place{harness: true}, true
		}
	}
	// A package named exactly wins over a "dir/*" that also matches it
	// (pkg/inject/zoneoutage sits above the other pkg/inject/* kinds).
	wildcard := -1
	for i, pkgs := range layers {
		for _, q := range pkgs {
			if rel == q {
				return place{layer: i}, true
			}
			if wildcard < 0 && strings.HasSuffix(q, "/*") && path.Dir(rel) == strings.TrimSuffix(q, "/*") {
				wildcard = i
			}
		}
	}
	if wildcard >= 0 {
		return place{layer: wildcard}, true
	}
	return place{}, false
}

// checkImports returns a problem for every import in graph (package ->
// packages it imports, module-relative) that runs against the flow, and
// for every package the tables do not place.
func checkImports(graph map[string][]string) []string {
	var problems []string
	for _, from := range slices.Sorted(maps.Keys(graph)) {
		pf, ok := placeOf(from)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s is not in the import flow: add it to layers (or harness) in pkg/layering_test.go", from))
			continue
		}
		if pf.harness {
			continue
		}
		for _, to := range graph[from] {
			pt, ok := placeOf(to)
			switch {
			case !ok:
				// Reported as the importer of its own imports, if it has Go files.
			case pt.harness:
				problems = append(problems, fmt.Sprintf("%s imports %s: a program or test harness", from, to))
			case pt.layer >= pf.layer:
				problems = append(problems, fmt.Sprintf("%s (layer %d) imports %s (layer %d): imports run from higher layers to lower ones only", from, pf.layer, to, pt.layer))
			}
		}
	}
	return problems
}

// TestImportFlow reads the imports of every non-test Go file of the module
// and checks them against the flow. Test files are left out: an external
// test package may import what it tests from above.
func TestImportFlow(t *testing.T) {
	root, module := moduleRoot(t)
	graph := map[string][]string{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if p != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(p, "go.mod")); p != root && err == nil {
				return filepath.SkipDir // another module (hack/tools/...)
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir, err := filepath.Rel(root, filepath.Dir(p))
		if err != nil {
			return err
		}
		from := filepath.ToSlash(dir)
		if _, seen := graph[from]; !seen {
			graph[from] = nil
		}
		for _, imp := range f.Imports {
			ip, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			if rel, ok := strings.CutPrefix(ip, module+"/"); ok && !slices.Contains(graph[from], rel) {
				graph[from] = append(graph[from], rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"pkg/experiment", "pkg/cli", "pkg/schedule", "cmd/chaosnight"} {
		if _, ok := graph[want]; !ok {
			t.Fatalf("no Go files found for %s under %s: the walk is broken", want, root)
		}
	}
	for _, p := range checkImports(graph) {
		t.Error(p)
	}
}

// TestCheckImports proves the check fails on each kind of wrong import.
func TestCheckImports(t *testing.T) {
	for _, tc := range []struct {
		name  string
		graph map[string][]string
		want  []string // substrings, one per problem, in order
	}{
		{name: "downward", graph: map[string][]string{
			"pkg/cli": {"pkg/runner", "pkg/experiment"}, "pkg/schedule": {"pkg/experiment"},
			"pkg/inject/nodedrain": {"pkg/inject", "pkg/target"}, "pkg/inject/zoneoutage": {"pkg/inject/nodedrain"},
			"cmd/chaosnight": {"pkg/cli"}, "test/sandbox": {"test/sandbox/shop"}, "pkg/report/reporttest": {"test/sandbox"},
		}},
		{name: "upward", graph: map[string][]string{"pkg/experiment": {"pkg/schedule"}},
			want: []string{"pkg/experiment (layer 0) imports pkg/schedule (layer 1)"}},
		{name: "same layer", graph: map[string][]string{"pkg/inject/podkill": {"pkg/inject/stress"}},
			want: []string{"pkg/inject/podkill (layer 3) imports pkg/inject/stress (layer 3)"}},
		{name: "kind below the one it builds on", graph: map[string][]string{"pkg/inject/nodedrain": {"pkg/inject/zoneoutage"}},
			want: []string{"pkg/inject/nodedrain (layer 3) imports pkg/inject/zoneoutage (layer 4)"}},
		{name: "into a harness", graph: map[string][]string{"pkg/engine": {"test/sandbox"}},
			want: []string{"pkg/engine imports test/sandbox: a program or test harness"}},
		{name: "unplaced", graph: map[string][]string{"pkg/newthing": nil},
			want: []string{"pkg/newthing is not in the import flow"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := checkImports(tc.graph)
			if len(got) != len(tc.want) {
				t.Fatalf("problems %q, want %d matching %q", got, len(tc.want), tc.want)
			}
			for i := range got {
				if !strings.Contains(got[i], tc.want[i]) {
					t.Errorf("problem %q, want it to contain %q", got[i], tc.want[i])
				}
			}
		})
	}
}

// moduleRoot returns the directory of go.mod above the working directory
// and the module path it declares.
func moduleRoot(t *testing.T) (dir, module string) {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		f, err := os.Open(filepath.Join(dir, "go.mod"))
		if err == nil {
			defer func() { _ = f.Close() }()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if m, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "module "); ok {
					return dir, strings.Trim(strings.TrimSpace(m), `"`)
				}
			}
			t.Fatalf("%s/go.mod declares no module", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}
