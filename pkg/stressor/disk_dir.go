// disk_dir.go holds the stress directory and its lock: every disk stress
// writes under one flocked chaosnight-fill-* directory, removed on every exit
// path, and a later stress removes the leftovers of a killed one.

package stressor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
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
		_ = lock.Close()
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
		_ = f.Close()
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
		_ = lock.Close()
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
			_ = d.lock.Close()
			d.lock = nil
		}
	}
	return errors.Join(errs...)
}
