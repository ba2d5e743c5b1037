package runner

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/chaosnight/chaosnight/pkg/engine"
	"github.com/chaosnight/chaosnight/pkg/journal"
)

// newRunID is sortable by time and safe in file names and label values.
func newRunID(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b) // never fails on Linux
	return now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b)
}

// newSeed draws the target-choice seed of a run; the journal records it and
// its replay command reproduces the choice.
func newSeed() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.LittleEndian.Uint64(b[:]) >> 1)
}

// prune removes journals older than the retention.
func (r *Runner) prune() {
	if r.cfg.Retention <= 0 {
		return
	}
	cutoff := r.cfg.Now().Add(-r.cfg.Retention)
	entries, err := os.ReadDir(r.journalDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		info, err := e.Info()
		if err == nil && info.ModTime().Before(cutoff) {
			if err := os.Remove(filepath.Join(r.journalDir(), e.Name())); err == nil {
				r.log.Debug("journal removed by retention", "file", e.Name())
			}
		}
	}
}

func (r *Runner) journalDir() string {
	if r.cfg.Journals == "" {
		return "journals"
	}
	return r.cfg.Journals
}

// RunSummary is one line of /runs.
type RunSummary struct {
	RunID      string          `json:"runID"`
	Experiment string          `json:"experiment"`
	Verdict    journal.Verdict `json:"verdict"`
	Started    time.Time       `json:"started"`
	Ended      time.Time       `json:"ended,omitempty"`
	Reasons    []string        `json:"reasons,omitempty"`
	DryRun     bool            `json:"dryRun,omitempty"`
	// ExitCode is what `chaosnight run` would exit with (engine.ExitCodeOf):
	// 3 after a failed revert whatever the verdict.
	ExitCode int `json:"exitCode"`
	// Leftovers are what a failed revert left in effect.
	Leftovers []journal.Leftover `json:"leftovers,omitempty"`
}

// Recent lists up to limit run records, newest first.
func (r *Runner) Recent(limit int) []RunSummary {
	entries, err := os.ReadDir(r.journalDir())
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".json") && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	// Names start with the run ID, which starts with the UTC time.
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	var out []RunSummary
	for _, n := range names {
		if len(out) >= limit {
			break
		}
		rec, err := journal.Read(filepath.Join(r.journalDir(), n))
		if err != nil {
			continue
		}
		out = append(out, RunSummary{RunID: rec.RunID, Experiment: rec.Experiment.Metadata.Name, Verdict: rec.Verdict,
			Started: rec.Started, Ended: rec.Ended, Reasons: rec.Reasons, DryRun: rec.DryRun,
			ExitCode: engine.ExitCodeOf(rec), Leftovers: rec.Leftovers})
	}
	return out
}

// Journal returns the path of a run's journal, or "" when there is none.
func (r *Runner) Journal(runID string) string {
	if runID == "" || strings.ContainsAny(runID, `/\.`) {
		return ""
	}
	matches, _ := filepath.Glob(filepath.Join(r.journalDir(), runID+"_*.json"))
	if len(matches) != 1 {
		return ""
	}
	return matches[0]
}
