package sandbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/chaosnight/chaosnight/test/sandbox"
)

// sb is the package's shared sandbox (nil when unavailable outside CI).
var sb *sandbox.Sandbox

func TestMain(m *testing.M) {
	os.Exit(sandbox.RunTests(m, sandbox.Config{SeedWorkload: true}, func(s *sandbox.Sandbox) { sb = s }))
}

// eventually retries f until it succeeds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = f(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %s: %v", timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func newNamespace(t *testing.T, c kubernetes.Interface, name string) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace: %v", err)
	}
	t.Cleanup(func() { _ = c.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

func newDeployment(t *testing.T, c kubernetes.Interface, ns, app string, replicas int32) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
				Spec:       sandbox.PodSpec(app),
			},
		},
	}
	d, err := c.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create deployment: %v", err)
	}
	return d
}

func readyPods(ctx context.Context, c kubernetes.Interface, ns, app string) ([]corev1.Pod, error) {
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
			continue
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

func waitReady(t *testing.T, c kubernetes.Interface, ns, app string, want int, timeout time.Duration) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	eventually(t, timeout, func() error {
		var err error
		pods, err = readyPods(context.Background(), c, ns, app)
		if err != nil {
			return err
		}
		if len(pods) != want {
			return fmt.Errorf("%d of %d pods Running and Ready", len(pods), want)
		}
		return nil
	})
	return pods
}

func TestDeploymentPodsBecomeRunningAndReady(t *testing.T) {
	s := sandbox.Require(t, sb)
	c := s.Client()
	newNamespace(t, c, "it-ready")
	start := time.Now()
	newDeployment(t, c, "it-ready", "web", 5)
	pods := waitReady(t, c, "it-ready", "web", 5, 20*time.Second)
	t.Logf("5 pods Running and Ready in %s", time.Since(start).Round(time.Millisecond))
	for _, p := range pods {
		if !strings.HasPrefix(p.Spec.NodeName, "kwok-node-") {
			t.Errorf("pod %s scheduled on %q, want a fake node", p.Name, p.Spec.NodeName)
		}
		if p.Status.PodIP == "" {
			t.Errorf("pod %s has no IP", p.Name)
		}
	}
}

func TestDeletedPodIsReplaced(t *testing.T) {
	s := sandbox.Require(t, sb)
	c := s.Client()
	ctx := context.Background()
	newNamespace(t, c, "it-replace")
	newDeployment(t, c, "it-replace", "web", 3)
	pods := waitReady(t, c, "it-replace", "web", 3, 20*time.Second)
	victim := pods[0]
	if err := c.CoreV1().Pods("it-replace").Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	start := time.Now()
	eventually(t, 20*time.Second, func() error {
		pods, err := readyPods(ctx, c, "it-replace", "web")
		if err != nil {
			return err
		}
		for _, p := range pods {
			if p.UID == victim.UID {
				return fmt.Errorf("victim %s still there", victim.Name)
			}
		}
		if len(pods) != 3 {
			return fmt.Errorf("%d of 3 ready", len(pods))
		}
		return nil
	})
	t.Logf("deleted pod replaced and ready in %s", time.Since(start).Round(time.Millisecond))
}

func evict(ctx context.Context, c kubernetes.Interface, p corev1.Pod) error {
	return c.CoreV1().Pods(p.Namespace).EvictV1(ctx, &policyv1.Eviction{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace},
	})
}

func TestEvictionThatBreaksPDBIsRefused(t *testing.T) {
	s := sandbox.Require(t, sb)
	c := s.Client()
	ctx := context.Background()
	newNamespace(t, c, "it-pdb")
	newDeployment(t, c, "it-pdb", "web", 3)
	pods := waitReady(t, c, "it-pdb", "web", 3, 20*time.Second)
	minAvail := intstr.FromInt32(3)
	_, err := c.PolicyV1().PodDisruptionBudgets("it-pdb").Create(ctx, &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: &minAvail,
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pdb: %v", err)
	}
	eventually(t, 10*time.Second, func() error {
		p, err := c.PolicyV1().PodDisruptionBudgets("it-pdb").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.ObservedGeneration < p.Generation || p.Status.CurrentHealthy != 3 {
			return fmt.Errorf("pdb status not computed yet: %+v", p.Status)
		}
		return nil
	})

	// minAvailable 3 of 3: any eviction would break the budget.
	err = evict(ctx, c, pods[0])
	if !apierrors.IsTooManyRequests(err) {
		t.Fatalf("eviction with minAvailable=3 of 3: got %v, want HTTP 429", err)
	}
	var status apierrors.APIStatus
	if ok := asAPIStatus(err, &status); !ok || status.Status().Code != 429 {
		t.Fatalf("eviction error is not an HTTP 429 API status: %#v", err)
	}
	t.Logf("refused as expected: %v", err)
	if _, err := c.CoreV1().Pods("it-pdb").Get(ctx, pods[0].Name, metav1.GetOptions{}); err != nil {
		t.Fatalf("refused victim should still exist: %v", err)
	}

	// minAvailable 2: one eviction is allowed, and the API server itself
	// spends the budget, so an immediate second one is refused.
	// The disruption controller writes the status concurrently: retry.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		pdb, err := c.PolicyV1().PodDisruptionBudgets("it-pdb").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		two := intstr.FromInt32(2)
		pdb.Spec.MinAvailable = &two
		_, err = c.PolicyV1().PodDisruptionBudgets("it-pdb").Update(ctx, pdb, metav1.UpdateOptions{})
		return err
	}); err != nil {
		t.Fatalf("update pdb: %v", err)
	}
	eventually(t, 10*time.Second, func() error {
		p, err := c.PolicyV1().PodDisruptionBudgets("it-pdb").Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.ObservedGeneration < p.Generation || p.Status.DisruptionsAllowed != 1 {
			return fmt.Errorf("pdb status: %+v", p.Status)
		}
		return nil
	})
	if err := evict(ctx, c, pods[0]); err != nil {
		t.Fatalf("eviction within the budget: %v", err)
	}
	if err := evict(ctx, c, pods[1]); !apierrors.IsTooManyRequests(err) {
		t.Fatalf("second eviction right after the first: got %v, want HTTP 429", err)
	}
}

func asAPIStatus(err error, out *apierrors.APIStatus) bool {
	s, ok := err.(apierrors.APIStatus)
	if ok {
		*out = s
	}
	return ok
}

func TestPrometheusSeesCheckoutAndErrorsRiseWhenScaledToZero(t *testing.T) {
	s := sandbox.Require(t, sb)
	c := s.Client()
	ctx := context.Background()

	queryOne := func(q string) (float64, error) {
		res, err := s.Query(ctx, q)
		if err != nil {
			return 0, err
		}
		if len(res) != 1 {
			return 0, fmt.Errorf("%s: %d series, want 1: %v", q, len(res), res)
		}
		for _, v := range res {
			return v, nil
		}
		return 0, nil
	}
	avail := `kube_deployment_status_replicas_available{namespace="shop",deployment="checkout"}`
	// "Within a few scrape intervals" of the sandbox being up.
	eventually(t, 5*time.Second, func() error {
		v, err := queryOne(avail)
		if err == nil && v != 3 {
			err = fmt.Errorf("%s = %v, want 3", avail, v)
		}
		return err
	})
	// A 5 s window: with 1 s scrapes it reacts within seconds.
	ratio := `sum(rate(http_requests_total{namespace="shop",code=~"5.."}[5s])) / sum(rate(http_requests_total{namespace="shop"}[5s]))`
	eventually(t, 10*time.Second, func() error {
		v, err := queryOne(ratio)
		if err == nil && v >= 0.01 {
			err = fmt.Errorf("error ratio %v at full strength, want < 0.01", v)
		}
		return err
	})

	scale := func(n int32) {
		t.Helper()
		sc, err := c.AppsV1().Deployments("shop").GetScale(ctx, "checkout", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("get scale: %v", err)
		}
		sc.Spec.Replicas = n
		if _, err := c.AppsV1().Deployments("shop").UpdateScale(ctx, "checkout", sc, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("scale checkout to %d: %v", n, err)
		}
	}
	scale(0)
	restored := false
	t.Cleanup(func() {
		if !restored {
			scale(3)
		}
	})
	start := time.Now()
	eventually(t, 20*time.Second, func() error {
		v, err := queryOne(ratio)
		// Checkout carries 50 of the shop's 200 rps: all of it fails, so
		// the ratio tends to 0.25.
		if err == nil && v < 0.2 {
			err = fmt.Errorf("error ratio %v with checkout at 0, want about 0.25", v)
		}
		return err
	})
	t.Logf("error ratio above 0.2 %s after scaling checkout to 0", time.Since(start).Round(time.Millisecond))
	eventually(t, 5*time.Second, func() error {
		v, err := queryOne(avail)
		if err == nil && v != 0 {
			err = fmt.Errorf("%s = %v, want 0", avail, v)
		}
		return err
	})

	scale(3)
	restored = true
	eventually(t, 30*time.Second, func() error {
		v, err := queryOne(ratio)
		if err == nil && v >= 0.01 {
			err = fmt.Errorf("error ratio %v after restoring checkout, want < 0.01", v)
		}
		return err
	})
	waitReady(t, c, "shop", "checkout", 3, 20*time.Second)
}

func TestKubeStateMetricsSeries(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := context.Background()
	for _, q := range []string{
		`kube_deployment_spec_replicas{namespace="shop",deployment="checkout"} == 3`,
		`kube_pod_status_ready{namespace="shop",condition="true"} == 1`,
		`kube_pod_status_phase{namespace="shop",phase="Running"} == 1`,
		`kube_pod_container_status_restarts_total{namespace="shop"}`,
		`kube_poddisruptionbudget_status_pod_disruptions_allowed{namespace="shop",poddisruptionbudget="checkout"}`,
		`histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_bucket{namespace="shop",service="checkout"}[5s])))`,
	} {
		eventually(t, 10*time.Second, func() error {
			res, err := s.Query(ctx, q)
			if err == nil && len(res) == 0 {
				err = fmt.Errorf("%s: empty result", q)
			}
			return err
		})
	}
	// Labels are kube-state-metrics', not the scrape target's.
	res, err := s.Query(ctx, `kube_pod_status_phase{namespace="shop",phase="Running"} == 1`)
	if err != nil {
		t.Fatal(err)
	}
	for k := range res {
		if !strings.Contains(k, `pod="`) || !strings.Contains(k, `uid="`) || !strings.Contains(k, `namespace="shop"`) {
			t.Errorf("series %s lacks kube-state-metrics labels", k)
		}
	}
}

func TestServiceAccountHasOnlyItsRBACPermissions(t *testing.T) {
	s := sandbox.Require(t, sb)
	c := s.Client()
	ctx := context.Background()
	newNamespace(t, c, "it-rbac")
	if _, err := c.CoreV1().ServiceAccounts("it-rbac").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "runner"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RbacV1().Roles("shop").Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "it-rbac-pod-reader"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.RbacV1().RoleBindings("shop").Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "it-rbac-pod-reader"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "it-rbac-pod-reader"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "it-rbac", Name: "runner"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = c.RbacV1().RoleBindings("shop").Delete(context.Background(), "it-rbac-pod-reader", metav1.DeleteOptions{})
		_ = c.RbacV1().Roles("shop").Delete(context.Background(), "it-rbac-pod-reader", metav1.DeleteOptions{})
	})
	rc, err := s.ServiceAccountConfig(ctx, "it-rbac", "runner")
	if err != nil {
		t.Fatal(err)
	}
	sa := kubernetes.NewForConfigOrDie(rc)
	eventually(t, 5*time.Second, func() error { // RBAC caches settle within a moment
		_, err := sa.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{})
		return err
	})
	if _, err := sa.CoreV1().Pods("kube-system").List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("list pods in kube-system as the ServiceAccount: got %v, want Forbidden", err)
	}
	if err := sa.CoreV1().Pods("shop").Delete(ctx, "checkout-db-0", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("delete a pod as the ServiceAccount: got %v, want Forbidden", err)
	}
}

func TestDecoysAreSeededAndUntouched(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := context.Background()
	snap, err := sandbox.SnapshotDecoys(ctx, s.Client())
	if err != nil {
		t.Fatal(err)
	}
	// checkout-canary (1), shop-staging/checkout (3), kube-system/checkout-webhook (1), two bare pods.
	if len(snap) != 7 {
		t.Fatalf("%d decoy pods, want 7: %+v", len(snap), snap)
	}
	if err := snap.Verify(ctx, s.Client()); err != nil {
		t.Fatal(err)
	}
	ns, err := s.Client().CoreV1().Namespaces().Get(ctx, sandbox.StagingNamespace, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Labels[sandbox.OptInLabel] == "true" {
		t.Errorf("%s must not be opted in", sandbox.StagingNamespace)
	}
	// Deleting a decoy must be caught.
	victim := snap[0]
	if err := s.Client().CoreV1().Pods(victim.Namespace).Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := snap.Verify(ctx, s.Client()); err == nil || !strings.Contains(err.Error(), victim.Name) {
		t.Fatalf("Verify after deleting decoy %s: got %v", victim.Name, err)
	}
	// Put the world back for the other tests: the bare pods are re-created
	// by SeedWorkload, the others by their ReplicaSets.
	if err := sandbox.SeedWorkload(ctx, s.Client()); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := sandbox.WaitWorkloadReady(wctx, s.Client()); err != nil {
		t.Fatal(err)
	}
}

func TestStopAndStartPrometheus(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := context.Background()
	if err := s.StopPrometheus(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Query(ctx, "up"); err == nil {
		t.Fatal("query succeeded with Prometheus stopped")
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.StartPrometheus(sctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		res, err := s.Query(ctx, `up{job="sandbox"} == 1`)
		if err == nil && len(res) == 0 {
			err = fmt.Errorf("no successful scrape yet")
		}
		return err
	})
}

// processesReferencing lists live processes whose command line mentions dir.
func processesReferencing(dir string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(string(b), dir) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

func TestTwoSandboxesSideBySideAndCleanTeardown(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	second, err := sandbox.Start(ctx, sandbox.Config{Nodes: 1})
	if err != nil {
		t.Fatalf("second sandbox: %v", err)
	}
	t.Logf("second sandbox up in %s beside the first", time.Since(start).Round(time.Millisecond))
	stopped := false
	defer func() {
		if !stopped {
			_ = second.Stop()
		}
	}()
	if second.APIServerURL == s.APIServerURL || second.PrometheusURL == s.PrometheusURL || second.Dir == s.Dir {
		t.Fatalf("sandboxes share an endpoint: %s %s / %s %s", s.APIServerURL, s.PrometheusURL, second.APIServerURL, second.PrometheusURL)
	}
	// Separate clusters: the second has no shop, and its one node.
	if _, err := second.Client().CoreV1().Namespaces().Get(ctx, "shop", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("shop in the second sandbox: %v", err)
	}
	nodes, err := second.Client().CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 1 {
		t.Errorf("second sandbox nodes: %v, %v", nodes, err)
	}
	if _, err := s.Client().CoreV1().Namespaces().Get(ctx, "shop", metav1.GetOptions{}); err != nil {
		t.Errorf("first sandbox lost shop: %v", err)
	}
	pids := second.Pids()
	if len(pids) != 6 {
		t.Errorf("second sandbox runs %d processes, want 6: %v", len(pids), pids)
	}
	dir := second.Dir
	if err := second.Stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	stopped = true
	for name, pid := range pids {
		if _, err := os.Stat(filepath.Join("/proc", fmt.Sprint(pid))); err == nil {
			st, _ := os.ReadFile(filepath.Join("/proc", fmt.Sprint(pid), "stat"))
			t.Errorf("%s (pid %d) still exists after Stop: %s", name, pid, st)
		}
	}
	if left := processesReferencing(dir); len(left) > 0 {
		t.Errorf("processes left after Stop: %v", left)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("sandbox directory %s still exists after Stop: %v", dir, err)
	}
	// The first one is unaffected.
	if _, err := s.Query(ctx, "up"); err != nil {
		t.Errorf("first sandbox's Prometheus after stopping the second: %v", err)
	}
}

// TestOwnerKilledTakesSandboxAlong SIGKILLs a process that owns a sandbox
// (as `go test -timeout` or an OOM kill would) and checks that every
// sandbox process dies with it, thanks to the parent-death signal, and that
// the next Start sweeps its directory.
func TestOwnerKilledTakesSandboxAlong(t *testing.T) {
	if os.Getenv("SANDBOX_OWNER_HELPER") != "" {
		return // the helper run is TestSandboxOwnerHelper
	}
	sandbox.Require(t, sb)
	out := filepath.Join(t.TempDir(), "owner.txt")
	cmd := exec.Command(os.Args[0], "-test.run=^TestSandboxOwnerHelper$", "-test.v")
	cmd.Env = append(os.Environ(), "SANDBOX_OWNER_HELPER="+out, sandbox.EnvSandbox+"=off")
	logPath := filepath.Join(t.TempDir(), "helper.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = logFile.Close() }()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var lines []string
	eventually(t, 90*time.Second, func() error {
		b, err := os.ReadFile(out)
		if err != nil || !strings.HasSuffix(string(b), "ready\n") {
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("helper not ready: %v; output so far:\n%s", err, log)
		}
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		return nil
	})
	dir := lines[0]
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	eventually(t, 10*time.Second, func() error {
		if left := processesReferencing(dir); len(left) > 0 {
			return fmt.Errorf("still running after the owner was killed: %v", left)
		}
		return nil
	})
	// The directory is left behind (nobody ran Stop); the next Start removes it.
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("expected the killed owner's directory to remain until the next Start: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	next, err := sandbox.Start(ctx, sandbox.Config{Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := next.Stop(); err != nil {
			t.Errorf("stop the second sandbox: %v", err)
		}
	}()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("stale directory %s not swept by the next Start: %v", dir, err)
	}
}

// TestSandboxOwnerHelper runs only as the child of
// TestOwnerKilledTakesSandboxAlong: it starts a sandbox, reports its
// directory and waits to be killed.
func TestSandboxOwnerHelper(t *testing.T) {
	out := os.Getenv("SANDBOX_OWNER_HELPER")
	if out == "" {
		t.Skip("helper process for TestOwnerKilledTakesSandboxAlong")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := sandbox.Start(ctx, sandbox.Config{Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, []byte(s.Dir+"\nready\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Minute) // killed long before
}

func TestReadyDelaySimulatesStartUpTime(t *testing.T) {
	s := sandbox.Require(t, sb)
	c := s.Client()
	ctx := context.Background()
	newNamespace(t, c, "it-delay")
	replicas := int32(1)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "slow", Namespace: "it-delay"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "slow"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "slow"},
					Annotations: map[string]string{sandbox.ReadyDelayAnnotation: "3s"}},
				Spec: sandbox.PodSpec("slow"),
			},
		},
	}
	start := time.Now()
	if _, err := c.AppsV1().Deployments("it-delay").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	if pods, err := readyPods(ctx, c, "it-delay", "slow"); err != nil || len(pods) != 0 {
		t.Fatalf("after 1.5s of a 3s start-up: %d ready pods (%v), want 0", len(pods), err)
	}
	waitReady(t, c, "it-delay", "slow", 1, 10*time.Second)
	if took := time.Since(start); took < 3*time.Second {
		t.Errorf("pod ready after %v, before its 3s start-up", took)
	}
	// The seeded single-replica recommendations service starts in 10s.
	dep, err := c.AppsV1().Deployments("shop").Get(ctx, "recommendations", metav1.GetOptions{})
	if err != nil || dep.Spec.Template.Annotations[sandbox.ReadyDelayAnnotation] != "10s" {
		t.Errorf("shop/recommendations: %v, template annotations %v", err, dep.Spec.Template.Annotations)
	}
}

// TestPrometheusIsTheBuiltOne: without CHAOSNIGHT_PROMETHEUS_BIN, the
// sandbox runs the Prometheus that `make sandbox-tools` built from the Go
// module proxy (no system package needed), as its build info says.
func TestPrometheusIsTheBuiltOne(t *testing.T) {
	s := sandbox.Require(t, sb)
	if os.Getenv(sandbox.EnvPrometheus) != "" {
		t.Skipf("%s names another prometheus on purpose", sandbox.EnvPrometheus)
	}
	resp, err := http.Get(s.PrometheusURL + "/api/v1/status/buildinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Version   string `json:"version"`
			BuildUser string `json:"buildUser"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.Data.Version != sandbox.PrometheusVersion || body.Data.BuildUser != "chaosnight-sandbox" {
		t.Errorf("prometheus build info %+v, want version %s built by chaosnight-sandbox", body.Data, sandbox.PrometheusVersion)
	}
}
