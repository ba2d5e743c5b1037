package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosnight/chaosnight/pkg/journal"
)

// fixtureJournals are the report package's fixture runs (held, deviated,
// aborted, a partial injection whose revert failed) as journal files.
func fixtureJournals(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("../report/testdata/journals/*.json")
	if err != nil || len(paths) != 4 {
		t.Fatalf("fixture journals: %v %v", paths, err)
	}
	return paths
}

func runReport(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := newReportCommand(Streams{In: strings.NewReader(""), Out: &out, Err: &errOut}, nil)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestReportCommand(t *testing.T) {
	journals := fixtureJournals(t)
	dir := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		file     string // written file, checked for want
		want     string
		wantCode int // exit code of the error, 0 for none
	}{
		{"html default format", []string{"-o", filepath.Join(dir, "r.html")}, "r.html", `id="summary"`, 0},
		{"junit", []string{"--format", "junit", "-o", filepath.Join(dir, "sub/r.xml")}, "sub/r.xml", `<testsuites name="chaosnight" tests="14"`, 0},
		{"markdown to stdout", []string{"--format", "markdown", "-o", "-"}, "", "## chaosnight: 1 held, 2 deviated, 1 aborted, 1 revert failed", 0},
		{"unknown format", []string{"--format", "pdf", "-o", filepath.Join(dir, "x")}, "", "", ExitInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := runReport(t, append(tt.args, journals...)...)
			if tt.wantCode != 0 {
				var ee *exitError
				if !errors.As(err, &ee) || ee.code != tt.wantCode {
					t.Fatalf("error %v, want exit code %d", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := stdout
			if tt.file != "" {
				data, err := os.ReadFile(filepath.Join(dir, tt.file))
				if err != nil {
					t.Fatal(err)
				}
				got = string(data)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("output lacks %q:\n%.500s", tt.want, got)
			}
		})
	}
}

func TestReportCommandBadJournal(t *testing.T) {
	bad := writeFile(t, t.TempDir(), "bad.json", "{not json")
	out := filepath.Join(t.TempDir(), "r.html")
	_, _, err := runReport(t, "-o", out, bad)
	if err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Fatalf("error %v, want one naming bad.json", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a report was written for a bad journal: %v", err)
	}
}

func TestRunReportsWrite(t *testing.T) {
	rec, err := journal.Read(fixtureJournals(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := runReports{junit: filepath.Join(dir, "junit.xml"), markdown: filepath.Join(dir, "summary.md")}
	if err := r.write(rec); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{r.junit: "<testsuites", r.markdown: "## chaosnight:"} {
		data, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(data), want) {
			t.Errorf("%s: %v, want it to contain %q", path, err, want)
		}
	}
	if err := (runReports{}).write(rec); err != nil {
		t.Errorf("no report asked: %v", err)
	}
	blocked := writeFile(t, dir, "file", "")
	if err := (runReports{junit: filepath.Join(blocked, "junit.xml")}).write(rec); err == nil {
		t.Error("no error writing under a regular file")
	}
}

func TestRunHasReportFlags(t *testing.T) {
	cmd := newRunCommand(Streams{}, newGlobals())
	for _, name := range []string{"junit", "markdown"} {
		if cmd.Flags().Lookup(name) == nil {
			t.Errorf("run has no --%s", name)
		}
	}
}
