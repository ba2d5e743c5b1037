package realnode

// Pod-scope stress through the product's own path (inject.Guard in front
// of stress.Injector, stop through the real stress.RemoteExec) against
// real pods on the real node: the load is read from the pod's cgroup on
// the host, the stop is a real exec, and the kubelet reports what ended.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/stress"
	"github.com/chaosnight/chaosnight/pkg/target"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// podStressWindow is how long one CPU measurement lasts: long enough that
// the cgroup's scheduling period (100 ms) and the stressor's duty cycle
// average out.
const podStressWindow = 3 * time.Second

// podStressRestricted is the label that makes a namespace enforce Pod
// Security restricted.
var podStressRestricted = map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}

// podStressTarget creates a Ready target pod on the real node whose one
// container idles (memhog holding 1 MiB) under the restricted security
// context and limits, and returns it as the Guard's target.
func podStressTarget(t *testing.T, ns, name string, limits corev1.ResourceList) (target.Pod, *corev1.Pod) {
	t.Helper()
	main := corev1.Container{
		Name: "main", Image: sandbox.StressImage, ImagePullPolicy: corev1.PullNever,
		Command:         []string{"/memhog", "-mib", "1", "-hold", "1h"},
		SecurityContext: restricted(),
		Resources:       corev1.ResourceRequirements{Limits: limits},
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{main}, TerminationGracePeriodSeconds: ptr(int64(1))},
	}
	sandbox.OnRealNode(&pod.Spec)
	if _, err := sb.Client().CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitPod(t, ns, name, "target pod Ready on the real node", podReady)
	return target.Pod{
		Namespace: ns, Name: name, UID: string(got.UID), Node: got.Spec.NodeName, Labels: got.Labels,
		Created: got.CreationTimestamp.Time, Phase: string(got.Status.Phase), Ready: true, Containers: []string{"main"},
	}, got
}

// podStressInjector is the pod-scope injector as the runner builds it,
// with the real exec over cfg and the locally imported image; it waits
// for the real kubelet to report the stress container running.
func podStressInjector(cfg *rest.Config, client kubernetes.Interface, spec stress.Spec, d time.Duration) *stress.Injector {
	spec.Scope = stress.ScopePod
	return &stress.Injector{
		Client: client, Exec: stress.RemoteExec{Config: cfg, Client: client},
		Image: sandbox.StressImage, ImagePullPolicy: corev1.PullNever,
		Spec: spec, Duration: d,
		StartTimeout: 30 * time.Second,
		ExecTimeout:  10 * time.Second,
	}
}

// podStressGuard passes the injection through the Guard, as the engine does.
func podStressGuard(t *testing.T, run inject.Run, tg target.Pod, inj *stress.Injector) inject.Injection {
	t.Helper()
	g := &inject.Guard{Client: sb.Client()}
	got, err := g.Inject(context.Background(), inject.Request{Run: run, Action: "pod-scope stress", Targets: []target.Pod{tg}, Injector: inj, MaxTargets: 1})
	if err != nil {
		t.Fatalf("inject: %v (outcomes %+v)", err, got.Outcomes)
	}
	if len(got.Outcomes) != 1 {
		t.Fatalf("outcomes %+v, want one", got.Outcomes)
	}
	return got
}

// podStressCgroup is the target pod's cpuacct cgroup directory on the
// host, found by the pod's UID under whichever QoS class it has.
func podStressCgroup(t *testing.T, uid string) string {
	t.Helper()
	var dir string
	sandbox.WaitFor(t, 10*time.Second, "the pod's cpuacct cgroup on the host", func() error {
		var found []string
		for _, root := range []string{"/sys/fs/cgroup/cpuacct", "/sys/fs/cgroup/cpu,cpuacct"} {
			for _, pattern := range []string{"kubepods/pod" + uid, "kubepods/*/pod" + uid} {
				m, _ := filepath.Glob(filepath.Join(root, pattern))
				found = append(found, m...)
			}
		}
		if len(found) == 0 {
			return fmt.Errorf("no cgroup for pod %s", uid)
		}
		dir = found[0]
		return nil
	})
	return dir
}

// podStressUsage reads the cgroup's total CPU time in nanoseconds.
func podStressUsage(t *testing.T, dir string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "cpuacct.usage"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// podStressLoad measures the cgroup's CPU use over one window, in percent
// of one CPU.
func podStressLoad(t *testing.T, dir string) float64 {
	t.Helper()
	u0, t0 := podStressUsage(t, dir), time.Now()
	time.Sleep(podStressWindow)
	u1, t1 := podStressUsage(t, dir), time.Now()
	return float64(u1-u0) / float64(t1.Sub(t0).Nanoseconds()) * 100
}

// podStressEphemeral waits until cond holds for the stress container's
// status and returns it.
func podStressEphemeral(t *testing.T, ns, pod, container string, timeout time.Duration, what string, cond func(*corev1.ContainerStatus) error) corev1.ContainerStatus {
	t.Helper()
	var got corev1.ContainerStatus
	sandbox.WaitFor(t, timeout, what, func() error {
		p, err := sb.Client().CoreV1().Pods(ns).Get(context.Background(), pod, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, st := range p.Status.EphemeralContainerStatuses {
			if st.Name == container {
				got = st
				return cond(&st)
			}
		}
		return fmt.Errorf("no status for %s yet: %v", container, p.Status.EphemeralContainerStatuses)
	})
	return got
}

func terminated(st *corev1.ContainerStatus) error {
	if st.State.Terminated == nil {
		return fmt.Errorf("state %+v", st.State)
	}
	return nil
}

// TestPodStressCPU: in a namespace enforcing Pod Security restricted, the
// injector's ephemeral container starts, the target pod's cgroup gains
// CPU time while it runs, and after Revert (a real exec of
// `chaosnight-stress stop`) the kubelet reports it terminated and the
// cgroup's growth falls back to near idle. The measured loads are logged
// for BENCHMARKS.md, not asserted.
func TestPodStressCPU(t *testing.T) {
	s := sandbox.Require(t, sb)
	tests := []struct {
		name          string
		cpuLimit      string
		workers, load int
		// effective is what the journal must say of the load; capPercent,
		// when set, is the pod's quota in percent of a CPU, which the
		// kernel enforces whatever else the machine does.
		effective  string
		capPercent float64
	}{
		{"limit allows the load", "1", 1, 50, "CPU: asks for 500m, within the pod's CPU limit 1: effective load 500m", 0},
		{"limit below the load", "200m", 1, 100, "CPU: asks for 1000m; capped by the pod's CPU limit 200m: effective load at most 200m", 20},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			ns := fmt.Sprintf("rn-ps-cpu-%d", i)
			namespace(t, ns, podStressRestricted)
			tg, pod := podStressTarget(t, ns, "target", corev1.ResourceList{
				corev1.ResourceCPU: resource.MustParse(tt.cpuLimit), corev1.ResourceMemory: resource.MustParse("64Mi"),
			})
			cg := podStressCgroup(t, string(pod.UID))
			idleBefore := podStressLoad(t, cg)

			run := inject.Run{ID: fmt.Sprintf("rn-cpu-%d", i), Experiment: "real-cpu"}
			injector := podStressInjector(s.RESTConfig, s.Client(), stress.Spec{CPU: &stress.CPUStress{Workers: tt.workers, Load: tt.load}}, 2*time.Minute)
			started := time.Now()
			inj := podStressGuard(t, run, tg, injector)
			if o := inj.Outcomes[0]; o.Status != inject.StatusStressed || !strings.Contains(o.Detail, tt.effective) {
				t.Fatalf("outcome %s: %s; want stressed, saying %q", o.Status, o.Detail, tt.effective)
			}
			t.Logf("injected and confirmed running by the kubelet in %s", time.Since(started).Round(time.Millisecond))
			st, err := stress.DecodeState(inj.State)
			if err != nil {
				t.Fatal(err)
			}

			stressed := podStressLoad(t, cg)
			t.Logf("limit %s, %d worker(s) at %d%%: requested %d%% of a CPU, measured %.1f%% from the pod's cgroup (idle before %.1f%%)",
				tt.cpuLimit, tt.workers, tt.load, tt.workers*tt.load, stressed, idleBefore)
			if stressed <= idleBefore {
				t.Errorf("the pod's cgroup did not gain CPU time under stress: %.1f%% vs %.1f%% idle", stressed, idleBefore)
			}
			// The quota is the kernel's: over a window of many 100 ms
			// periods the pod never gets more, busy machine or not (2
			// points for the window's edges).
			if tt.capPercent > 0 && stressed > tt.capPercent+2 {
				t.Errorf("the pod used %.1f%% of a CPU under a %.0f%% quota: the journal's \"at most\" would be false", stressed, tt.capPercent)
			}

			reverted := time.Now()
			if err := injector.Revert(ctx, inj); err != nil {
				t.Fatalf("revert: %v", err)
			}
			cs := podStressEphemeral(t, ns, "target", st.Container, 30*time.Second, "stress container terminated after revert", terminated)
			t.Logf("revert to terminated reported by the kubelet in %s (exit code %d, reason %s)",
				time.Since(reverted).Round(time.Millisecond), cs.State.Terminated.ExitCode, cs.State.Terminated.Reason)
			after := podStressLoad(t, cg)
			t.Logf("after revert: %.1f%% of a CPU", after)
			if after >= stressed/4 {
				t.Errorf("after revert the pod still uses %.1f%% of a CPU, stressed it used %.1f%%: want under a quarter", after, stressed)
			}
		})
	}
}

// TestPodStressMemoryPastLimit: a memory stress larger than the target's
// limit never counts as stressed. The ephemeral container is charged to
// the pod's memory cgroup, whose limit the stressor cannot see from its
// own container cgroup (cgroup v1, no cgroup namespace: its mount's root
// is the container's cgroup, which has no limit), so it does not refuse:
// the kernel OOM-kills it about a second after the kubelet reported it
// running. The outcome is failed, saying OOMKilled and the exit code.
func TestPodStressMemoryPastLimit(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := context.Background()
	ns := "rn-ps-mem"
	namespace(t, ns, podStressRestricted)
	tg, _ := podStressTarget(t, ns, "target", corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
	})
	run := inject.Run{ID: "rn-mem-1", Experiment: "real-memory"}
	injector := podStressInjector(s.RESTConfig, s.Client(), stress.Spec{Memory: &stress.MemoryStress{Size: "128Mi"}}, 2*time.Minute)
	started := time.Now()
	inj := podStressGuard(t, run, tg, injector)
	t.Logf("inject returned after %s", time.Since(started).Round(time.Millisecond))
	o := inj.Outcomes[0]
	st, err := stress.DecodeState(inj.State)
	if err != nil {
		t.Fatal(err)
	}
	cs := podStressEphemeral(t, ns, "target", st.Container, 30*time.Second, "stress container ended", terminated)
	term := cs.State.Terminated
	t.Logf("outcome %s: %s", o.Status, o.Detail)
	t.Logf("kubelet: exit code %d, reason %s, message %q", term.ExitCode, term.Reason, term.Message)
	// What a real node does: the kernel kills the stressor (the largest
	// process of the pod's memory cgroup) and the kubelet reports it.
	if term.Reason != "OOMKilled" || term.ExitCode != 137 {
		t.Errorf("the stress container ended with %q, exit code %d; want OOMKilled, 137", term.Reason, term.ExitCode)
	}
	if o.Status != inject.StatusFailed || !strings.Contains(o.Detail, "was added but the stress was OOMKilled, exit code 137") {
		t.Errorf("outcome %s (%s), want failed with OOMKilled, exit code 137", o.Status, o.Detail)
	}
	if err := injector.Revert(ctx, inj); err != nil {
		t.Errorf("revert of an ended stress: %v", err)
	}
}

// TestPodStressStopForbidden: with a ServiceAccount that may add the
// ephemeral container but not exec into it, Revert reports the stress not
// stopped with its deadline, and the real container ends by itself then.
func TestPodStressStopForbidden(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := context.Background()
	ns := "rn-ps-rbac"
	namespace(t, ns, podStressRestricted)
	tg, _ := podStressTarget(t, ns, "target", corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
	})
	cfg, err := s.ServiceAccountWithRole(ctx, ns, "injector", []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"pods/ephemeralcontainers"}, Verbs: []string{"update", "patch"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// RBAC reaches the authorizer within moments.
	sandbox.WaitFor(t, 10*time.Second, "the role in effect", func() error {
		_, err := client.CoreV1().Pods(ns).Get(ctx, "target", metav1.GetOptions{})
		return err
	})
	run := inject.Run{ID: "rn-rbac-1", Experiment: "real-rbac"}
	injector := podStressInjector(cfg, client, stress.Spec{CPU: &stress.CPUStress{Workers: 1, Load: 20}}, 15*time.Second)
	inj := podStressGuard(t, run, tg, injector)
	if o := inj.Outcomes[0]; o.Status != inject.StatusStressed {
		t.Fatalf("outcome %s: %s", o.Status, o.Detail)
	}
	st, err := stress.DecodeState(inj.State)
	if err != nil {
		t.Fatal(err)
	}

	err = injector.Revert(ctx, inj)
	var nse *stress.NotStoppedError
	if !errors.As(err, &nse) {
		t.Fatalf("revert: %v, want a NotStoppedError", err)
	}
	if !nse.Deadline.Equal(st.Deadline) || len(nse.Items) != 1 || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("error %v (deadline %s, want %s)", err, nse.Deadline, st.Deadline)
	}
	t.Logf("revert: %v", err)

	cs := podStressEphemeral(t, ns, "target", st.Container, time.Until(st.Deadline)+30*time.Second, "stress container ended by its deadline", terminated)
	finished := cs.State.Terminated.FinishedAt.Time
	// finishedAt has whole seconds: an end a few milliseconds before the
	// deadline reads as one second before it.
	t.Logf("deadline %s, container finished %s (%s after, finishedAt truncated to the second; exit code %d)", st.Deadline.Format(time.RFC3339),
		finished.Format(time.RFC3339), finished.Sub(st.Deadline), cs.State.Terminated.ExitCode)
	if finished.Before(st.Deadline.Add(-time.Second)) {
		t.Errorf("the stress ended at %s, before its deadline %s", finished, st.Deadline)
	}
	if cs.State.Terminated.ExitCode != 0 {
		t.Errorf("the stress ended with exit code %d, want 0 (its own deadline)", cs.State.Terminated.ExitCode)
	}
}
