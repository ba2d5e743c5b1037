package stressor_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chaosnight/chaosnight/pkg/stressor"
)

// scratchFS is a directory for a disk stress: a fresh tmpfs of the given
// size when this process may mount one (root), so that sizes and
// percentages are exact and nothing else writes there, else a plain
// temporary directory (tmpfs reports false).
func scratchFS(t *testing.T, size string) (dir string, tmpfs bool) {
	t.Helper()
	dir = t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0755"); err != nil {
		t.Logf("no tmpfs (%v): using a plain directory", err)
		return dir, false
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir, true
}

// tree lists every path under root (relative), directories included.
func tree(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel, _ := filepath.Rel(root, p); rel != "." {
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// duBytes sums the allocated size (st_blocks) of the regular files under
// root: what they really take on the filesystem, not their length.
func duBytes(t *testing.T, root string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			return err
		}
		n += st.Blocks * 512
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// ownDir is the name of the one stress directory of the process pid
// under path (chaosnight-fill-<pid>-<random>).
func ownDir(t *testing.T, path string, pid int) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(path, stressor.DiskDirPrefix+strconv.Itoa(pid)+"-*"))
	if err != nil || len(m) != 1 {
		t.Fatalf("want one stress directory of process %d under %s, found %v %v", pid, path, m, err)
	}
	return filepath.Base(m[0])
}

// TestDiskFillReachesHoldsAndRemoves runs the fill as a real process: it
// writes the size (or reaches the percentage), holds it until the
// deadline, writes nothing outside its own subdirectory of the path, and
// leaves nothing behind.
func TestDiskFillReachesHoldsAndRemoves(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		spec      childSpec
		needTmpfs bool
	}{
		{name: "size", spec: childSpec{DiskFill: 24 << 20, Duration: "2500ms"}},
		{name: "percent", spec: childSpec{DiskFillPercent: 75, Duration: "2500ms"}, needTmpfs: true},
		{name: "size with io workers", spec: childSpec{DiskFill: 8 << 20, DiskIOWorkers: 2, Duration: "2500ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parent, tmpfs := scratchFS(t, "256m")
			if tt.needTmpfs && !tmpfs {
				t.Skip("a percentage fill needs a filesystem of its own (tmpfs, as root)")
			}
			// A sibling of the stressed path: it must stay untouched.
			path := filepath.Join(parent, "target")
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(parent, "sentinel"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			before := tree(t, parent)
			spec := tt.spec
			spec.DiskPath = path
			c := startChild(t, spec)
			c.waitLine("stress: disk fill:", 10*time.Second)
			own := ownDir(t, path, c.pid)

			check := func(when string) {
				t.Helper()
				for _, p := range tree(t, parent) {
					if !slices.Contains(before, p) && p != filepath.Join("target", own) &&
						filepath.Dir(p) != filepath.Join("target", own) {
						t.Errorf("%s: %s was written outside %s", when, p, filepath.Join(path, own))
					}
				}
				got := duBytes(t, filepath.Join(path, own))
				switch {
				case spec.DiskFill > 0 && got < spec.DiskFill:
					t.Errorf("%s: %d bytes allocated under the path, want at least %d", when, got, spec.DiskFill)
				case spec.DiskFillPercent > 0:
					u, err := stressor.StatFS(parent)
					if err != nil {
						t.Fatal(err)
					}
					if pct := u.UsedPercent(); pct < float64(spec.DiskFillPercent) || pct > float64(spec.DiskFillPercent)+3 {
						t.Errorf("%s: filesystem %.2f%% used, want %d%% (at most 3 points more)", when, pct, spec.DiskFillPercent)
					}
				}
			}
			check("once filled")
			time.Sleep(time.Second)
			check("a second later (held)")

			rep, _ := c.wait(10 * time.Second)
			if rep.Ended != stressor.EndDeadline {
				t.Errorf("ended %q (%s), want deadline", rep.Ended, rep.Cause)
			}
			if d := rep.DiskFill; d == nil || !d.Removed || d.SecondsToFill == 0 || d.FillMiBPerSec <= 0 {
				t.Errorf("fill report %+v: want a completed fill with its rate, removed", rep.DiskFill)
			} else {
				t.Logf("filled %s in %.3fs (%.1f MiB/s), filesystem %.1f%% used",
					stressor.FormatBytes(d.WrittenBytes), d.SecondsToFill, d.FillMiBPerSec, d.UsedPercentFull)
			}
			if spec.DiskIOWorkers > 0 {
				if io := rep.DiskIO; io == nil || !io.Removed || io.WrittenBytes == 0 || io.ReadBytes == 0 || io.Fsyncs == 0 {
					t.Errorf("io report %+v: want writes, reads and fsyncs, removed", rep.DiskIO)
				} else {
					t.Logf("io: write %.1f MiB/s, read %.1f MiB/s, %d fsyncs", io.WriteMiBPerSec, io.ReadMiBPerSec, io.Fsyncs)
				}
			}
			if after := tree(t, parent); !slices.Equal(after, before) {
				t.Errorf("left behind: %v, want exactly %v", after, before)
			}
		})
	}
}

// TestDiskFillStopsAndRemoves ends the fill before it completes, by its
// own deadline and by signals, and checks that it stops (by that cause)
// and removes what it had written.
func TestDiskFillStopsAndRemoves(t *testing.T) {
	t.Parallel()
	const prompt = 15 * time.Second // liveness: well before the 30 s deadline (promptness is measured in bench/stress)
	tests := []struct {
		name string
		spec childSpec
		sig  syscall.Signal // 0: the deadline ends it
		// mid: the fill must not have completed (a 3 GiB fill does not
		// complete in 300 ms, even on tmpfs).
		mid  bool
		wait string
	}{
		{name: "deadline during the fill", spec: childSpec{DiskFill: 3 << 30, Duration: "300ms"}, mid: true},
		{name: "SIGTERM while holding", spec: childSpec{DiskFill: 16 << 20, DiskIOWorkers: 1, Duration: "30s"}, sig: syscall.SIGTERM, wait: "stress: disk io:"},
		{name: "SIGINT while holding", spec: childSpec{DiskFill: 16 << 20, Duration: "30s"}, sig: syscall.SIGINT, wait: "stress: disk fill:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent, tmpfs := scratchFS(t, "4g")
			if tt.mid && !tmpfs {
				t.Skip("a 3 GiB fill needs the tmpfs (its size is a cap, not an allocation)")
			}
			spec := tt.spec
			spec.DiskPath = parent
			c := startChild(t, spec)
			var sent time.Time
			if tt.sig != 0 {
				c.waitLine(tt.wait, 10*time.Second)
				sent = time.Now()
				c.signal(tt.sig)
			}
			rep, took := c.wait(30 * time.Second)
			if tt.sig != 0 {
				if d := time.Since(sent); d > prompt {
					t.Errorf("exited %s after the signal, want within %s", d.Round(time.Millisecond), prompt)
				}
				if rep.Ended != stressor.EndSignal {
					t.Errorf("ended %q, want signal", rep.Ended)
				}
			} else {
				if took < 300*time.Millisecond {
					t.Errorf("exited %s after start, before its deadline of 300ms", took.Round(time.Millisecond))
				}
				if rep.Ended != stressor.EndDeadline {
					t.Errorf("ended %q, want deadline", rep.Ended)
				}
			}
			d := rep.DiskFill
			if d == nil || !d.Removed {
				t.Fatalf("fill report %+v: want removed", d)
			}
			if tt.mid && (d.SecondsToFill != 0 || d.WrittenBytes >= d.RequestedBytes || d.WrittenBytes == 0) {
				t.Errorf("fill report %+v: want an interrupted fill", d)
			}
			if left := tree(t, parent); len(left) != 0 {
				t.Errorf("left behind under %s: %v", parent, left)
			}
			t.Logf("wrote %s of %s, all removed", stressor.FormatBytes(d.WrittenBytes), stressor.FormatBytes(d.RequestedBytes))
		})
	}
}

// TestDiskLeftoversOfAKilledStressAreRemoved kills a filling stressor
// with SIGKILL (nothing of its own can clean up then), and starts another
// on the same path: the second removes the dead one's directory before
// its own checks (on a tmpfs the second fill fits only thanks to that),
// and touches neither a live stressor's locked directory nor what merely
// looks like a stress directory (a file, a symlink).
func TestDiskLeftoversOfAKilledStressAreRemoved(t *testing.T) {
	t.Parallel()
	path, tmpfs := scratchFS(t, "256m")
	elsewhere := t.TempDir()
	if err := os.WriteFile(filepath.Join(elsewhere, "precious"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	decoys := []string{stressor.DiskDirPrefix + "file", stressor.DiskDirPrefix + "link", stressor.DiskDirPrefix + "7-live"}
	if err := os.WriteFile(filepath.Join(path, decoys[0]), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, filepath.Join(path, decoys[1])); err != nil {
		t.Fatal(err)
	}
	// A live stressor's directory: this test holds its lock throughout.
	live := filepath.Join(path, decoys[2])
	if err := os.Mkdir(live, 0o700); err != nil {
		t.Fatal(err)
	}
	lock, err := os.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Close() }()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatal(err)
	}

	first := startChild(t, childSpec{DiskFill: 160 << 20, Duration: "1m", DiskPath: path})
	first.waitLine("stress: disk fill:", 20*time.Second)
	dead := filepath.Join(path, ownDir(t, path, first.pid))
	first.signal(syscall.SIGKILL)
	<-first.exited
	held := duBytes(t, dead)
	if held < 160<<20 {
		t.Fatalf("the killed stressor left %d bytes, want its 160 MiB fill to test the cleanup", held)
	}

	// 160 MiB are held: a 150 MiB fill fits a 256 MiB tmpfs only once
	// they are freed.
	second := startChild(t, childSpec{DiskFill: 150 << 20, Duration: "1500ms", DiskPath: path})
	rep, _ := second.wait(20 * time.Second)
	if rep.Ended != stressor.EndDeadline || rep.DiskFill == nil || !rep.DiskFill.Removed {
		t.Fatalf("second stress: ended %q (%s), fill %+v", rep.Ended, rep.Cause, rep.DiskFill)
	}
	if len(rep.DiskLeftovers) != 1 || rep.DiskLeftovers[0].Path != dead || rep.DiskLeftovers[0].Bytes != held {
		t.Errorf("leftovers removed %+v, want exactly %s (%d bytes)", rep.DiskLeftovers, dead, held)
	}
	if !tmpfs {
		t.Log("plain directory: the fit of the second fill did not depend on the cleanup")
	}
	got := tree(t, path)
	want := append([]string(nil), decoys...)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("left under the path: %v, want exactly the decoys %v", got, want)
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "precious")); err != nil {
		t.Errorf("the symlink's target was touched: %v", err)
	}
}
