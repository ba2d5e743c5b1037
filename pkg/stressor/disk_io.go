// disk_io.go holds the disk I/O load: workers that write, fsync, drop from
// the page cache and read back their own bounded files, and its report.

package stressor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DiskIOReport is the I/O load achieved by all workers together.
type DiskIOReport struct {
	Path           string  `json:"path"`
	Workers        int     `json:"workers"`
	WrittenBytes   int64   `json:"writtenBytes"`
	ReadBytes      int64   `json:"readBytes"`
	Fsyncs         int64   `json:"fsyncs"`
	WriteMiBPerSec float64 `json:"writeMiBPerSec"`
	ReadMiBPerSec  float64 `json:"readMiBPerSec"`
	Removed        bool    `json:"removed"`
}

// diskIOStress runs workers that each write their own bounded file with
// regular fsyncs, drop it from the page cache, read it back, and start
// over, until Stop.
type diskIOStress struct {
	dir     *diskDir
	path    string
	workers int
	log     func(format string, args ...any)

	acquired bool
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	files    []string
	results  []ioResult
	began    time.Time
	wall     time.Duration
}

type ioResult struct {
	written, read, fsyncs int64
	err                   error
}

func newDiskIOStress(cfg Config, dir *diskDir, log func(string, ...any)) *diskIOStress {
	return &diskIOStress{dir: dir, path: cfg.DiskPath, workers: cfg.DiskIOWorkers, log: log}
}

func (s *diskIOStress) Name() string { return "disk io" }

func (s *diskIOStress) Start(ctx context.Context) error {
	dir, err := s.dir.acquire()
	if err != nil {
		return err
	}
	s.acquired = true
	ctx, s.cancel = context.WithCancel(ctx)
	s.results = make([]ioResult, s.workers)
	s.began = time.Now()
	for i := range s.workers {
		name := filepath.Join(dir, fmt.Sprintf("io-%02d", i))
		s.files = append(s.files, name)
		s.wg.Go(func() { s.results[i] = ioWorker(ctx, name, uint64(i+1)) })
	}
	s.log("disk io: %d worker(s) writing, syncing and reading up to %s each under %s", s.workers, FormatBytes(DiskIOFileBytes), s.path)
	return nil
}

func (s *diskIOStress) Stop(r *Report) error {
	if s.cancel != nil {
		s.cancel()
	}
	s.wg.Wait()
	s.wall = time.Since(s.began)
	var rerr error
	if s.acquired {
		rerr = s.dir.release(s.files)
	}
	rep := &DiskIOReport{Path: s.path, Workers: s.workers, Removed: rerr == nil}
	var errs []error
	for _, res := range s.results {
		rep.WrittenBytes += res.written
		rep.ReadBytes += res.read
		rep.Fsyncs += res.fsyncs
		if res.err != nil {
			errs = append(errs, res.err)
		}
	}
	if sec := s.wall.Seconds(); sec > 0 {
		rep.WriteMiBPerSec = round2(float64(rep.WrittenBytes) / (1 << 20) / sec)
		rep.ReadMiBPerSec = round2(float64(rep.ReadBytes) / (1 << 20) / sec)
	}
	r.DiskIO = rep
	if rerr != nil {
		errs = append(errs, fmt.Errorf("remove the I/O files: %w", rerr))
	}
	return errors.Join(errs...)
}

// ioWorker is one I/O worker. A full filesystem makes it wait and retry
// rather than fail: the fill (or the workload) may have taken the space,
// which is the incident being modelled.
func ioWorker(ctx context.Context, name string, seed uint64) ioResult {
	var res ioResult
	block := randomBlock(seed)
	rbuf := make([]byte, diskChunk)
	for ctx.Err() == nil {
		if err := ioRound(ctx, name, block, rbuf, &res); err != nil {
			if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
				continue
			}
			res.err = fmt.Errorf("disk io worker: %w", err)
			return res
		}
	}
	return res
}

func ioRound(ctx context.Context, name string, block, rbuf []byte, res *ioResult) error {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() { _ = f.Close() }()
	var off, sinceSync int64
	for off < DiskIOFileBytes && ctx.Err() == nil {
		n, err := f.Write(block)
		off += int64(n)
		res.written += int64(n)
		sinceSync += int64(n)
		if err != nil {
			return err
		}
		if sinceSync >= diskIOSync {
			if err := f.Sync(); err != nil {
				return err
			}
			res.fsyncs++
			sinceSync = 0
		}
	}
	if err := f.Sync(); err != nil {
		return err
	}
	res.fsyncs++
	// Written back and synced: drop the pages so the reads go to the disk
	// rather than to the page cache (advice, ignored by tmpfs).
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	for ctx.Err() == nil {
		n, err := f.Read(rbuf)
		res.read += int64(n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	return nil
}
