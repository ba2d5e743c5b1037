// Command realnode compares chaosnight's pod-scope stress with Debian's
// stress-ng inside one pod on the sandbox's real node, at the same time,
// and writes bench/results-realnode.md:
//
//	bash bench/realnode/run.sh              # as root; installs stress-ng if missing; about 4 minutes
//	go run ./bench/realnode -reps 1         # quicker
//
// Every case is one pod on the real node. Its one regular container runs
// stress-ng (an image made of the host's /usr/bin/stress-ng and the shared
// libraries ldd lists, imported with sandbox.ImportImage); chaosnight's
// stress is added to the same pod as the product adds it: the
// pkg/inject/stress Injector behind the inject.Guard, an ephemeral
// container of the sandbox's chaosnight-stress image, targeting the
// stress-ng container. Both get the same target (1 worker at P %), and
// each one's CPU is read from its OWN container cgroup under the pod's
// (cpuacct.usage of kubepods/…/pod<UID>/<container ID>), over the same
// window. The pod's own cgroup gives their sum; /proc/stat gives what the
// rest of the machine did meanwhile.
//
// Memory: the resident memory of each stressor inside the pod, from the
// container cgroup's memory.stat and from /proc/PID/status and
// smaps_rollup of the processes in its cgroup.procs, during the CPU cases
// and during a memory stress of 64 MiB.
//
// It needs root (the real node) and the sandbox's cached binaries
// (`bash hack/sandbox-tools.sh -realnode`); run it under
// `flock /tmp/chaosnight-sandbox.lock` on a shared machine (run.sh does).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/stress"
	"github.com/chaosnight/chaosnight/pkg/target"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

const (
	benchNamespace = "bench-realnode"
	ngImage        = "chaosnight.local/stress-ng:bench"
	ngContainer    = "stress-ng"
	memTarget      = 64 << 20
	// headroom is the share of one CPU the kernel, the sandbox's control
	// plane and this program need besides the pod; a window where the
	// rest of the machine left less is marked crowded.
	headroom = 15.0
)

type options struct {
	reps     int
	window   time.Duration
	settle   time.Duration
	wait     time.Duration
	out      string
	stressNG string
}

func main() {
	var o options
	flag.IntVar(&o.reps, "reps", 3, "repetitions of every case")
	flag.DurationVar(&o.window, "window", 5*time.Second, "CPU measurement window")
	flag.DurationVar(&o.settle, "settle", time.Second, "time between the kubelet reporting chaosnight's container running and the window")
	flag.DurationVar(&o.wait, "wait", 15*time.Second, "before each case, wait at most this long for the rest of the machine to leave room for it")
	flag.StringVar(&o.out, "out", "bench/results-realnode.md", "where to write the results")
	flag.StringVar(&o.stressNG, "stress-ng", "stress-ng", "the stress-ng binary to put in the image")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/realnode:", err)
		os.Exit(1)
	}
}

// caseSpec is one pod: its limits (its one container's, which are the
// pod's) and what both tools are asked for.
type caseSpec struct {
	kind     string // "cpu" or "memory"
	workers  int    // per tool (cpu)
	load     int    // per worker, percent of one CPU (cpu)
	cpuLimit string
	memLimit string
}

func (c caseSpec) limitCPUs() float64 {
	q := resource.MustParse(c.cpuLimit)
	return float64(q.MilliValue()) / 1000
}

// demand is what the pod would use if nothing else ran, in percent of
// one CPU: both loads, or the limit where it caps them.
func (c caseSpec) demand() float64 {
	if c.kind != "cpu" {
		return 10
	}
	return min(float64(2*c.workers*c.load), 100*c.limitCPUs())
}

func (c caseSpec) capped() bool {
	return c.kind == "cpu" && float64(2*c.workers*c.load) > 100*c.limitCPUs()
}

// contended: the two tools have more workers than the machine has CPUs,
// so their workers compete for CPUs, not only for the pod's quota.
func (c caseSpec) contended() bool { return 2*c.workers > runtime.NumCPU() }

func (c caseSpec) String() string {
	return fmt.Sprintf("%d × %d%% each, limit %s CPU", c.workers, c.load, c.cpuLimit)
}

// ngArgs are stress-ng's arguments for the case: the same load as ours,
// and a timeout well past the case (the pod is deleted at its end).
// stress-ng refuses to start unless its temp path is writable, and "/"
// is not for uid 65534: the image's /tmp is (mode 1777).
func (c caseSpec) ngArgs() []string {
	return append([]string{"--temp-path", "/tmp"}, c.stressArgs()...)
}

func (c caseSpec) stressArgs() []string {
	if c.kind == "memory" {
		// --vm-keep --vm-hang 0: allocate and dirty once, then hold, as
		// chaosnight's memory stress does (without them stress-ng keeps
		// re-dirtying and burns a CPU; bench/results-stress.md has both).
		return []string{"--vm", "1", "--vm-bytes", strconv.Itoa(memTarget>>20) + "M", "--vm-keep", "--vm-hang", "0", "--timeout", "600"}
	}
	return []string{"--cpu", strconv.Itoa(c.workers), "--cpu-load", strconv.Itoa(c.load), "--timeout", "600"}
}

func (c caseSpec) spec() stress.Spec {
	if c.kind == "memory" {
		return stress.Spec{Scope: stress.ScopePod, Memory: &stress.MemoryStress{Size: strconv.Itoa(memTarget>>20) + "Mi"}}
	}
	return stress.Spec{Scope: stress.ScopePod, CPU: &stress.CPUStress{Workers: c.workers, Load: c.load}}
}

// env is what the report says about the machine and the versions.
type env struct {
	started   time.Time
	model     string
	cpus      int
	memTotal  string
	kernel    string
	cgroup    string
	kubelet   string
	runtime   string
	ngVersion string
	commit    string
	imageSize int64
	imageLibs int
	startTook time.Duration
}

type bench struct {
	s *sandbox.Sandbox
	o options
}

// run measures, then writes the results to o.out.
func run(ctx context.Context, o options) error {
	r, err := measure(ctx, o)
	if err != nil {
		return err
	}
	if err := os.WriteFile(o.out, []byte(report(o, r.env, r.cpu, r.mem)), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	logf("wrote %s", o.out)
	return nil
}

// results is what one run of the benchmark measured, for report.
type results struct {
	env env // the machine, the versions, the sandbox's start
	cpu []cpuRow
	mem []memRow
}

// measure starts the sandbox with the real node, runs every case and
// returns the rows; it only logs progress.
func measure(ctx context.Context, o options) (results, error) {
	if os.Geteuid() != 0 {
		return results{}, errors.New("the real node needs root: run bench/realnode/run.sh as root")
	}
	bin, err := exec.LookPath(o.stressNG)
	if err != nil {
		return results{}, errors.New("stress-ng not found: apt-get install -y stress-ng (or run bench/realnode/run.sh)")
	}
	if bin, err = filepath.EvalSymlinks(bin); err != nil {
		return results{}, fmt.Errorf("stress-ng: %w", err)
	}
	e := describeMachine()
	e.started = time.Now()
	if v, err := exec.Command(bin, "--version").Output(); err == nil {
		e.ngVersion = strings.TrimSpace(string(v))
	}
	// Nothing can be pulled into the sandbox: Debian's stress-ng runs
	// from the host's own files.
	files, err := sandbox.HostBinaryFiles(ctx, bin)
	if err != nil {
		return results{}, err
	}
	e.imageLibs = len(files) - 1
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			e.imageSize += st.Size()
		}
	}

	began := time.Now()
	s, err := sandbox.Start(ctx, sandbox.Config{Nodes: 1, RealNode: true, Log: prefixed("sandbox")})
	if err != nil {
		return results{}, err
	}
	defer func() {
		if err := s.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "bench/realnode: sandbox stop:", err)
		}
	}()
	e.startTook = time.Since(began)
	if n, err := s.Client().CoreV1().Nodes().Get(ctx, sandbox.RealNodeName, metav1.GetOptions{}); err == nil {
		e.kubelet, e.runtime = n.Status.NodeInfo.KubeletVersion, n.Status.NodeInfo.ContainerRuntimeVersion
	}
	if err := s.ImportImage(ctx, ngImage, files, []string{bin}); err != nil {
		return results{}, err
	}
	logf("sandbox with the real node up in %s; stress-ng image imported (%d libraries)", e.startTook.Round(time.Millisecond), e.imageLibs)
	// Pod Security restricted, as where the product stresses: both
	// containers run as uid 65534 without capabilities.
	if _, err := s.Client().CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: benchNamespace, Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"},
	}}, metav1.CreateOptions{}); err != nil {
		return results{}, fmt.Errorf("namespace: %w", err)
	}

	b := &bench{s: s, o: o}
	// One worker each at 25/50/80 % under a 2-CPU limit, which none of
	// them reaches (two tools at 80 % use 1.6 CPUs). Then a 1-CPU limit
	// that two tools at 80 % exceed, so the pod's quota decides; and the
	// same limit with two workers each, four workers for the machine's two
	// CPUs, so that they also compete for CPUs and the containers' CFS
	// weights (cpu.shares) decide within the quota.
	cpuCases := []caseSpec{
		{kind: "cpu", workers: 1, load: 25, cpuLimit: "2", memLimit: "256Mi"},
		{kind: "cpu", workers: 1, load: 50, cpuLimit: "2", memLimit: "256Mi"},
		{kind: "cpu", workers: 1, load: 80, cpuLimit: "2", memLimit: "256Mi"},
		{kind: "cpu", workers: 1, load: 80, cpuLimit: "1", memLimit: "256Mi"},
		{kind: "cpu", workers: 2, load: 80, cpuLimit: "1", memLimit: "256Mi"},
	}
	memCase := caseSpec{kind: "memory", cpuLimit: "2", memLimit: "512Mi"}
	var cpuRows []cpuRow
	var memRows []memRow
	for rep := 1; rep <= o.reps; rep++ {
		for _, c := range cpuCases {
			r, err := b.cpuCase(ctx, c, rep)
			if err != nil {
				return results{}, fmt.Errorf("rep %d, %s: %w", rep, c, err)
			}
			logf("rep %d, %s: chaosnight %.1f%%, stress-ng %.1f%%, pod %.1f%%, rest of machine %.0f%%, throttled %.0f%% of periods; RSS chaosnight %s, stress-ng %s",
				rep, c, r.chaos, r.ng, r.pod, r.rest, r.throttledPct(), mib(r.chaosMem.vmRSS), mib(r.ngMem.vmRSS))
			cpuRows = append(cpuRows, r)
		}
		r, err := b.memoryCase(ctx, memCase, rep)
		if err != nil {
			return results{}, fmt.Errorf("rep %d, memory: %w", rep, err)
		}
		logf("rep %d, memory %s: chaosnight cgroup rss %s (VmRSS %s), stress-ng cgroup rss %s (VmRSS %s, Pss %s)",
			rep, mib(memTarget), mib(r.chaos.cgRSS), mib(r.chaos.vmRSS), mib(r.ng.cgRSS), mib(r.ng.vmRSS), mib(r.ng.pss))
		memRows = append(memRows, r)
	}
	return results{env: e, cpu: cpuRows, mem: memRows}, nil
}

// pod is one case's pod on the real node.
type pod struct {
	name, uid string
	created   time.Time
	cg        podCgroup
}

// startPod creates the case's pod with stress-ng as its one container and
// waits until it is Ready (stress-ng running).
func (b *bench) startPod(ctx context.Context, name string, c caseSpec) (*pod, error) {
	res := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(c.cpuLimit), corev1.ResourceMemory: resource.MustParse(c.memLimit)}
	spec := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: benchNamespace, Labels: map[string]string{"app": "bench"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: ngContainer, Image: ngImage, ImagePullPolicy: corev1.PullNever, Args: c.ngArgs(),
				// requests = limits: a Guaranteed pod, whose cgroup's
				// quota is exactly the limit.
				Resources: corev1.ResourceRequirements{Requests: res, Limits: res},
				SecurityContext: &corev1.SecurityContext{
					RunAsNonRoot: ptr(true), RunAsUser: ptr(int64(65534)), AllowPrivilegeEscalation: ptr(false),
					Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				},
			}},
			TerminationGracePeriodSeconds: ptr(int64(1)),
		},
	}
	sandbox.OnRealNode(&spec.Spec)
	created, err := b.s.Client().CoreV1().Pods(benchNamespace).Create(ctx, spec, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("create pod: %w", err)
	}
	p := &pod{name: name, uid: string(created.UID), created: time.Now()}
	err = waitFor(ctx, 60*time.Second, "pod "+name+" Ready", func() error {
		got, err := b.s.Client().CoreV1().Pods(benchNamespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, st := range got.Status.ContainerStatuses {
			if t := st.State.Terminated; t != nil {
				return &permanentError{fmt.Errorf("stress-ng ended: exit code %d, %s %s", t.ExitCode, t.Reason, t.Message)}
			}
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("phase %s, containers %v", got.Status.Phase, got.Status.ContainerStatuses)
	})
	if err != nil {
		return p, err
	}
	p.cg, err = findPodCgroup(p.uid)
	return p, err
}

// deletePod deletes the pod and waits until the kubelet has removed its
// cgroup, so that nothing of it runs during the next case.
func (b *bench) deletePod(p *pod) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	err := b.s.Client().CoreV1().Pods(benchNamespace).Delete(ctx, p.name, metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(1))})
	if err != nil && !apierrors.IsNotFound(err) {
		logf("delete pod %s: %v", p.name, err)
		return
	}
	err = waitFor(ctx, 60*time.Second, "pod "+p.name+" gone", func() error {
		_, err := b.s.Client().CoreV1().Pods(benchNamespace).Get(ctx, p.name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			if p.cg.rel == "" {
				return nil
			}
			if _, err := os.Stat(p.cg.dir("cpuacct", "")); errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return errors.New("its cgroup is still there")
		}
		return errors.New("still in the API")
	})
	if err != nil {
		logf("%v", err)
	}
}

// stressed is chaosnight's stress running in a case's pod.
type stressed struct {
	chaosID, ngID string        // container IDs: their cgroup directories' names
	took          time.Duration // Inject, until the kubelet reported the container running
}

// inject adds chaosnight's stress to the pod through the product's path:
// the Guard in front of the pod-scope Injector, which waits until the
// kubelet reports the ephemeral container running.
func (b *bench) inject(ctx context.Context, p *pod, c caseSpec) (stressed, error) {
	cs := b.s.Client()
	injector := &stress.Injector{
		Client: cs, Exec: stress.RemoteExec{Config: b.s.RESTConfig, Client: cs},
		Image: sandbox.StressImage, ImagePullPolicy: corev1.PullNever,
		Spec: c.spec(), Duration: 5 * time.Minute,
		StartTimeout: 30 * time.Second, ExecTimeout: 10 * time.Second,
	}
	g := &inject.Guard{Client: cs, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	tg := target.Pod{
		Namespace: benchNamespace, Name: p.name, UID: p.uid, Node: sandbox.RealNodeName, Labels: map[string]string{"app": "bench"},
		Created: p.created, Phase: string(corev1.PodRunning), Ready: true, Containers: []string{ngContainer},
	}
	began := time.Now()
	got, err := g.Inject(ctx, inject.Request{Run: inject.Run{ID: p.name, Experiment: "bench-realnode"}, Action: "pod-scope stress", Targets: []target.Pod{tg}, Injector: injector, MaxTargets: 1})
	if err != nil {
		return stressed{}, fmt.Errorf("inject: %w", err)
	}
	took := time.Since(began)
	if len(got.Outcomes) != 1 || got.Outcomes[0].Status != inject.StatusStressed {
		return stressed{}, fmt.Errorf("inject: outcomes %+v, want one stressed", got.Outcomes)
	}
	st, err := stress.DecodeState(got.State)
	if err != nil {
		return stressed{}, err
	}
	out := stressed{took: took}
	err = waitFor(ctx, 10*time.Second, "both containers' IDs and cgroups", func() error {
		pd, err := cs.CoreV1().Pods(benchNamespace).Get(ctx, p.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		out.ngID, out.chaosID = containerIDs(pd, st.Container)
		return p.cgroupsExist(pd, out.ngID, out.chaosID)
	})
	return out, err
}

// containerIDs are the runtime IDs of the stress-ng container and of the
// chaosnight ephemeral container named chaos ("" until the status has it).
func containerIDs(pd *corev1.Pod, chaos string) (ngID, chaosID string) {
	for _, s := range pd.Status.ContainerStatuses {
		if s.Name == ngContainer {
			ngID = runtimeID(s.ContainerID)
		}
	}
	for _, s := range pd.Status.EphemeralContainerStatuses {
		if s.Name == chaos {
			chaosID = runtimeID(s.ContainerID)
		}
	}
	return ngID, chaosID
}

// cgroupsExist says why the two containers cannot be measured yet: an ID
// not in the status, or a container cgroup the kubelet has not created
// (then with what the pod's cgroup does hold).
func (p *pod) cgroupsExist(pd *corev1.Pod, ngID, chaosID string) error {
	for _, id := range []string{ngID, chaosID} {
		if id == "" {
			return errors.New("a container ID is not in the pod status yet")
		}
		if _, err := os.Stat(p.cg.dir("cpuacct", id)); err != nil {
			entries, _ := os.ReadDir(p.cg.dir("cpuacct", ""))
			var names []string
			for _, e := range entries {
				if e.IsDir() {
					names = append(names, e.Name())
				}
			}
			return fmt.Errorf("%w (stress-ng %s, chaosnight %s; the pod's cgroup holds %v; statuses %v %v)", err, ngID, chaosID, names, pd.Status.ContainerStatuses, pd.Status.EphemeralContainerStatuses)
		}
	}
	return nil
}

// runtimeID is the ID in "containerd://<id>".
func runtimeID(s string) string {
	if _, id, ok := strings.Cut(s, "://"); ok {
		return id
	}
	return s
}

type cpuRow struct {
	c               caseSpec
	rep             int
	chaos, ng, pod  float64 // percent of one CPU over the window
	rest            float64 // the rest of the machine
	throttle        throttle
	chaosLimits     cpuLimits
	ngLimits        cpuLimits
	podLimits       cpuLimits
	chaosMem, ngMem memSample
	injectTook      time.Duration
}

func (r cpuRow) throttledPct() float64 {
	if r.throttle.periods == 0 {
		return 0
	}
	return 100 * float64(r.throttle.throttled) / float64(r.throttle.periods)
}

// crowded: the rest of the machine left less room than the pod's demand,
// so the neighbours, not the tools, decided the window.
func (r cpuRow) crowded() bool {
	return r.rest+r.c.demand() > float64(100*runtime.NumCPU())-headroom
}

type cpuSample struct {
	at                time.Time
	chaos, ng, podAll time.Duration
	machine           time.Duration
	throttle          throttle
}

func (b *bench) sampleCPU(p *pod, s stressed) (cpuSample, error) {
	var out cpuSample
	var err error
	var errs []error
	out.machine, err = machineBusy()
	errs = append(errs, err)
	out.at = time.Now()
	out.chaos, err = p.cg.usage(s.chaosID)
	errs = append(errs, err)
	out.ng, err = p.cg.usage(s.ngID)
	errs = append(errs, err)
	out.podAll, err = p.cg.usage("")
	errs = append(errs, err)
	out.throttle, err = p.cg.throttle()
	errs = append(errs, err)
	return out, errors.Join(errs...)
}

func (b *bench) cpuCase(ctx context.Context, c caseSpec, rep int) (cpuRow, error) {
	row := cpuRow{c: c, rep: rep}
	waitForRoom(ctx, c.demand(), b.o.wait)
	p, err := b.startPod(ctx, fmt.Sprintf("cpu-%dx%d-l%s-%d", c.workers, c.load, strings.ReplaceAll(c.cpuLimit, ".", ""), rep), c)
	if p != nil {
		defer b.deletePod(p)
	}
	if err != nil {
		return row, err
	}
	s, err := b.inject(ctx, p, c)
	if err != nil {
		return row, err
	}
	row.injectTook = s.took
	if row.chaosLimits, err = p.cg.cpuLimits(s.chaosID); err != nil {
		return row, err
	}
	if row.ngLimits, err = p.cg.cpuLimits(s.ngID); err != nil {
		return row, err
	}
	if row.podLimits, err = p.cg.cpuLimits(""); err != nil {
		return row, err
	}
	if err := sleep(ctx, b.o.settle); err != nil {
		return row, err
	}
	a, err := b.sampleCPU(p, s)
	if err != nil {
		return row, err
	}
	if err := sleep(ctx, b.o.window); err != nil {
		return row, err
	}
	z, err := b.sampleCPU(p, s)
	if err != nil {
		return row, err
	}
	wall := z.at.Sub(a.at).Seconds()
	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / wall }
	row.chaos, row.ng, row.pod = pct(z.chaos-a.chaos), pct(z.ng-a.ng), pct(z.podAll-a.podAll)
	row.rest = pct(z.machine-a.machine) - row.pod
	row.throttle = throttle{periods: z.throttle.periods - a.throttle.periods, throttled: z.throttle.throttled - a.throttle.throttled}
	if row.chaosMem, err = p.cg.memory(s.chaosID); err != nil {
		return row, err
	}
	if row.ngMem, err = p.cg.memory(s.ngID); err != nil {
		return row, err
	}
	// A stressor that died during the window would make its figure
	// meaningless: both must still have their processes.
	if row.chaosMem.procs == 0 || row.ngMem.procs == 0 {
		return row, fmt.Errorf("a stressor ended during the window (processes: chaosnight %d, stress-ng %d)", row.chaosMem.procs, row.ngMem.procs)
	}
	return row, nil
}

type memRow struct {
	rep             int
	chaos, ng       memSample // medians over the hold
	chaosCPU, ngCPU float64   // CPU while holding, percent of one CPU
}

// memoryCase: both hold 64 MiB in one pod; once both cgroups' rss has
// reached it, the medians of 2 s of samples, 100 ms apart.
func (b *bench) memoryCase(ctx context.Context, c caseSpec, rep int) (memRow, error) {
	row := memRow{rep: rep}
	waitForRoom(ctx, c.demand(), b.o.wait)
	p, err := b.startPod(ctx, fmt.Sprintf("memory-%d", rep), c)
	if p != nil {
		defer b.deletePod(p)
	}
	if err != nil {
		return row, err
	}
	s, err := b.inject(ctx, p, c)
	if err != nil {
		return row, err
	}
	err = waitFor(ctx, 20*time.Second, "both cgroups holding the target", func() error {
		cm, err := p.cg.memory(s.chaosID)
		if err != nil {
			return err
		}
		nm, err := p.cg.memory(s.ngID)
		if err != nil {
			return err
		}
		if cm.cgRSS < memTarget || nm.cgRSS < memTarget {
			return fmt.Errorf("rss chaosnight %s, stress-ng %s", mib(cm.cgRSS), mib(nm.cgRSS))
		}
		return nil
	})
	if err != nil {
		return row, err
	}
	if err := sleep(ctx, 500*time.Millisecond); err != nil {
		return row, err
	}
	a, err := b.sampleCPU(p, s)
	if err != nil {
		return row, err
	}
	var cs, ns []memSample
	for range 20 {
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return row, err
		}
		cm, err := p.cg.memory(s.chaosID)
		if err != nil {
			return row, err
		}
		nm, err := p.cg.memory(s.ngID)
		if err != nil {
			return row, err
		}
		cs, ns = append(cs, cm), append(ns, nm)
	}
	z, err := b.sampleCPU(p, s)
	if err != nil {
		return row, err
	}
	wall := z.at.Sub(a.at).Seconds()
	row.chaosCPU = 100 * (z.chaos - a.chaos).Seconds() / wall
	row.ngCPU = 100 * (z.ng - a.ng).Seconds() / wall
	row.chaos, row.ng = medianMem(cs), medianMem(ns)
	if row.chaos.procs == 0 || row.ng.procs == 0 {
		return row, fmt.Errorf("a stressor ended while holding (processes: chaosnight %d, stress-ng %d)", row.chaos.procs, row.ng.procs)
	}
	return row, nil
}

// medianMem takes each field's median on its own.
func medianMem(xs []memSample) memSample {
	med := func(f func(memSample) int64) int64 {
		v := make([]int64, len(xs))
		for i, x := range xs {
			v[i] = f(x)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	return memSample{
		procs:  int(med(func(m memSample) int64 { return int64(m.procs) })),
		vmRSS:  med(func(m memSample) int64 { return m.vmRSS }),
		pss:    med(func(m memSample) int64 { return m.pss }),
		anon:   med(func(m memSample) int64 { return m.anon }),
		cgRSS:  med(func(m memSample) int64 { return m.cgRSS }),
		cgFile: med(func(m memSample) int64 { return m.cgFile }),
	}
}

// ---- helpers ----

// permanentError stops waitFor at once.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// waitFor polls f every 50 ms until it returns nil, a *permanentError,
// the timeout passes or ctx ends.
func waitFor(ctx context.Context, timeout time.Duration, what string, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return fmt.Errorf("%s: %w", what, err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %s: %w", what, timeout, err)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// waitForRoom waits, at most limit, until the rest of the machine has
// left room for need (percent of one CPU) over a 500 ms slice. It only
// delays a case so that a busy neighbour does not decide it; windows that
// are still crowded are marked in the results.
func waitForRoom(ctx context.Context, need float64, limit time.Duration) {
	need += headroom
	for start := time.Now(); time.Since(start) < limit; {
		a, _ := machineBusy()
		at := time.Now()
		if sleep(ctx, 500*time.Millisecond) != nil {
			return
		}
		z, _ := machineBusy()
		if busy := 100 * (z - a).Seconds() / time.Since(at).Seconds(); busy+need <= float64(100*runtime.NumCPU()) {
			return
		}
	}
}

func ptr[T any](v T) *T { return &v }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench/realnode: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// prefixed is a writer for the sandbox's start log.
func prefixed(name string) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		fmt.Fprintf(os.Stderr, "%s %s: %s", time.Now().UTC().Format("15:04:05"), name, strings.TrimPrefix(string(p), "sandbox: "))
		return len(p), nil
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
