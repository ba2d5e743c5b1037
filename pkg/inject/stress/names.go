package stress

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// namePrefix starts the name of every ephemeral container and helper pod,
// so `kubectl get pods` and `kubectl describe` show what they are.
const namePrefix = "chaosnight-stress-"

// leasePrefix starts the name of a run's Lease.
const leasePrefix = "chaosnight-run-"

// DefaultImageRepository is where the chaosnight image is published.
const DefaultImageRepository = "ghcr.io/chaosnight/chaosnight"

// DefaultImage is the chaosnight image of a given version: the stress
// process must understand the flags this version's injector passes, so the
// image follows the binary. A build without a release version ("dev", "")
// uses the latest image. Tags cannot hold '+' (semver build metadata), so
// it becomes '-'.
func DefaultImage(version string) string {
	v := strings.TrimSpace(version)
	if v == "" || v == "dev" || v == "(devel)" {
		return DefaultImageRepository + ":latest"
	}
	return DefaultImageRepository + ":" + strings.ReplaceAll(v, "+", "-")
}

// ContainerName is the name of the ephemeral container a run adds to its
// targets: "chaosnight-stress-" and the run ID, as a DNS-1123 label (at
// most 63 characters). A run ID that is not already a clean label is
// lowered, cleaned and given a hash suffix, so two run IDs never share a
// name.
func ContainerName(runID string) (string, error) {
	return dnsLabel(namePrefix, runID, "")
}

// HelperName is the name of the helper pod a run places on a node.
func HelperName(runID, node string) (string, error) {
	return dnsLabel(namePrefix, runID, shortHash(node))
}

// LeaseName is the name of the Lease that says a run is alive.
func LeaseName(runID string) (string, error) {
	return dnsLabel(leasePrefix, runID, "")
}

// dnsLabel builds prefix+id[-suffix] as a DNS-1123 label. When id had to
// be cleaned or shortened, a hash of the original id is appended, so the
// result stays unique per id.
func dnsLabel(prefix, id, suffix string) (string, error) {
	if id == "" {
		return "", errors.New("empty run id")
	}
	clean := cleanLabel(id)
	tail := ""
	if suffix != "" {
		tail = "-" + suffix
	}
	if clean != id || len(prefix)+len(clean)+len(tail) > validation.DNS1123LabelMaxLength {
		tail = "-" + shortHash(id) + tail
		room := validation.DNS1123LabelMaxLength - len(prefix) - len(tail)
		if len(clean) > room {
			clean = strings.TrimRight(clean[:room], "-")
		}
	}
	name := prefix + clean + tail
	if clean == "" {
		name = prefix + strings.TrimPrefix(tail, "-")
	}
	if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
		return "", fmt.Errorf("cannot build a name from run id %q: %s", id, strings.Join(errs, "; "))
	}
	return name, nil
}

// cleanLabel lowers s and keeps [a-z0-9-], collapsing anything else to '-'
// and trimming dashes at both ends.
func cleanLabel(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash:
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-")
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:4])
}

// StressArgs are the arguments of `chaosnight-stress` for spec and d, in
// a fixed order: the command line the journal and `kubectl describe` show.
// The duration is whole seconds (rounded up), in Go syntax.
func StressArgs(spec Spec, d time.Duration) ([]string, error) {
	if spec.CPU == nil && spec.Memory == nil && spec.Disk == nil {
		return nil, errors.New("nothing to stress (set cpu, memory, disk or a combination)")
	}
	if d <= 0 {
		return nil, fmt.Errorf("stress duration must be positive, got %s", d)
	}
	var args []string
	if c := spec.CPU; c != nil {
		workers, load := c.Workers, c.Load
		if workers == 0 {
			workers = DefaultCPUWorkers
		}
		if load == 0 {
			load = DefaultCPULoad
		}
		args = append(args, "--cpu-workers", strconv.Itoa(workers), "--cpu-load", strconv.Itoa(load))
	}
	if m := spec.Memory; m != nil {
		if strings.TrimSpace(m.Size) == "" {
			return nil, errors.New("memory stress without a size")
		}
		args = append(args, "--memory", strings.TrimSpace(m.Size))
	}
	if dk := spec.Disk; dk != nil {
		if strings.TrimSpace(dk.Fill) == "" && dk.IO == nil {
			return nil, errors.New("disk stress without fill or io")
		}
		if f := strings.TrimSpace(dk.Fill); f != "" {
			args = append(args, "--disk-fill", f)
		}
		if dk.IO != nil {
			w := dk.IO.Workers
			if w == 0 {
				w = DefaultDiskIOWorkers
			}
			args = append(args, "--disk-io", strconv.Itoa(w))
		}
		args = append(args, "--disk-path", DiskPath(spec))
	}
	return append(args, "--duration", roundUp(d).String()), nil
}

// DiskPath is the directory the stressor writes under, as seen from its
// container: the mount of the named volume (scope pod with a volume), a
// directory of the container's own writable layer (scope pod without),
// or the helper pod's emptyDir (scope node). Empty without a disk stress.
func DiskPath(spec Spec) string {
	d := spec.Disk
	switch {
	case d == nil:
		return ""
	case spec.Scope == scopeNode:
		if d.Path != "" {
			return d.Path
		}
		return DiskVolumeMountPath
	case d.Volume != "":
		return DiskVolumeMountPath
	case d.Path != "":
		return d.Path
	default:
		return DefaultDiskPodPath
	}
}

// writableLayer says whether the stress writes into its container's own
// root filesystem (scope pod, disk stress without a volume). Only then is
// the root filesystem not read-only: that write is the fault, and it is
// what the kubelet counts as the pod's ephemeral storage.
func writableLayer(spec Spec) bool {
	return spec.Disk != nil && spec.Scope != scopeNode && spec.Disk.Volume == ""
}

// StopArgs are the arguments of the command that stops the stress early,
// run through pods/exec in the ephemeral container.
func StopArgs() []string { return []string{"stop"} }

// roundUp rounds d up to whole seconds.
func roundUp(d time.Duration) time.Duration {
	return (d + time.Second - 1) / time.Second * time.Second
}

// User and group the stress runs as: distroless' "nonroot", which every
// restricted-profile image convention expects.
const stressUID = 65532

// containerSecurityContext asks for nothing: non-root, no privilege
// escalation, no capabilities, read-only root filesystem, the runtime's
// default seccomp profile. It satisfies the restricted Pod Security level
// on its own, whatever the target pod's own settings are.
//
// writableRoot lifts only the read-only root filesystem, for a disk stress in
// the container's own writable layer (the restricted level does not
// require a read-only root, so admission is unchanged).
func containerSecurityContext(writableRoot bool) *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr(true),
		RunAsUser:                ptr(int64(stressUID)),
		RunAsGroup:               ptr(int64(stressUID)),
		AllowPrivilegeEscalation: ptr(false),
		Privileged:               ptr(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		ReadOnlyRootFilesystem:   ptr(!writableRoot),
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func ptr[T any](v T) *T { return &v }
