package stressor_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/stressor"
)

func TestValidate(t *testing.T) {
	const mi = 1 << 20
	roomy := stressor.Limits{MemAvailable: 8 << 30}
	cgroup := stressor.Limits{
		MemAvailable: 8 << 30,
		Cgroup: &stressor.CgroupMemory{
			Version: 2, Dir: "/sys/fs/cgroup/kubepods/pod1",
			Limit: 512 * mi, Usage: 300 * mi, InactiveFile: 44 * mi, // working set 256Mi
		},
	}
	ok := stressor.Config{CPUWorkers: 2, CPULoad: 50, Memory: 256 * mi, Duration: time.Minute}
	with := func(f func(*stressor.Config)) stressor.Config { c := ok; f(&c); return c }

	tests := []struct {
		name   string
		cfg    stressor.Config
		limits stressor.Limits
		want   []string // every problem, in order; nil means valid
	}{
		{name: "cpu and memory", cfg: ok, limits: roomy},
		{name: "cpu only", cfg: stressor.Config{CPUWorkers: 1, CPULoad: 100, Duration: time.Second}, limits: roomy},
		{name: "memory only, no load given", cfg: stressor.Config{Memory: mi, Duration: time.Second}, limits: roomy},
		{name: "unknown limits skip the memory checks", cfg: with(func(c *stressor.Config) { c.Memory = 1 << 50 })},
		{name: "memory exactly what the cgroup has free", cfg: with(func(c *stressor.Config) { c.Memory = 256 * mi }), limits: cgroup},
		{name: "bounds", cfg: stressor.Config{CPUWorkers: 64, CPULoad: 1, Duration: 24 * time.Hour}},
		{
			name: "nothing to stress",
			cfg:  stressor.Config{Duration: time.Minute},
			want: []string{"nothing to stress: set --cpu-workers, --memory, --disk-fill or --disk-io"},
		},
		{
			name: "load over 100",
			cfg:  with(func(c *stressor.Config) { c.CPULoad = 150 }),
			want: []string{"--cpu-load must be between 1 and 100 (percent of one core per worker), got 150"},
		},
		{
			name: "load zero with workers",
			cfg:  with(func(c *stressor.Config) { c.CPULoad = 0 }),
			want: []string{"--cpu-load must be between 1 and 100 (percent of one core per worker), got 0"},
		},
		{
			name: "bad load is reported even without workers",
			cfg:  stressor.Config{CPULoad: 101, Memory: mi, Duration: time.Minute},
			want: []string{"--cpu-load must be between 1 and 100 (percent of one core per worker), got 101"},
		},
		{
			name: "too many workers",
			cfg:  with(func(c *stressor.Config) { c.CPUWorkers = 65 }),
			want: []string{"--cpu-workers must be between 1 and 64 (0 for no CPU stress), got 65"},
		},
		{
			name: "negative workers",
			cfg:  with(func(c *stressor.Config) { c.CPUWorkers = -1 }),
			want: []string{"--cpu-workers must be between 1 and 64 (0 for no CPU stress), got -1"},
		},
		{
			name: "negative memory",
			cfg:  with(func(c *stressor.Config) { c.Memory = -5 }),
			want: []string{"--memory must not be negative, got -5 bytes"},
		},
		{
			name:   "more memory than the machine has",
			cfg:    with(func(c *stressor.Config) { c.Memory = 9 << 30 }),
			limits: roomy,
			want:   []string{"--memory 9Gi is more than the machine has available (8Gi MemAvailable in /proc/meminfo)"},
		},
		{
			name:   "more memory than the cgroup allows",
			cfg:    with(func(c *stressor.Config) { c.Memory = 256*mi + 1 }),
			limits: cgroup,
			want:   []string{"--memory 268435457 is more than the cgroup allows (256Mi free: limit 512Mi, 256Mi in use, from /sys/fs/cgroup/kubepods/pod1)"},
		},
		{
			name: "cgroup already over its limit",
			cfg:  with(func(c *stressor.Config) { c.Memory = mi }),
			limits: stressor.Limits{Cgroup: &stressor.CgroupMemory{
				Version: 1, Dir: "/sys/fs/cgroup/memory/x", Limit: 100 * mi, Usage: 120 * mi,
			}},
			want: []string{"--memory 1Mi is more than the cgroup allows (0 free: limit 100Mi, 120Mi in use, from /sys/fs/cgroup/memory/x)"},
		},
		{
			name: "duration missing",
			cfg:  with(func(c *stressor.Config) { c.Duration = 0 }),
			want: []string{"--duration is required (for example 5m): a stress always ends by itself"},
		},
		{
			name: "duration negative",
			cfg:  with(func(c *stressor.Config) { c.Duration = -time.Second }),
			want: []string{"--duration must be positive, got -1s"},
		},
		{
			name: "duration over a day",
			cfg:  with(func(c *stressor.Config) { c.Duration = 25 * time.Hour }),
			want: []string{"--duration must be at most 24h0m0s, got 25h0m0s"},
		},
		{
			name: "bad period",
			cfg:  with(func(c *stressor.Config) { c.CPUPeriod = 2 * time.Second }),
			want: []string{"CPU period must be between 1ms and 1s, got 2s"},
		},
		{
			name:   "every problem at once",
			cfg:    stressor.Config{CPUWorkers: 100, CPULoad: 200, Memory: 600 * mi, Duration: 0},
			limits: cgroup,
			want: []string{
				"--cpu-workers must be between 1 and 64 (0 for no CPU stress), got 100",
				"--cpu-load must be between 1 and 100 (percent of one core per worker), got 200",
				"--memory 600Mi is more than the cgroup allows (256Mi free: limit 512Mi, 256Mi in use, from /sys/fs/cgroup/kubepods/pod1)",
				"--duration is required (for example 5m): a stress always ends by itself",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate(tt.limits)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var ice *stressor.InvalidConfigError
			if !errors.As(err, &ice) {
				t.Fatalf("want *InvalidConfigError, got %T: %v", err, err)
			}
			if got := strings.Join(ice.Problems, "\n"); got != strings.Join(tt.want, "\n") {
				t.Fatalf("problems:\n%s\nwant:\n%s", got, strings.Join(tt.want, "\n"))
			}
			if want := "invalid stress: " + strings.Join(tt.want, "; "); err.Error() != want {
				t.Fatalf("message %q, want %q", err.Error(), want)
			}
		})
	}
}

func TestWarnings(t *testing.T) {
	quota := stressor.Limits{CPUs: 1.5, CPUSource: "cgroup CPU quota in /sys/fs/cgroup/pod"}
	tests := []struct {
		name string
		cfg  stressor.Config
		want []string
	}{
		{name: "fits", cfg: stressor.Config{CPUWorkers: 3, CPULoad: 50}},
		{name: "no CPU stress", cfg: stressor.Config{Memory: 1}},
		{
			name: "more than the quota",
			cfg:  stressor.Config{CPUWorkers: 2, CPULoad: 80},
			want: []string{"--cpu-workers 2 at --cpu-load 80% asks for 1.60 CPUs but this process may use only 1.50 (cgroup CPU quota in /sys/fs/cgroup/pod): the achieved load will be lower"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.cfg.Warnings(quota)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("warnings %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseMemory(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "256Mi", want: 256 << 20},
		{in: "1Gi", want: 1 << 30},
		{in: "1.5Gi", want: 3 << 29},
		{in: "500M", want: 500_000_000},
		{in: "4096", want: 4096},
		{in: "0", want: 0},
		{in: " 64Ki ", want: 64 << 10},
		{in: "1e3", want: 1000},
		{in: "", wantErr: `invalid memory size "": use a Kubernetes quantity such as 256Mi or 1Gi`},
		{in: "256MB", wantErr: `invalid memory size "256MB": use a Kubernetes quantity such as 256Mi or 1Gi`},
		{in: "lots", wantErr: `invalid memory size "lots": use a Kubernetes quantity such as 256Mi or 1Gi`},
		{in: "-1Mi", wantErr: `invalid memory size "-1Mi": must not be negative`},
		{in: "100m", wantErr: `invalid memory size "100m": m means milli, a fraction of a byte (did you mean 100M or 100Mi?)`},
		{in: "0.5", wantErr: `invalid memory size "0.5": not a whole number of bytes`},
		{in: "8Ei", wantErr: `invalid memory size "8Ei": too large`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := stressor.ParseMemory(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0"},
		{1023, "1023"},
		{1024, "1Ki"},
		{256 << 20, "256Mi"},
		{(256 << 20) + (300 << 10), "256.3Mi"},
		{3 << 29, "1.5Gi"},
		{-(2 << 20), "-2Mi"},
		{(256 << 20) + 1, "268435457"},
	}
	for _, tt := range tests {
		if got := stressor.FormatBytes(tt.in); got != tt.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
