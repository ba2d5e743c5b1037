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
