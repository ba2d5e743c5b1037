package experiment_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/chaosnight/chaosnight/pkg/experiment"
)

var update = flag.Bool("update", false, "rewrite the golden files (testdata/invalid/*.err, schema.json) from the current output")

// TestInvalidFixtures loads every file of testdata/invalid and compares the
// full report with NAME.yaml.err, so that a change in any message, path or
// line shows up in review.
func TestInvalidFixtures(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 30 {
		t.Fatalf("only %d invalid fixtures, want at least 30", len(files))
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			exps, err := Load(kinds, name, data)
			var problems Problems
			if !errors.As(err, &problems) {
				t.Fatalf("Load returned %v (%T), want Problems", err, err)
			}
			got := problems.Error() + "\n"
			golden := file + ".err"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("problems differ from %s\n--- got\n%s--- want\n%s", golden, got, want)
			}
			// Only valid experiments come back; a fixture may hold valid
			// documents next to the bad one.
			for _, e := range exps {
				if ps := Validate(&e); ps != nil {
					t.Errorf("Load returned an invalid experiment %q: %v", e.Metadata.Name, ps)
				}
			}
		})
	}
}

// TestExampleExperimentsLoad loads every example experiment of the
// repository: they are documentation, and documentation that does not load
// is worse than none.
func TestExampleExperimentsLoad(t *testing.T) {
	const dir = "../../experiments"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no %s: %v", dir, err)
	}
	exps, err := LoadPaths(kinds, dir)
	if err != nil {
		t.Fatalf("example experiments do not load:\n%v", err)
	}
	t.Logf("%d example experiments load", len(exps))
}
