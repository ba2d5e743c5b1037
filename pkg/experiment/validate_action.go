package experiment

import (
	pathpkg "path"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Bounds of the stress action. The memory bounds keep a typo ("256Gi" for
// "256Mi") from taking a node down; the worker bound matches the stressor.
const (
	minCPUWorkers  = 1
	maxCPUWorkers  = 64
	minCPULoad     = 1
	maxCPULoad     = 100
	minMemoryBytes = 1 << 20 // 1Mi
	maxMemoryBytes = 64 << 30
	memoryRange    = "1Mi and 64Gi"

	minDiskIOWorkers = 1
	maxDiskIOWorkers = 32
	minDiskFillBytes = 1 << 20 // 1Mi
	maxDiskFillBytes = 16 << 40
	diskFillRange    = "1Mi and 16Ti"
)

func (v *validator) action(a *Action, duration Duration, durationOK bool) {
	const path = "spec.action"
	switch {
	case a.PodKill == nil && a.Stress == nil:
		v.add(path, "no action (set exactly one of podKill, stress)")
	case a.PodKill != nil && a.Stress != nil:
		v.add(path, "both podKill and stress are set (set exactly one of podKill, stress)")
	}
	if a.PodKill != nil {
		v.podKill(path+".podKill", a.PodKill, duration, durationOK)
	}
	if a.Stress != nil {
		v.stress(path+".stress", a.Stress)
	}
}

func (v *validator) podKill(path string, p *PodKill, duration Duration, durationOK bool) {
	switch p.Method {
	case "", MethodEvict, MethodDelete:
	default:
		v.add(path+".method", "invalid value %s (allowed: %s, %s)", quoteValue(p.Method), MethodEvict, MethodDelete)
	}
	if p.GracePeriod != nil {
		if d, ok := v.duration(path+".gracePeriod", *p.GracePeriod, durationRule{}); ok && d%time.Second != 0 {
			// The API takes whole seconds; truncating 500ms to 0 would turn
			// a gentle kill into an immediate one.
			v.add(path+".gracePeriod", "%s is not a whole number of seconds (Kubernetes counts grace periods in seconds)", p.GracePeriod)
		}
	}
	every, ok := v.duration(path+".every", p.Every, durationRule{})
	if ok && durationOK && every > duration.Duration {
		v.add(path+".every", "%s is longer than spec.duration %s (leave it out, or set 0s, to kill once)", p.Every, duration)
	}
}

func (v *validator) stress(path string, s *Stress) {
	switch s.Scope {
	case "", ScopePod, ScopeNode:
	default:
		v.add(path+".scope", "invalid value %s (allowed: %s, %s)", quoteValue(s.Scope), ScopePod, ScopeNode)
	}
	if s.CPU == nil && s.Memory == nil && s.Disk == nil {
		v.add(path, "nothing to stress (set cpu, memory, disk or a combination)")
	}
	if c := s.CPU; c != nil {
		v.intRange(path+".cpu.workers", c.Workers, minCPUWorkers, maxCPUWorkers)
		v.intRange(path+".cpu.load", c.Load, minCPULoad, maxCPULoad)
	}
	if m := s.Memory; m != nil {
		v.memorySize(path+".memory.size", m.Size)
	}
	if d := s.Disk; d != nil {
		v.disk(path+".disk", d, s.Scope)
	}
}

func (v *validator) disk(path string, d *DiskStress, scope string) {
	if d.Fill == "" && d.IO == nil {
		v.add(path, "nothing to do on the disk (set fill, io or both)")
	}
	if d.Fill != "" {
		v.diskFill(path+".fill", d.Fill)
	}
	if d.IO != nil {
		v.intRange(path+".io.workers", d.IO.Workers, minDiskIOWorkers, maxDiskIOWorkers)
	}
	if d.AllowNodePressure && scope != ScopeNode {
		// Harmless, but a sign the author expects a protection (or a
		// permission) that a pod-scope stress does not have.
		v.add(path+".allowNodePressure", "only with scope node (a pod-scope disk stress is bounded by the pod's own volume and ephemeral storage)")
	}
	if d.Path != "" && (!strings.HasPrefix(d.Path, "/") || pathpkg.Clean(d.Path) != d.Path || d.Path == "/") {
		v.add(path+".path", "must be a clean absolute directory other than /, got %s", quoteValue(d.Path))
	}
	if d.Volume == "" {
		return
	}
	if errs := validation.IsDNS1123Label(d.Volume); len(errs) > 0 {
		v.add(path+".volume", "invalid volume name %s: %s", quoteValue(d.Volume), strings.Join(errs, "; "))
	}
	if scope == ScopeNode {
		v.add(path+".volume", "only with scope pod (scope node writes to an emptyDir of the helper pod, at path)")
	}
	if d.Path != "" {
		v.add(path+".path", "not with volume (the volume is mounted at %s and filled there)", DiskVolumeMountPath)
	}
}

// diskFill checks a fill: a quantity within bounds or a percentage 1..99.
func (v *validator) diskFill(path, fill string) {
	if p, ok := strings.CutSuffix(fill, "%"); ok {
		n, err := strconv.Atoi(p)
		if err != nil || strconv.Itoa(n) != p {
			v.add(path, "invalid percentage %s (use a whole number such as \"90%%\")", quoteValue(fill))
		} else if n < 1 || n > 99 {
			v.add(path, "a percentage must be between 1%% and 99%%, got %s", quoteValue(fill))
		}
		return
	}
	q, err := resource.ParseQuantity(fill)
	if err != nil {
		v.add(path, "invalid size %s (use a Kubernetes quantity such as 2Gi, or a percentage such as \"90%%\")", quoteValue(fill))
		return
	}
	if q.CmpInt64(minDiskFillBytes) < 0 || q.CmpInt64(maxDiskFillBytes) > 0 {
		v.add(path, "must be between %s, got %s", diskFillRange, quoteValue(fill))
	}
}

// intRange checks an integer that has a default: zero means "unset" unless
// it was written in the file.
func (v *validator) intRange(path string, x, lo, hi int) {
	if x == 0 && !v.written(path) {
		return
	}
	if x < lo || x > hi {
		v.add(path, "must be between %d and %d, got %d", lo, hi, x)
	}
}

func (v *validator) memorySize(path, size string) {
	if size == "" {
		v.add(path, "required (a Kubernetes quantity such as 256Mi)")
		return
	}
	q, err := resource.ParseQuantity(size)
	if err != nil {
		v.add(path, "invalid quantity %s (use a Kubernetes quantity such as 256Mi or 1Gi)", quoteValue(size))
		return
	}
	if q.CmpInt64(minMemoryBytes) < 0 || q.CmpInt64(maxMemoryBytes) > 0 {
		v.add(path, "must be between %s, got %s", memoryRange, quoteValue(size))
	}
}
