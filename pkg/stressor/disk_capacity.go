// disk_capacity.go holds the filesystem's capacity as df and the kubelet
// count it: what is used and available, and how much a fill must write.

package stressor

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// FSUsage is the space of the filesystem holding a path, as df counts it:
// Used is taken by anyone, Avail is what an unprivileged writer may still
// take (the root reserve excluded), and the used percentage is
// Used / (Used + Avail).
type FSUsage struct {
	Size, Used, Avail int64
}

// UsedPercent is df's Use%.
func (u FSUsage) UsedPercent() float64 {
	if u.Used+u.Avail == 0 {
		return 100
	}
	return 100 * float64(u.Used) / float64(u.Used+u.Avail)
}

// StatFS reads the usage of the filesystem holding path.
func StatFS(path string) (FSUsage, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return FSUsage{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := int64(st.Bsize)
	return FSUsage{
		Size:  int64(st.Blocks) * bs,
		Used:  (int64(st.Blocks) - int64(st.Bfree)) * bs,
		Avail: int64(st.Bavail) * bs,
	}, nil
}

// fillTarget is how many bytes to write so that the filesystem reaches
// percent used (df's Use%), given its usage now.
func fillTarget(u FSUsage, percent int) int64 {
	total := u.Used + u.Avail
	want := (total*int64(percent) + 99) / 100
	return max(want-u.Used, 0)
}

// AvailablePercentAfter is the share of the filesystem still available
// once write more bytes are taken, as the kubelet counts nodefs.available:
// available (what an unprivileged writer may take) over capacity.
func AvailablePercentAfter(u FSUsage, write int64) float64 {
	if u.Size <= 0 {
		return 0
	}
	return 100 * float64(max(u.Avail-write, 0)) / float64(u.Size)
}
