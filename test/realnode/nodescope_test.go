package realnode

// Node-scope stress and pod kill through the product's own code path
// (inject.Guard with stress.Injector or podkill.Injector, as the kwok
// integration tests call them), proven on the real node: the kubelet runs
// the helper pod, the kernel charges its CPU to the node's kubepods cgroup,
// the kubelet enforces activeDeadlineSeconds, and an eviction's grace
// period delivers SIGTERM to the real process.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/podkill"
	"github.com/chaosnight/chaosnight/pkg/inject/stress"
	"github.com/chaosnight/chaosnight/pkg/target"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// nodeScopeClient is chaosnight's own client (protobuf, as the runner
// builds it), not the sandbox's admin client.
func nodeScopeClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	cs, err := target.NewClientset(sb.RESTConfig, 100, 200)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// nodeScopeOptIn labels the real node chaosnight.dev/enabled=true (node
// scope refuses a node without it) and puts the label back as it was.
func nodeScopeOptIn(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	nodes := sb.Client().CoreV1().Nodes()
	n, err := nodes.Get(ctx, sandbox.RealNodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	patch := func(v string) error {
		_, err := nodes.Patch(context.Background(), sandbox.RealNodeName, types.MergePatchType,
			[]byte(`{"metadata":{"labels":{"`+inject.OptInLabel+`":`+v+`}}}`), metav1.PatchOptions{})
		return err
	}
	before, had := n.Labels[inject.OptInLabel]
	if err := patch(`"true"`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		v := "null"
		if had {
			v = strconv.Quote(before)
		}
		if err := patch(v); err != nil {
			t.Errorf("restore the node's opt-in label: %v", err)
		}
	})
}

// nodeScopeNamespace creates an opted-in namespace enforcing Pod Security
// restricted (the helper pod must pass it) and deletes it at the end.
func nodeScopeNamespace(t *testing.T, name string) {
	t.Helper()
	namespace(t, name, map[string]string{
		inject.OptInLabel:                            "true",
		"pod-security.kubernetes.io/enforce":         "restricted",
		"pod-security.kubernetes.io/enforce-version": "latest",
	})
}

// nodeScopeRestricted makes a pod spec pass Pod Security restricted.
func nodeScopeRestricted(spec *corev1.PodSpec) {
	spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr(true),
		RunAsUser:      ptr(int64(65534)),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	for i := range spec.Containers {
		spec.Containers[i].SecurityContext = &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}
	}
}

// nodeScopeTarget starts one idle pod on the real node and returns it as
// the selector would.
func nodeScopeTarget(t *testing.T, ns, name string) target.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{stressContainer("main", "--cpu-workers", "1", "--cpu-load", "1", "--duration", "10m")},
			TerminationGracePeriodSeconds: ptr(int64(1)),
		},
	}
	nodeScopeRestricted(&pod.Spec)
	sandbox.OnRealNode(&pod.Spec)
	if _, err := sb.Client().CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitPod(t, ns, name, "target Ready on the real node", podReady)
	if got.Spec.NodeName != sandbox.RealNodeName {
		t.Fatalf("target on node %q, want %q", got.Spec.NodeName, sandbox.RealNodeName)
	}
	return target.FromPod(got)
}

// nodeScopeCPUUsage reads a pod's CPU time in nanoseconds from its cgroup
// under the node's kubepods hierarchy (cgroup v1 cpuacct.usage, or v2
// cpu.stat usage_usec), and returns the file it read.
func nodeScopeCPUUsage(uid string) (int64, string, error) {
	file, b, err := podCgroupFile(uid, "cpuacct", "cpuacct.usage", "cpu.stat")
	switch {
	case err != nil:
		return 0, file, err
	case strings.HasSuffix(file, "cpuacct.usage"):
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return n, file, err
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "usage_usec "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			return n * 1000, file, err
		}
	}
	return 0, file, fmt.Errorf("%s has no usage_usec", file)
}

// podCgroupFile reads one file of a pod's cgroup under the node's
// kubepods hierarchy: v1File under the v1 controller's hierarchy, else
// v2File in the unified one (any QoS class), and returns its path.
func podCgroupFile(uid, v1Controller, v1File, v2File string) (string, []byte, error) {
	for _, pattern := range []string{
		"/sys/fs/cgroup/" + v1Controller + "/kubepods/pod" + uid + "/" + v1File,
		"/sys/fs/cgroup/" + v1Controller + "/kubepods/*/pod" + uid + "/" + v1File,
		"/sys/fs/cgroup/kubepods/pod" + uid + "/" + v2File,
		"/sys/fs/cgroup/kubepods/*/pod" + uid + "/" + v2File,
	} {
		found, _ := filepath.Glob(pattern)
		if len(found) != 1 {
			continue
		}
		b, err := os.ReadFile(found[0])
		return found[0], b, err
	}
	return "", nil, fmt.Errorf("no %s cgroup of pod %s under kubepods", v1Controller, uid)
}

// nodeScopeHelper returns the run's one helper pod.
func nodeScopeHelper(t *testing.T, ns, runID string) *corev1.Pod {
	t.Helper()
	list, err := sb.Client().CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: stress.HelperLabel + "=" + stress.HelperValue + "," + stress.RunLabel + "=" + runID})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 {
		t.Fatalf("%d helper pods for run %s, want 1", len(list.Items), runID)
	}
	return &list.Items[0]
}

// TestNodeScopeHelperRunsOnRealNode: a node-scope CPU stress on a target
// running on the real node (opted in) gets a helper pod that the real
// kubelet runs there, despite the node's taint, under Pod Security
// restricted; its CPU is charged to its cgroup under the node's kubepods
// hierarchy; Revert deletes it and it is gone.
func TestNodeScopeHelperRunsOnRealNode(t *testing.T) {
	sandbox.Require(t, sb)
	ctx := context.Background()
	const ns = "rn-nodescope"
	nodeScopeOptIn(t)
	nodeScopeNamespace(t, ns)
	tgt := nodeScopeTarget(t, ns, "web")

	client := nodeScopeClient(t)
	injector := &stress.Injector{
		Client: client, Image: sandbox.StressImage, ImagePullPolicy: corev1.PullNever,
		Spec:     stress.Spec{Scope: "node", CPU: &stress.CPUStress{Workers: 1, Load: 50}},
		Duration: 2 * time.Minute, StartTimeout: 30 * time.Second,
	}
	run := inject.Run{ID: "rn-node-cpu", Experiment: "node-cpu"}
	g := &inject.Guard{Client: client, Policy: inject.Policy{RequireOptIn: true}}
	injected := time.Now()
	inj, err := g.Inject(ctx, inject.Request{Run: run, Action: "node-scope stress", Targets: []target.Pod{tgt}, Injector: injector})
	if err != nil {
		t.Fatalf("inject: %v", err)
	}
	reverted := false
	t.Cleanup(func() {
		if !reverted {
			_ = injector.Revert(context.Background(), inj)
		}
	})
	if len(inj.Outcomes) != 1 || inj.Outcomes[0].Status != inject.StatusStressed {
		t.Fatalf("outcomes %+v, want one stressed", inj.Outcomes)
	}
	t.Logf("inject to helper running (confirmed by the kubelet's status) in %s", time.Since(injected).Round(time.Millisecond))

	h := nodeScopeHelper(t, ns, run.ID)
	if h.Spec.NodeName != sandbox.RealNodeName {
		t.Fatalf("helper on node %q, want %q", h.Spec.NodeName, sandbox.RealNodeName)
	}
	running := waitPod(t, ns, h.Name, "helper Running", func(p *corev1.Pod) error {
		if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Running == nil {
			return fmt.Errorf("phase %s, statuses %v", p.Status.Phase, p.Status.ContainerStatuses)
		}
		return nil
	})
	if running.Status.QOSClass != corev1.PodQOSBestEffort {
		t.Errorf("helper QoS %s, want BestEffort (evicted first)", running.Status.QOSClass)
	}

	// The load is the kernel's: the helper's cgroup under kubepods gains
	// CPU time, and so does the kubepods cgroup of the whole node.
	uid := string(h.UID)
	var first int64
	var file string
	sandbox.WaitFor(t, 10*time.Second, "the helper's cgroup", func() error {
		var err error
		first, file, err = nodeScopeCPUUsage(uid)
		return err
	})
	nodeFile := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(file))), filepath.Base(file))
	nodeFirst, _ := os.ReadFile(nodeFile)
	start := time.Now()
	sandbox.WaitFor(t, 20*time.Second, "the helper's CPU time grows", func() error {
		now, _, err := nodeScopeCPUUsage(uid)
		if err != nil {
			return err
		}
		if now-first < int64(100*time.Millisecond) || time.Since(start) < 2*time.Second {
			return fmt.Errorf("%s: %d ns used so far", file, now-first)
		}
		elapsed := time.Since(start)
		nodeNow, _ := os.ReadFile(nodeFile)
		t.Logf("helper cgroup %s: %.0f%% of a core over %s (requested 1 worker at 50%%)", file, 100*float64(now-first)/float64(elapsed), elapsed.Round(time.Millisecond))
		if a, errA := strconv.ParseInt(strings.TrimSpace(string(nodeFirst)), 10, 64); errA == nil {
			if b, errB := strconv.ParseInt(strings.TrimSpace(string(nodeNow)), 10, 64); errB == nil {
				t.Logf("node kubepods cgroup %s: %.0f%% of a core over the same time", nodeFile, 100*float64(b-a)/float64(elapsed))
			}
		}
		return nil
	})

	revertStart := time.Now()
	if err := injector.Revert(ctx, inj); err != nil {
		t.Fatalf("revert: %v", err)
	}
	reverted = true
	t.Logf("revert (delete and wait gone) in %s", time.Since(revertStart).Round(time.Millisecond))
	if _, err := sb.Client().CoreV1().Pods(ns).Get(ctx, h.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("helper %s after Revert: %v, want NotFound", h.Name, err)
	}
	sandbox.WaitFor(t, 10*time.Second, "the helper's cgroup removed", func() error {
		if _, f, err := nodeScopeCPUUsage(uid); err == nil {
			return fmt.Errorf("%s still exists", f)
		}
		return nil
	})
}

// TestNodeScopeActiveDeadlineEnforcedByKubelet: a node-scope stress that is
// never reverted (its runner SIGKILLed) is ended by the kubelet itself at
// the helper's activeDeadlineSeconds: phase Failed, reason
// DeadlineExceeded, not before the deadline the outcome announced minus
// the one second activeDeadlineSeconds is rounded down by. The stressor
// ends itself at that same deadline, so to see the kubelet's backstop
// alone, the helper runs a command that ignores the stress flags and
// holds on (/memhog, holding 1 MiB for 10 minutes: a stuck stressor).
func TestNodeScopeActiveDeadlineEnforcedByKubelet(t *testing.T) {
	sandbox.Require(t, sb)
	ctx := context.Background()
	const ns = "rn-nodedeadline"
	nodeScopeOptIn(t)
	nodeScopeNamespace(t, ns)
	tgt := nodeScopeTarget(t, ns, "web")

	client := nodeScopeClient(t)
	injector := &stress.Injector{
		Client: client, Image: sandbox.StressImage, ImagePullPolicy: corev1.PullNever,
		// "--" ends memhog's flags: the stress flags that follow are ignored.
		Command:  []string{"/memhog", "-mib", "1", "-hold", "10m", "--"},
		Spec:     stress.Spec{Scope: "node", CPU: &stress.CPUStress{Workers: 1, Load: 10}},
		Duration: 5 * time.Second, StartTimeout: 30 * time.Second,
	}
	run := inject.Run{ID: "rn-node-deadline", Experiment: "node-deadline"}
	g := &inject.Guard{Client: client, Policy: inject.Policy{RequireOptIn: true}}
	inj, err := g.Inject(ctx, inject.Request{Run: run, Action: "node-scope stress", Targets: []target.Pod{tgt}, Injector: injector})
	if err != nil {
		t.Fatalf("inject: %v", err)
	}
	// Never reverted during the test: only the namespace's deletion at
	// the end cleans up, as the sweep would after a SIGKILLed runner.
	if len(inj.Outcomes) != 1 || inj.Outcomes[0].Status != inject.StatusStressed {
		t.Fatalf("outcomes %+v, want one stressed", inj.Outcomes)
	}
	st, err := stress.DecodeState(inj.State)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(inj.Outcomes[0].Detail, "(ends by itself by "+st.Deadline.UTC().Format(time.RFC3339)+")") {
		t.Fatalf("outcome %q does not announce the state's deadline %s", inj.Outcomes[0].Detail, st.Deadline)
	}
	h := nodeScopeHelper(t, ns, run.ID)
	if h.Spec.NodeName != sandbox.RealNodeName || h.Spec.ActiveDeadlineSeconds == nil {
		t.Fatalf("helper on %q with activeDeadlineSeconds %v", h.Spec.NodeName, h.Spec.ActiveDeadlineSeconds)
	}

	var seen time.Time
	ended := waitPod(t, ns, h.Name, "the kubelet ends the helper", func(p *corev1.Pod) error {
		if p.Status.Phase != corev1.PodFailed {
			return fmt.Errorf("phase %s, reason %q", p.Status.Phase, p.Status.Reason)
		}
		seen = time.Now()
		return nil
	})
	if ended.Status.Reason != "DeadlineExceeded" {
		t.Errorf("helper failed with reason %q (%s), want DeadlineExceeded", ended.Status.Reason, ended.Status.Message)
	}
	t.Logf("activeDeadlineSeconds %d from start %s; the kubelet's Failed seen %s after the announced deadline %s",
		*h.Spec.ActiveDeadlineSeconds, ended.Status.StartTime, seen.Sub(st.Deadline).Round(time.Millisecond), st.Deadline.Format(time.RFC3339))
	if seen.Before(st.Deadline.Add(-time.Second)) {
		t.Errorf("the helper ended at %s, before the deadline %s minus 1 s", seen.Format(time.RFC3339Nano), st.Deadline.Format(time.RFC3339))
	}
	// The process is gone too: the container is terminated.
	final := waitPod(t, ns, h.Name, "the helper's container terminated", func(p *corev1.Pod) error {
		if len(p.Status.ContainerStatuses) != 1 || p.Status.ContainerStatuses[0].State.Terminated == nil {
			return fmt.Errorf("statuses %v", p.Status.ContainerStatuses)
		}
		return nil
	})
	term := final.Status.ContainerStatuses[0].State.Terminated
	t.Logf("helper container terminated: exit %d, reason %q, finished %s", term.ExitCode, term.Reason, term.FinishedAt.UTC().Format(time.RFC3339))
	if term.FinishedAt.Time.Before(st.Deadline.Add(-time.Second)) {
		t.Errorf("the container finished at %s, before the deadline %s minus 1 s", term.FinishedAt.UTC().Format(time.RFC3339), st.Deadline.Format(time.RFC3339))
	}
}

// TestPodKillEvictGraceSIGTERM: evicting a pod of a Deployment on the real
// node through podkill (method evict, gracePeriod 5s) delivers SIGTERM to
// its process, which reports it in its log ("stress ended by signal
// (received SIGTERM)") and exits; the pod goes away, and the ReplicaSet's
// replacement becomes Ready on the real node.
func TestPodKillEvictGraceSIGTERM(t *testing.T) {
	sandbox.Require(t, sb)
	ctx := context.Background()
	const ns = "rn-podkill"
	namespace(t, ns, map[string]string{inject.OptInLabel: "true"})
	spec := corev1.PodSpec{
		Containers:                    []corev1.Container{stressContainer("main", "--cpu-workers", "1", "--cpu-load", "1", "--duration", "10m")},
		TerminationGracePeriodSeconds: ptr(int64(30)), // the eviction's 5 s must be what applies
	}
	sandbox.OnRealNode(&spec)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "checkout", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "checkout"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "checkout"}}, Spec: spec},
		},
	}
	if _, err := sb.Client().AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var before []corev1.Pod
	sandbox.WaitFor(t, 60*time.Second, "two checkout pods Ready on the real node", func() error {
		list, err := sb.Client().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=checkout"})
		if err != nil {
			return err
		}
		before = nil
		for i := range list.Items {
			if p := &list.Items[i]; target.IsReady(p) && p.DeletionTimestamp == nil && p.Spec.NodeName == sandbox.RealNodeName {
				before = append(before, *p)
			}
		}
		if len(before) != 2 {
			return fmt.Errorf("%d of 2 Ready", len(before))
		}
		return nil
	})
	victim := target.FromPod(&before[0])

	// Follow the victim's log from before the eviction: the stream ends
	// when its container does, with what the process wrote last.
	logCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	stream, err := sb.Client().CoreV1().Pods(ns).GetLogs(victim.Name, &corev1.PodLogOptions{Container: "main", Follow: true}).Stream(logCtx)
	if err != nil {
		t.Fatalf("follow logs: %v", err)
	}
	logs := make(chan []byte, 1)
	go func() {
		defer stream.Close()
		b, _ := io.ReadAll(stream)
		logs <- b
	}()

	// Watched from before the eviction: the first update that marks the
	// victim deleted carries the grace period the API server granted.
	w, err := sb.Client().CoreV1().Pods(ns).Watch(logCtx, metav1.ListOptions{FieldSelector: "metadata.name=" + victim.Name, ResourceVersion: before[0].ResourceVersion})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()
	grace := make(chan int64, 1)
	go func() {
		for ev := range w.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && p.DeletionTimestamp != nil && p.DeletionGracePeriodSeconds != nil {
				grace <- *p.DeletionGracePeriodSeconds
				return
			}
		}
	}()

	client := nodeScopeClient(t)
	g := &inject.Guard{Client: client, Policy: inject.Policy{RequireOptIn: true}}
	evicted := time.Now()
	inj, err := g.Inject(ctx, inject.Request{
		Run: inject.Run{ID: "rn-evict", Experiment: "checkout-survives-pod-loss"}, Action: "evict",
		Targets: []target.Pod{victim}, MinHealthy: 1, MaxTargets: 1,
		Injector: &podkill.Injector{Client: client, Method: "evict", GracePeriod: ptr(5 * time.Second)},
	})
	if err != nil {
		t.Fatalf("inject: %v", err)
	}
	if len(inj.Outcomes) != 1 || inj.Outcomes[0].Status != inject.StatusEvicted {
		t.Fatalf("outcomes %+v, want one evicted", inj.Outcomes)
	}

	select {
	case g := <-grace:
		if g != 5 {
			t.Errorf("the victim was deleted with a grace period of %d s, want 5", g)
		}
	case <-logCtx.Done():
		t.Fatal("no update marked the victim deleted")
	}
	var got []byte
	select {
	case got = <-logs:
	case <-logCtx.Done():
		t.Fatal("the victim's log stream did not end")
	}
	t.Logf("eviction to the container's log ended in %s", time.Since(evicted).Round(time.Millisecond))
	if !strings.Contains(string(got), "stress ended by signal (received SIGTERM)") {
		t.Errorf("the victim's log does not show SIGTERM received:\n%s", got)
	}

	sandbox.WaitFor(t, 30*time.Second, "victim gone", func() error {
		p, err := sb.Client().CoreV1().Pods(ns).Get(ctx, victim.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && string(p.UID) != victim.UID) {
			return nil
		}
		if err != nil {
			return err
		}
		return errors.New("still there")
	})
	t.Logf("eviction to victim gone in %s", time.Since(evicted).Round(time.Millisecond))
	sandbox.WaitFor(t, 60*time.Second, "replacement Ready on the real node", func() error {
		list, err := sb.Client().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=checkout"})
		if err != nil {
			return err
		}
		fresh := 0
		for i := range list.Items {
			p := &list.Items[i]
			if string(p.UID) != string(before[0].UID) && string(p.UID) != string(before[1].UID) &&
				target.IsReady(p) && p.DeletionTimestamp == nil && p.Spec.NodeName == sandbox.RealNodeName {
				fresh++
			}
		}
		if fresh != 1 {
			return fmt.Errorf("%d new Ready checkout pods on %s", fresh, sandbox.RealNodeName)
		}
		return nil
	})
	t.Logf("eviction to replacement Ready in %s", time.Since(evicted).Round(time.Millisecond))
	// The other replica was not touched.
	if p, err := sb.Client().CoreV1().Pods(ns).Get(ctx, before[1].Name, metav1.GetOptions{}); err != nil || p.UID != before[1].UID || p.DeletionTimestamp != nil {
		t.Errorf("the other replica %s: %v", before[1].Name, err)
	}
}

// TestDiskFillEmptyDirSizeLimitEvicted: a pod-scope disk fill of an
// emptyDir past its sizeLimit gets the pod evicted by the real kubelet
// (its eviction manager measures the volume), and the injector's Findings
// report the eviction, as the journal records it.
func TestDiskFillEmptyDirSizeLimitEvicted(t *testing.T) {
	sandbox.Require(t, sb)
	ctx := context.Background()
	const ns = "rn-diskfill"
	nodeScopeNamespace(t, ns)
	limit := resource.MustParse("32Mi")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "cache", Namespace: ns, Labels: map[string]string{"app": "cache"}},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{stressContainer("main", "--cpu-workers", "1", "--cpu-load", "1", "--duration", "10m")},
			Volumes:                       []corev1.Volume{{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &limit}}}},
			TerminationGracePeriodSeconds: ptr(int64(1)),
		},
	}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "cache", MountPath: "/cache"}}
	nodeScopeRestricted(&pod.Spec)
	sandbox.OnRealNode(&pod.Spec)
	if _, err := sb.Client().CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tgt := target.FromPod(waitPod(t, ns, "cache", "target Ready on the real node", podReady))

	client := nodeScopeClient(t)
	injector := &stress.Injector{
		Client: client, Exec: stress.RemoteExec{Config: sb.RESTConfig, Client: client},
		Image: sandbox.StressImage, ImagePullPolicy: corev1.PullNever,
		Spec:     stress.Spec{Scope: "pod", Disk: &stress.DiskStress{Fill: "64Mi", Volume: "cache"}},
		Duration: 3 * time.Minute, StartTimeout: 30 * time.Second,
	}
	g := &inject.Guard{Client: client, Policy: inject.Policy{RequireOptIn: true}}
	injected := time.Now()
	inj, err := g.Inject(ctx, inject.Request{Run: inject.Run{ID: "rn-diskfill", Experiment: "cache-fills"}, Action: "pod-scope stress", Targets: []target.Pod{tgt}, Injector: injector})
	if err != nil {
		t.Fatalf("inject: %v", err)
	}
	t.Cleanup(func() { _ = injector.Revert(context.Background(), inj) }) // the evicted pod's stress is gone with it
	if len(inj.Outcomes) != 1 || inj.Outcomes[0].Status != inject.StatusStressed {
		t.Fatalf("outcomes %+v, want one stressed", inj.Outcomes)
	}
	// The eviction manager looks every 10 s, at volume usage the kubelet
	// measures every volumeStatsAggPeriod (1 min by default).
	var evicted *corev1.Pod
	sandbox.WaitFor(t, 150*time.Second, "the kubelet evicts the pod", func() error {
		p, err := sb.Client().CoreV1().Pods(ns).Get(ctx, "cache", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
			return fmt.Errorf("phase %s, reason %q", p.Status.Phase, p.Status.Reason)
		}
		evicted = p
		return nil
	})
	// The kubelet names the eviction in an Event on the pod. Its status
	// says so only when a container fails: the stressor and the workload
	// here exit 0 on SIGTERM, so the pod ends Succeeded with no reason
	// (kubernetes/kubernetes#120182, #141483), and Findings must read the
	// Event.
	var event corev1.Event
	sandbox.WaitFor(t, 10*time.Second, "the kubelet's Evicted event", func() error {
		evs, err := sb.Client().CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + tgt.UID + ",reason=Evicted"})
		if err != nil {
			return err
		}
		if len(evs.Items) != 1 {
			return fmt.Errorf("%d Evicted events on the pod", len(evs.Items))
		}
		event = evs.Items[0]
		return nil
	})
	t.Logf("inject to eviction in %s (the kubelet's volume stats are refreshed every volumeStatsAggPeriod, 1 min by default): phase %s, reason %q; event from %s: %s",
		time.Since(injected).Round(time.Millisecond), evicted.Status.Phase, evicted.Status.Reason, event.Source.Component, event.Message)
	if !strings.Contains(event.Message, `EmptyDir volume "cache"`) || event.Source.Component != "kubelet" {
		t.Errorf("event from %q: %q, want the kubelet naming the emptyDir cache", event.Source.Component, event.Message)
	}
	findings := injector.Findings(ctx, inj)
	want := "finding: the kubelet evicted pod " + ns + "/cache while it was stressed: " + event.Message
	if len(findings) != 1 || findings[0] != want {
		t.Errorf("findings %q, want [%q]", findings, want)
	}
}
