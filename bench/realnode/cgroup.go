package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// cgroupRoot is where the cgroup v1 hierarchies are mounted.
const cgroupRoot = "/sys/fs/cgroup"

// clockTick is USER_HZ, the unit of /proc/stat.
const clockTick = 10 * time.Millisecond

// podCgroup is one pod's cgroup, relative to every v1 hierarchy:
// kubepods/pod<UID> (Guaranteed) or kubepods/<qos>/pod<UID>.
type podCgroup struct{ rel string }

// findPodCgroup looks the pod's UID up in the cpuacct hierarchy, under
// whichever QoS class the kubelet put it.
func findPodCgroup(uid string) (podCgroup, error) {
	for _, pattern := range []string{"kubepods/pod" + uid, "kubepods/*/pod" + uid} {
		m, _ := filepath.Glob(filepath.Join(cgroupRoot, "cpuacct", pattern))
		if len(m) > 0 {
			rel, err := filepath.Rel(filepath.Join(cgroupRoot, "cpuacct"), m[0])
			return podCgroup{rel: rel}, err
		}
	}
	return podCgroup{}, fmt.Errorf("no cpuacct cgroup for pod %s under %s/cpuacct/kubepods", uid, cgroupRoot)
}

// dir is the pod's (container "" ) or a container's cgroup directory in
// one hierarchy; a container's is named by its runtime ID.
func (p podCgroup) dir(hierarchy, container string) string {
	return filepath.Join(cgroupRoot, hierarchy, p.rel, container)
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// usage is the CPU time the cgroup used, from cpuacct.usage.
func (p podCgroup) usage(container string) (time.Duration, error) {
	n, err := readInt(filepath.Join(p.dir("cpuacct", container), "cpuacct.usage"))
	return time.Duration(n), err
}

// keyed reads a "key value [unit]" file such as memory.stat, cpu.stat or
// /proc/PID/status (keys keep their colon there).
func keyed(path string) (map[string]int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) >= 2 {
			v, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				out[f[0]] = v
			}
		}
	}
	return out, nil
}

// cpuLimits is what the kernel applies to a cgroup: its CFS quota (in
// CPUs, 0 when unlimited) and its weight against its siblings.
type cpuLimits struct {
	quota  float64
	shares int64
}

func (p podCgroup) cpuLimits(container string) (cpuLimits, error) {
	dir := p.dir("cpu", container)
	q, err := readInt(filepath.Join(dir, "cpu.cfs_quota_us"))
	if err != nil {
		return cpuLimits{}, err
	}
	per, err := readInt(filepath.Join(dir, "cpu.cfs_period_us"))
	if err != nil {
		return cpuLimits{}, err
	}
	sh, err := readInt(filepath.Join(dir, "cpu.shares"))
	if err != nil {
		return cpuLimits{}, err
	}
	l := cpuLimits{shares: sh}
	if q > 0 && per > 0 {
		l.quota = float64(q) / float64(per)
	}
	return l, nil
}

// throttle is the pod cgroup's cpu.stat: CFS periods and those in which
// the quota ran out.
type throttle struct{ periods, throttled int64 }

func (p podCgroup) throttle() (throttle, error) {
	m, err := keyed(filepath.Join(p.dir("cpu", ""), "cpu.stat"))
	if err != nil {
		return throttle{}, err
	}
	return throttle{periods: m["nr_periods"], throttled: m["nr_throttled"]}, nil
}

// memSample is a container's resident memory, as the kernel accounts it
// for the cgroup and as its processes see it.
type memSample struct {
	procs  int
	vmRSS  int64 // sum of the processes' VmRSS (counts pages shared between them once per process)
	pss    int64 // sum of Pss: shared pages split between their users
	anon   int64 // sum of RssAnon
	cgRSS  int64 // memory.stat rss: the cgroup's anonymous memory
	cgFile int64 // memory.stat cache: page cache and shmem charged to the cgroup
}

// memory reads the container's memory cgroup and the /proc entries of the
// processes in it (cgroup.procs).
func (p podCgroup) memory(container string) (memSample, error) {
	dir := p.dir("memory", container)
	st, err := keyed(filepath.Join(dir, "memory.stat"))
	if err != nil {
		return memSample{}, err
	}
	s := memSample{cgRSS: st["rss"], cgFile: st["cache"]}
	pids, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return memSample{}, err
	}
	for _, pid := range strings.Fields(string(pids)) {
		status, err := keyed(filepath.Join("/proc", pid, "status"))
		if err != nil {
			continue // exited meanwhile
		}
		s.procs++
		s.vmRSS += status["VmRSS:"] << 10
		s.anon += status["RssAnon:"] << 10
		if roll, err := keyed(filepath.Join("/proc", pid, "smaps_rollup")); err == nil {
			s.pss += roll["Pss:"] << 10
		}
	}
	return s, nil
}

// machineBusy is the CPU time every CPU of the machine spent busy (user,
// nice, system, irq, softirq, steal), from /proc/stat.
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for _, idx := range []int{1, 2, 3, 6, 7, 8} {
		if idx < len(f) {
			v, _ := strconv.ParseInt(f[idx], 10, 64)
			busy += v
		}
	}
	return time.Duration(busy) * clockTick, nil
}
