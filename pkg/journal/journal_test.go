package journal

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/probe"
)

func TestRecordRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 23, 22, 0, 0, 0, time.UTC)
	exp := experiment.Experiment{APIVersion: experiment.APIVersion, Kind: experiment.Kind, Metadata: experiment.Metadata{Name: "x"}}
	exp.Spec.Duration = experiment.NewDuration(5 * time.Minute)
	in := &Record{
		SchemaVersion: SchemaVersion, RunID: "r", Experiment: exp, Seed: -3, Verdict: Held, Started: at,
		Samples: []Sample{
			{Phase: PhaseObserve, Result: probe.Result{Probe: "p", Role: probe.RoleHypothesis, At: at, OK: true, Value: 0.5}},
			{Phase: PhaseRecover, Result: probe.Result{Probe: "q", Value: math.NaN(), Err: "down"}},
		},
	}
	path := filepath.Join(t.TempDir(), "sub", "j.json")
	if err := (File{Path: path}).Write(in); err != nil {
		t.Fatal(err)
	}
	out, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Samples) != 2 || out.Samples[0].Phase != PhaseObserve || out.Samples[1].Phase != PhaseRecover {
		t.Fatalf("phases lost: %+v", out.Samples)
	}
	if out.Samples[0].Probe != "p" || !out.Samples[0].OK || out.Samples[0].Value != 0.5 || !math.IsNaN(out.Samples[1].Value) || out.Samples[1].Err != "down" {
		t.Errorf("sample fields lost: %+v", out.Samples)
	}
	if out.Seed != -3 || out.Experiment.Spec.Duration.Duration != 5*time.Minute || !out.Started.Equal(at) {
		t.Errorf("record fields lost: %+v", out)
	}
}

func TestReadRejectsOtherSchemaVersions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.json")
	if err := (File{Path: path}).Write(&Record{SchemaVersion: 99}); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(path); err == nil {
		t.Error("a journal of schema version 99 was accepted")
	}
}

// TestWriteIsDurable checks the order that makes a journal survive a
// crash: the data is synced before the rename makes it the journal, and
// the directory after it; a failed sync keeps the previous journal whole.
func TestWriteIsDurable(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "j.json")
	var calls []string
	ops := &durableOps{
		sync: func(f *os.File) error {
			calls = append(calls, "sync "+filepath.Base(f.Name()))
			return f.Sync()
		},
		rename: func(from, to string) error {
			calls = append(calls, "rename to "+filepath.Base(to))
			return os.Rename(from, to)
		},
		syncDir: func(d string) error {
			calls = append(calls, "syncdir "+d)
			return syncDir(d)
		},
	}
	if err := (File{Path: path, ops: ops}).Write(&Record{SchemaVersion: SchemaVersion, RunID: "first"}); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 3 || !strings.HasPrefix(calls[0], "sync .journal-") || calls[1] != "rename to j.json" || calls[2] != "syncdir "+dir {
		t.Fatalf("calls = %q, want sync of the temporary file, rename, sync of %s", calls, dir)
	}

	ops.sync = func(*os.File) error { return errors.New("disk on fire") }
	err := (File{Path: path, ops: ops}).Write(&Record{SchemaVersion: SchemaVersion, RunID: "second"})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("a failed sync returned %v, want the error", err)
	}
	rec, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if rec.RunID != "first" {
		t.Errorf("after a failed sync the journal holds run %q, want the previous one (first)", rec.RunID)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".journal-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
}

// Rounds and leftovers survive the file; an unknown end stays unknown (no
// zero time written), and the exit code follows them.
func TestRoundsAndLeftoversRoundTrip(t *testing.T) {
	until := time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)
	rec := &Record{SchemaVersion: SchemaVersion, RunID: "r", Verdict: Deviated,
		Rounds:    []Round{{Round: 1, Targets: 3, Touched: 1, Note: "injected 1 of 3: ..."}},
		Leftovers: []Leftover{{Injection: "stress", What: "helper pod shop/h", Until: until, Error: "forbidden"}, {Injection: "stress", What: "x", Error: "y"}}}
	path := filepath.Join(t.TempDir(), "j.json")
	if err := (File{Path: path}).Write(rec); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(raw), `"until"`) != 1 {
		t.Errorf("an unknown end must not be written as a time:\n%s", raw)
	}
	got, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	touched, targets, ok := got.Injected()
	if !ok || touched != 1 || targets != 3 || !got.RevertFailed() || !got.Leftovers[0].Until.Equal(until) || !got.Leftovers[1].Until.IsZero() {
		t.Errorf("read back %+v", got)
	}
	tests := []struct {
		rec  Record
		want int
	}{
		{Record{Verdict: Held}, 0}, {Record{Verdict: DryRun}, 0}, {Record{Verdict: Deviated}, 1},
		{Record{Verdict: Aborted}, 2}, {Record{Verdict: Skipped}, 2}, {Record{Verdict: Error}, 3}, {Record{Verdict: Running}, 3},
		{*got, 3}, {Record{Verdict: Aborted, Leftovers: got.Leftovers}, 3},
	}
	for _, tt := range tests {
		if code := tt.rec.ExitCode(); code != tt.want {
			t.Errorf("%s with %d leftovers: exit %d, want %d", tt.rec.Verdict, len(tt.rec.Leftovers), code, tt.want)
		}
	}
	if _, _, ok := (&Record{}).Injected(); ok {
		t.Error("a record without rounds reports an injection")
	}
}
