package stress

// Stress scopes.
const (
	ScopePod  = "pod"
	ScopeNode = "node"
)

// Spec is the body of a stress action: it burns CPU, holds memory and/or fills and loads a disk in the
// target pods (scope pod, through an ephemeral container) or on their
// nodes (scope node, through a helper pod). At least one of CPU, Memory
// and Disk is set.
type Spec struct {
	Scope  string        `yaml:"scope,omitempty" json:"scope,omitempty"` // pod (default) | node
	CPU    *CPUStress    `yaml:"cpu,omitempty" json:"cpu,omitempty"`
	Memory *MemoryStress `yaml:"memory,omitempty" json:"memory,omitempty"`
	Disk   *DiskStress   `yaml:"disk,omitempty" json:"disk,omitempty"`
}

// DiskStress fills storage and/or puts it under I/O pressure. Where it
// writes depends on the scope:
//
//   - scope pod with Volume: into that existing volume of the target pod
//     (an emptyDir or a PVC), mounted into the ephemeral container at
//     DiskVolumeMountPath, so the pod's ephemeral-storage accounting (or
//     the PVC) fills as in a real incident;
//   - scope pod without Volume: into the ephemeral container's own
//     writable layer, under Path (default DefaultDiskPodPath), which also
//     counts towards the pod's ephemeral storage;
//   - scope node: into an emptyDir of the helper pod mounted at Path
//     (default DiskVolumeMountPath), that is the node's kubelet root disk.
//
// At least one of Fill and IO is set. Everything written is removed on
// revert.
type DiskStress struct {
	// Fill is how much to write and hold: a Kubernetes quantity (2Gi) or
	// the filesystem's used percentage to reach ("90%", 1..99).
	Fill string `yaml:"fill,omitempty" json:"fill,omitempty"`
	// Path is the absolute directory to write under (not with Volume).
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	// Volume names one of the target pod's volumes (scope pod only).
	Volume string `yaml:"volume,omitempty" json:"volume,omitempty"`
	// IO adds sustained write+fsync and read load.
	IO *DiskIO `yaml:"io,omitempty" json:"io,omitempty"`
	// AllowNodePressure lets a node-scope disk stress leave the node
	// filesystem under the kubelet's default hard eviction threshold
	// (nodefs.available < 10 %), where the kubelet starts evicting the
	// node's pods. Without it such a stress is refused (scope node only).
	AllowNodePressure bool `yaml:"allowNodePressure,omitempty" json:"allowNodePressure,omitempty"`
}

// DiskIO is the I/O load: workers each writing (with fsync) and reading
// back a file of at most 64Mi, over and over.
type DiskIO struct {
	Workers int `yaml:"workers,omitempty" json:"workers,omitempty"` // 1..32, default 1
}

// Where a disk stress writes when the experiment does not say.
const (
	// DiskVolumeMountPath is where a named volume (scope pod) or the
	// helper pod's emptyDir (scope node) is mounted.
	DiskVolumeMountPath = "/chaosnight/disk"
	// DefaultDiskPodPath is the directory in the ephemeral container's
	// own writable layer (scope pod without a volume).
	DefaultDiskPodPath   = "/tmp"
	DefaultDiskIOWorkers = 1
)

// CPUStress is a duty-cycle CPU load.
type CPUStress struct {
	Workers int `yaml:"workers,omitempty" json:"workers,omitempty"` // 1..64, default 1
	Load    int `yaml:"load,omitempty" json:"load,omitempty"`       // percent of one core per worker, 1..100, default 100
}

// MemoryStress allocates and holds memory.
type MemoryStress struct {
	// Size is a Kubernetes quantity (for example 256Mi), 1Mi..64Gi.
	Size string `yaml:"size" json:"size"`
}

// Defaults of the stress spec.
const (
	DefaultCPUWorkers = 1
	DefaultCPULoad    = 100
)
