// disk_fill.go holds the disk fill: real data written up to a size or a
// filesystem Use%, held, and deleted in Stop, and its report.

package stressor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// DiskFillReport is what the fill wrote and how fast.
type DiskFillReport struct {
	Path             string  `json:"path"`
	RequestedBytes   int64   `json:"requestedBytes"` // computed from the percentage when one was given
	RequestedPercent int     `json:"requestedPercent,omitempty"`
	WrittenBytes     int64   `json:"writtenBytes"`
	SecondsToFill    float64 `json:"secondsToFill"` // 0 when the fill did not complete
	FillMiBPerSec    float64 `json:"fillMiBPerSec"`
	UsedPercentFull  float64 `json:"usedPercentFull"`          // the filesystem's Use% once filled
	FilesystemFull   bool    `json:"filesystemFull,omitempty"` // ENOSPC before the target
	Removed          bool    `json:"removed"`
}

// diskFillStress writes real data under the stress directory until the
// requested size (or the filesystem's Use%) is reached, holds it, and
// deletes it in Stop.
type diskFillStress struct {
	dir     *diskDir
	path    string
	bytes   int64
	percent int
	log     func(format string, args ...any)

	acquired bool
	t0       time.Time
	target   int64
	files    []string
	written  int64
	took     time.Duration
	done     bool
	full     bool
	usedPct  float64
}

func newDiskFillStress(cfg Config, dir *diskDir, log func(string, ...any)) *diskFillStress {
	return &diskFillStress{dir: dir, path: cfg.DiskPath, bytes: cfg.DiskFill, percent: cfg.DiskFillPercent, log: log}
}

func (s *diskFillStress) Name() string { return "disk fill" }

// Start writes until the target is reached and returns, or returns early
// with ctx's error. A full filesystem (ENOSPC) ends the fill without an
// error: a full disk is what was asked for, only sooner.
func (s *diskFillStress) Start(ctx context.Context) error {
	s.target = s.bytes
	if s.percent > 0 {
		u, err := StatFS(s.path)
		if err != nil {
			return err
		}
		s.target = fillTarget(u, s.percent)
	}
	dir, err := s.dir.acquire()
	if err != nil {
		return err
	}
	s.acquired = true
	block := randomBlock(uint64(os.Getpid()))
	s.t0 = time.Now()
	var f *os.File
	var inFile, sinceSync int64
	closeFile := func() error {
		if f == nil {
			return nil
		}
		err := f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		f = nil
		return err
	}
	defer closeFile() //nolint:errcheck // closed explicitly on the success path
	for s.written < s.target {
		if err := ctx.Err(); err != nil {
			return err
		}
		if f == nil || inFile >= diskFileBytes {
			if err := closeFile(); err != nil {
				return s.writeErr(err)
			}
			name := filepath.Join(dir, fmt.Sprintf("fill-%04d", len(s.files)))
			f, err = os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return s.writeErr(err)
			}
			s.files = append(s.files, name)
			inFile = 0
		}
		n := min(int64(len(block)), s.target-s.written, diskFileBytes-inFile)
		w, err := f.Write(block[:n])
		s.written += int64(w)
		inFile += int64(w)
		sinceSync += int64(w)
		if err != nil {
			return s.writeErr(err)
		}
		if sinceSync >= diskFillSync {
			if err := f.Sync(); err != nil {
				return s.writeErr(err)
			}
			sinceSync = 0
		}
	}
	if err := closeFile(); err != nil {
		return s.writeErr(err)
	}
	s.reached()
	return nil
}

// writeErr turns ENOSPC into a completed (short) fill.
func (s *diskFillStress) writeErr(err error) error {
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		s.full = true
		s.reached()
		s.log("disk fill: the filesystem is full after %s (asked for %s)", FormatBytes(s.written), FormatBytes(s.target))
		return nil
	}
	return fmt.Errorf("fill %s: %w", s.path, err)
}

func (s *diskFillStress) reached() {
	s.took = time.Since(s.t0)
	s.done = true
	if u, err := StatFS(s.path); err == nil {
		s.usedPct = round2(u.UsedPercent())
	}
	s.log("disk fill: %s written under %s after %.3fs (filesystem %.1f%% used)", FormatBytes(s.written), s.path, s.took.Seconds(), s.usedPct)
}

// Stop deletes everything the fill wrote and reports.
func (s *diskFillStress) Stop(r *Report) error {
	var err error
	if s.acquired {
		err = s.dir.release(s.files)
	}
	rep := &DiskFillReport{
		Path: s.path, RequestedBytes: s.target, RequestedPercent: s.percent,
		WrittenBytes: s.written, UsedPercentFull: s.usedPct, FilesystemFull: s.full, Removed: err == nil,
	}
	if s.done {
		rep.SecondsToFill = round3(s.took.Seconds())
		if s.took > 0 {
			rep.FillMiBPerSec = round2(float64(s.written) / (1 << 20) / s.took.Seconds())
		}
	}
	r.DiskFill = rep
	if err != nil {
		return fmt.Errorf("remove what the fill wrote: %w", err)
	}
	return nil
}
