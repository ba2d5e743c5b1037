package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const validExperiment = `apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata:
  name: ok
spec:
  hypothesis:
    probes:
      - name: up
        query: up{job="shop"}
        expect: {equals: 1}
  target:
    namespaces: [shop]
    selector: app=checkout
  action:
    podKill: {}
  duration: 1m
`

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidateExamples(t *testing.T) {
	clearEnv(t)
	code, out, stderr := run(t, "validate", "../../experiments")
	if code != 0 {
		t.Fatalf("experiments/ must be valid: exit %d\n%s%s", code, out, stderr)
	}
	if !strings.HasPrefix(out, "ok: ") {
		t.Errorf("unexpected output %q", out)
	}
}

func TestValidateReportsFileLineAndField(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", validExperiment)
	typo := writeFile(t, dir, "sub/typo.yml", strings.Replace(validExperiment, "    selector: app=checkout", "    selectr: app=checkout", 1))
	promql := writeFile(t, dir, "promql.yaml", strings.Replace(
		strings.Replace(validExperiment, "name: ok", "name: ok2", 1),
		`up{job="shop"}`, `sum(rate(x[5m])`, 1))
	ignored := writeFile(t, dir, "notes.txt", "not yaml: [")
	other := t.TempDir()
	empty := writeFile(t, other, "empty.yaml", "# the experiment comes later\n")
	noYAML := filepath.Join(other, "docs")
	writeFile(t, other, "docs/README.md", "# nothing to validate\n")

	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string // substrings of stdout
	}{
		{"valid file", []string{"validate", good}, 0, []string{"ok: 1 experiment(s) in 1 file(s) are valid"}},
		{"misspelled field", []string{"validate", typo}, ExitInvalid, []string{typo + ":13: spec.target.selectr: unknown field"}},
		{"broken promql", []string{"validate", promql}, ExitInvalid, []string{promql + ":9: spec.hypothesis.probes[0].query: "}},
		{"directory, recursive, every problem at once", []string{"validate", dir}, ExitInvalid, []string{typo + ":13:", promql + ":9:"}},
		{"missing path", []string{"validate", filepath.Join(dir, "nope.yaml")}, ExitInvalid, []string{"nope.yaml"}},
		{"a file without experiment", []string{"validate", empty}, ExitInvalid, []string{empty + ": holds no experiment"}},
		{"a directory without experiment files", []string{"validate", noYAML}, ExitInvalid, []string{noYAML + ": holds no experiment files"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, stderr := run(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, out, stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(out+stderr, w) {
					t.Errorf("output does not contain %q:\n%s%s", w, out, stderr)
				}
			}
			if strings.Contains(out, ignored) {
				t.Errorf("non-YAML file was read: %s", out)
			}
		})
	}
}

func TestValidateNeedsAPath(t *testing.T) {
	clearEnv(t)
	code, _, stderr := run(t, "validate")
	if code != ExitInvalid || !strings.Contains(stderr, "requires at least 1 arg") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

func TestSchemaIsJSONAndCommitted(t *testing.T) {
	clearEnv(t)
	code, out, _ := run(t, "schema")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("schema is not JSON: %v", err)
	}
	// The examples point yaml-language-server at experiments/experiment.schema.json;
	// it must be the schema this binary prints (regenerate with `make schema`).
	committed, err := os.ReadFile("../../experiments/experiment.schema.json")
	if err != nil {
		t.Fatalf("experiments/experiment.schema.json: %v (run `make schema`)", err)
	}
	if string(committed) != out {
		t.Error("experiments/experiment.schema.json is stale: run `make schema`")
	}
}
