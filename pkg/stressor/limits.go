package stressor

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// Limits is what this process may still use. Zero fields mean "unknown"
// and skip the corresponding check.
type Limits struct {
	// MemAvailable is /proc/meminfo's MemAvailable: what the machine can
	// give without swapping. Inside a container it is the node's value.
	MemAvailable int64
	// Cgroup is the tightest memory limit among this process's cgroup and
	// its ancestors; nil when none is set.
	Cgroup *CgroupMemory
	// CPUs is how many CPUs this process may use: the CPU affinity count,
	// lowered by a cgroup CPU quota; CPUSource says which.
	CPUs      float64
	CPUSource string
}

// CgroupMemory is one cgroup's memory limit and use.
type CgroupMemory struct {
	Version int    // 1 or 2
	Dir     string // the cgroup directory the numbers come from
	Limit   int64  // memory.max (v2) or memory.limit_in_bytes (v1)
	Usage   int64  // memory.current (v2) or memory.usage_in_bytes (v1)
	// InactiveFile is page cache the kernel reclaims before it OOM-kills,
	// so it does not count as "in use" (the kubelet's working set does the
	// same subtraction).
	InactiveFile int64
}

// WorkingSet is the memory the cgroup cannot give back without killing.
func (c *CgroupMemory) WorkingSet() int64 {
	return max(c.Usage-c.InactiveFile, 0)
}

// Free is what a new allocation can take before the cgroup OOM-kills.
func (c *CgroupMemory) Free() int64 {
	return c.Limit - c.WorkingSet()
}

// unlimited is the threshold above which a cgroup v1 limit means "none"
// (the kernel reports 2^63-1 rounded down to a page).
const unlimited = int64(1) << 62

// DetectLimits reads /proc/meminfo, this process's cgroup (v1 or v2,
// found through /proc/self/cgroup and /proc/self/mountinfo, walking up to
// the cgroup mount's root because every ancestor's limit applies) and the
// CPU affinity.
func DetectLimits() (Limits, error) {
	return detectLimits("/", runtime.NumCPU())
}

// detectLimits is DetectLimits against a file tree rooted at root, so that
// tests can feed it a fake /proc and /sys.
func detectLimits(root string, affinity int) (Limits, error) {
	var l Limits
	avail, err := memAvailable(filepath.Join(root, "proc/meminfo"))
	if err != nil {
		return l, err
	}
	l.MemAvailable = avail
	l.CPUs, l.CPUSource = float64(affinity), "CPU affinity"

	groups, err := cgroupLevels(root)
	if err != nil {
		return l, err
	}
	if dirs := groups.memory; len(dirs) > 0 {
		for _, dir := range dirs {
			cg, err := readCgroupMemory(dir, groups.memoryVersion)
			if err != nil {
				return l, err
			}
			if cg != nil && (l.Cgroup == nil || cg.Free() < l.Cgroup.Free()) {
				l.Cgroup = cg
			}
		}
	}
	for _, dir := range groups.cpu {
		quota, err := readCPUQuota(dir, groups.cpuVersion)
		if err != nil {
			return l, err
		}
		if quota > 0 && quota < l.CPUs {
			l.CPUs, l.CPUSource = quota, "cgroup CPU quota in "+dir
		}
	}
	return l, nil
}

func memAvailable(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read available memory: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, "MemAvailable:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("read available memory: unexpected line %q in %s", strings.TrimSpace(line), path)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("read available memory from %s: %w", path, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("read available memory: no MemAvailable in %s", path)
}

// levels are the cgroup directories that bind this process, deepest first.
type levels struct {
	memory, cpu               []string
	memoryVersion, cpuVersion int
}

// cgroupLevels resolves this process's memory and cpu cgroups to
// directories. With cgroup v1 each controller has its own hierarchy; with
// v2 one hierarchy carries both. A hybrid host (v1 controllers plus an
// empty v2 mount, as on this project's CI machines) uses v1.
func cgroupLevels(root string) (levels, error) {
	var lv levels
	cgPath := filepath.Join(root, "proc/self/cgroup")
	own, err := os.ReadFile(cgPath)
	if errors.Is(err, fs.ErrNotExist) {
		return lv, nil // no cgroups at all: nothing to enforce
	}
	if err != nil {
		return lv, fmt.Errorf("read cgroup: %w", err)
	}
	mi, err := os.ReadFile(filepath.Join(root, "proc/self/mountinfo"))
	if err != nil {
		return lv, fmt.Errorf("read cgroup mounts: %w", err)
	}
	pc := parseProcCgroup(string(own))
	mounts := parseMountinfo(mi)
	lv.memory, lv.memoryVersion = pc.resolve(root, mounts, "memory", "memory.max")
	lv.cpu, lv.cpuVersion = pc.resolve(root, mounts, "cpu", "cpu.max")
	return lv, nil
}

// procCgroup is what /proc/self/cgroup says: the path of this process in
// each v1 controller's hierarchy, and in the v2 hierarchy.
type procCgroup struct {
	v1     map[string]string // controller -> path
	v2path string
}

func parseProcCgroup(own string) procCgroup {
	pc := procCgroup{v1: map[string]string{}}
	for line := range strings.Lines(own) {
		f := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			pc.v2path = f[2]
			continue
		}
		for c := range strings.SplitSeq(f[1], ",") {
			pc.v1[c] = f[2]
		}
	}
	return pc
}

// resolve finds the directories of controller, deepest first, and the
// cgroup version they belong to (0: not found). v1 first: a controller
// listed on a v1 line is not available in v2. In v2, the controller is on
// in a tree only if its file (file, e.g. memory.max) exists.
func (pc procCgroup) resolve(root string, mounts []mount, controller, file string) ([]string, int) {
	if p, ok := pc.v1[controller]; ok {
		for _, m := range mounts {
			if m.fstype == "cgroup" && hasOption(m.super, controller) {
				return walkUp(root, m, p), 1
			}
		}
	}
	if pc.v2path == "" {
		return nil, 0
	}
	for _, m := range mounts {
		if m.fstype != "cgroup2" {
			continue
		}
		dirs := walkUp(root, m, pc.v2path)
		if _, err := os.Stat(filepath.Join(dirs[0], file)); err == nil {
			return dirs, 2
		}
	}
	return nil, 0
}

type mount struct {
	root, point, fstype, super string
}

// parseMountinfo reads the fields of /proc/self/mountinfo that locate
// cgroup trees: "ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS...] - FSTYPE SOURCE SUPER".
func parseMountinfo(b []byte) []mount {
	var ms []mount
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		a, b := strings.Fields(pre), strings.Fields(post)
		if len(a) < 5 || len(b) < 3 {
			continue
		}
		ms = append(ms, mount{root: unescapeMount(a[3]), point: unescapeMount(a[4]), fstype: b[0], super: b[2]})
	}
	return ms
}

// unescapeMount undoes the kernel's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				out.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		out.WriteByte(s[i])
	}
	return out.String()
}

func hasOption(opts, want string) bool {
	for o := range strings.SplitSeq(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// walkUp returns the directory of cgroup path p under mount m and every
// ancestor up to the mount point, deepest first. When p is not below the
// mount's root (a cgroup namespace shows "/" while the mount root is the
// container's own cgroup, or the reverse), the mount point itself is the
// process's cgroup.
func walkUp(root string, m mount, p string) []string {
	top := filepath.Join(root, m.point)
	rel, ok := strings.CutPrefix(p, m.root)
	if !ok || strings.Contains(rel, "..") || (rel != "" && !strings.HasPrefix(rel, "/") && m.root != "/") {
		return []string{top}
	}
	dir := filepath.Join(top, rel)
	if _, err := os.Stat(dir); err != nil {
		return []string{top}
	}
	dirs := []string{dir}
	for dir != top && strings.HasPrefix(dir, top) {
		dir = filepath.Dir(dir)
		dirs = append(dirs, dir)
	}
	return dirs
}

// readCgroupMemory returns nil when dir sets no limit.
func readCgroupMemory(dir string, version int) (*CgroupMemory, error) {
	limitFile, usageFile, inactiveKey := "memory.max", "memory.current", "inactive_file"
	if version == 1 {
		limitFile, usageFile, inactiveKey = "memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file"
	}
	limit, ok, err := readLimit(filepath.Join(dir, limitFile))
	if err != nil || !ok || limit >= unlimited {
		return nil, err
	}
	usage, _, err := readLimit(filepath.Join(dir, usageFile))
	if err != nil {
		return nil, err
	}
	inactive, err := statValue(filepath.Join(dir, "memory.stat"), inactiveKey)
	if err != nil {
		return nil, err
	}
	return &CgroupMemory{Version: version, Dir: dir, Limit: limit, Usage: usage, InactiveFile: inactive}, nil
}

// readLimit reads a one-number cgroup file; ok is false for "max" and for
// a missing file (the root cgroup has no memory.max).
func readLimit(path string) (int64, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read cgroup limit: %w", err)
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, false, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("read cgroup limit %s: %w", path, err)
	}
	return n, true, nil
}

// statValue reads one key of a memory.stat file; a missing file or key is 0.
func statValue(path, key string) (int64, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read cgroup memory.stat: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && k == key {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("read %s in %s: %w", key, path, err)
			}
			return n, nil
		}
	}
	return 0, nil
}

// readCPUQuota returns the CPUs a cgroup's quota allows, 0 for none.
func readCPUQuota(dir string, version int) (float64, error) {
	var quota, period int64
	if version == 2 {
		b, err := os.ReadFile(filepath.Join(dir, "cpu.max"))
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		if err != nil {
			return 0, fmt.Errorf("read cgroup CPU quota: %w", err)
		}
		f := strings.Fields(string(b))
		if len(f) != 2 || f[0] == "max" {
			return 0, nil
		}
		if quota, err = strconv.ParseInt(f[0], 10, 64); err != nil {
			return 0, fmt.Errorf("read cgroup CPU quota in %s: %w", dir, err)
		}
		if period, err = strconv.ParseInt(f[1], 10, 64); err != nil {
			return 0, fmt.Errorf("read cgroup CPU period in %s: %w", dir, err)
		}
	} else {
		q, ok, err := readLimit(filepath.Join(dir, "cpu.cfs_quota_us"))
		if err != nil || !ok || q <= 0 {
			return 0, err
		}
		p, ok, err := readLimit(filepath.Join(dir, "cpu.cfs_period_us"))
		if err != nil || !ok {
			return 0, err
		}
		quota, period = q, p
	}
	if quota <= 0 || period <= 0 {
		return 0, nil
	}
	return math.Round(float64(quota)/float64(period)*100) / 100, nil
}
