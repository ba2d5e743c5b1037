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
	if err := s.setTarget(); err != nil {
		return err
	}
	dir, err := s.dir.acquire()
	if err != nil {
		return err
	}
	s.acquired = true
	block := randomBlock(uint64(os.Getpid()))
	s.t0 = time.Now()
	var out fillFile
	defer out.close() //nolint:errcheck // closed explicitly on the success path
	for s.written < s.target {
		if err := ctx.Err(); err != nil {
			return err
		}
		if out.f == nil || out.inFile >= diskFileBytes {
			if err := s.openNext(&out, dir); err != nil {
				return s.writeErr(err)
			}
		}
		if err := s.writeChunk(&out, block); err != nil {
			return s.writeErr(err)
		}
	}
	if err := out.close(); err != nil {
		return s.writeErr(err)
	}
	s.reached()
	return nil
}

// setTarget turns a percentage into bytes, from the filesystem's size now.
func (s *diskFillStress) setTarget() error {
	s.target = s.bytes
	if s.percent > 0 {
		u, err := StatFS(s.path)
		if err != nil {
			return err
		}
		s.target = fillTarget(u, s.percent)
	}
	return nil
}

// fillFile is the fill file being written (nil before the first) and how
// much went into it, in all and since its last fsync.
type fillFile struct {
	f                 *os.File
	inFile, sinceSync int64
}

// close syncs and closes the file, if any: the data must be on disk, not
// only in the page cache, for the space to be taken.
func (o *fillFile) close() error {
	if o.f == nil {
		return nil
	}
	err := o.f.Sync()
	if cerr := o.f.Close(); err == nil {
		err = cerr
	}
	o.f = nil
	return err
}

// openNext closes the current file and creates the next one in dir:
// files of at most diskFileBytes, so that a filesystem with a small
// file-size limit can still be filled.
func (s *diskFillStress) openNext(o *fillFile, dir string) error {
	if err := o.close(); err != nil {
		return err
	}
	name := filepath.Join(dir, fmt.Sprintf("fill-%04d", len(s.files)))
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	s.files = append(s.files, name)
	o.f, o.inFile = f, 0
	return nil
}

// writeChunk writes one block (less at the end of the target or of the
// file) and fsyncs every diskFillSync bytes.
func (s *diskFillStress) writeChunk(o *fillFile, block []byte) error {
	n := min(int64(len(block)), s.target-s.written, diskFileBytes-o.inFile)
	w, err := o.f.Write(block[:n])
	s.written += int64(w)
	o.inFile += int64(w)
	o.sinceSync += int64(w)
	if err != nil {
		return err
	}
	if o.sinceSync >= diskFillSync {
		if err := o.f.Sync(); err != nil {
			return err
		}
		o.sinceSync = 0
	}
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
