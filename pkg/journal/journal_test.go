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
