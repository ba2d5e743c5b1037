package experiment_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/chaosnight/chaosnight/pkg/experiment"
)

const validDoc = `apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata:
  name: NAME
spec:
  hypothesis:
    probes: [{name: up, query: up, expect: {equals: 1}}]
  target: {namespaces: [shop], selector: app=checkout}
  action: {podKill: {}}
  duration: 1m
`

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestLoadPathsDirectory loads a directory tree with good, bad and
// irrelevant files and checks that every problem of every file comes back
// together, with duplicate names reported at both places.
func TestLoadPathsDirectory(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"a-good.yaml":          strings.Replace(validDoc, "NAME", "alpha", 1),
		"b-bad.yaml":           strings.Replace(strings.Replace(validDoc, "NAME", "beta", 1), "duration: 1m", "duration: soon", 1),
		"nested/c-dup.yml":     strings.Replace(validDoc, "NAME", "alpha", 1),
		"nested/d-bad.yaml":    strings.Replace(strings.Replace(validDoc, "NAME", "delta", 1), "selector:", "selectr:", 1),
		"nested/e-good.YAML":   strings.Replace(validDoc, "NAME", "epsilon", 1),
		"notes.txt":            "not an experiment",
		".hidden/f.yaml":       "not: read",
		".g-editor-backup.yml": "not: read",
	})
	exps, err := LoadPaths(kinds, root, filepath.Join(root, "missing.yaml"))
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %T %v, want Problems", err, err)
	}
	rel := func(p string) string {
		r, _ := filepath.Rel(root, p)
		return filepath.ToSlash(r)
	}
	var got []string
	for _, p := range ps {
		p.File = rel(p.File)
		p.Message = strings.ReplaceAll(p.Message, root+string(filepath.Separator), "")
		got = append(got, p.String())
	}
	want := []string{
		`a-good.yaml:4: metadata.name: duplicate experiment name "alpha" (also defined at nested/c-dup.yml:4)`,
		`b-bad.yaml:10: spec.duration: invalid duration "soon" (use a Go duration such as 30s, 5m, 1h30m)`,
		`missing.yaml: does not exist`,
		`nested/c-dup.yml:4: metadata.name: duplicate experiment name "alpha" (also defined at a-good.yaml:4)`,
		`nested/d-bad.yaml:8: spec.target.selectr: unknown field (allowed: namespaces, selector, fieldSelector, pick, minAge, onePerOwner); did you mean "selector"?`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var names []string
	for _, e := range exps {
		names = append(names, e.Metadata.Name+"@"+rel(e.Source.File))
	}
	if strings.Join(names, " ") != "epsilon@nested/e-good.YAML" {
		t.Errorf("valid experiments: %v", names)
	}
}

// TestLoadPathsOrderAndDedup checks that files come back in a stable order
// whatever order the arguments name them in, and that a file named twice is
// read once (and so is no duplicate of itself).
func TestLoadPathsOrderAndDedup(t *testing.T) {
	root := t.TempDir()
	writeFiles(t, root, map[string]string{
		"b.yaml":     strings.Replace(validDoc, "NAME", "b", 1),
		"a.yaml":     strings.Replace(validDoc, "NAME", "a", 1),
		"sub/c.yaml": strings.Replace(validDoc, "NAME", "c", 1) + "---\n" + strings.Replace(validDoc, "NAME", "d", 1),
	})
	exps, err := LoadPaths(kinds, root, filepath.Join(root, "a.yaml"), filepath.Join(root, "sub", "..", "b.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range exps {
		names = append(names, e.Metadata.Name)
	}
	if got := strings.Join(names, ","); got != "a,b,c,d" {
		t.Errorf("order %s, want a,b,c,d", got)
	}
	if exps[3].Source.Document != 1 || exps[3].Source.Line != 12 {
		t.Errorf("second document of c.yaml: source %+v", exps[3].Source)
	}
}

// TestCheckPathsNothing: for validate, a path that holds no experiment is
// an error naming it, never "0 experiments are valid".
func TestCheckPathsNothing(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	emptyDir := filepath.Join(dir, "nothing")
	if err := os.Mkdir(emptyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	notes := write("notes/README.md", "# not yaml\n")
	tests := []struct {
		name, path, want string
	}{
		{"empty file", write("empty.yaml", ""), "holds no experiment: the file is empty"},
		{"whitespace", write("blank.yaml", "  \n\n   \n"), "holds no experiment: the file is empty"},
		{"comments only", write("comments.yml", "# TODO: write the experiment\n---\n# later\n"), "holds no experiment: the file is empty"},
		{"null document", write("null.yaml", "~\n"), "holds no experiment: the file is empty"},
		{"empty directory", emptyDir, "holds no experiment files (*.yaml or *.yml"},
		{"directory without YAML files", filepath.Dir(notes), "holds no experiment files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exps, err := CheckPaths(kinds, tt.path)
			var ps Problems
			if !errors.As(err, &ps) || len(ps) != 1 {
				t.Fatalf("CheckPaths(kinds, %s) = %v, %v; want one problem", tt.path, exps, err)
			}
			if ps[0].File != tt.path || !strings.Contains(ps[0].Message, tt.want) {
				t.Errorf("problem %q, want it to name %s and say %q", ps[0].String(), tt.path, tt.want)
			}
		})
	}
}

func TestLoadFileMissing(t *testing.T) {
	_, err := LoadFile(kinds, "testdata/nope.yaml")
	if err == nil || err.Error() != "testdata/nope.yaml: does not exist" {
		t.Errorf("got %v", err)
	}
}

// TestLoadPathsEmptyDirectory: serve's directory may be empty (a runner
// installed before its experiments); an empty file in it is still an error.
func TestLoadPathsEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	if exps, err := LoadPaths(kinds, dir); err != nil || len(exps) != 0 {
		t.Errorf("empty directory: %v, %v", exps, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "empty.yaml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var ps Problems
	if _, err := LoadPaths(kinds, dir); !errors.As(err, &ps) || len(ps) != 1 || !strings.Contains(ps[0].Message, "holds no experiment") {
		t.Errorf("a directory with an empty file: %v", err)
	}
}
