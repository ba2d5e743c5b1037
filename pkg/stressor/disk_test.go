package stressor_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/stressor"
)

func TestDiskValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	base := stressor.Config{Duration: time.Minute}
	with := func(f func(*stressor.Config)) stressor.Config { c := base; f(&c); return c }
	tests := []struct {
		name string
		cfg  stressor.Config
		want string // substring of the error; "" for valid
	}{
		{"size fits", with(func(c *stressor.Config) { c.DiskFill, c.DiskPath = 1<<20, dir }), ""},
		{"io only", with(func(c *stressor.Config) { c.DiskIOWorkers, c.DiskPath = 1, dir }), ""},
		{"missing path", with(func(c *stressor.Config) { c.DiskFill, c.DiskPath = 1<<20, filepath.Join(dir, "nope") }), "no such file or directory"},
		{"not a directory", with(func(c *stressor.Config) { c.DiskFill, c.DiskPath = 1<<20, file }), "is not a directory"},
		{"relative path", with(func(c *stressor.Config) { c.DiskFill, c.DiskPath = 1<<20, "cache" }), "must be an absolute path"},
		{"no path", with(func(c *stressor.Config) { c.DiskFill = 1 << 20 }), "--disk-path is required"},
		{"path without load", with(func(c *stressor.Config) { c.DiskPath, c.Memory = dir, 1 }), "--disk-path needs --disk-fill or --disk-io"},
		{"does not fit", with(func(c *stressor.Config) { c.DiskFill, c.DiskPath = 1<<60, dir }), "does not fit on the filesystem"},
		{"size and percent", with(func(c *stressor.Config) { c.DiskFill, c.DiskFillPercent, c.DiskPath = 1, 50, dir }), "not both"},
		{"percent too high", with(func(c *stressor.Config) { c.DiskFillPercent, c.DiskPath = 100, dir }), "between 1% and 99%"},
		{"too many io workers", with(func(c *stressor.Config) { c.DiskIOWorkers, c.DiskPath = 33, dir }), "--disk-io must be between 1 and 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate(stressor.Limits{})
			var ice *stressor.InvalidConfigError
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v, want valid", err)
			case tt.want != "" && !errors.As(err, &ice):
				t.Fatalf("Validate: %v, want an *InvalidConfigError containing %q", err, tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Validate: %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestDiskFillPercentAlreadyReached needs a filesystem with a known usage:
// a tmpfs already filled past the asked percentage.
func TestDiskFillPercentAlreadyReached(t *testing.T) {
	t.Parallel()
	dir, tmpfs := scratchFS(t, "8m")
	if !tmpfs {
		t.Skip("needs a tmpfs (root)")
	}
	if err := os.WriteFile(filepath.Join(dir, "data"), make([]byte, 4<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	err := stressor.Config{DiskFillPercent: 40, DiskPath: dir, Duration: time.Minute}.Validate(stressor.Limits{})
	if err == nil || !strings.Contains(err.Error(), "is already 50.0% used") {
		t.Fatalf("Validate: %v, want it to say the filesystem is already 50.0%% used", err)
	}
}

func TestParseDiskFill(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		bytes   int64
		percent int
		wantErr bool
	}{
		{in: "2Gi", bytes: 2 << 30},
		{in: "500M", bytes: 500e6},
		{in: "90%", percent: 90},
		{in: " 1% ", percent: 1},
		{in: "0%", wantErr: true},
		{in: "100%", wantErr: true},
		{in: "9.5%", wantErr: true},
		{in: "-1Gi", wantErr: true},
		{in: "lots", wantErr: true},
	}
	for _, tt := range tests {
		b, p, err := stressor.ParseDiskFill(tt.in)
		if (err != nil) != tt.wantErr || b != tt.bytes || p != tt.percent {
			t.Errorf("ParseDiskFill(%q) = %d, %d, %v; want %d, %d, error %t", tt.in, b, p, err, tt.bytes, tt.percent, tt.wantErr)
		}
	}
}

// The eviction threshold refuses a disk stress that would leave less than
// that share of the filesystem available (the kubelet's nodefs.available),
// counting the fill and the I/O files; the sizes are computed from the
// filesystem's real usage, exact on a tmpfs.
func TestDiskEvictionThreshold(t *testing.T) {
	t.Parallel()
	dir, _ := scratchFS(t, "1g") // 10 % of it is more than an I/O file
	u, err := stressor.StatFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	// leaving returns the fill that leaves pct percent of the filesystem
	// available (before any other writer changes it).
	leaving := func(pct int64) int64 { return u.Avail - u.Size*pct/100 }
	if leaving(30) <= 0 {
		t.Skipf("the filesystem of %s has less than 30%% available", dir)
	}
	base := stressor.Config{Duration: time.Minute, DiskPath: dir, EvictionThresholdPercent: 10}
	with := func(f func(*stressor.Config)) stressor.Config { c := base; f(&c); return c }
	const refused = "available on the node filesystem"
	tests := []struct {
		name string
		cfg  stressor.Config
		want string // substring of the error; "" for valid
	}{
		{"a fill leaving 30% passes", with(func(c *stressor.Config) { c.DiskFill = leaving(30) }), ""},
		{"a fill leaving 5% is refused", with(func(c *stressor.Config) { c.DiskFill = leaving(5) }),
			"would leave 5.0% available on the node filesystem"},
		{"the kubelet's threshold is named", with(func(c *stressor.Config) { c.DiskFill = leaving(5) }),
			"under the kubelet's hard eviction threshold of 10% (nodefs.available)"},
		// Alone, this fill leaves 10% and half an I/O file: it passes; the
		// I/O file takes it under.
		{"a fill just above the threshold passes", with(func(c *stressor.Config) { c.DiskFill = leaving(10) - stressor.DiskIOFileBytes/2 }), ""},
		{"the I/O files count", with(func(c *stressor.Config) {
			c.DiskFill, c.DiskIOWorkers = leaving(10)-stressor.DiskIOFileBytes/2, 1
		}), refused},
		{"a percentage fill past the threshold", with(func(c *stressor.Config) { c.DiskFillPercent = 99 }), refused},
		{"no threshold, no check", with(func(c *stressor.Config) { c.DiskFill, c.EvictionThresholdPercent = leaving(5), 0 }), ""},
		{"a lower threshold allows it", with(func(c *stressor.Config) { c.DiskFill, c.EvictionThresholdPercent = leaving(5), 4 }), ""},
		{"a fill that does not fit says only that", with(func(c *stressor.Config) { c.DiskFill = 1 << 60 }), "does not fit"},
		{"threshold out of range", with(func(c *stressor.Config) { c.DiskFill, c.EvictionThresholdPercent = 1<<20, 100 }), "--eviction-threshold must be between 1% and 99%, got 100%"},
		{"threshold without a disk stress", stressor.Config{Duration: time.Minute, Memory: 1, EvictionThresholdPercent: 10}, "--eviction-threshold needs --disk-fill or --disk-io"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate(stressor.Limits{})
			var ice *stressor.InvalidConfigError
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v, want valid", err)
			case tt.want != "" && !errors.As(err, &ice):
				t.Fatalf("Validate: %v, want an *InvalidConfigError containing %q", err, tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Fatalf("Validate: %v, want it to contain %q", err, tt.want)
			case tt.want == "does not fit" && strings.Contains(err.Error(), refused):
				t.Fatalf("Validate: %v: a fill that cannot fit needs no second reason", err)
			}
		})
	}
}
