package stressor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree creates files (path relative to root → content) under a
// fresh directory standing in for "/".
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const (
	mi       = 1 << 20
	meminfo  = "MemTotal:       24684084 kB\nMemFree:         1000000 kB\nMemAvailable:   20000000 kB\n"
	v1Mounts = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
	v2Mounts = `25 1 0:23 / / rw - overlay overlay rw
30 25 0:26 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw,nsdelegate
`
	v1Unlimited = "9223372036854771712\n"
)

func TestDetectLimits(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		affinity int
		want     Limits // Cgroup.Dir relative to the fake root
	}{
		{
			// The hybrid layout of this project's CI machines: v1
			// controllers plus an empty v2 mount, own cgroup below the
			// hierarchy root; the parent sets the binding limit.
			name: "cgroup v1, limit on an ancestor, hybrid host",
			files: map[string]string{
				"proc/meminfo":        meminfo,
				"proc/self/cgroup":    "4:memory:/process_api/abc\n1:cpu:/\n0::/\n",
				"proc/self/mountinfo": v1Mounts,
				"sys/fs/cgroup/memory/memory.limit_in_bytes":                 v1Unlimited,
				"sys/fs/cgroup/memory/memory.usage_in_bytes":                 "9000000000\n",
				"sys/fs/cgroup/memory/process_api/memory.limit_in_bytes":     "1073741824\n",
				"sys/fs/cgroup/memory/process_api/memory.usage_in_bytes":     "629145600\n",
				"sys/fs/cgroup/memory/process_api/memory.stat":               "cache 1\ninactive_file 5\ntotal_inactive_file 104857600\n",
				"sys/fs/cgroup/memory/process_api/abc/memory.limit_in_bytes": v1Unlimited,
				"sys/fs/cgroup/memory/process_api/abc/memory.usage_in_bytes": "4349952\n",
				"sys/fs/cgroup/cpu/cpu.cfs_quota_us":                         "-1\n",
				"sys/fs/cgroup/cpu/cpu.cfs_period_us":                        "100000\n",
			},
			affinity: 2,
			want: Limits{
				MemAvailable: 20000000 * 1024,
				Cgroup:       &CgroupMemory{Version: 1, Dir: "sys/fs/cgroup/memory/process_api", Limit: 1024 * mi, Usage: 600 * mi, InactiveFile: 100 * mi},
				CPUs:         2, CPUSource: "CPU affinity",
			},
		},
		{
			// A container with its own cgroup namespace: it sees itself
			// at "/", the mount root.
			name: "cgroup v2 in a cgroup namespace",
			files: map[string]string{
				"proc/meminfo":                 meminfo,
				"proc/self/cgroup":             "0::/\n",
				"proc/self/mountinfo":          v2Mounts,
				"sys/fs/cgroup/memory.max":     "268435456\n",
				"sys/fs/cgroup/memory.current": "73400320\n",
				"sys/fs/cgroup/memory.stat":    "anon 1\ninactive_file 20971520\nactive_file 3\n",
				"sys/fs/cgroup/cpu.max":        "50000 100000\n",
			},
			affinity: 8,
			want: Limits{
				MemAvailable: 20000000 * 1024,
				Cgroup:       &CgroupMemory{Version: 2, Dir: "sys/fs/cgroup", Limit: 256 * mi, Usage: 70 * mi, InactiveFile: 20 * mi},
				CPUs:         0.5, CPUSource: "cgroup CPU quota in sys/fs/cgroup",
			},
		},
		{
			// No namespace: the full path, the pod level binds, the
			// container level says "max".
			name: "cgroup v2, pod limit above an unlimited container",
			files: map[string]string{
				"proc/meminfo":                                   meminfo,
				"proc/self/cgroup":                               "0::/kubepods/pod1/ctr\n",
				"proc/self/mountinfo":                            v2Mounts,
				"sys/fs/cgroup/kubepods/pod1/memory.max":         "536870912\n",
				"sys/fs/cgroup/kubepods/pod1/memory.current":     "104857600\n",
				"sys/fs/cgroup/kubepods/pod1/cpu.max":            "200000 100000\n",
				"sys/fs/cgroup/kubepods/pod1/ctr/memory.max":     "max\n",
				"sys/fs/cgroup/kubepods/pod1/ctr/memory.current": "52428800\n",
				"sys/fs/cgroup/kubepods/pod1/ctr/cpu.max":        "max 100000\n",
				"sys/fs/cgroup/kubepods/memory.max":              "max\n",
			},
			affinity: 4,
			want: Limits{
				MemAvailable: 20000000 * 1024,
				Cgroup:       &CgroupMemory{Version: 2, Dir: "sys/fs/cgroup/kubepods/pod1", Limit: 512 * mi, Usage: 100 * mi},
				CPUs:         2, CPUSource: "cgroup CPU quota in sys/fs/cgroup/kubepods/pod1",
			},
		},
		{
			// Docker on cgroup v1 without a namespace: /proc/self/cgroup
			// names the container's cgroup, which is also the mount's
			// root, so the mount point is the container's cgroup.
			name: "cgroup v1, own cgroup bind-mounted",
			files: map[string]string{
				"proc/meminfo":     meminfo,
				"proc/self/cgroup": "4:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n",
				"proc/self/mountinfo": "35 31 0:32 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n" +
					"36 31 0:33 /docker/abc /sys/fs/cgroup/cpu,cpuacct ro - cgroup cgroup rw,cpu,cpuacct\n",
				"sys/fs/cgroup/memory/memory.limit_in_bytes":  "134217728\n",
				"sys/fs/cgroup/memory/memory.usage_in_bytes":  "8388608\n",
				"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us":  "150000\n",
				"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": "100000\n",
			},
			affinity: 2,
			want: Limits{
				MemAvailable: 20000000 * 1024,
				Cgroup:       &CgroupMemory{Version: 1, Dir: "sys/fs/cgroup/memory", Limit: 128 * mi, Usage: 8 * mi},
				CPUs:         1.5, CPUSource: "cgroup CPU quota in sys/fs/cgroup/cpu,cpuacct",
			},
		},
		{
			name: "no limits anywhere",
			files: map[string]string{
				"proc/meminfo":             meminfo,
				"proc/self/cgroup":         "0::/\n",
				"proc/self/mountinfo":      v2Mounts,
				"sys/fs/cgroup/memory.max": "max\n",
				"sys/fs/cgroup/cpu.max":    "max 100000\n",
			},
			affinity: 2,
			want:     Limits{MemAvailable: 20000000 * 1024, CPUs: 2, CPUSource: "CPU affinity"},
		},
		{
			name:     "no cgroups at all",
			files:    map[string]string{"proc/meminfo": meminfo},
			affinity: 1,
			want:     Limits{MemAvailable: 20000000 * 1024, CPUs: 1, CPUSource: "CPU affinity"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeTree(t, tt.files)
			got, err := detectLimits(root, tt.affinity)
			if err != nil {
				t.Fatal(err)
			}
			if got.Cgroup != nil {
				got.Cgroup.Dir = strings.TrimPrefix(got.Cgroup.Dir, root+"/")
			}
			got.CPUSource = strings.ReplaceAll(got.CPUSource, root+"/", "")
			if got.MemAvailable != tt.want.MemAvailable || got.CPUs != tt.want.CPUs || got.CPUSource != tt.want.CPUSource {
				t.Errorf("got available %d, CPUs %v (%s); want %d, %v (%s)",
					got.MemAvailable, got.CPUs, got.CPUSource, tt.want.MemAvailable, tt.want.CPUs, tt.want.CPUSource)
			}
			switch {
			case got.Cgroup == nil && tt.want.Cgroup == nil:
			case got.Cgroup == nil || tt.want.Cgroup == nil || *got.Cgroup != *tt.want.Cgroup:
				t.Errorf("cgroup %+v, want %+v", got.Cgroup, tt.want.Cgroup)
			}
		})
	}
}

func TestDetectLimitsErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{name: "no meminfo", files: map[string]string{"proc/self/cgroup": "0::/\n"}, want: "read available memory: open "},
		{name: "no MemAvailable", files: map[string]string{"proc/meminfo": "MemTotal: 1 kB\n"}, want: "read available memory: no MemAvailable in "},
		{
			name: "garbage limit",
			files: map[string]string{
				"proc/meminfo": meminfo, "proc/self/cgroup": "0::/\n", "proc/self/mountinfo": v2Mounts,
				"sys/fs/cgroup/memory.max": "lots\n",
			},
			want: "read cgroup limit ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := detectLimits(writeTree(t, tt.files), 1)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %v, want one starting with %q", err, tt.want)
			}
		})
	}
}

// TestDetectLimitsHere runs the real detection on this machine: it must
// not fail, and must find some available memory.
func TestDetectLimitsHere(t *testing.T) {
	l, err := DetectLimits()
	if err != nil {
		t.Fatal(err)
	}
	if l.MemAvailable <= 0 || l.CPUs <= 0 {
		t.Fatalf("implausible limits: %+v", l)
	}
	t.Logf("available %s, cgroup %+v, CPUs %.2f (%s)", FormatBytes(l.MemAvailable), l.Cgroup, l.CPUs, l.CPUSource)
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/mnt/with\040space\\x`); got != `/mnt/with space\\x` {
		t.Fatalf("got %q", got)
	}
}
