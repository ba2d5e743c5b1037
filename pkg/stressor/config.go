package stressor

import (
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// Bounds of a stress. The worker bound matches the experiment format
// (spec.action.stress.cpu.workers); the duration bound keeps a typo ("30h"
// for "30m") from burning a node all night, and a stress always ends by
// itself, so there is no "forever".
const (
	MinCPUWorkers = 1
	MaxCPUWorkers = 64
	MinCPULoad    = 1
	MaxCPULoad    = 100
	MaxDuration   = 24 * time.Hour

	// DefaultCPUPeriod is the duty-cycle period: short enough that a
	// Prometheus scrape (15 s) or a 3 s /proc window sees a steady load,
	// long enough that the sleep/wake cost stays far below 1 %.
	DefaultCPUPeriod = 100 * time.Millisecond
	minCPUPeriod     = time.Millisecond
	maxCPUPeriod     = time.Second
)

// Config describes one stress. The zero value of CPUWorkers or Memory
// disables that kind of stress; at least one must be set.
type Config struct {
	// CPUWorkers is the number of busy threads (0 = no CPU stress).
	CPUWorkers int
	// CPULoad is the percent of one core each worker burns, 1..100.
	CPULoad int
	// CPUPeriod is the duty-cycle period; 0 means DefaultCPUPeriod.
	CPUPeriod time.Duration
	// Memory is the number of bytes to allocate, touch and hold
	// (0 = no memory stress). It is rounded up to whole pages; the
	// process's own few MiB of runtime come on top.
	Memory int64
	// DiskFill is the number of bytes to write under DiskPath and hold
	// (0 = none); DiskFillPercent instead fills the filesystem of
	// DiskPath up to that Use% (1..99). At most one of them is set.
	DiskFill        int64
	DiskFillPercent int
	// DiskIOWorkers is the number of write+fsync+read workers under
	// DiskPath (0 = no I/O stress), each bounded to DiskIOFileBytes.
	DiskIOWorkers int
	// DiskPath is the existing directory the disk stress writes under,
	// in its own subdirectory (DiskDirPrefix…) removed on every exit path.
	DiskPath string
	// Duration is the hard deadline, counted from the start of Run: Run
	// returns after it whatever happens.
	Duration time.Duration
	// Until is the absolute instant the stress ends by, whenever it
	// started (zero: Duration alone). With both, the earlier end wins:
	// Until keeps a process that started late (an image pull, a slow
	// node) from running past what the injector recorded, and Duration
	// bounds the run if this machine's clock is behind the injector's.
	// An instant already past ends Run at once, without any load.
	Until time.Time
	// EvictionThresholdPercent, when positive, refuses a disk fill that
	// would leave less than this percent of the filesystem of DiskPath
	// available: the kubelet's hard eviction threshold on the node
	// filesystem (nodefs.available, 10 % by default), which a node-scope
	// fill must not cross unless the experiment allows node pressure.
	EvictionThresholdPercent int
	// Log receives progress lines (started, memory resident); nil discards.
	Log io.Writer
}

// InvalidConfigError lists every problem of a Config at once, so that a
// user fixes all flags in one go rather than one per attempt.
type InvalidConfigError struct {
	Problems []string
}

func (e *InvalidConfigError) Error() string {
	return "invalid stress: " + strings.Join(e.Problems, "; ")
}

// Validate checks c against fixed bounds and against limits (what the
// machine and the cgroup can still give). A zero Limits skips the memory
// checks; use DetectLimits for the real ones. It returns an
// *InvalidConfigError naming the flags (--cpu-workers, --cpu-load,
// --memory, --disk-fill, --disk-io, --disk-path, --duration) and the
// allowed ranges. The disk checks look at the real filesystem of
// DiskPath (it exists, is a directory, the fill fits) whatever limits is.
func (c Config) Validate(limits Limits) error {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }

	if c.CPUWorkers == 0 && c.Memory == 0 && c.DiskFill == 0 && c.DiskFillPercent == 0 && c.DiskIOWorkers == 0 {
		add("nothing to stress: set --cpu-workers, --memory, --disk-fill or --disk-io")
	}
	if c.CPUWorkers < 0 || c.CPUWorkers > MaxCPUWorkers {
		add("--cpu-workers must be between %d and %d (0 for no CPU stress), got %d", MinCPUWorkers, MaxCPUWorkers, c.CPUWorkers)
	}
	// A load given without workers is still checked: a wrong value is a
	// typo worth reporting, not something to ignore silently.
	if (c.CPUWorkers > 0 || c.CPULoad != 0) && (c.CPULoad < MinCPULoad || c.CPULoad > MaxCPULoad) {
		add("--cpu-load must be between %d and %d (percent of one core per worker), got %d", MinCPULoad, MaxCPULoad, c.CPULoad)
	}
	if c.CPUPeriod != 0 && (c.CPUPeriod < minCPUPeriod || c.CPUPeriod > maxCPUPeriod) {
		add("CPU period must be between %s and %s, got %s", minCPUPeriod, maxCPUPeriod, c.CPUPeriod)
	}
	switch {
	case c.Memory < 0:
		add("--memory must not be negative, got %d bytes", c.Memory)
	case c.Memory > 0:
		if limits.MemAvailable > 0 && c.Memory > limits.MemAvailable {
			add("--memory %s is more than the machine has available (%s MemAvailable in /proc/meminfo)",
				FormatBytes(c.Memory), FormatBytes(limits.MemAvailable))
		}
		if cg := limits.Cgroup; cg != nil && c.Memory > cg.Free() {
			add("--memory %s is more than the cgroup allows (%s free: limit %s, %s in use, from %s)",
				FormatBytes(c.Memory), FormatBytes(max(cg.Free(), 0)), FormatBytes(cg.Limit), FormatBytes(cg.WorkingSet()), cg.Dir)
		}
	}
	c.validateDisk(add)
	switch {
	case c.Duration == 0 && c.Until.IsZero():
		add("--duration is required (for example 5m): a stress always ends by itself")
	case c.Duration == 0:
		// --until alone: the bound below applies to what is left of it.
		if left := time.Until(c.Until); left > MaxDuration {
			add("--until %s is more than %s away (%s): a typo must not stress all night", c.Until.UTC().Format(time.RFC3339), MaxDuration, left.Round(time.Second))
		}
	case c.Duration < 0:
		add("--duration must be positive, got %s", c.Duration)
	case c.Duration > MaxDuration:
		add("--duration must be at most %s, got %s", MaxDuration, c.Duration)
	}
	if len(p) > 0 {
		return &InvalidConfigError{Problems: p}
	}
	return nil
}

// Warnings returns what is possible but will not give the asked-for
// result: more CPU than this process may use. Throttling is a legitimate
// experiment, so it is not an error, but the user should not mistake the
// achieved load for a bug.
func (c Config) Warnings(limits Limits) []string {
	var w []string
	if c.CPUWorkers > 0 && limits.CPUs > 0 {
		want := float64(c.CPUWorkers*c.CPULoad) / 100
		if want > limits.CPUs+0.005 {
			w = append(w, fmt.Sprintf("--cpu-workers %d at --cpu-load %d%% asks for %.2f CPUs but this process may use only %.2f (%s): the achieved load will be lower",
				c.CPUWorkers, c.CPULoad, want, limits.CPUs, limits.CPUSource))
		}
	}
	return w
}

func (c Config) period() time.Duration {
	if c.CPUPeriod == 0 {
		return DefaultCPUPeriod
	}
	return c.CPUPeriod
}

// End is when a stress started at start ends: start plus Duration, or
// Until if that comes first.
func (c Config) End(start time.Time) time.Time {
	var end time.Time
	if c.Duration > 0 {
		end = start.Add(c.Duration)
	}
	if !c.Until.IsZero() && (end.IsZero() || c.Until.Before(end)) {
		end = c.Until
	}
	return end
}

// ParseMemory reads a memory size written as a Kubernetes quantity
// (256Mi, 1Gi, 500M, 0). It rejects negative sizes and fractions of a
// byte: "100m" is 0.1 byte in Kubernetes notation and almost certainly a
// typo for 100M or 100Mi, so it must not silently become one byte.
func ParseMemory(s string) (int64, error) {
	q, err := resource.ParseQuantity(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("invalid memory size %q: use a Kubernetes quantity such as 256Mi or 1Gi", s)
	}
	if q.Sign() < 0 {
		return 0, fmt.Errorf("invalid memory size %q: must not be negative", s)
	}
	if q.CmpInt64(1<<62) > 0 {
		return 0, fmt.Errorf("invalid memory size %q: too large", s)
	}
	if q.MilliValue()%1000 != 0 {
		if n, ok := strings.CutSuffix(strings.TrimSpace(s), "m"); ok {
			return 0, fmt.Errorf("invalid memory size %q: m means milli, a fraction of a byte (did you mean %sM or %sMi?)", s, n, n)
		}
		return 0, fmt.Errorf("invalid memory size %q: not a whole number of bytes", s)
	}
	return q.Value(), nil
}

// FormatBytes writes n in binary units the way Kubernetes users read them:
// exact multiples as 256Mi, others with one decimal (246.3Mi), and plain
// bytes when one decimal would hide the difference from a round number.
func FormatBytes(n int64) string {
	const unit = 1024
	units := []string{"Ki", "Mi", "Gi", "Ti", "Pi", "Ei"}
	if n < unit && n > -unit {
		return fmt.Sprintf("%d", n)
	}
	v, i := float64(n)/unit, 0
	for (v >= unit || v <= -unit) && i < len(units)-1 {
		v /= unit
		i++
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d%s", int64(v), units[i])
	}
	s := fmt.Sprintf("%.1f", v)
	if strings.HasSuffix(s, ".0") {
		// 256Mi plus a few bytes must not read as the round number it
		// is compared with: give the bytes.
		return fmt.Sprintf("%d", n)
	}
	return s + units[i]
}
