package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/killswitch"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// Namespaces and objects of the doctor's tests.
const (
	doctorRestrictedNS = "doctor-restricted" // Pod Security restricted, opted in
	doctorVAPNS        = "doctor-vap"        // a ValidatingAdmissionPolicy refuses ephemeral containers
	doctorOptOutNS     = "doctor-optout"     // not opted in
	doctorPSANS        = "doctor-psa"        // restricted enforced after its pod, which does not meet it, was created
	doctorPolicy       = "doctor-no-ephemeral-containers"
	doctorPolicyMsg    = "ephemeral containers are not allowed in doctor-vap"
	doctorPod          = "doctor-target"
)

// doctorStressYAML is a pod-scope CPU stress on the doctor's pod in ns,
// with one probe on the shop's real traffic.
func doctorStressYAML(name, ns string) string {
	return fmt.Sprintf(`apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata:
  name: %s
spec:
  hypothesis:
    probes:
      - name: shop-requests
        query: sum(rate(http_requests_total{namespace="shop"}[30s]))
        expect: {above: 0}
  target:
    namespaces: [%s]
    selector: app=doctor
    pick: {count: 1}
  action:
    stress:
      scope: pod
      cpu: {workers: 1, load: 50}
  duration: 30s
`, name, ns)
}

// doctorNamespace creates ns with labels and one running bare pod (that
// meets Pod Security's restricted level when restricted is set), and
// deletes it all when the test ends.
func doctorNamespace(ctx context.Context, t *testing.T, c kubernetes.Interface, ns string, labels map[string]string, restricted bool) {
	t.Helper()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The next test snapshots every pod of the cluster: the namespace must
	// be gone, not going, when this test ends.
	t.Cleanup(func() {
		bg, zero := context.Background(), int64(0)
		_ = c.CoreV1().Pods(ns).Delete(bg, doctorPod, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		_ = c.CoreV1().Namespaces().Delete(bg, ns, metav1.DeleteOptions{})
		sandbox.WaitFor(t, 90*time.Second, "namespace "+ns+" deleted", func() error {
			_, err := c.CoreV1().Namespaces().Get(bg, ns, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
			return errors.New("still there")
		})
	})
	spec := sandbox.PodSpec("doctor")
	if restricted {
		yes, no, uid := true, false, int64(1000)
		spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid,
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
		spec.Containers[0].SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: &no,
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: doctorPod, Namespace: ns, Labels: map[string]string{"app": "doctor"}}, Spec: spec}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sandbox.WaitFor(t, 60*time.Second, "pod "+ns+"/"+doctorPod+" running", func() error {
		p, err := c.CoreV1().Pods(ns).Get(ctx, doctorPod, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.Phase != corev1.PodRunning {
			return fmt.Errorf("phase %s", p.Status.Phase)
		}
		return nil
	})
}

// doctorVAP installs a ValidatingAdmissionPolicy and its binding that
// refuse any ephemeral container in doctorVAPNS, and waits until the API
// server enforces it (policies are compiled and synced asynchronously).
func doctorVAP(ctx context.Context, t *testing.T, c kubernetes.Interface) {
	t.Helper()
	fail := admissionregistrationv1.Fail
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: doctorPolicy},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: &fail,
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Update},
					Rule: admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"},
						Resources: []string{"pods/ephemeralcontainers"}},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{
				Expression: "!has(object.spec.ephemeralContainers) || size(object.spec.ephemeralContainers) == 0",
				Message:    doctorPolicyMsg,
			}},
		},
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: doctorPolicy},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        doctorPolicy,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": doctorVAPNS},
			}},
		},
	}
	vaps := c.AdmissionregistrationV1()
	if _, err := vaps.ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = vaps.ValidatingAdmissionPolicyBindings().Delete(context.Background(), doctorPolicy, metav1.DeleteOptions{})
		_ = vaps.ValidatingAdmissionPolicies().Delete(context.Background(), doctorPolicy, metav1.DeleteOptions{})
	})
	if _, err := vaps.ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	sandbox.WaitFor(t, 60*time.Second, "the ValidatingAdmissionPolicy refusing an ephemeral container", func() error {
		pod, err := c.CoreV1().Pods(doctorVAPNS).Get(ctx, doctorPod, metav1.GetOptions{})
		if err != nil {
			return err
		}
		pod.Spec.EphemeralContainers = append(pod.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "probe", Image: "registry.invalid/probe:1"}})
		_, err = c.CoreV1().Pods(doctorVAPNS).UpdateEphemeralContainers(ctx, doctorPod, pod, metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil || !strings.Contains(err.Error(), doctorPolicyMsg) {
			return fmt.Errorf("not refused by the policy yet: %v", err)
		}
		return nil
	})
}

// doctorRun runs `chaosnight doctor` in process against the sandbox.
func doctorRun(ctx context.Context, t *testing.T, s *sandbox.Sandbox, extra ...string) (int, string) {
	t.Helper()
	args := append([]string{"doctor", "--kubeconfig", s.Kubeconfig, "--prometheus-url", s.PrometheusURL, "--prometheus-timeout", "5s"}, extra...)
	code, out := cli(ctx, t, args...)
	t.Logf("chaosnight %s: exit %d\n%s", strings.Join(extra, " "), code, out)
	return code, out
}

// wantLines checks that every wanted line is a line of out, exactly.
func wantLines(t *testing.T, out string, want ...string) {
	t.Helper()
	lines := map[string]bool{}
	for l := range strings.SplitSeq(out, "\n") {
		lines[l] = true
	}
	for _, w := range want {
		if !lines[w] {
			t.Errorf("missing line %q", w)
		}
	}
}

func writeExperiment(t *testing.T, dir, name, yaml string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDoctor proves each check of `chaosnight doctor` against the sandbox's
// real API server (Pod Security admission, ValidatingAdmissionPolicy, RBAC)
// and Prometheus, with the exact lines users see. Nothing may change: the
// targets' pods are compared before and after.
func TestDoctor(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	c := s.Client()
	settle(ctx, t, s)
	ensureNamespace(ctx, t, c, killswitch.DefaultNamespace)
	optIn := map[string]string{sandbox.OptInLabel: "true"}
	doctorNamespace(ctx, t, c, doctorRestrictedNS, map[string]string{sandbox.OptInLabel: "true",
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}, true)
	doctorNamespace(ctx, t, c, doctorVAPNS, optIn, true)
	doctorNamespace(ctx, t, c, doctorOptOutNS, nil, true)
	// Enforcing a level does not evict the pods already there; it judges
	// every later change to them, the ephemeral container update included.
	doctorNamespace(ctx, t, c, doctorPSANS, optIn, false)
	enforce := []byte(`{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"restricted","pod-security.kubernetes.io/enforce-version":"latest"}}}`)
	if _, err := c.CoreV1().Namespaces().Patch(ctx, doctorPSANS, types.MergePatchType, enforce, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	doctorVAP(ctx, t, c)
	dir := t.TempDir()

	t.Run("all good: a restricted namespace admits the stress container, exit 0", func(t *testing.T) {
		file := writeExperiment(t, dir, "restricted.yaml", doctorStressYAML("restricted-cpu", doctorRestrictedNS))
		before := podUIDs(ctx, t, c)
		code, out := doctorRun(ctx, t, s, file)
		if code != ExitHeld {
			t.Errorf("exit %d, want 0", code)
		}
		wantLines(t, out,
			"Kubernetes",
			"  ✔ namespace chaosnight (kill switch, chaosnight's own) exists",
			"  ✔ kill switch released (configmap/chaosnight-kill-switch in namespace chaosnight)",
			"Experiment restricted-cpu ("+file+":1)",
			"  ✔ namespace doctor-restricted opted in (chaosnight.dev/enabled=true); Pod Security enforce=restricted (latest)",
			"  ✔ permissions in namespace doctor-restricted: list pods, get pods, create events, get namespaces doctor-restricted, update pods/ephemeralcontainers, create pods/exec",
			"  ✔ admission: the stress ephemeral container on pod doctor-restricted/doctor-target is admitted (server-side dry run)",
			"  ✔ permissions in namespace default: create leases.coordination.k8s.io, get leases.coordination.k8s.io, update leases.coordination.k8s.io, delete leases.coordination.k8s.io, list leases.coordination.k8s.io",
			"Prometheus",
			"  ✔ Prometheus at "+s.PrometheusURL+" answers queries",
			"  ✔ probe shop-requests of restricted-cpu returns 1 series now",
		)
		if !strings.Contains(out, "  ✔ API server "+s.APIServerURL+" answers: Kubernetes v") {
			t.Error("no API server line")
		}
		if after := podUIDs(ctx, t, c); !maps.Equal(before, after) {
			t.Error("pods changed during the doctor's dry runs")
		}
		p, err := c.CoreV1().Pods(doctorRestrictedNS).Get(ctx, doctorPod, metav1.GetOptions{})
		if err != nil || len(p.Spec.EphemeralContainers) != 0 {
			t.Errorf("the dry run added an ephemeral container for real (%v)", err)
		}
	})

	t.Run("a ValidatingAdmissionPolicy refuses the stress container", func(t *testing.T) {
		file := writeExperiment(t, dir, "vap.yaml", doctorStressYAML("vap-cpu", doctorVAPNS))
		code, out := doctorRun(ctx, t, s, file)
		if code != ExitFailed {
			t.Errorf("exit %d, want 1", code)
		}
		wantLines(t, out,
			"  ✘ admission: the stress ephemeral container on pod doctor-vap/doctor-target is refused by ValidatingAdmissionPolicy "+doctorPolicy+" (binding "+doctorPolicy+")",
			"    message: pods \"doctor-target\" is forbidden: ValidatingAdmissionPolicy '"+doctorPolicy+"' with binding '"+doctorPolicy+"' denied request: "+doctorPolicyMsg,
			"    fix: the ValidatingAdmissionPolicy "+doctorPolicy+" refuses it: exempt chaosnight's change from its binding "+doctorPolicy+" (matchResources, or a match condition), or leave namespace doctor-vap out of the experiment",
		)
	})

	t.Run("Pod Security refuses the change to a pod that does not meet the level", func(t *testing.T) {
		file := writeExperiment(t, dir, "psa.yaml", doctorStressYAML("psa-cpu", doctorPSANS))
		code, out := doctorRun(ctx, t, s, file)
		if code != ExitFailed {
			t.Errorf("exit %d, want 1", code)
		}
		wantLines(t, out,
			"  ✔ namespace doctor-psa opted in (chaosnight.dev/enabled=true); Pod Security enforce=restricted (latest)",
			"  ✘ admission: the stress ephemeral container on pod doctor-psa/doctor-target is refused by Pod Security (restricted:latest)",
			"    fix: namespace doctor-psa enforces a Pod Security level the change does not meet: make the target pod meet it, or lower pod-security.kubernetes.io/enforce on doctor-psa",
		)
		if !strings.Contains(out, "\n    message: pods \"doctor-target\" is forbidden: violates PodSecurity \"restricted:latest\": ") {
			t.Error("no verbatim Pod Security message")
		}
	})

	t.Run("a namespace not opted in", func(t *testing.T) {
		file := writeExperiment(t, dir, "optout.yaml", doctorStressYAML("optout-cpu", doctorOptOutNS))
		code, out := doctorRun(ctx, t, s, file)
		if code != ExitFailed {
			t.Errorf("exit %d, want 1", code)
		}
		wantLines(t, out,
			"  ✘ namespace doctor-optout is not opted in: the guard refuses every pod in it; no Pod Security labels (the cluster's default level applies)",
			"    fix: kubectl label namespace doctor-optout chaosnight.dev/enabled=true",
		)
	})

	t.Run("a probe on a metric that does not exist", func(t *testing.T) {
		yaml := strings.Replace(doctorStressYAML("missing-metric", doctorRestrictedNS),
			`sum(rate(http_requests_total{namespace="shop"}[30s]))`, `sum(rate(doctor_no_such_requests_total[1m])) / sum(rate(http_requests_total{namespace="shop"}[30s]))`, 1)
		file := writeExperiment(t, dir, "metric.yaml", yaml)
		code, out := doctorRun(ctx, t, s, file)
		if code != ExitFailed {
			t.Errorf("exit %d, want 1", code)
		}
		wantLines(t, out,
			"  ✘ probe shop-requests of missing-metric returns no data: no series at all for metric doctor_no_such_requests_total",
			`    fix: find the name this cluster uses (Prometheus: {__name__=~".*doctor_no_such_requests.*"}) and fix the query, or add the scrape target that exports it`,
		)
	})

	t.Run("an engaged kill switch", func(t *testing.T) {
		kc := []string{"--kubeconfig", s.Kubeconfig}
		if code, out := cli(ctx, t, append([]string{"pause", "--reason", "doctor test"}, kc...)...); code != 0 {
			t.Fatalf("pause: exit %d: %s", code, out)
		}
		defer func() {
			if code, out := cli(context.Background(), t, append([]string{"resume"}, kc...)...); code != 0 {
				t.Errorf("resume: exit %d: %s", code, out)
			}
		}()
		code, out := doctorRun(ctx, t, s, "-o", "json")
		if code != ExitFailed {
			t.Errorf("exit %d, want 1", code)
		}
		var rep doctorReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("not JSON: %v", err)
		}
		var found *doctorCheck
		for i, ch := range rep.Checks {
			if strings.HasPrefix(ch.Message, "kill switch") {
				found = &rep.Checks[i]
			}
		}
		switch {
		case rep.OK || rep.Failed != 1:
			t.Errorf("ok %v, failed %d, want one failure", rep.OK, rep.Failed)
		case found == nil:
			t.Error("no kill switch check")
		case found.Status != doctorFail || !strings.HasPrefix(found.Message, "kill switch engaged (configmap/chaosnight-kill-switch in namespace chaosnight): paused by ") ||
			!strings.HasSuffix(found.Message, ": doctor test; nothing would be injected") ||
			found.Fix != "once the reason is over: chaosnight resume --kill-switch-namespace chaosnight":
			t.Errorf("kill switch check %+v", *found)
		}
	})

	t.Run("a ServiceAccount token missing a verb", func(t *testing.T) {
		// Everything an evict experiment needs in shop but pods/eviction.
		cfg, err := s.ServiceAccountWithRole(ctx, sandbox.ShopNamespace, "doctor-no-evict", []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create"}},
			{APIGroups: []string{"apps"}, Resources: []string{"replicasets", "deployments"}, Verbs: []string{"get"}}, // deployments: the gate's rollout check
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = c.CoreV1().ServiceAccounts(sandbox.ShopNamespace).Delete(context.Background(), "doctor-no-evict", metav1.DeleteOptions{})
			_ = c.RbacV1().Roles(sandbox.ShopNamespace).Delete(context.Background(), "doctor-no-evict", metav1.DeleteOptions{})
			_ = c.RbacV1().RoleBindings(sandbox.ShopNamespace).Delete(context.Background(), "doctor-no-evict", metav1.DeleteOptions{})
		})
		limited, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		sandbox.WaitFor(t, 30*time.Second, "the service account's right to list pods in shop", func() error {
			_, err := limited.CoreV1().Pods(sandbox.ShopNamespace).List(ctx, metav1.ListOptions{Limit: 1})
			return err
		})
		file := writeExperiment(t, dir, "evict.yaml", experimentYAML("evict-limited", evictOne, ""))
		code, out := doctorRun(ctx, t, s, file, "--kubeconfig", writeKubeconfig(t, cfg, sandbox.ShopNamespace), "--require-opt-in=false")
		if code != ExitFailed {
			t.Errorf("exit %d, want 1", code)
		}
		user := "system:serviceaccount:shop:doctor-no-evict"
		wantLines(t, out,
			"  ✘ permission missing: create pods/eviction in namespace shop, to evict the targets (method: evict)",
			"    fix: grant "+user+" create pods/eviction in namespace shop: kubectl -n shop create role chaosnight-extra --verb=create --resource=pods/eviction, and a rolebinding to "+user+" (the chart grants it)",
			"    fix: grant "+user+" get on configmaps/chaosnight-kill-switch in namespace chaosnight (the chart's Role does), or set killSwitch.namespace to where the switch is",
		)
		if !strings.Contains(out, "  ✘ kill switch unreadable (configmap/chaosnight-kill-switch in namespace chaosnight): it counts as engaged, nothing would be injected: ") {
			t.Error("no unreadable kill switch line")
		}
		// The dry run is refused too, by RBAC, on whichever checkout pod.
		if !strings.Contains(out, "  ✘ admission: the eviction of pod shop/checkout-") || !strings.Contains(out, " is refused by RBAC\n") {
			t.Error("no admission line refused by RBAC")
		}
	})

	t.Run("a night: its next window in its zone, and its experiments", func(t *testing.T) {
		night := t.TempDir()
		if err := os.Mkdir(filepath.Join(night, "experiments"), 0o700); err != nil {
			t.Fatal(err)
		}
		writeExperiment(t, night, "experiments/restricted.yaml", doctorStressYAML("night-cpu", doctorRestrictedNS))
		config := writeExperiment(t, night, "chaosnight.yaml", `experiments: experiments
nights:
  - name: weeknights
    opens: "0 22 * * 1-5"
    lasts: 6h
    timezone: Europe/Paris
    experiments: {names: [night-cpu]}
`)
		code, out := doctorRun(ctx, t, s, "--config", config, "--now", "2026-12-07T12:00:00Z")
		if code != ExitHeld {
			t.Errorf("exit %d, want 0", code)
		}
		wantLines(t, out,
			"  ✔ admission: the stress ephemeral container on pod doctor-restricted/doctor-target is admitted (server-side dry run)",
			"Nights",
			"  ✔ night weeknights: next window opens Mon 2026-12-07 22:00 CET (Europe/Paris), Mon 2026-12-07 21:00 UTC, closes Tue 2026-12-08 04:00 CET",
		)
	})

	t.Run("node scope: the helper pod is admitted, the node is not opted in", func(t *testing.T) {
		yaml := strings.Replace(doctorStressYAML("node-cpu", doctorRestrictedNS), "scope: pod", "scope: node", 1)
		file := writeExperiment(t, dir, "node.yaml", yaml)
		p, err := c.CoreV1().Pods(doctorRestrictedNS).Get(ctx, doctorPod, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		node := p.Spec.NodeName
		code, out := doctorRun(ctx, t, s, file)
		if code != ExitFailed {
			t.Errorf("exit %d, want 1", code)
		}
		wantLines(t, out,
			"  ✔ permissions in namespace doctor-restricted: list pods, get pods, create events, get namespaces doctor-restricted, create pods, delete pods, get nodes",
			"  ✘ node "+node+" is not opted in: a node-scope stress refuses the targets on it",
			"    fix: kubectl label node "+node+" chaosnight.dev/enabled=true (every pod on it shares the stress)",
			"  ✔ admission: the stress helper pod on node "+node+" (namespace doctor-restricted) is admitted (server-side dry run)",
		)
		pods, err := c.CoreV1().Pods(doctorRestrictedNS).List(ctx, metav1.ListOptions{})
		if err != nil || len(pods.Items) != 1 {
			t.Errorf("the dry run created a helper pod for real: %v, %d pods", err, len(pods.Items))
		}
	})
}
