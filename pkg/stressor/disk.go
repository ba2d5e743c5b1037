// disk.go holds what the disk stresses share: their bounds and chunk sizes,
// the validation and parsing of --disk-fill, --disk-io and --disk-path, and
// the incompressible block both write.

package stressor

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

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

// validateDisk adds the disk problems of c: the flags alone, then the
// directory, then whether what would be written fits on its filesystem
// (each step only once the one before holds: a missing directory has no
// filesystem to measure).
func (c Config) validateDisk(add func(string, ...any)) {
	c.validateDiskFlags(add)
	if c.DiskFill == 0 && c.DiskFillPercent == 0 && c.DiskIOWorkers == 0 {
		if c.DiskPath != "" {
			add("--disk-path needs --disk-fill or --disk-io (what to do there)")
		}
		if c.EvictionThresholdPercent != 0 {
			add("--eviction-threshold needs --disk-fill or --disk-io (the writes it bounds)")
		}
		return
	}
	if !c.validateDiskPath(add) {
		return
	}
	u, err := StatFS(c.DiskPath)
	if err != nil {
		add("--disk-path: %v", err)
		return
	}
	c.validateDiskRoom(add, u)
}

// validateDiskFlags adds the problems of the disk flags' values alone.
func (c Config) validateDiskFlags(add func(string, ...any)) {
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
}

// validateDiskPath adds the problems of --disk-path; it reports whether
// the directory exists, so that its filesystem can be measured.
func (c Config) validateDiskPath(add func(string, ...any)) bool {
	if c.DiskPath == "" {
		add("--disk-path is required with --disk-fill and --disk-io (the directory to write under)")
		return false
	}
	if !filepath.IsAbs(c.DiskPath) {
		add("--disk-path must be an absolute path, got %q", c.DiskPath)
		return false
	}
	fi, err := os.Stat(c.DiskPath)
	switch {
	case err != nil:
		add("--disk-path %s: %v", c.DiskPath, unwrapPathError(err))
		return false
	case !fi.IsDir():
		add("--disk-path %s is not a directory", c.DiskPath)
		return false
	}
	if unix.Access(c.DiskPath, unix.W_OK|unix.X_OK) != nil {
		add("--disk-path %s is not writable by this process", c.DiskPath)
	}
	return true
}

// validateDiskRoom adds a problem when what the stress would write does
// not fit on the filesystem u, or, when it fits, would take the node under
// the kubelet's eviction threshold.
func (c Config) validateDiskRoom(add func(string, ...any), u FSUsage) {
	fill := c.DiskFill != 0 || c.DiskFillPercent != 0
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
