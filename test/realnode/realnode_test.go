// Package realnode proves the sandbox's real node (sandbox.Config.RealNode):
// pods scheduled there are run by a real kubelet, containerd and runc, so
// readiness, logs, exec, Pod Security for ephemeral containers and memory
// limits are the kernel's and the kubelet's doing, not a simulation.
package realnode

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaosnight/chaosnight/test/sandbox"
)

var sb *sandbox.Sandbox

// TestMain starts one sandbox with a real node for the package. Under make
// test and in CI (sandbox.Required) a node that cannot start fails the
// package: these tests never pass by skipping there.
func TestMain(m *testing.M) {
	os.Exit(sandbox.RunTests(m, sandbox.Config{Nodes: 1, RealNode: true}, func(s *sandbox.Sandbox) { sb = s }))
}

// TestRealNodeJoined: the real node is registered with its label, taint
// and the host's address, Ready, next to the kwok node; the start time is
// logged for BENCHMARKS.md.
func TestRealNodeJoined(t *testing.T) {
	s := sandbox.Require(t, sb)
	t.Logf("start: API server %s, kwok nodes %s, real node Ready with images %s, Prometheus %s",
		s.Timings.APIReady.Round(time.Millisecond), s.Timings.NodesReady.Round(time.Millisecond),
		s.Timings.RealNodeReady.Round(time.Millisecond), s.Timings.PrometheusReady.Round(time.Millisecond))
	n, err := s.Client().CoreV1().Nodes().Get(context.Background(), sandbox.RealNodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if n.Labels[sandbox.RealNodeLabel] != "true" {
		t.Errorf("labels %v lack %s=true", n.Labels, sandbox.RealNodeLabel)
	}
	tainted := false
	for _, tn := range n.Spec.Taints {
		if tn.Key == sandbox.RealNodeLabel && tn.Effect == corev1.TaintEffectNoSchedule {
			tainted = true
		}
	}
	if !tainted {
		t.Errorf("taints %v lack %s:NoSchedule", n.Spec.Taints, sandbox.RealNodeLabel)
	}
	if n.Status.NodeInfo.KubeletVersion != "v"+sandbox.DefaultVersions().Kubernetes {
		t.Errorf("kubelet version %q", n.Status.NodeInfo.KubeletVersion)
	}
	if !strings.HasPrefix(n.Status.NodeInfo.ContainerRuntimeVersion, "containerd://") {
		t.Errorf("runtime %q is not containerd", n.Status.NodeInfo.ContainerRuntimeVersion)
	}
}

// namespace creates a namespace with labels and deletes it at the end.
func namespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	c := sb.Client().CoreV1().Namespaces()
	if _, err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

func stressContainer(name string, args ...string) corev1.Container {
	return corev1.Container{Name: name, Image: sandbox.StressImage, ImagePullPolicy: corev1.PullNever, Args: args}
}

// waitPod waits until cond holds for the pod and returns it.
func waitPod(t *testing.T, ns, name, what string, cond func(*corev1.Pod) error) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	sandbox.WaitFor(t, 60*time.Second, what, func() error {
		p, err := sb.Client().CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		pod = p
		return cond(p)
	})
	return pod
}

func podReady(p *corev1.Pod) error {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return nil
		}
	}
	return fmt.Errorf("phase %s, conditions %v, containers %v", p.Status.Phase, p.Status.Conditions, p.Status.ContainerStatuses)
}

// TestPodRunsForReal: a pod meant for the real node lands there, gets an
// address on the node's bridge, becomes Ready, and its processes write
// what logs (an init container's report) and exec (a stress run inside the
// running container) read back through the API server and the kubelet.
func TestPodRunsForReal(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := context.Background()
	namespace(t, "rn-pod", nil)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "worker", Namespace: "rn-pod"},
		Spec: corev1.PodSpec{
			InitContainers:                []corev1.Container{stressContainer("init", "--cpu-workers", "1", "--cpu-load", "10", "--duration", "200ms")},
			Containers:                    []corev1.Container{stressContainer("main", "--cpu-workers", "1", "--cpu-load", "1", "--duration", "10m")},
			TerminationGracePeriodSeconds: ptr(int64(1)),
		},
	}
	sandbox.OnRealNode(&pod.Spec)
	created := time.Now()
	if _, err := s.Client().CoreV1().Pods("rn-pod").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitPod(t, "rn-pod", "worker", "pod Ready on the real node", podReady)
	t.Logf("pod created to Ready (init container run included) in %s", time.Since(created).Round(time.Millisecond))
	if got.Spec.NodeName != sandbox.RealNodeName {
		t.Fatalf("pod on node %q, want %q", got.Spec.NodeName, sandbox.RealNodeName)
	}
	_, subnet, _ := net.ParseCIDR("10.213.0.0/24")
	if ip := net.ParseIP(got.Status.PodIP); ip == nil || !subnet.Contains(ip) {
		t.Errorf("pod IP %q is not on the real node's bridge %s", got.Status.PodIP, subnet)
	}

	rc, err := s.Client().CoreV1().Pods("rn-pod").GetLogs("worker", &corev1.PodLogOptions{Container: "init"}).Stream(ctx)
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	logs, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Contains(logs, []byte("stress ended by")) || !bytes.Contains(logs, []byte("cpu: 1 worker(s)")) {
		t.Errorf("init container's log is not the stress report:\n%s", logs)
	}

	execStart := time.Now()
	out, errOut, err := s.Exec(ctx, "rn-pod", "worker", "main", "/chaosnight-stress", "--cpu-workers", "1", "--cpu-load", "5", "--duration", "100ms")
	if err != nil {
		t.Fatalf("exec: %v (stderr %q)", err, errOut)
	}
	t.Logf("exec of a 100ms stress answered in %s", time.Since(execStart).Round(time.Millisecond))
	if !strings.Contains(out, "stress ended by") {
		t.Errorf("exec stdout is not a stress report: %q (stderr %q)", out, errOut)
	}
}

// restricted is the securityContext Pod Security "restricted" demands.
func restricted() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr(true),
		RunAsUser:                ptr(int64(65534)),
		AllowPrivilegeEscalation: ptr(false),
		ReadOnlyRootFilesystem:   ptr(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// TestEphemeralContainerRestricted: in a namespace enforcing Pod Security
// restricted, an ephemeral container without a securityContext is refused
// by the API server, and one with the restricted securityContext (uid
// 65534, no capabilities, read-only root, no privilege escalation) is
// started by the kubelet in the running pod.
func TestEphemeralContainerRestricted(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := context.Background()
	ns := "rn-restricted"
	namespace(t, ns, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	main := stressContainer("main", "--cpu-workers", "1", "--cpu-load", "1", "--duration", "10m")
	main.SecurityContext = restricted()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "target", Namespace: ns},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{main}, TerminationGracePeriodSeconds: ptr(int64(1))},
	}
	sandbox.OnRealNode(&pod.Spec)
	if _, err := s.Client().CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitPod(t, ns, "target", "restricted pod Ready", podReady)

	ephemeral := func(name string, sc *corev1.SecurityContext) *corev1.Pod {
		p := got.DeepCopy()
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: name, Image: sandbox.StressImage, ImagePullPolicy: corev1.PullNever,
				Args:            []string{"--cpu-workers", "1", "--cpu-load", "20", "--duration", "60s"},
				SecurityContext: sc,
			},
			TargetContainerName: "main",
		})
		return p
	}
	_, err := s.Client().CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, "target", ephemeral("unrestricted", nil), metav1.UpdateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "restricted") {
		t.Fatalf("an ephemeral container without a securityContext: got %v, want Forbidden by Pod Security restricted", err)
	}

	patched := time.Now()
	if _, err := s.Client().CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, "target", ephemeral("stress", restricted()), metav1.UpdateOptions{}); err != nil {
		t.Fatalf("restricted ephemeral container refused: %v", err)
	}
	waitPod(t, ns, "target", "ephemeral container running", func(p *corev1.Pod) error {
		for _, st := range p.Status.EphemeralContainerStatuses {
			if st.Name == "stress" && st.State.Running != nil {
				return nil
			}
			if st.Name == "stress" && st.State.Terminated != nil {
				return fmt.Errorf("ephemeral container terminated: %+v", *st.State.Terminated)
			}
		}
		return fmt.Errorf("ephemeral statuses %v", p.Status.EphemeralContainerStatuses)
	})
	t.Logf("ephemeral container patched to running in %s", time.Since(patched).Round(time.Millisecond))

	// The node is this machine: the process itself shows the restrictions
	// and that it is charged to the target pod's cgroup.
	sandbox.WaitFor(t, 10*time.Second, "the ephemeral container's process on the host", func() error {
		pid, err := findProcess("/chaosnight-stress\x00--cpu-workers\x001\x00--cpu-load\x0020\x00")
		if err != nil {
			return err
		}
		status, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil {
			return err
		}
		for _, want := range []string{"Uid:\t65534\t65534\t65534\t65534", "CapEff:\t0000000000000000", "NoNewPrivs:\t1"} {
			if !strings.Contains(string(status), want) {
				t.Errorf("process %s: /proc status lacks %q:\n%s", pid, want, status)
			}
		}
		cg, err := os.ReadFile("/proc/" + pid + "/cgroup")
		if err != nil {
			return err
		}
		if !strings.Contains(string(cg), "/kubepods/") || !strings.Contains(string(cg), "pod"+string(got.UID)) {
			t.Errorf("process %s is not in pod %s's cgroup:\n%s", pid, got.UID, cg)
		}
		return nil
	})
}

// findProcess returns the pid of the one process whose NUL-separated
// command line contains marker.
func findProcess(marker string) (string, error) {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	var found []string
	for _, c := range cmdlines {
		b, err := os.ReadFile(c)
		if err == nil && strings.Contains(string(b), marker) {
			found = append(found, filepath.Base(filepath.Dir(c)))
		}
	}
	if len(found) != 1 {
		return "", fmt.Errorf("%d processes with %q in their command line: %v", len(found), marker, found)
	}
	return found[0], nil
}

// TestMemoryLimitOOMKilled: a container with a 48Mi limit that allocates
// 128Mi is killed by the kernel, and the kubelet reports OOMKilled with
// exit code 137.
func TestMemoryLimitOOMKilled(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := context.Background()
	namespace(t, "rn-oom", nil)
	hog := corev1.Container{
		Name: "hog", Image: sandbox.StressImage, ImagePullPolicy: corev1.PullNever,
		Command: []string{"/memhog", "-mib", "128", "-hold", "1m"},
		Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("48Mi"), corev1.ResourceCPU: resource.MustParse("500m")},
		},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "hog", Namespace: "rn-oom"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{hog}, RestartPolicy: corev1.RestartPolicyNever, TerminationGracePeriodSeconds: ptr(int64(1))},
	}
	sandbox.OnRealNode(&pod.Spec)
	created := time.Now()
	if _, err := s.Client().CoreV1().Pods("rn-oom").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The container's status and the pod's phase come in separate updates.
	got := waitPod(t, "rn-oom", "hog", "container terminated and pod finished", func(p *corev1.Pod) error {
		for _, st := range p.Status.ContainerStatuses {
			if st.State.Terminated != nil && (p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded) {
				return nil
			}
		}
		return fmt.Errorf("phase %s, statuses %v", p.Status.Phase, p.Status.ContainerStatuses)
	})
	term := got.Status.ContainerStatuses[0].State.Terminated
	t.Logf("pod created to OOMKilled in %s", time.Since(created).Round(time.Millisecond))
	if term.Reason != "OOMKilled" || term.ExitCode != 137 {
		t.Errorf("terminated with reason %q, exit code %d; want OOMKilled, 137", term.Reason, term.ExitCode)
	}
	if got.Status.Phase != corev1.PodFailed {
		t.Errorf("phase %s, want Failed", got.Status.Phase)
	}
}

// ptr returns a pointer to v (API fields that are optional are pointers).
func ptr[T any](v T) *T { return &v }
