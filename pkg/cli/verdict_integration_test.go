package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
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
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/stress"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// These tests prove that a verdict is earned (docs/safety.md, "Safety and
// verdict rules"): the API server decides what was injected (a real
// PodDisruptionBudget, real RBAC with a ServiceAccount token) and the run
// reports exactly that; a revert the API server refuses shows in the exit
// code, the journal and the summary.

// workload creates the opted-in namespace ns with a Deployment app of
// replicas pods and, when pdbMinAvailable > 0, a PodDisruptionBudget named
// like it; readyDelay (e.g. "10s", or "") is how long kwok keeps each new
// pod from being ready, so that a replacement does not reopen the budget
// at once. It waits until the pods are ready and the budget is computed,
// and deletes the namespace (and waits for it to be gone, so no later
// test sees its pods) when the test ends.
func workload(t *testing.T, s *sandbox.Sandbox, ns, app string, replicas int32, pdbMinAvailable int, readyDelay string) {
	t.Helper()
	ctx := t.Context()
	c := s.Client()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Labels: map[string]string{inject.OptInLabel: "true"},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		if err := c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete namespace %s: %v", ns, err)
			return
		}
		sandbox.WaitFor(t, 60*time.Second, "namespace "+ns+" deleted", func() error {
			if _, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("still there (%v)", err)
			}
			return nil
		})
	})
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
	var annotations map[string]string
	if readyDelay != "" {
		annotations = map[string]string{sandbox.ReadyDelayAnnotation: readyDelay}
	}
	if _, err := c.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: sel, Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: sel.MatchLabels, Annotations: annotations}, Spec: sandbox.PodSpec(app)}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if pdbMinAvailable > 0 {
		minAvailable := intstr.FromInt(pdbMinAvailable)
		if _, err := c.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
			Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvailable, Selector: sel},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sandbox.WaitFor(t, 60*time.Second, ns+"/"+app+" ready", func() error {
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
		if err != nil {
			return err
		}
		ready := 0
		for _, p := range pods.Items {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue && p.DeletionTimestamp == nil {
					ready++
				}
			}
		}
		if ready != int(replicas) {
			return fmt.Errorf("%d of %d pods ready", ready, replicas)
		}
		if pdbMinAvailable == 0 {
			return nil
		}
		pdb, err := c.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, app, metav1.GetOptions{})
		if err != nil || pdb.Status.ObservedGeneration < pdb.Generation || pdb.Status.CurrentHealthy != replicas ||
			pdb.Status.DisruptionsAllowed != replicas-int32(pdbMinAvailable) {
			return fmt.Errorf("budget not computed yet (%v)", err)
		}
		return nil
	})
}

// serviceAccountKubeconfig creates the ServiceAccount ns/name with a Role
// of exactly rules in ns, plus cluster-wide read access to ConfigMaps (the
// kill switch, wherever it is configured to live) and namespaces (the
// opt-in label), and writes a kubeconfig that authenticates with its
// token and defaults to ns. It waits until RBAC lets the account list pods.
func serviceAccountKubeconfig(t *testing.T, s *sandbox.Sandbox, ns, name string, rules []rbacv1.PolicyRule) string {
	t.Helper()
	ctx := t.Context()
	cfg, err := s.ServiceAccountWithRole(ctx, ns, name, rules)
	if err != nil {
		t.Fatal(err)
	}
	admin := s.Client()
	cluster := ns + "-" + name
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: cluster}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get"}},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: cluster},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: cluster},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin.RbacV1().ClusterRoleBindings().Delete(context.Background(), cluster, metav1.DeleteOptions{})
		_ = admin.RbacV1().ClusterRoles().Delete(context.Background(), cluster, metav1.DeleteOptions{})
	})
	kc := clientcmdapi.NewConfig()
	kc.Clusters["sandbox"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts[name] = &clientcmdapi.Context{Cluster: "sandbox", AuthInfo: name, Namespace: ns}
	kc.CurrentContext = name
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	saClient, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sandbox.WaitFor(t, 10*time.Second, "RBAC for "+ns+"/"+name, func() error {
		if _, err := saClient.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err != nil {
			return err
		}
		_, err := saClient.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		return err
	})
	return path
}

// verdictYAML is an experiment on ns/app=<app> with the given hypothesis
// probe, pick, action and safety block.
func verdictYAML(name, ns, app, probe, pick, action, safety, duration string) string {
	return fmt.Sprintf(`apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata:
  name: %s
spec:
  hypothesis:
    probes:
%s
  target:
    namespaces: [%s]
    selector: app=%s
    pick: %s
  action:
%s
  duration: %s
  probeInterval: 1s
  recovery: 20s
  safety: %s
`, name, probe, ns, app, pick, action, duration, safety)
}

// checkoutHealthy is the demo traffic's error ratio: it holds throughout
// unless the shop breaks, so it measures nothing these tests do.
const checkoutHealthy = `      - name: checkout-error-ratio
        query: sum(rate(http_requests_total{namespace="shop",service="checkout",code=~"5.."}[10s])) / sum(rate(http_requests_total{namespace="shop",service="checkout"}[10s]))
        expect: {below: 0.01}`

func podUIDsIn(ctx context.Context, t *testing.T, c kubernetes.Interface, ns string) []string {
	t.Helper()
	pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pods.Items {
		out = append(out, p.Name+"="+string(p.UID))
	}
	slices.Sort(out)
	return out
}

// Nothing injected is never "held": every eviction refused by a budget
// that allows 0 disruptions, or by RBAC, ends the run as skipped (exit 2)
// before any observation, with each target's reason.
func TestRunNothingInjectedIsSkipped(t *testing.T) {
	s := sandbox.Require(t, sb)
	settle(t.Context(), t, s)
	noEvict := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create"}},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets", "deployments"}, Verbs: []string{"get"}}, // the gate's rollout check
	}
	tests := []struct {
		name    string
		ns      string
		pdb     int
		account []rbacv1.PolicyRule // nil: the admin kubeconfig
		// want is in every target's reason; {ns} is the namespace.
		want string
	}{
		{name: "budget allows 0 disruptions", ns: "verdict-pdb-zero", pdb: 2,
			want: "protected by PodDisruptionBudget {ns}/ledger: 0 disruptions allowed (it needs 2 healthy pods and has 2)"},
		{name: "RBAC forbids the eviction", ns: "verdict-rbac-403", account: noEvict,
			want: `cannot evict: forbidden: pods "ledger-`},
		// (the RBAC reason names the account and the missing right too)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			workload(t, s, tt.ns, "ledger", 2, tt.pdb, "")
			var extra []string
			if tt.account != nil {
				extra = append(extra, "--kubeconfig", serviceAccountKubeconfig(t, s, tt.ns, "runner", tt.account))
			}
			before := podUIDsIn(ctx, t, s.Client(), tt.ns)
			exp := verdictYAML("nothing-injected", tt.ns, "ledger", checkoutHealthy, "{all: true}", "    podKill: {method: evict}", "{minHealthy: 0, maxTargets: 2}", "5s")
			code, out, rec := runExp(ctx, t, s, exp, extra...)
			if code != ExitAborted || rec.Verdict != journal.Skipped {
				t.Fatalf("exit %d, verdict %s, reasons %v\n%s", code, rec.Verdict, rec.Reasons, out)
			}
			want := strings.ReplaceAll(tt.want, "{ns}", tt.ns)
			reasons := strings.Join(rec.Reasons, "\n")
			if !strings.HasPrefix(reasons, "nothing was injected: "+tt.ns+"/ledger-") || strings.Count(reasons, want) != 2 {
				t.Errorf("reasons do not give both targets' reason %q:\n%s", want, reasons)
			}
			if tt.account != nil && !strings.Contains(reasons, `cannot create resource "pods/eviction"`) || tt.account != nil && !strings.Contains(reasons, "(RBAC") {
				t.Errorf("the 403 is not said to be RBAC's:\n%s", reasons)
			}
			if len(rec.Rounds) != 1 || rec.Rounds[0].Targets != 2 || rec.Rounds[0].Touched != 0 {
				t.Errorf("rounds %+v, want one with 0 of 2 touched", rec.Rounds)
			}
			for _, o := range rec.Injections[0].Outcomes {
				if inject.Touched(o.Status) || !strings.Contains(o.Detail, want) {
					t.Errorf("outcome %s: %s %q", o.Pod.Key(), o.Status, o.Detail)
				}
			}
			if hasPhase(rec, journal.PhaseObserve) {
				t.Errorf("a run that injected nothing observed: %+v", rec.Phases)
			}
			if !strings.Contains(out, "SKIPPED") || !strings.Contains(out, want) || !strings.Contains(out, "injected: 0 of 2 targets") {
				t.Errorf("the summary does not say what happened:\n%s", out)
			}
			if after := podUIDsIn(ctx, t, s.Client(), tt.ns); !slices.Equal(before, after) {
				t.Errorf("pods changed: before %v, after %v", before, after)
			}
		})
	}
}

// Three targets whose budget allows one disruption: one is evicted, the
// run observes and holds, and the verdict's reasons, the journal and the
// summary say "injected 1 of 3" with the two refusals.
func TestRunPartialInjectionSaysSo(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	const ns = "verdict-partial"
	// A replacement pod stays unready for 10 s: the budget, once its one
	// disruption is taken, stays at 0 while the API server retries the
	// other evictions (it re-reads the budget every 500 ms on a conflict).
	workload(t, s, ns, "ledger", 3, 2, "10s")
	exp := verdictYAML("partial", ns, "ledger", checkoutHealthy, "{all: true}", "    podKill: {method: evict}", "{minHealthy: 0, maxTargets: 3}", "3s")
	code, out, rec := runExp(ctx, t, s, exp)
	if code != ExitHeld || rec.Verdict != journal.Held {
		t.Fatalf("exit %d, verdict %s, reasons %v\n%s", code, rec.Verdict, rec.Reasons, out)
	}
	// The API server serializes the evictions on the budget's status: the
	// first takes the one disruption allowed, the others find none left.
	if len(rec.Rounds) != 1 || rec.Rounds[0].Targets != 3 || rec.Rounds[0].Touched != 1 {
		t.Fatalf("rounds %+v, want 1 of 3 touched; outcomes %+v", rec.Rounds, rec.Injections)
	}
	note := rec.Rounds[0].Note
	// The API server words the refusal after the budget's state when it
	// reads it: "0 disruptions allowed (...)", or, while the budget's
	// status is being recomputed, "... does not allow evicting pods
	// currently". Both are its words, passed on; the count is what matters.
	protected := fmt.Sprintf("protected by PodDisruptionBudget %s/ledger: ", ns)
	if !strings.HasPrefix(note, "injected 1 of 3: "+ns+"/ledger-") || strings.Count(note, protected) != 2 {
		t.Errorf("round note %q", note)
	}
	if !slices.Contains(rec.Reasons, note) {
		t.Errorf("the verdict's reasons lack the partial injection: %v", rec.Reasons)
	}
	if !strings.Contains(out, "injected 1 of 3: ") || !strings.Contains(out, "injected: 1 of 3 targets") {
		t.Errorf("the summary does not say 1 of 3:\n%s", out)
	}
}

// A failed revert shows in the exit code even when the verdict is a
// deviation: a pod-scope stress injected by an account that may add
// ephemeral containers but not exec into pods cannot be stopped early; the
// run stays "deviated" (the finding), exits 3, and the journal and the
// summary name the stressed container and the instant it ends by itself.
func TestRunFailedRevertExits3(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	const ns = "verdict-revert"
	workload(t, s, ns, "ledger", 1, 0, "")
	kubeconfig := serviceAccountKubeconfig(t, s, ns, "runner", []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"pods/ephemeralcontainers"}, Verbs: []string{"update", "patch"}},
		{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create"}},
		{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"create", "get", "update", "delete"}},
		{APIGroups: []string{"apps"}, Resources: []string{"replicasets", "deployments"}, Verbs: []string{"get"}}, // the gate's rollout check
		// no pods/exec: the stop command is refused
	})
	// The hypothesis watches cart's desired replicas; the test scales cart
	// down once the run observes, as an incident would, and back when the
	// revert has begun.
	scale(ctx, t, s.Client(), "cart", 2)
	defer scale(context.Background(), t, s.Client(), "cart", 2)
	probe := `      - name: cart-replicas
        query: kube_deployment_spec_replicas{namespace="shop",deployment="cart"}
        expect: {atLeast: 2}`
	exp := verdictYAML("failed-revert", ns, "ledger", probe, "{count: 1}", "    stress:\n      scope: pod\n      memory: {size: 16Mi}", "{minHealthy: 0}", "60s")
	jpath := filepath.Join(t.TempDir(), "journal.json")
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	var scaledDown atomic.Bool
	go func() {
		for watchCtx.Err() == nil {
			time.Sleep(300 * time.Millisecond)
			rec, err := journal.Read(jpath)
			if err != nil {
				continue
			}
			switch {
			case !scaledDown.Load() && hasPhase(rec, journal.PhaseObserve):
				scale(watchCtx, t, s.Client(), "cart", 1)
				scaledDown.Store(true)
			case scaledDown.Load() && hasPhase(rec, journal.PhaseRevert):
				scale(watchCtx, t, s.Client(), "cart", 2)
				return
			}
		}
	}()
	code, out, rec := runExp(ctx, t, s, exp, "--kubeconfig", kubeconfig, "--journal", jpath,
		"--stress-image", "registry.invalid/chaosnight:test", "--stress-start-timeout", "20s")
	stopWatch()
	if rec.Verdict != journal.Deviated || code != ExitInvalid {
		t.Fatalf("exit %d, verdict %s, reasons %v\n%s", code, rec.Verdict, rec.Reasons, out)
	}
	if len(rec.Injections) != 1 || len(rec.Rounds) != 1 || rec.Rounds[0].Touched != 1 {
		t.Fatalf("injections %+v rounds %+v", rec.Injections, rec.Rounds)
	}
	st, err := stress.DecodeState(rec.Injections[0].State)
	if err != nil || len(st.Pods) != 1 || st.Deadline.IsZero() {
		t.Fatalf("stress state %+v (%v)", st, err)
	}
	what := fmt.Sprintf("ephemeral container %s of pod %s/%s", st.Container, ns, st.Pods[0].Name)
	if len(rec.Leftovers) != 1 {
		t.Fatalf("leftovers %+v, want the one stressed container", rec.Leftovers)
	}
	l := rec.Leftovers[0]
	if l.Injection != "stress" || l.What != what || !l.Until.Equal(st.Deadline) || !strings.Contains(l.Error, "forbidden") {
		t.Errorf("leftover %+v, want %q until %s, forbidden", l, what, st.Deadline)
	}
	if !hasPhase(rec, journal.PhaseRevert) || !strings.Contains(strings.Join(rec.Reasons, "\n"), "the hypothesis was violated") {
		t.Errorf("phases %+v, reasons %v", rec.Phases, rec.Reasons)
	}
	deadline := st.Deadline.UTC().Format(time.RFC3339)
	if !strings.Contains(out, "DEVIATED") || !strings.Contains(out, "STILL IN EFFECT (the revert failed, exit 3):") ||
		!strings.Contains(out, what+": ends by itself by "+deadline) {
		t.Errorf("the summary does not show the leftover and its deadline %s:\n%s", deadline, out)
	}
}

// A podKill.every round that touches nothing is recorded as such and the
// run goes on: the first round takes the budget's one disruption, and the
// replacement stays unready (10 s), so the next rounds find 0 allowed.
func TestRunRepeatThatTouchesNothingIsRecorded(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	const ns = "verdict-every"
	workload(t, s, ns, "ledger", 3, 2, "10s")
	exp := verdictYAML("every", ns, "ledger", checkoutHealthy, "{count: 1}", "    podKill: {method: evict, every: 1s}", "{minHealthy: 0}", "3s")
	code, out, rec := runExp(ctx, t, s, exp)
	if code != ExitHeld || rec.Verdict != journal.Held {
		t.Fatalf("exit %d, verdict %s, reasons %v\n%s", code, rec.Verdict, rec.Reasons, out)
	}
	if len(rec.Rounds) < 2 || len(rec.Rounds) != len(rec.Injections) {
		t.Fatalf("rounds %+v, %d injections", rec.Rounds, len(rec.Injections))
	}
	if r := rec.Rounds[0]; r.Touched != 1 || r.Targets != 1 || r.Note != "" {
		t.Errorf("round 1 %+v, want its one target evicted", r)
	}
	// The API server words the refusal after the budget's state when it
	// reads it: "0 disruptions allowed (...)", or, while the budget's
	// status is being recomputed, "... does not allow evicting pods
	// currently". Both are its words, passed on; the count is what matters.
	protected := fmt.Sprintf("protected by PodDisruptionBudget %s/ledger: ", ns)
	for _, r := range rec.Rounds[1:] {
		prefix := fmt.Sprintf("round %d touched nothing: %s/ledger-", r.Round, ns)
		if r.Touched != 0 || !strings.HasPrefix(r.Note, prefix) || !strings.Contains(r.Note, protected) {
			t.Errorf("round %+v, want nothing touched, protected by the budget", r)
		}
		if !slices.Contains(rec.Reasons, r.Note) || !hasPhaseNote(rec, journal.PhaseInject, r.Note) {
			t.Errorf("round %d's note is not in the reasons and its inject phase: %v", r.Round, rec.Reasons)
		}
	}
	if !strings.Contains(out, fmt.Sprintf("injected: 1 of 1 targets in the first round; %d rounds, %d touched nothing", len(rec.Rounds), len(rec.Rounds)-1)) {
		t.Errorf("the summary does not count the rounds:\n%s", out)
	}
}

func hasPhaseNote(rec *journal.Record, name, note string) bool {
	for _, p := range rec.Phases {
		if p.Name == name && strings.Contains(p.Note, note) {
			return true
		}
	}
	return false
}
