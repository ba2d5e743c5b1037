package journal

import (
	"math"
	"path/filepath"
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
