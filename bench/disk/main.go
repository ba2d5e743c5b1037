// Command disk compares the disk stressor (pkg/stressor: --disk-fill,
// --disk-io) with stress-ng's --fallocate and --hdd stressors in one run,
// on one directory, and writes bench/results-disk.md.
//
//	go run ./bench/disk [-dir /var/tmp] [-out bench/results-disk.md]
//
// The fill rate is the stressor's own (bytes written and fsynced over the
// time to the target). The I/O load is measured from the outside for both
// tools: the sectors the block device under -dir read and wrote during the
// window (/sys/dev/block/MAJ:MIN/stat), next to what each tool reports.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/chaosnight/chaosnight/pkg/stressor"
)

func main() {
	dir := flag.String("dir", "/var/tmp", "directory on the disk to measure")
	out := flag.String("out", "bench/results-disk.md", "where to write the results")
	reps := flag.Int("reps", 3, "repetitions")
	window := flag.Duration("window", 5*time.Second, "length of each I/O run")
	flag.Parse()
	if err := run(*dir, *out, *reps, *window); err != nil {
		fmt.Fprintln(os.Stderr, "bench/disk:", err)
		os.Exit(1)
	}
}

type devStat struct{ readSectors, writeSectors int64 }

// blockStat reads the counters of the block device holding dir (the whole
// disk when dir is on a partition is not needed: the partition has them).
func blockStat(dir string) (devStat, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return devStat{}, fmt.Errorf("stat %s: %w", dir, err)
	}
	p := fmt.Sprintf("/sys/dev/block/%d:%d/stat", unix.Major(st.Dev), unix.Minor(st.Dev))
	b, err := os.ReadFile(p)
	if err != nil {
		return devStat{}, fmt.Errorf("read %s: %w", p, err)
	}
	f := strings.Fields(string(b))
	if len(f) < 7 {
		return devStat{}, fmt.Errorf("%s: unexpected %q", p, b)
	}
	r, _ := strconv.ParseInt(f[2], 10, 64)
	w, _ := strconv.ParseInt(f[6], 10, 64)
	return devStat{r, w}, nil
}

func mibps(sectors int64, d time.Duration) float64 {
	return float64(sectors*512) / (1 << 20) / d.Seconds()
}

type ioResult struct {
	devRead, devWrite   float64 // MiB/s at the device
	toolRead, toolWrite float64 // MiB/s the tool reports
	extra               string
}

// ours runs stressor.Run in this process.
func ours(ctx context.Context, cfg stressor.Config, stopOnFill bool) (stressor.Report, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var logw bytes.Buffer
	cfg.Log = writerFunc(func(p []byte) (int, error) {
		if stopOnFill && bytes.Contains(p, []byte("stress: disk fill:")) {
			cancel()
		}
		return logw.Write(p)
	})
	return stressor.Run(ctx, cfg)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func stressNG(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "stress-ng", args...)
	b, err := cmd.CombinedOutput()
	return string(b), err
}

var (
	reRead  = regexp.MustCompile(`hdd\s+([0-9.]+) MB/sec read rate`)
	reWrite = regexp.MustCompile(`hdd\s+([0-9.]+) MB/sec write rate`)
	reBogo  = regexp.MustCompile(`fallocate\s+(\d+)\s+([0-9.]+)`)
)

func mbToMiB(s string) float64 {
	v, _ := strconv.ParseFloat(s, 64)
	return v * 1e6 / (1 << 20)
}

func measureIO(dir string, window time.Duration, f func() (ioResult, error)) (ioResult, error) {
	unix.Sync()
	a, err := blockStat(dir)
	if err != nil {
		return ioResult{}, err
	}
	t0 := time.Now()
	r, err := f()
	if err != nil {
		return r, err
	}
	unix.Sync() // count what the tool left dirty too
	d := time.Since(t0)
	b, err := blockStat(dir)
	if err != nil {
		return r, err
	}
	r.devRead, r.devWrite = mibps(b.readSectors-a.readSectors, d), mibps(b.writeSectors-a.writeSectors, d)
	return r, nil
}

// run measures, then writes the results to out.
func run(dir, out string, reps int, window time.Duration) error {
	r, err := measure(dir, reps, window)
	if err != nil {
		return err
	}
	return os.WriteFile(out, []byte(report(r)), 0o644)
}

// results is what one run of the benchmark measured, for report.
type results struct {
	at               time.Time // when the measurement started
	dir              string
	cpus             int
	system           string // uname
	fsSize           int64  // bytes
	fsUsedPercent    float64
	ngVersion        string
	reps             int
	window           time.Duration
	fill             []fillRep // one per repetition
	fallocateBogoOps []string  // stress-ng --fallocate's bogo ops, one per repetition (as it prints them)
	ioOrder          []string  // the I/O cases, in table order
	io               map[string][]ioResult
}

// fillRep is one repetition of the 1 GiB fill, ours then stress-ng's.
type fillRep struct {
	oursSeconds, oursMiBPerSec, oursDevWrite float64
	ngSeconds, ngDevWrite                    float64
	ngReported                               float64 // MiB/s stress-ng says it wrote; NaN when it did not say
}

// measure runs every case in a fresh directory under dir, the tools
// alternating, and returns the figures.
func measure(dir string, reps int, window time.Duration) (results, error) {
	ctx := context.Background()
	work, err := os.MkdirTemp(dir, "chaosnight-bench-")
	if err != nil {
		return results{}, err
	}
	defer func() { _ = os.RemoveAll(work) }()
	ver, _ := exec.Command("stress-ng", "--version").Output()
	u, err := stressor.StatFS(work)
	if err != nil {
		return results{}, err
	}
	res := results{at: time.Now(), dir: dir, cpus: runtime.NumCPU(), system: uname(), fsSize: u.Size, fsUsedPercent: u.UsedPercent(),
		ngVersion: strings.TrimSpace(string(ver)), reps: reps, window: window, io: map[string][]ioResult{}}

	for range reps {
		fr, err := measureFill(ctx, work)
		if err != nil {
			return res, err
		}
		res.fill = append(res.fill, fr)
	}
	if res.fallocateBogoOps, err = measureFallocate(ctx, work, reps); err != nil {
		return res, err
	}

	// I/O load.
	res.ioOrder = []string{"chaosnight --disk-io 2", "stress-ng --hdd 2 (defaults)", "stress-ng --hdd 2 --hdd-opts fsync,fadv-dontneed"}
	for range reps {
		for _, k := range res.ioOrder {
			r, err := measureIO(work, window, func() (ioResult, error) { return ioCase(ctx, k, work, window) })
			if err != nil {
				return res, err
			}
			res.io[k] = append(res.io[k], r)
		}
	}
	left, _ := filepath.Glob(filepath.Join(work, "*"))
	if len(left) > 0 {
		return res, errors.New("left behind: " + strings.Join(left, ", "))
	}
	return res, nil
}

// measureFill measures one 1 GiB fill of ours and of stress-ng's nearest.
func measureFill(ctx context.Context, work string) (fillRep, error) {
	const fill = 1 << 30
	var fr fillRep
	r, err := measureIO(work, 0, func() (ioResult, error) {
		rep, err := ours(ctx, stressor.Config{DiskFill: fill, DiskPath: work, Duration: time.Minute}, true)
		if err != nil {
			return ioResult{}, err
		}
		fr.oursSeconds, fr.oursMiBPerSec = rep.DiskFill.SecondsToFill, rep.DiskFill.FillMiBPerSec
		return ioResult{}, nil
	})
	if err != nil {
		return fr, err
	}
	fr.oursDevWrite = r.devWrite
	// stress-ng has no "write this much and hold it": its nearest are
	// --hdd with one sequential write of the size (then it deletes and
	// starts over) and --fallocate (allocates without writing data).
	r, err = measureIO(work, 0, func() (ioResult, error) {
		t0 := time.Now()
		o, err := stressNG(ctx, "--hdd", "1", "--hdd-bytes", "1G", "--hdd-write-size", "1M", "--hdd-opts", "wr-seq,fsync", "--hdd-ops", "1024", "--timeout", "60s", "--temp-path", work, "--metrics")
		if err != nil {
			return ioResult{}, fmt.Errorf("stress-ng --hdd: %w: %s", err, o)
		}
		fr.ngSeconds = time.Since(t0).Seconds()
		fr.ngReported = math.NaN()
		if m := reWrite.FindStringSubmatch(o); m != nil {
			fr.ngReported = mbToMiB(m[1])
		}
		return ioResult{}, nil
	})
	if err != nil {
		return fr, err
	}
	fr.ngDevWrite = r.devWrite
	return fr, nil
}

// measureFallocate runs stress-ng --fallocate, which reserves extents
// without writing data, reps times, for its bogo ops: it has no fill rate.
func measureFallocate(ctx context.Context, work string, reps int) ([]string, error) {
	var ops []string
	for range reps {
		o, err := stressNG(ctx, "--fallocate", "1", "--fallocate-bytes", "1G", "--timeout", "3s", "--temp-path", work, "--metrics-brief")
		if err != nil {
			return ops, fmt.Errorf("stress-ng --fallocate: %w: %s", err, o)
		}
		if m := reBogo.FindStringSubmatch(o); m != nil {
			ops = append(ops, m[1])
		}
	}

	return ops, nil
}

// ioCase runs one I/O load case k for window and returns what the tool
// itself reports.
func ioCase(ctx context.Context, k, work string, window time.Duration) (ioResult, error) {
	if strings.HasPrefix(k, "chaosnight") {
		rep, err := ours(ctx, stressor.Config{DiskIOWorkers: 2, DiskPath: work, Duration: window}, false)
		if err != nil {
			return ioResult{}, err
		}
		return ioResult{toolWrite: rep.DiskIO.WriteMiBPerSec, toolRead: rep.DiskIO.ReadMiBPerSec, extra: strconv.FormatInt(rep.DiskIO.Fsyncs, 10)}, nil
	}
	args := []string{"--hdd", "2", "--hdd-bytes", "64M", "--hdd-write-size", "1M", "--timeout", fmt.Sprint(int(window.Seconds())) + "s", "--temp-path", work, "--metrics"}
	if strings.Contains(k, "fsync") {
		args = append(args, "--hdd-opts", "fsync,fadv-dontneed")
	}
	o, err := stressNG(ctx, args...)
	if err != nil {
		return ioResult{}, fmt.Errorf("stress-ng: %w: %s", err, o)
	}
	var r ioResult
	if m := reWrite.FindStringSubmatch(o); m != nil {
		r.toolWrite = mbToMiB(m[1])
	}
	if m := reRead.FindStringSubmatch(o); m != nil {
		r.toolRead = mbToMiB(m[1])
	}
	r.extra = "n/a"
	return r, nil
}

func uname() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "Linux"
	}
	return "Linux " + unix.ByteSliceToString(u.Release[:])
}
