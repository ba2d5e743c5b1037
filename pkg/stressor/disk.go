package stressor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Bounds of a disk stress.
const (
	MinDiskFillPercent = 1
	MaxDiskFillPercent = 99
	MaxDiskIOWorkers   = 32

	// DiskIOFileBytes bounds what one I/O worker keeps on the disk: it
	// writes its file up to this size (with an fsync every diskIOSync),
	// reads it back, and starts over. The I/O load is therefore sustained
	// while the space it takes stays at workers × this size.
	DiskIOFileBytes = 64 << 20

	// diskChunk is the size of one write: large enough to stream, small
	// enough that the context is looked at every few milliseconds.
	diskChunk = 1 << 20
	// diskFileBytes is the largest fill file; more files follow, so a
	// filesystem with a small file-size limit (FAT) can still be filled.
	diskFileBytes = 1 << 30
	// diskFillSync is how often the fill fsyncs, so that the data really
	// takes the space (not only dirty page cache) while it grows.
	diskFillSync = 64 << 20
	diskIOSync   = 4 << 20
)

// DiskDirPrefix starts the name of the subdirectory of --disk-path that a
// disk stress writes into (chaosnight-fill-<pid>-<random>): everything the
// stress writes is under it, and it is removed on every exit path. The
// random part matters: in a container the stressor is usually PID 1, so
// the PID alone would collide with the leftover of a killed predecessor.
const DiskDirPrefix = "chaosnight-fill-"

// Leftover is a stress directory that a killed stressor (SIGKILL, an OOM
// kill, a node crash) could not remove, and that a later disk stress on
// the same path removed.
type Leftover struct {
	Path  string `json:"path"`
	Bytes int64  `json:"bytes"`
}

// RemoveDiskLeftovers removes the stress directories under path whose
// owner is gone. Every live stressor holds an exclusive flock on its
// directory for as long as it writes there; the kernel drops the lock
// when the process dies however it dies, so a directory whose lock can be
// taken belongs to nobody. Only directories named DiskDirPrefix* directly
// under path are looked at, never followed through symlinks. A directory
// that cannot be removed is an error; the others are still removed.
func RemoveDiskLeftovers(path string) ([]Leftover, error) {
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("look for leftovers under %s: %w", path, unwrapPathError(err))
	}
	var removed []Leftover
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), DiskDirPrefix) {
			continue // a symlink or a file is not ours, whatever its name
		}
		dir := filepath.Join(path, e.Name())
		lock, err := lockDir(dir, false)
		switch {
		case errors.Is(err, unix.EWOULDBLOCK):
			continue // a live stressor's
		case errors.Is(err, os.ErrNotExist):
			continue // removed meanwhile by its owner or another sweep
		case err != nil:
			errs = append(errs, fmt.Errorf("leftover %s: %w", dir, err))
			continue
		}
		n := allocatedBytes(dir)
		err = os.RemoveAll(dir)
		lock.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("remove leftover %s: %w", dir, err))
			continue
		}
		removed = append(removed, Leftover{Path: dir, Bytes: n})
	}
	return removed, errors.Join(errs...)
}

// RemoveDiskLeftovers removes the leftovers of killed disk stresses under
// c.DiskPath before a disk stress starts there (so that their space counts
// as available); it does nothing for a config without a disk stress or
// with a path that Validate will refuse anyway.
func (c Config) RemoveDiskLeftovers() ([]Leftover, error) {
	if c.DiskFill == 0 && c.DiskFillPercent == 0 && c.DiskIOWorkers == 0 || !filepath.IsAbs(c.DiskPath) {
		return nil, nil
	}
	if fi, err := os.Stat(c.DiskPath); err != nil || !fi.IsDir() {
		return nil, nil
	}
	return RemoveDiskLeftovers(c.DiskPath)
}

// lockDir opens dir (not through a symlink) and takes an exclusive flock
// on it; wait says whether to wait for the lock.
func lockDir(dir string, wait bool) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	f := os.NewFile(uintptr(fd), dir)
	how := unix.LOCK_EX
	if !wait {
		how |= unix.LOCK_NB
	}
	if err := unix.Flock(fd, how); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// allocatedBytes is what the files under dir take on the disk (du), for
// the report; errors count as nothing.
func allocatedBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			if st, ok := info.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			}
		}
		return nil
	})
	return n
}

// FSUsage is the space of the filesystem holding a path, as df counts it:
// Used is taken by anyone, Avail is what an unprivileged writer may still
// take (the root reserve excluded), and the used percentage is
// Used / (Used + Avail).
type FSUsage struct {
	Size, Used, Avail int64
}

// UsedPercent is df's Use%.
func (u FSUsage) UsedPercent() float64 {
	if u.Used+u.Avail == 0 {
		return 100
	}
	return 100 * float64(u.Used) / float64(u.Used+u.Avail)
}

// StatFS reads the usage of the filesystem holding path.
func StatFS(path string) (FSUsage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return FSUsage{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := int64(st.Bsize)
	return FSUsage{
		Size:  int64(st.Blocks) * bs,
		Used:  (int64(st.Blocks) - int64(st.Bfree)) * bs,
		Avail: int64(st.Bavail) * bs,
	}, nil
}

// fillTarget is how many bytes to write so that the filesystem reaches
// percent used (df's Use%), given its usage now.
func fillTarget(u FSUsage, percent int) int64 {
	total := u.Used + u.Avail
	want := (total*int64(percent) + 99) / 100
	return max(want-u.Used, 0)
}

// validateDisk adds the disk problems of c.
func (c Config) validateDisk(add func(string, ...any)) {
	fill := c.DiskFill != 0 || c.DiskFillPercent != 0
	if c.DiskFill != 0 && c.DiskFillPercent != 0 {
		add("--disk-fill is either a size or a percentage, not both")
	}
	if c.DiskFill < 0 {
		add("--disk-fill must not be negative, got %d bytes", c.DiskFill)
	}
	if c.DiskFillPercent != 0 && (c.DiskFillPercent < MinDiskFillPercent || c.DiskFillPercent > MaxDiskFillPercent) {
		add("--disk-fill percentage must be between %d%% and %d%%, got %d%%", MinDiskFillPercent, MaxDiskFillPercent, c.DiskFillPercent)
	}
	if t := c.EvictionThresholdPercent; t != 0 && (t < MinDiskFillPercent || t > MaxDiskFillPercent) {
		add("--eviction-threshold must be between %d%% and %d%%, got %d%%", MinDiskFillPercent, MaxDiskFillPercent, t)
	}
	if c.DiskIOWorkers < 0 || c.DiskIOWorkers > MaxDiskIOWorkers {
		add("--disk-io must be between 1 and %d workers (0 for no I/O stress), got %d", MaxDiskIOWorkers, c.DiskIOWorkers)
	}
	if !fill && c.DiskIOWorkers == 0 {
		if c.DiskPath != "" {
			add("--disk-path needs --disk-fill or --disk-io (what to do there)")
		}
		if c.EvictionThresholdPercent != 0 {
			add("--eviction-threshold needs --disk-fill or --disk-io (the writes it bounds)")
		}
		return
	}
	if c.DiskPath == "" {
		add("--disk-path is required with --disk-fill and --disk-io (the directory to write under)")
		return
	}
	if !filepath.IsAbs(c.DiskPath) {
		add("--disk-path must be an absolute path, got %q", c.DiskPath)
		return
	}
	fi, err := os.Stat(c.DiskPath)
	switch {
	case err != nil:
		add("--disk-path %s: %v", c.DiskPath, unwrapPathError(err))
		return
	case !fi.IsDir():
		add("--disk-path %s is not a directory", c.DiskPath)
		return
	}
	if unix.Access(c.DiskPath, unix.W_OK|unix.X_OK) != nil {
		add("--disk-path %s is not writable by this process", c.DiskPath)
	}
	u, err := StatFS(c.DiskPath)
	if err != nil {
		add("--disk-path: %v", err)
		return
	}
	ioBytes := int64(c.DiskIOWorkers) * DiskIOFileBytes
	write := ioBytes // what the stress will take at most
	fits := true
	switch {
	case c.DiskFill > 0:
		write += c.DiskFill
		if write > u.Avail {
			fits = false
			add("--disk-fill %s%s does not fit on the filesystem of %s (%s available of %s)",
				FormatBytes(c.DiskFill), ioNote(ioBytes), c.DiskPath, FormatBytes(u.Avail), FormatBytes(u.Size))
		}
	case c.DiskFillPercent >= MinDiskFillPercent && c.DiskFillPercent <= MaxDiskFillPercent:
		write += fillTarget(u, c.DiskFillPercent)
		if used := u.UsedPercent(); used >= float64(c.DiskFillPercent) {
			fits = false
			add("--disk-fill %d%%: the filesystem of %s is already %.1f%% used", c.DiskFillPercent, c.DiskPath, used)
		} else if write > u.Avail {
			fits = false
			add("--disk-fill %d%%%s does not fit on the filesystem of %s (%s available of %s)",
				c.DiskFillPercent, ioNote(ioBytes), c.DiskPath, FormatBytes(u.Avail), FormatBytes(u.Size))
		}
	case !fill && ioBytes > u.Avail:
		fits = false
		add("--disk-io %d needs %s (%s per worker) but the filesystem of %s has %s available",
			c.DiskIOWorkers, FormatBytes(ioBytes), FormatBytes(DiskIOFileBytes), c.DiskPath, FormatBytes(u.Avail))
	}
	if fits && c.EvictionThresholdPercent >= MinDiskFillPercent && c.EvictionThresholdPercent <= MaxDiskFillPercent {
		if left := AvailablePercentAfter(u, write); left < float64(c.EvictionThresholdPercent) {
			add("%s would leave %.1f%% available on the node filesystem (%s of %s at %s), under the kubelet's hard eviction threshold of %d%% (nodefs.available)",
				c.diskWords(), left, FormatBytes(max(u.Avail-write, 0)), FormatBytes(u.Size), c.DiskPath, c.EvictionThresholdPercent)
		}
	}
}

// AvailablePercentAfter is the share of the filesystem still available
// once write more bytes are taken, as the kubelet counts nodefs.available:
// available (what an unprivileged writer may take) over capacity.
func AvailablePercentAfter(u FSUsage, write int64) float64 {
	if u.Size <= 0 {
		return 0
	}
	return 100 * float64(max(u.Avail-write, 0)) / float64(u.Size)
}

// diskWords names the disk flags of c, for messages.
func (c Config) diskWords() string {
	var parts []string
	switch {
	case c.DiskFill > 0:
		parts = append(parts, "--disk-fill "+FormatBytes(c.DiskFill))
	case c.DiskFillPercent > 0:
		parts = append(parts, fmt.Sprintf("--disk-fill %d%%", c.DiskFillPercent))
	}
	if c.DiskIOWorkers > 0 {
		parts = append(parts, fmt.Sprintf("--disk-io %d (%s)", c.DiskIOWorkers, FormatBytes(int64(c.DiskIOWorkers)*DiskIOFileBytes)))
	}
	return strings.Join(parts, " with ")
}

func ioNote(ioBytes int64) string {
	if ioBytes == 0 {
		return ""
	}
	return fmt.Sprintf(" plus %s for --disk-io", FormatBytes(ioBytes))
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// ParsePercent reads a whole percentage between 1% and 99%, with or
// without its % sign ("10%", "10").
func ParsePercent(s string) (int, error) {
	p := strings.TrimSuffix(strings.TrimSpace(s), "%")
	var n int
	if _, err := fmt.Sscanf(p, "%d", &n); err != nil || fmt.Sprint(n) != p {
		return 0, fmt.Errorf("invalid percentage %q: a whole number such as 10%%", s)
	}
	if n < MinDiskFillPercent || n > MaxDiskFillPercent {
		return 0, fmt.Errorf("invalid percentage %q: must be between %d%% and %d%%", s, MinDiskFillPercent, MaxDiskFillPercent)
	}
	return n, nil
}

// ParseDiskFill reads --disk-fill: a Kubernetes quantity (2Gi) or a
// percentage of the filesystem ("90%"). Exactly one of the results is
// non-zero for a valid non-zero value.
func ParseDiskFill(s string) (bytes int64, percent int, err error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		var n int
		if _, err := fmt.Sscanf(p, "%d", &n); err != nil || fmt.Sprint(n) != p {
			return 0, 0, fmt.Errorf("invalid disk fill %q: a percentage is a whole number such as 90%%", s)
		}
		if n < MinDiskFillPercent || n > MaxDiskFillPercent {
			return 0, 0, fmt.Errorf("invalid disk fill %q: a percentage must be between %d%% and %d%%", s, MinDiskFillPercent, MaxDiskFillPercent)
		}
		return 0, n, nil
	}
	b, err := ParseMemory(s)
	if err != nil {
		return 0, 0, fmt.Errorf("invalid disk fill %q: use a size such as 2Gi or a percentage such as 90%%", s)
	}
	return b, 0, nil
}

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

// diskDir creates the stress's directory (once per process: the fill and
// the I/O workers share it), holds its lock while anyone writes there, and
// removes it when the last user is done.
type diskDir struct {
	mu    sync.Mutex
	base  string // --disk-path
	path  string // base/chaosnight-fill-<pid>-<random>, once created
	lock  *os.File
	users int
}

func (d *diskDir) acquire() (string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.users == 0 {
		path, lock, err := createLockedDir(d.base)
		if err != nil {
			return "", err
		}
		d.path, d.lock = path, lock
	}
	d.users++
	return d.path, nil
}

// createLockedDir makes a fresh stress directory under base and locks it.
// Between the mkdir and the flock, another stressor's leftover sweep may
// take the lock of the still-empty directory and remove it: the directory
// is therefore checked to be still there, the one locked, and made anew
// if not.
func createLockedDir(base string) (string, *os.File, error) {
	for range 3 {
		path, err := os.MkdirTemp(base, fmt.Sprintf("%s%d-", DiskDirPrefix, os.Getpid()))
		if err != nil {
			return "", nil, fmt.Errorf("create the stress directory under %s: %w", base, unwrapPathError(err))
		}
		lock, err := lockDir(path, true)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			_ = os.Remove(path)
			return "", nil, fmt.Errorf("lock %s: %w", path, err)
		}
		locked, lerr := lock.Stat()
		named, nerr := os.Lstat(path)
		if lerr == nil && nerr == nil && os.SameFile(locked, named) {
			return path, lock, nil
		}
		lock.Close()
	}
	return "", nil, fmt.Errorf("create the stress directory under %s: removed three times by a concurrent leftover sweep", base)
}

// release removes files (written by one user), then the directory if no
// other user remains. Only a user whose acquire succeeded calls it.
func (d *diskDir) release(files []string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for _, f := range files {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	d.users--
	if d.users <= 0 {
		// Anything left (a file a crash of ours left half-named) goes too:
		// the directory is ours alone. The lock goes last, so that no
		// sweep ever sees the directory unlocked while it still holds data
		// of a live stress.
		if err := os.RemoveAll(d.path); err != nil {
			errs = append(errs, err)
		}
		if d.lock != nil {
			d.lock.Close()
			d.lock = nil
		}
	}
	return errors.Join(errs...)
}

// randomBlock is a chunk of incompressible data, so that a compressing or
// deduplicating filesystem (btrfs, ZFS) really stores what is written.
func randomBlock(seed uint64) []byte {
	b := make([]byte, diskChunk)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
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
	defer f.Close()
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
