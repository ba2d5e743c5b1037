package realnode

// What the kwok integration tests of pkg/inject/stress once had to fake
// ("the test plays the kubelet": writing container statuses, running the
// stressor in the test process), proven on the real node instead: the
// real kubelet, containerd and runc start, end and report the stress
// containers, and the product's injector (inject.Guard in front of
// stress.Injector, as the engine calls it) reads what they report.

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/stress"
	"github.com/chaosnight/chaosnight/pkg/stressor"
	"github.com/chaosnight/chaosnight/pkg/stressor/stresscmd"
	"github.com/chaosnight/chaosnight/pkg/target"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// kubeletLimits are the target pods' limits where the test does not care:
// small, and Guaranteed QoS (the pod's cgroups sit right under kubepods).
func kubeletLimits() corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
}

// kubeletTargetSpec describes one target pod.
type kubeletTargetSpec struct {
	name    string
	limits  corev1.ResourceList
	volumes []corev1.Volume // the pod's volumes (the stress container mounts one by name)
}

// kubeletTargets creates Ready target pods on the real node, each with one
// idle container (memhog holding 1 MiB) under the restricted security
// context, and returns them as the selector would, in the given order.
func kubeletTargets(t *testing.T, ns string, specs ...kubeletTargetSpec) []target.Pod {
	t.Helper()
	for _, ts := range specs {
		main := corev1.Container{
			Name: "main", Image: sandbox.StressImage, ImagePullPolicy: corev1.PullNever,
			Command:         []string{"/memhog", "-mib", "1", "-hold", "1h"},
			SecurityContext: restricted(),
			Resources:       corev1.ResourceRequirements{Limits: ts.limits},
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: ts.name, Namespace: ns, Labels: map[string]string{"app": "kubelet-test"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{main}, Volumes: ts.volumes, TerminationGracePeriodSeconds: ptr(int64(1))},
		}
		sandbox.OnRealNode(&pod.Spec)
		if _, err := sb.Client().CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var out []target.Pod
	for _, ts := range specs {
		got := waitPod(t, ns, ts.name, "target "+ts.name+" Ready on the real node", podReady)
		if got.Spec.NodeName != sandbox.RealNodeName {
			t.Fatalf("target %s on node %q, want %q", ts.name, got.Spec.NodeName, sandbox.RealNodeName)
		}
		out = append(out, target.FromPod(got))
	}
	return out
}

// kubeletInject passes the injection through the Guard, as the engine
// does, and returns the outcomes by pod name.
func kubeletInject(t *testing.T, run inject.Run, targets []target.Pod, inj *stress.Injector) (inject.Injection, map[string]inject.Outcome) {
	t.Helper()
	g := &inject.Guard{Client: sb.Client()}
	got, err := g.Inject(context.Background(), inject.Request{Run: run, Action: "pod-scope stress", Targets: targets, Injector: inj, MaxTargets: len(targets)})
	if err != nil {
		t.Fatalf("inject: %v (outcomes %+v)", err, got.Outcomes)
	}
	if len(got.Outcomes) != len(targets) {
		t.Fatalf("outcomes %+v, want %d", got.Outcomes, len(targets))
	}
	byName := map[string]inject.Outcome{}
	for _, o := range got.Outcomes {
		byName[o.Pod.Name] = o
		t.Logf("outcome %s: %s: %s", o.Pod.Name, o.Status, o.Detail)
	}
	return got, byName
}

// kubeletState decodes the injection's state.
func kubeletState(t *testing.T, inj inject.Injection) stress.State {
	t.Helper()
	st, err := stress.DecodeState(inj.State)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// kubeletExecRecorder is the real exec (stress.RemoteExec), recording
// every command Revert sends: which pods it stops is the proof.
type kubeletExecRecorder struct {
	real stress.Execer
	mu   sync.Mutex
	got  []string // "namespace/pod container command"
}

func (r *kubeletExecRecorder) Exec(ctx context.Context, namespace, pod, container string, cmd []string) (string, string, error) {
	r.mu.Lock()
	r.got = append(r.got, namespace+"/"+pod+" "+container+" "+strings.Join(cmd, " "))
	r.mu.Unlock()
	return r.real.Exec(ctx, namespace, pod, container, cmd)
}

func (r *kubeletExecRecorder) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(slices.Values(r.got))
}

// kubeletRecordingInjector is podStressInjector with its exec recorded.
func kubeletRecordingInjector(spec stress.Spec, d time.Duration) (*stress.Injector, *kubeletExecRecorder) {
	inj := podStressInjector(sb.RESTConfig, sb.Client(), spec, d)
	rec := &kubeletExecRecorder{real: inj.Exec}
	inj.Exec = rec
	return inj, rec
}

// kubeletLog returns a container's log as the kubelet serves it.
func kubeletLog(t *testing.T, ns, pod, container string) string {
	t.Helper()
	b, err := sb.Client().CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container}).DoRaw(context.Background())
	if err != nil {
		t.Fatalf("logs of %s/%s %s: %v", ns, pod, container, err)
	}
	return string(b)
}

// TestKubeletRevertSkipsEndedAndGonePods: of three pods stressed by one
// injection, one's stress container has really ended (the kubelet reports
// it terminated after its stressor was stopped), one pod is really gone
// (deleted, its containers killed by the kubelet), and one still runs:
// Revert execs `chaosnight-stress stop` into the running one only, and
// the kubelet then reports that one terminated too.
func TestKubeletRevertSkipsEndedAndGonePods(t *testing.T) {
	sandbox.Require(t, sb)
	ctx := context.Background()
	const ns = "rn-kl-ended"
	namespace(t, ns, podStressRestricted)
	targets := kubeletTargets(t, ns,
		kubeletTargetSpec{name: "solo-0", limits: kubeletLimits()},
		kubeletTargetSpec{name: "solo-1", limits: kubeletLimits()},
		kubeletTargetSpec{name: "solo-2", limits: kubeletLimits()})
	injector, rec := kubeletRecordingInjector(stress.Spec{CPU: &stress.CPUStress{Workers: 1, Load: 5}}, 2*time.Minute)
	inj, outcomes := kubeletInject(t, inject.Run{ID: "rn-kl-ended", Experiment: "real-ended"}, targets, injector)
	for name, o := range outcomes {
		if o.Status != inject.StatusStressed {
			t.Fatalf("%s: %s (%s), want stressed", name, o.Status, o.Detail)
		}
	}
	st := kubeletState(t, inj)

	// solo-0: its stress ends for real before the revert (its own stop
	// command, run outside the injector); the kubelet reports it.
	out, errOut, err := sb.Exec(ctx, ns, "solo-0", st.Container, "chaosnight-stress", "stop")
	t.Logf("stop in solo-0: %v (stdout %q, stderr %q)", err, out, errOut) // the session may die with the container
	ended := podStressEphemeral(t, ns, "solo-0", st.Container, 30*time.Second, "solo-0's stress terminated", terminated)
	t.Logf("solo-0's stress container: exit code %d, reason %s", ended.State.Terminated.ExitCode, ended.State.Terminated.Reason)
	// solo-1: the pod is gone for real.
	if err := sb.Client().CoreV1().Pods(ns).Delete(ctx, "solo-1", metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}); err != nil {
		t.Fatal(err)
	}
	sandbox.WaitFor(t, 60*time.Second, "solo-1 gone", func() error {
		if _, err := sb.Client().CoreV1().Pods(ns).Get(ctx, "solo-1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
	// solo-2 still runs its stress.
	podStressEphemeral(t, ns, "solo-2", st.Container, 10*time.Second, "solo-2's stress still running", func(cs *corev1.ContainerStatus) error {
		if cs.State.Running == nil {
			return fmt.Errorf("state %+v", cs.State)
		}
		return nil
	})

	if err := injector.Revert(ctx, inj); err != nil {
		t.Fatalf("revert: %v", err)
	}
	want := []string{ns + "/solo-2 " + st.Container + " chaosnight-stress stop"}
	if got := rec.calls(); !slices.Equal(got, want) {
		t.Errorf("revert execs %q, want %q", got, want)
	}
	stopped := podStressEphemeral(t, ns, "solo-2", st.Container, 30*time.Second, "solo-2's stress terminated after revert", terminated)
	t.Logf("solo-2's stress container after revert: exit code %d, reason %s", stopped.State.Terminated.ExitCode, stopped.State.Terminated.Reason)
}

// TestKubeletStartConfirmation: with StartTimeout, a stress counts as
// injected only once the kubelet reports it running. One injection (a
// disk fill of 8Mi into each target's volume "cache"): pod a's volume
// takes it, and the kubelet reports its stress running, so a is stressed;
// pod b's volume is a 4Mi tmpfs (an emptyDir of medium Memory with that
// sizeLimit), so its stressor refuses its input and really exits at once
// with code 3, and b fails with the stressor's own reason from the
// kubelet's termination message. Both hold the container, so both stay in
// the state for Revert. (A stress that never starts, the third case, is
// TestKubeletLateStartEndsByTheJournalDeadline.)
func TestKubeletStartConfirmation(t *testing.T) {
	sandbox.Require(t, sb)
	ctx := context.Background()
	const ns = "rn-kl-start"
	namespace(t, ns, podStressRestricted)
	small := resource.MustParse("4Mi")
	targets := kubeletTargets(t, ns,
		kubeletTargetSpec{name: "a", limits: kubeletLimits(), volumes: []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}},
		kubeletTargetSpec{name: "b", limits: kubeletLimits(), volumes: []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{
			EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &small}}}}})
	injector, _ := kubeletRecordingInjector(stress.Spec{Disk: &stress.DiskStress{Fill: "8Mi", Volume: "cache"}}, 2*time.Minute)
	inj, got := kubeletInject(t, inject.Run{ID: "rn-kl-start", Experiment: "real-start"}, targets, injector)
	st := kubeletState(t, inj)

	if o := got["a"]; o.Status != inject.StatusStressed {
		t.Errorf("a: %s (%s), want stressed", o.Status, o.Detail)
	}
	bStatus := podStressEphemeral(t, ns, "b", st.Container, 10*time.Second, "b's stress terminated", terminated)
	term := bStatus.State.Terminated
	t.Logf("b's stress container: exit code %d, reason %s, message %q", term.ExitCode, term.Reason, term.Message)
	if term.ExitCode != 3 {
		t.Errorf("b's stressor exited with code %d, want 3 (invalid input)", term.ExitCode)
	}
	// It ended: no "if it starts later".
	wantB := "ephemeral container " + st.Container + " was added but the stress exited at once with code 3: " +
		"error: invalid stress: --disk-fill 8Mi does not fit on the filesystem of " + stress.DiskVolumeMountPath + " ("
	if o := got["b"]; o.Status != inject.StatusFailed || !strings.HasPrefix(o.Detail, wantB) || strings.Contains(o.Detail, "starts later") {
		t.Errorf("b: %s (%s), want failed: %s…", o.Status, o.Detail, wantB)
	}
	if len(st.Pods) != 2 {
		t.Errorf("state lists %d pods, want 2", len(st.Pods))
	}
	if err := injector.Revert(ctx, inj); err != nil {
		t.Errorf("revert: %v", err)
	}
	podStressEphemeral(t, ns, "a", st.Container, 30*time.Second, "a's stress terminated after revert", terminated)
}

// kubeletEmptyDir is the host directory of a pod's emptyDir volume on the
// real node (the kubelet's root directory is in the sandbox's).
func kubeletEmptyDir(t *testing.T, uid, volume string) string {
	t.Helper()
	return filepath.Join(sb.Dir, "node", "kubelet", "pods", uid, "volumes", "kubernetes.io~empty-dir", volume)
}

// TestKubeletDiskFillThatDoesNotFitFails: a pod-scope disk fill larger
// than the filesystem of the target's emptyDir (64Ti on the node's disk)
// fails the target with the stressor's own reason, which the kubelet
// reports as the container's termination message (the injector asks for
// FallbackToLogsOnError), and nothing was written to the volume.
func TestKubeletDiskFillThatDoesNotFitFails(t *testing.T) {
	sandbox.Require(t, sb)
	ctx := context.Background()
	const ns = "rn-kl-nofit"
	namespace(t, ns, podStressRestricted)
	targets := kubeletTargets(t, ns, kubeletTargetSpec{name: "big", limits: kubeletLimits(),
		volumes: []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}})
	injector, _ := kubeletRecordingInjector(stress.Spec{Disk: &stress.DiskStress{Fill: "64Ti", Volume: "cache"}}, time.Minute)
	inj, got := kubeletInject(t, inject.Run{ID: "rn-kl-nofit", Experiment: "real-nofit"}, targets, injector)
	st := kubeletState(t, inj)
	cs := podStressEphemeral(t, ns, "big", st.Container, 10*time.Second, "the stress terminated", terminated)
	t.Logf("kubelet: exit code %d, reason %s, message %q", cs.State.Terminated.ExitCode, cs.State.Terminated.Reason, cs.State.Terminated.Message)
	want := "ephemeral container " + st.Container + " was added but the stress exited at once with code 3: " +
		"error: invalid stress: --disk-fill 64Ti does not fit on the filesystem of " + stress.DiskVolumeMountPath + " ("
	if o := got["big"]; o.Status != inject.StatusFailed || !strings.HasPrefix(o.Detail, want) {
		t.Errorf("outcome %s (%s), want failed: %s…", o.Status, o.Detail, want)
	}
	dir := kubeletEmptyDir(t, targets[0].UID, "cache")
	if left, err := os.ReadDir(dir); err != nil || len(left) != 0 {
		t.Errorf("the refused stress wrote to the volume %s: %v %v", dir, left, err)
	}
	if err := injector.Revert(ctx, inj); err != nil {
		t.Errorf("revert of an ended stress: %v", err)
	}
}

// TestKubeletNodeDiskFillUnderTheEvictionThresholdFails: a node-scope disk
// fill that would leave the node filesystem under the kubelet's hard
// eviction threshold (the 10 % the injector passes as
// --eviction-threshold) is refused by the real helper on the real node:
// the stressor reads the filesystem of its emptyDir (the kubelet's root
// directory, on the node's disk), exits at once with code 3, the outcome
// is failed with its reason and the setting that allows it, and the
// helper pod is deleted. The fill is chosen from the filesystem's own
// usage, so that it fits but leaves under 10 %.
func TestKubeletNodeDiskFillUnderTheEvictionThresholdFails(t *testing.T) {
	sandbox.Require(t, sb)
	ctx := context.Background()
	const ns = "rn-kl-pressure"
	nodeScopeOptIn(t)
	nodeScopeNamespace(t, ns)
	tgt := nodeScopeTarget(t, ns, "db")

	u, err := stressor.StatFS(filepath.Join(sb.Dir, "node", "kubelet"))
	if err != nil {
		t.Fatal(err)
	}
	// Over the used share (else the stressor says "already used"), and
	// over 90 % (what is left is then under the 10 % threshold).
	fill := max(91, int(math.Ceil(u.UsedPercent()))+1)
	if fill > 99 {
		t.Fatalf("the node filesystem is %.1f%% used: no fill is left to refuse", u.UsedPercent())
	}
	t.Logf("node filesystem %.1f%% used of %s: filling to %d%%", u.UsedPercent(), stressor.FormatBytes(u.Size), fill)

	client := nodeScopeClient(t)
	injector := &stress.Injector{
		Client: client, Image: sandbox.StressImage, ImagePullPolicy: corev1.PullNever,
		Spec:     stress.Spec{Scope: "node", Disk: &stress.DiskStress{Fill: strconv.Itoa(fill) + "%", Path: "/scratch"}},
		Duration: time.Minute, StartTimeout: 30 * time.Second,
	}
	run := inject.Run{ID: "rn-kl-pressure", Experiment: "node-disk"}
	g := &inject.Guard{Client: client, Policy: inject.Policy{RequireOptIn: true}}
	inj, err := g.Inject(ctx, inject.Request{Run: run, Action: "node disk fill", Targets: []target.Pod{tgt}, Injector: injector})
	if err != nil {
		t.Fatalf("inject: %v (%+v)", err, inj.Outcomes)
	}
	t.Cleanup(func() { _ = injector.Revert(context.Background(), inj) })
	if len(inj.Outcomes) != 1 {
		t.Fatalf("outcomes %+v, want one", inj.Outcomes)
	}
	o := inj.Outcomes[0]
	t.Logf("outcome %s: %s", o.Status, o.Detail)
	for _, want := range []string{
		fmt.Sprintf("the stress exited at once with code 3: error: invalid stress: --disk-fill %d%% would leave ", fill),
		"available on the node filesystem (",
		"under the kubelet's hard eviction threshold of 10% (nodefs.available); set stress.disk.allowNodePressure: true to allow it; it was deleted",
	} {
		if o.Status != inject.StatusFailed || !strings.Contains(o.Detail, want) {
			t.Errorf("outcome %s (%s), want failed with …%s…", o.Status, o.Detail, want)
		}
	}
	sandbox.WaitFor(t, 30*time.Second, "the refused helper gone", func() error {
		list, err := sb.Client().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: stress.RunLabel + "=" + run.ID})
		if err != nil {
			return err
		}
		if len(list.Items) != 0 {
			return fmt.Errorf("%d helper pods left", len(list.Items))
		}
		return nil
	})
	if len(inj.Collateral) != 1 || inj.Collateral[0].Node != sandbox.RealNodeName || inj.Collateral[0].Error != "" {
		t.Errorf("collateral %+v, want the real node's, known", inj.Collateral)
	}
}

// kubeletContainerdSocket is the real node's containerd (docs/sandbox.md,
// "How it is configured": its state and sockets in /run/chaosnight-realnode).
const kubeletContainerdSocket = "/run/chaosnight-realnode/containerd.sock"

// kubeletCtr runs the real node's ctr against its containerd, in the
// namespace the kubelet's images live in.
func kubeletCtr(ctx context.Context, args ...string) error {
	tools, err := sandbox.DefaultRealNodeToolsDir(sandbox.DefaultRealNodeVersions())
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(tools, "ctr"), append([]string{"--address", kubeletContainerdSocket, "--namespace", "k8s.io"}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ctr %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// kubeletPlanned reads "(planned D)" from the stressor's text report.
var kubeletPlanned = regexp.MustCompile(`stress ended by deadline after [0-9.]+s \(planned ([^)]+)\)`)

// TestKubeletLateStartEndsByTheJournalDeadline: a stress container that
// the kubelet starts late ends at the instant the journal recorded, not
// --duration after its own start, and one that starts after that instant
// runs no load at all. The lateness is real: the stress image is not on
// the node (pull policy Never), so the kubelet reports it waiting and the
// outcome is failed, saying it ends by itself by that instant if it
// starts later; once the test tags the image in the node's containerd,
// the kubelet's next sync starts both containers.
func TestKubeletLateStartEndsByTheJournalDeadline(t *testing.T) {
	sandbox.Require(t, sb)
	ctx := context.Background()
	const ns = "rn-kl-late"
	namespace(t, ns, podStressRestricted)
	targets := kubeletTargets(t, ns,
		kubeletTargetSpec{name: "slow-0", limits: kubeletLimits()},
		kubeletTargetSpec{name: "slow-1", limits: kubeletLimits()})
	late := fmt.Sprintf("chaosnight.local/chaosnight-stress:late-%d", time.Now().UnixNano())
	t.Cleanup(func() { _ = kubeletCtr(context.Background(), "images", "rm", late) })

	const startTimeout = 3 * time.Second
	lateInjector := func(d time.Duration) (*stress.Injector, *kubeletExecRecorder) {
		inj, rec := kubeletRecordingInjector(stress.Spec{CPU: &stress.CPUStress{Workers: 1, Load: 10}}, d)
		inj.Image, inj.StartTimeout = late, startTimeout
		return inj, rec
	}
	// slow-0 is due to stress for 45 s; slow-1 for 3 s, a deadline that
	// passes before the image arrives.
	const duration0 = 45 * time.Second
	inj0Injector, rec0 := lateInjector(duration0)
	injected := time.Now()
	inj0, got0 := kubeletInject(t, inject.Run{ID: "rn-kl-late-0"}, targets[:1], inj0Injector)
	inj1Injector, rec1 := lateInjector(3 * time.Second)
	inj1, got1 := kubeletInject(t, inject.Run{ID: "rn-kl-late-1"}, targets[1:], inj1Injector)
	st0, st1 := kubeletState(t, inj0), kubeletState(t, inj1)
	for _, c := range []struct {
		o  inject.Outcome
		st stress.State
	}{{got0["slow-0"], st0}, {got1["slow-1"], st1}} {
		journal := c.st.Deadline.UTC().Format(time.RFC3339)
		want := fmt.Sprintf("; it cannot be removed: if it starts later, it ends by itself by %s", journal)
		if c.o.Status != inject.StatusFailed || !strings.Contains(c.o.Detail, fmt.Sprintf("was added but not running after %s (", startTimeout)) || !strings.HasSuffix(c.o.Detail, want) {
			t.Errorf("%s: %s (%s), want failed, not running after %s …%s", c.o.Pod.Name, c.o.Status, c.o.Detail, startTimeout, want)
		}
		p, err := sb.Client().CoreV1().Pods(ns).Get(ctx, c.o.Pod.Name, metav1.GetOptions{})
		if err != nil || len(p.Spec.EphemeralContainers) != 1 {
			t.Fatalf("pod %s: %v", c.o.Pod.Name, err)
		}
		args := p.Spec.EphemeralContainers[0].Args
		if i := slices.Index(args, "--until"); i < 0 || i+1 >= len(args) || args[i+1] != journal {
			t.Errorf("%s: args %q, want --until %s (the journal's instant)", c.o.Pod.Name, args, journal)
		}
	}
	waiting := podStressEphemeral(t, ns, "slow-0", st0.Container, 10*time.Second, "slow-0's stress waiting for its image", func(cs *corev1.ContainerStatus) error {
		if cs.State.Waiting == nil {
			return fmt.Errorf("state %+v", cs.State)
		}
		return nil
	})
	t.Logf("slow-0's stress container waiting: %s (%s)", waiting.State.Waiting.Reason, waiting.State.Waiting.Message)

	// The image arrives after slow-1's deadline.
	time.Sleep(time.Until(st1.Deadline.Add(time.Second)))
	tagged := time.Now()
	if err := kubeletCtr(ctx, "images", "tag", sandbox.StressImage, late); err != nil {
		t.Fatal(err)
	}

	// slow-0: started late, ended at the journal's instant.
	cs0 := podStressEphemeral(t, ns, "slow-0", st0.Container, time.Until(st0.Deadline)+30*time.Second, "slow-0's late stress ended", terminated)
	term := cs0.State.Terminated
	started, finished := term.StartedAt.Time, term.FinishedAt.Time
	t.Logf("slow-0: injected %s, image tagged %s later, started %s later, finished %s; journal deadline %s (startedAt and finishedAt are whole seconds)",
		injected.UTC().Format(time.RFC3339Nano), tagged.Sub(injected).Round(time.Millisecond), started.Sub(injected).Round(time.Millisecond),
		finished.UTC().Format(time.RFC3339), st0.Deadline.UTC().Format(time.RFC3339))
	if started.Before(tagged.Truncate(time.Second)) {
		t.Errorf("slow-0's stress started %s, before its image was there (%s)", started, tagged)
	}
	if finished.Before(st0.Deadline.Add(-time.Second)) || finished.After(st0.Deadline.Add(stresscmd.WatchdogGrace+time.Second)) {
		t.Errorf("slow-0's stress finished %s, want the journal's %s", finished.UTC().Format(time.RFC3339), st0.Deadline.UTC().Format(time.RFC3339))
	}
	if term.ExitCode != 0 {
		t.Errorf("slow-0's stress exit code %d, want 0", term.ExitCode)
	}
	log0 := kubeletLog(t, ns, "slow-0", st0.Container)
	m := kubeletPlanned.FindStringSubmatch(log0)
	if m == nil {
		t.Fatalf("slow-0's log has no deadline report:\n%s", log0)
	}
	planned, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatal(err)
	}
	// Planned from its late start to the instant: less than its
	// --duration, which would have taken it past the journal's deadline.
	if planned >= duration0-time.Second {
		t.Errorf("slow-0 planned %s of load, want under its %s duration (it started late)", planned, duration0)
	}

	// slow-1: started after the instant, at once without load.
	cs1 := podStressEphemeral(t, ns, "slow-1", st1.Container, 30*time.Second, "slow-1's stress ended", terminated)
	t.Logf("slow-1: started %s, finished %s, exit code %d; deadline %s", cs1.State.Terminated.StartedAt.UTC().Format(time.RFC3339),
		cs1.State.Terminated.FinishedAt.UTC().Format(time.RFC3339), cs1.State.Terminated.ExitCode, st1.Deadline.UTC().Format(time.RFC3339))
	log1 := kubeletLog(t, ns, "slow-1", st1.Container)
	if cs1.State.Terminated.ExitCode != 0 || !strings.Contains(log1, "had passed before the start; no load was run") {
		t.Errorf("a start past the deadline: exit code %d, log:\n%s", cs1.State.Terminated.ExitCode, log1)
	}

	// Both ended: Revert has nothing to stop.
	for _, r := range []struct {
		inj *stress.Injector
		rec *kubeletExecRecorder
		i   inject.Injection
	}{{inj0Injector, rec0, inj0}, {inj1Injector, rec1, inj1}} {
		if err := r.inj.Revert(ctx, r.i); err != nil {
			t.Errorf("revert: %v", err)
		}
		if calls := r.rec.calls(); len(calls) != 0 {
			t.Errorf("revert of an ended stress exec'd %q", calls)
		}
	}
}

// kubeletMemoryUsage reads a pod's memory cgroup usage in bytes (cgroup v1
// memory.usage_in_bytes, or v2 memory.current) and returns the file.
func kubeletMemoryUsage(uid string) (int64, string, error) {
	file, b, err := podCgroupFile(uid, "memory", "memory.usage_in_bytes", "memory.current")
	if err != nil {
		return 0, file, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n, file, err
}

// kubeletOOMKills reads the oom_kill count of the memory cgroup holding
// file (v1 memory.oom_control, v2 memory.events); ok is false where the
// kernel does not count.
func kubeletOOMKills(file string) (n int64, ok bool) {
	for _, name := range []string{"memory.oom_control", "memory.events"} {
		b, err := os.ReadFile(filepath.Join(filepath.Dir(file), name))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, found := strings.CutPrefix(line, "oom_kill "); found {
				n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}

// TestKubeletMemoryStressWithinLimitHeld: a memory stress of 32Mi in a pod
// limited to 128Mi is held: the outcome is stressed (after the injector's
// settle time), the pod's memory cgroup grows by at least 30Mi while the
// stress container keeps running until the revert, the kernel OOM-kills
// nothing, and after the revert the kubelet reports the container
// terminated with exit code 0 and the usage falls back.
func TestKubeletMemoryStressWithinLimitHeld(t *testing.T) {
	sandbox.Require(t, sb)
	ctx := context.Background()
	const ns = "rn-kl-mem"
	const mi = 1 << 20
	namespace(t, ns, podStressRestricted)
	targets := kubeletTargets(t, ns, kubeletTargetSpec{name: "target", limits: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("128Mi"),
	}})
	uid := targets[0].UID
	var before int64
	var file string
	sandbox.WaitFor(t, 10*time.Second, "the pod's memory cgroup", func() error {
		var err error
		before, file, err = kubeletMemoryUsage(uid)
		return err
	})

	injector, _ := kubeletRecordingInjector(stress.Spec{Memory: &stress.MemoryStress{Size: "32Mi"}}, 2*time.Minute)
	inj, got := kubeletInject(t, inject.Run{ID: "rn-kl-mem", Experiment: "real-memory-held"}, targets, injector)
	if o := got["target"]; o.Status != inject.StatusStressed {
		t.Fatalf("outcome %s (%s), want stressed", o.Status, o.Detail)
	}
	st := kubeletState(t, inj)

	var peak int64
	sandbox.WaitFor(t, 20*time.Second, "the pod's memory grows by 30Mi", func() error {
		now, _, err := kubeletMemoryUsage(uid)
		if err != nil {
			return err
		}
		peak = max(peak, now)
		if now-before < 30*mi {
			return fmt.Errorf("%s: %d bytes, %d before", file, now, before)
		}
		return nil
	})
	t.Logf("%s: %.1f MiB before, %.1f MiB under a 32Mi stress (limit 128Mi)", file, float64(before)/mi, float64(peak)/mi)
	// Held: still running after the growth was seen, not OOM-killed.
	podStressEphemeral(t, ns, "target", st.Container, 10*time.Second, "the stress still running", func(cs *corev1.ContainerStatus) error {
		if cs.State.Running == nil {
			return fmt.Errorf("state %+v", cs.State)
		}
		return nil
	})

	if err := injector.Revert(ctx, inj); err != nil {
		t.Fatalf("revert: %v", err)
	}
	cs := podStressEphemeral(t, ns, "target", st.Container, 30*time.Second, "the stress terminated after revert", terminated)
	term := cs.State.Terminated
	t.Logf("kubelet after revert: exit code %d, reason %s", term.ExitCode, term.Reason)
	if term.Reason == stress.OOMKilledReason || term.ExitCode != 0 {
		t.Errorf("the stress ended with %q, exit code %d; want a clean stop (exit code 0)", term.Reason, term.ExitCode)
	}
	if n, ok := kubeletOOMKills(file); ok && n != 0 {
		t.Errorf("the pod's memory cgroup counts %d OOM kills", n)
	} else if !ok {
		t.Logf("this kernel does not count OOM kills per cgroup")
	}
	var after int64
	sandbox.WaitFor(t, 20*time.Second, "the pod's memory falls back", func() error {
		now, _, err := kubeletMemoryUsage(uid)
		if err != nil {
			return err
		}
		after = now
		// The stressor's 32Mi are freed with its process; what stays of
		// the growth (page cache of its binary, the container's
		// bookkeeping) is a few MiB.
		if now-before > 8*mi {
			return fmt.Errorf("%s: %.1f MiB, %.1f MiB before", file, float64(now)/mi, float64(before)/mi)
		}
		return nil
	})
	t.Logf("after revert: %.1f MiB", float64(after)/mi)
}
