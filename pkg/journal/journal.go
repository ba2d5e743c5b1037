// Package journal holds the record of one experiment run — the experiment,
// the seed, the targets, every probe sample, the phase timings, the verdict
// and its reasons — and writes it as JSON. The record is the evidence behind
// a verdict; reports are rendered from it.
package journal

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/gate"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/probe"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// SchemaVersion is bumped when the record changes incompatibly.
const SchemaVersion = 1

// Verdict is the outcome of a run.
type Verdict string

// Verdicts. DryRun is the outcome of a run with --dry-run: the plan was
// made and nothing was touched.
const (
	Held     Verdict = "held"     // the hypothesis held throughout and the system recovered
	Deviated Verdict = "deviated" // the hypothesis was refuted: a weakness was found
	Aborted  Verdict = "aborted"  // a stop condition, a signal or the kill switch ended it early; everything reverted
	Skipped  Verdict = "skipped"  // nothing was injected (steady state did not hold, no eligible target, ...)
	Error    Verdict = "error"    // chaosnight could not run the experiment
	DryRun   Verdict = "dry-run"  // planned only
	Running  Verdict = "running"  // checkpoint of a run in progress
)

// Word is the verdict as one CamelCase word, for Event and condition
// reasons (which the API conventions want CamelCase): dry-run → DryRun;
// "" → Ended.
func (v Verdict) Word() string {
	var b strings.Builder
	for part := range strings.SplitSeq(string(v), "-") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	if b.Len() == 0 {
		return "Ended"
	}
	return b.String()
}

// Phase names, in order.
const (
	PhasePreflight = "preflight"
	PhaseSelect    = "select"
	PhaseInject    = "inject"
	PhaseObserve   = "observe"
	PhaseRevert    = "revert"
	PhaseRecover   = "recover"
)

// Phase is the timing of one phase.
type Phase struct {
	Name    string    `json:"name"`
	Started time.Time `json:"started"`
	Ended   time.Time `json:"ended,omitempty"`
	Note    string    `json:"note,omitempty"`
}

// Sample is one probe or stop-condition evaluation, tagged with its phase.
type Sample struct {
	Phase string `json:"phase"`
	probe.Result
}

// Record is the journal of one run.
type Record struct {
	SchemaVersion int                   `json:"schemaVersion"`
	RunID         string                `json:"runID"`
	Experiment    experiment.Experiment `json:"experiment"`
	// Fault is the action in its kind's words (what it does, how revert
	// undoes it): a journal is read without the fault registry, so the
	// words are written down with the run.
	Fault      *experiment.Words  `json:"fault,omitempty"`
	File       string             `json:"file,omitempty"`
	Seed       int64              `json:"seed"`
	DryRun     bool               `json:"dryRun,omitempty"`
	Started    time.Time          `json:"started"`
	Ended      time.Time          `json:"ended,omitempty"`
	Verdict    Verdict            `json:"verdict"`
	Reasons    []string           `json:"reasons,omitempty"`
	Phases     []Phase            `json:"phases"`
	Targets    []target.Pod       `json:"targets,omitempty"`
	Injections []inject.Injection `json:"injections,omitempty"`
	Samples    []Sample           `json:"samples,omitempty"`
	// Baselines are the baselines measured before preflight, one per
	// hypothesis probe with expect.baseline (see baseline.go).
	Baselines []Baseline `json:"baselines,omitempty"`
	// Rounds says, per injection (podKill.every repeats it), how many of
	// the targets were really changed: a verdict is only worth what was
	// injected. Empty in dry runs and when nothing reached the injector.
	Rounds []Round `json:"rounds,omitempty"`
	// Leftovers are what a failed revert left in the cluster, each with
	// the instant it ends by itself when that is known. Any leftover makes
	// the run's exit code 3, whatever the verdict.
	Leftovers []Leftover `json:"leftovers,omitempty"`
	// TimeToRecover is the time from the end of the revert to the first
	// recover round in which the hypothesis held again; absent when it
	// did not recover (or recover did not run).
	TimeToRecoverSeconds *float64 `json:"timeToRecoverSeconds,omitempty"`
	// Detections are what the monitoring did, per alert of spec.detect
	// (detect.go): time to detect, time to resolve, detection gaps.
	Detections []Detection `json:"detections,omitempty"`
	// Gate is the incident-aware gate's check before each injection (round
	// 1, and each repeat): what it checked and its answer. A closed gate
	// skips the run (or the repeat) with its reasons ("gate: ...").
	Gate []gate.Check `json:"gate,omitempty"`
	// Replay is the command that repeats this run with the same choice of targets.
	Replay string `json:"replay,omitempty"`
}

// Round is the count of one injection: targets given and targets changed.
type Round struct {
	Round   int       `json:"round"` // 1 is the first injection
	At      time.Time `json:"at"`
	Targets int       `json:"targets"` // targets picked for this round
	Touched int       `json:"touched"` // targets killed, evicted or stressed
	// Note says what was not done and why ("injected 1 of 3: ...",
	// "round 3 touched nothing: ..."); empty when every target was touched.
	Note string `json:"note,omitempty"`
}

// Leftover is one thing a revert could not undo.
type Leftover struct {
	Injection string `json:"injection"` // the injection's kind: stress, podKill
	What      string `json:"what"`      // "ephemeral container C of pod NS/NAME", ...
	// Until is when it ends by itself (the stressor's deadline); zero when
	// unknown, which means someone must clean it up.
	Until time.Time `json:"until,omitzero"`
	Error string    `json:"error"`
}

// RevertFailed reports whether something the run injected may still be
// in effect.
func (r *Record) RevertFailed() bool { return len(r.Leftovers) > 0 }

// ExitCode is the exit code of the run for the CLI and CI: 0 held or a dry
// run, 1 deviated, 2 aborted or skipped, 3 error (or still running: a
// crashed run), and 3 whenever a revert left something in effect,
// whatever the verdict. `run`, serve's pages and the reports all use it.
func (r *Record) ExitCode() int {
	if r.RevertFailed() {
		return 3
	}
	return r.Verdict.ExitCode()
}

// ExitCode maps the verdict alone to an exit code (see Record.ExitCode).
func (v Verdict) ExitCode() int {
	switch v {
	case Held, DryRun:
		return 0
	case Deviated:
		return 1
	case Aborted, Skipped:
		return 2
	}
	return 3
}

// Injected returns the first round's touched and total targets, and
// whether an injection reached the injector at all.
func (r *Record) Injected() (touched, targets int, ok bool) {
	if len(r.Rounds) == 0 {
		return 0, 0, false
	}
	return r.Rounds[0].Touched, r.Rounds[0].Targets, true
}

// Sink receives the record at every checkpoint and at the end of a run.
type Sink interface {
	Write(rec *Record) error
}

// File writes the record to one JSON file, replacing it atomically so that
// a reader (or a crash) never sees half a record.
type File struct {
	Path string
	// ops replaces the file system calls whose order makes the write
	// durable (tests); nil uses the os package.
	ops *durableOps
}

// durableOps are the calls that make a journal survive a crash, in the
// order Write makes them: sync the data, rename, sync the directory.
type durableOps struct {
	sync    func(f *os.File) error
	rename  func(from, to string) error
	syncDir func(dir string) error
}

func (f File) durable() durableOps {
	if f.ops != nil {
		return *f.ops
	}
	return durableOps{sync: (*os.File).Sync, rename: os.Rename, syncDir: syncDir}
}

// Write implements Sink.
func (f File) Write(rec *Record) error {
	if dir := filepath.Dir(f.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("journal directory: %w", err)
		}
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding journal: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.Path), ".journal-*.json")
	if err != nil {
		return fmt.Errorf("writing journal: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // no-op after the rename
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing journal %s: %w", f.Path, err)
	}
	// The data reaches the disk before the rename makes it the journal:
	// without the fsync, a crash (or a node losing power) right after
	// "written" can leave an empty or truncated file under the final name,
	// since the rename may be persisted before the data.
	ops := f.durable()
	if err := ops.sync(tmp); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("writing journal %s: %w", f.Path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing journal %s: %w", f.Path, err)
	}
	if err := ops.rename(tmp.Name(), f.Path); err != nil {
		return fmt.Errorf("writing journal %s: %w", f.Path, err)
	}
	// And the rename itself is persisted with the directory.
	return ops.syncDir(filepath.Dir(f.Path))
}

// syncDir fsyncs a directory, so that a rename in it survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("journal directory %s: %w", dir, err)
	}
	defer func() { _ = d.Close() }()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("journal directory %s: %w", dir, err)
	}
	return nil
}

// Read loads a record written by File.
func Read(path string) (*Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading journal: %w", err)
	}
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	if rec.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("journal %s: schema version %d, this chaosnight reads %d", path, rec.SchemaVersion, SchemaVersion)
	}
	return &rec, nil
}

// Discard is a Sink that keeps nothing (tests, dry runs without --journal).
type Discard struct{}

// Write implements Sink.
func (Discard) Write(*Record) error { return nil }

// MarshalJSON writes the phase beside the result's fields. Without it the
// embedded Result's own MarshalJSON would be promoted and drop the phase.
func (s Sample) MarshalJSON() ([]byte, error) {
	body, err := json.Marshal(s.Result)
	if err != nil {
		return nil, err
	}
	phase, err := json.Marshal(s.Phase)
	if err != nil {
		return nil, err
	}
	out := append([]byte(`{"phase":`), phase...)
	if len(body) > 2 { // body is a JSON object: "{...}"
		out = append(out, ',')
	}
	return append(out, body[1:]...), nil
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Sample) UnmarshalJSON(b []byte) error {
	var p struct {
		Phase string `json:"phase"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	if err := json.Unmarshal(b, &s.Result); err != nil {
		return err
	}
	s.Phase = p.Phase
	return nil
}
