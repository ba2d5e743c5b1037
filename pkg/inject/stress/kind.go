package stress

import (
	"context"
	_ "embed" // schema.json
	"fmt"
	pathpkg "path"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// schemaJSON is generated from Spec by TestSchemaIsGenerated (go test
// ./pkg/inject/stress -run TestSchema -update).
//
//go:embed schema.json
var schemaJSON []byte

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

// Fault is the stress fault kind; pkg/faults registers it.
type Fault struct{ experiment.SpecType[Spec] }

var (
	_ inject.Kind             = Fault{}
	_ inject.Sweeper          = Fault{}
	_ inject.AdmissionChecker = Fault{}
	_ inject.NodeChecker      = Fault{}
)

// Name implements experiment.FaultKind.
func (Fault) Name() string { return Kind }

func specOf(spec any) *Spec { return experiment.SpecAs[Spec](spec) }

// Default implements experiment.FaultKind: scope pod, cpu workers 1 and
// load 100, disk io workers 1, and the disk path of the scope.
func (Fault) Default(spec any) {
	st := specOf(spec)
	if st.Scope == "" {
		st.Scope = ScopePod
	}
	if c := st.CPU; c != nil {
		if c.Workers == 0 {
			c.Workers = DefaultCPUWorkers
		}
		if c.Load == 0 {
			c.Load = DefaultCPULoad
		}
	}
	if d := st.Disk; d != nil {
		if d.IO != nil && d.IO.Workers == 0 {
			d.IO.Workers = DefaultDiskIOWorkers
		}
		if d.Path == "" && d.Volume == "" {
			d.Path = DefaultDiskPodPath
			if st.Scope == ScopeNode {
				d.Path = DiskVolumeMountPath
			}
		}
	}
}

// Validate implements experiment.FaultKind.
func (Fault) Validate(c *experiment.ActionCheck, spec any) {
	s := specOf(spec)
	switch s.Scope {
	case "", ScopePod, ScopeNode:
	default:
		c.Add("scope", "invalid value %s (allowed: %s, %s)", experiment.QuoteValue(s.Scope), ScopePod, ScopeNode)
	}
	if s.CPU == nil && s.Memory == nil && s.Disk == nil {
		c.Add("", "nothing to stress (set cpu, memory, disk or a combination)")
	}
	if cpu := s.CPU; cpu != nil {
		c.IntRange("cpu.workers", cpu.Workers, minCPUWorkers, maxCPUWorkers)
		c.IntRange("cpu.load", cpu.Load, minCPULoad, maxCPULoad)
	}
	if m := s.Memory; m != nil {
		memorySize(c, "memory.size", m.Size)
	}
	if d := s.Disk; d != nil {
		validateDisk(c, d, s.Scope)
	}
}

func validateDisk(c *experiment.ActionCheck, d *DiskStress, scope string) {
	if d.Fill == "" && d.IO == nil {
		c.Add("disk", "nothing to do on the disk (set fill, io or both)")
	}
	if d.Fill != "" {
		diskFill(c, "disk.fill", d.Fill)
	}
	if d.IO != nil {
		c.IntRange("disk.io.workers", d.IO.Workers, minDiskIOWorkers, maxDiskIOWorkers)
	}
	if d.AllowNodePressure && scope != ScopeNode {
		// Harmless, but a sign the author expects a protection (or a
		// permission) that a pod-scope stress does not have.
		c.Add("disk.allowNodePressure", "only with scope node (a pod-scope disk stress is bounded by the pod's own volume and ephemeral storage)")
	}
	if d.Path != "" && (!strings.HasPrefix(d.Path, "/") || pathpkg.Clean(d.Path) != d.Path || d.Path == "/") {
		c.Add("disk.path", "must be a clean absolute directory other than /, got %s", experiment.QuoteValue(d.Path))
	}
	if d.Volume == "" {
		return
	}
	if errs := validation.IsDNS1123Label(d.Volume); len(errs) > 0 {
		c.Add("disk.volume", "invalid volume name %s: %s", experiment.QuoteValue(d.Volume), strings.Join(errs, "; "))
	}
	if scope == ScopeNode {
		c.Add("disk.volume", "only with scope pod (scope node writes to an emptyDir of the helper pod, at path)")
	}
	if d.Path != "" {
		c.Add("disk.path", "not with volume (the volume is mounted at %s and filled there)", DiskVolumeMountPath)
	}
}

// diskFill checks a fill: a quantity within bounds or a percentage 1..99.
func diskFill(c *experiment.ActionCheck, path, fill string) {
	if p, ok := strings.CutSuffix(fill, "%"); ok {
		n, err := strconv.Atoi(p)
		if err != nil || strconv.Itoa(n) != p {
			c.Add(path, "invalid percentage %s (use a whole number such as \"90%%\")", experiment.QuoteValue(fill))
		} else if n < 1 || n > 99 {
			c.Add(path, "a percentage must be between 1%% and 99%%, got %s", experiment.QuoteValue(fill))
		}
		return
	}
	q, err := resource.ParseQuantity(fill)
	if err != nil {
		c.Add(path, "invalid size %s (use a Kubernetes quantity such as 2Gi, or a percentage such as \"90%%\")", experiment.QuoteValue(fill))
		return
	}
	if q.CmpInt64(minDiskFillBytes) < 0 || q.CmpInt64(maxDiskFillBytes) > 0 {
		c.Add(path, "must be between %s, got %s", diskFillRange, experiment.QuoteValue(fill))
	}
}

func memorySize(c *experiment.ActionCheck, path, size string) {
	if size == "" {
		c.Add(path, "required (a Kubernetes quantity such as 256Mi)")
		return
	}
	q, err := resource.ParseQuantity(size)
	if err != nil {
		c.Add(path, "invalid quantity %s (use a Kubernetes quantity such as 256Mi or 1Gi)", experiment.QuoteValue(size))
		return
	}
	if q.CmpInt64(minMemoryBytes) < 0 || q.CmpInt64(maxMemoryBytes) > 0 {
		c.Add(path, "must be between %s, got %s", memoryRange, experiment.QuoteValue(size))
	}
}

// Describe implements experiment.FaultKind.
func (Fault) Describe(spec any) experiment.Words {
	s := specOf(spec)
	scope := s.Scope
	if scope == "" {
		scope = ScopePod
	}
	var what []string
	if s.CPU != nil {
		what = append(what, "cpu")
	}
	if s.Memory != nil {
		what = append(what, "memory")
	}
	if s.Disk != nil {
		what = append(what, "disk")
	}
	w := experiment.Words{Action: scope + "-scope stress"}
	if len(what) > 0 {
		w.Action += " (" + strings.Join(what, ", ") + ")"
	}
	if scope == ScopeNode {
		w.Revert = "the helper pods are deleted, which stops the stress and frees what it held"
	} else {
		w.Revert = "the stress processes are stopped in the ephemeral containers, which frees what they held"
	}
	return w
}

// Schema implements experiment.FaultKind.
func (Fault) Schema() experiment.KindSchema { return experiment.ParseKindSchema(schemaJSON) }

// revertMargin is added to the experiment's duration for the stressor's
// own deadline: the backstop if nobody stops it, after the revert had its
// chance.
const revertMargin = 30 * time.Second

// Injector implements inject.Kind.
func (Fault) Injector(env inject.Env, exp *experiment.Experiment) (inject.Injector, error) {
	return &Injector{
		Client:       env.Client,
		Exec:         RemoteExec{Config: env.REST, Client: env.Client},
		Image:        env.HelperImage,
		Spec:         *specOf(exp.Spec.Action.Spec),
		Duration:     exp.Spec.Duration.Duration + revertMargin,
		StartTimeout: env.StartTimeout,
		Lease:        env.Lease,
	}, nil
}

// Access implements inject.Kind.
func (Fault) Access(spec any, ns string) []inject.Access { return Access(*specOf(spec), ns) }

// UsesNodes implements inject.NodeChecker: a node-scope stress runs on
// its targets' nodes.
func (Fault) UsesNodes(spec any) bool { return specOf(spec).Scope == ScopeNode }

// Sweep implements inject.Sweeper: helper pods of runs that are gone.
func (Fault) Sweep(ctx context.Context, env inject.Env, scope inject.SweepScope) error {
	_, err := Sweep(ctx, env.Client, SweepConfig{Namespaces: scope.Namespaces, LeaseNamespace: scope.LeaseNamespace, DryRun: scope.DryRun, Log: env.Log})
	return err
}

// DryRunAdmission implements inject.AdmissionChecker: the ephemeral
// container update (scope pod) or the helper pod create (scope node) for
// p, exactly as built by the injector, with dryRun=All.
func (f Fault) DryRunAdmission(ctx context.Context, env inject.Env, exp *experiment.Experiment, p target.Pod) (string, error) {
	inj, err := f.Injector(env, exp)
	if err != nil {
		return "stress", err
	}
	s := inj.(*Injector)
	run := inject.Run{ID: "doctor-" + strconv.FormatInt(time.Now().Unix(), 36), Experiment: exp.Metadata.Name}
	dry := []string{metav1.DryRunAll}
	if s.Spec.Scope == ScopeNode {
		helper, err := s.HelperPod(run, p.Node, []target.Pod{p})
		if err != nil {
			return "stress helper pod", err
		}
		what := fmt.Sprintf("stress helper pod on node %s (namespace %s)", p.Node, p.Namespace)
		_, err = env.Client.CoreV1().Pods(p.Namespace).Create(ctx, helper, metav1.CreateOptions{DryRun: dry, FieldManager: "chaosnight"})
		return what, err
	}
	what := "stress ephemeral container on pod " + p.Key()
	ec, err := s.EphemeralContainer(run)
	if err != nil {
		return what, err
	}
	pod, err := env.Client.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
	if err != nil {
		return what, err
	}
	pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, ec)
	_, err = env.Client.CoreV1().Pods(p.Namespace).UpdateEphemeralContainers(ctx, pod.Name, pod, metav1.UpdateOptions{DryRun: dry, FieldManager: "chaosnight"})
	return what, err
}
