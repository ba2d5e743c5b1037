package cli

import (
	"context"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/killswitch"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// ensureNamespace creates namespace ns unless it exists.
func ensureNamespace(ctx context.Context, t *testing.T, c kubernetes.Interface, ns string) {
	t.Helper()
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// writeKubeconfig writes a kubeconfig for cfg whose context's namespace is
// ns, and returns its path.
func writeKubeconfig(t *testing.T, cfg *rest.Config, ns string) string {
	t.Helper()
	kc := clientcmdapi.NewConfig()
	kc.Clusters["sandbox"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["user"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["ctx"] = &clientcmdapi.Context{Cluster: "sandbox", AuthInfo: "user", Namespace: ns}
	kc.CurrentContext = "ctx"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func joined(rec *journal.Record) string { return strings.Join(rec.Reasons, " | ") }

// The kill switch is one switch: pause, status and run all use the
// ConfigMap in killSwitch.namespace (default chaosnight), not the
// kubeconfig context's namespace (default here); a value that is not
// understood and a switch RBAC forbids reading both refuse the injection.
func TestKillSwitchIsOneSwitch(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	ensureNamespace(ctx, t, s.Client(), killswitch.DefaultNamespace)
	kc := []string{"--kubeconfig", s.Kubeconfig} // its context's namespace is default
	resume := func() {
		if code, out := cli(context.Background(), t, append([]string{"resume"}, kc...)...); code != 0 {
			t.Errorf("resume: exit %d: %s", code, out)
		}
	}
	defer resume()
	exp := experimentYAML("one-switch", evictOne, "  safety: {minHealthy: 2}\n")

	t.Run("a pause in chaosnight stops a run whose context says default", func(t *testing.T) {
		if code, out := cli(ctx, t, append([]string{"pause", "--reason", "incident INC-13"}, kc...)...); code != 0 {
			t.Fatalf("pause: exit %d: %s", code, out)
		}
		if _, err := s.Client().CoreV1().ConfigMaps(killswitch.DefaultNamespace).Get(ctx, killswitch.DefaultName, metav1.GetOptions{}); err != nil {
			t.Fatalf("the switch is not in namespace chaosnight: %v", err)
		}
		if _, err := s.Client().CoreV1().ConfigMaps("default").Get(ctx, killswitch.DefaultName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("pause wrote a switch in the context's namespace: %v", err)
		}
		code, out := cli(ctx, t, append([]string{"status", "--namespace", "default"}, kc...)...)
		if code != 0 || !strings.Contains(out, "ENGAGED (configmap/chaosnight-kill-switch in namespace chaosnight)") || !strings.Contains(out, "incident INC-13") {
			t.Errorf("status: exit %d: %s", code, out)
		}
		before := podUIDs(ctx, t, s.Client())
		code, out, rec := runExp(ctx, t, s, exp)
		if code != ExitAborted || (rec.Verdict != journal.Skipped && rec.Verdict != journal.Aborted) {
			t.Fatalf("exit %d, verdict %s %v\n%s", code, rec.Verdict, rec.Reasons, out)
		}
		if !strings.Contains(joined(rec), "incident INC-13") {
			t.Errorf("the reasons do not give the switch's reason: %v", rec.Reasons)
		}
		if after := podUIDs(ctx, t, s.Client()); !maps.Equal(before, after) {
			t.Error("pods changed while the kill switch was engaged")
		}
		resume()
	})

	t.Run("pause into a namespace that does not exist says so", func(t *testing.T) {
		code, out := cli(ctx, t, append([]string{"pause", "--kill-switch-namespace", "no-such-namespace"}, kc...)...)
		if code != ExitInvalid || !strings.Contains(out, "does namespace no-such-namespace exist?") {
			t.Errorf("pause: exit %d: %s", code, out)
		}
	})

	t.Run("engaged: yes is engaged", func(t *testing.T) {
		settle(ctx, t, s)
		cms := s.Client().CoreV1().ConfigMaps(killswitch.DefaultNamespace)
		patch := []byte(`{"data":{"engaged":"yes","reason":"someone typed yes"}}`)
		if _, err := cms.Patch(ctx, killswitch.DefaultName, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		code, out := cli(ctx, t, append([]string{"status"}, kc...)...)
		if code != 0 || !strings.Contains(out, "ENGAGED") || !strings.Contains(out, `engaged="yes"`) {
			t.Errorf("status: exit %d: %s", code, out)
		}
		before := podUIDs(ctx, t, s.Client())
		code, out, rec := runExp(ctx, t, s, exp)
		if code != ExitAborted || (rec.Verdict != journal.Skipped && rec.Verdict != journal.Aborted) {
			t.Fatalf("exit %d, verdict %s %v\n%s", code, rec.Verdict, rec.Reasons, out)
		}
		if !strings.Contains(joined(rec), `engaged="yes"`) {
			t.Errorf("the reasons do not say the value is not understood: %v", rec.Reasons)
		}
		if after := podUIDs(ctx, t, s.Client()); !maps.Equal(before, after) {
			t.Error("pods changed while the kill switch said yes")
		}
		resume()
	})

	t.Run("a switch RBAC forbids reading is engaged", func(t *testing.T) {
		settle(ctx, t, s)
		// Everything the run needs in shop, nothing in chaosnight.
		cfg, err := s.ServiceAccountWithRole(ctx, sandbox.ShopNamespace, "blind-runner", []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{""}, Resources: []string{"pods/eviction"}, Verbs: []string{"create"}},
			{APIGroups: []string{""}, Resources: []string{"events"}, Verbs: []string{"create"}},
			{APIGroups: []string{"apps"}, Resources: []string{"replicasets", "deployments"}, Verbs: []string{"get"}}, // deployments: the gate's rollout check
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			c := s.Client()
			_ = c.CoreV1().ServiceAccounts(sandbox.ShopNamespace).Delete(context.Background(), "blind-runner", metav1.DeleteOptions{})
			_ = c.RbacV1().Roles(sandbox.ShopNamespace).Delete(context.Background(), "blind-runner", metav1.DeleteOptions{})
			_ = c.RbacV1().RoleBindings(sandbox.ShopNamespace).Delete(context.Background(), "blind-runner", metav1.DeleteOptions{})
		})
		blind, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		sandbox.WaitFor(t, 30*time.Second, "the service account's right to list pods in shop", func() error {
			_, err := blind.CoreV1().Pods(sandbox.ShopNamespace).List(ctx, metav1.ListOptions{Limit: 1})
			return err
		})
		if _, err := blind.CoreV1().ConfigMaps(killswitch.DefaultNamespace).Get(ctx, killswitch.DefaultName, metav1.GetOptions{}); !apierrors.IsForbidden(err) {
			t.Fatalf("the service account may read the switch (%v): the test would not test a forbidden switch", err)
		}
		code, out := cli(ctx, t, "status", "--kubeconfig", writeKubeconfig(t, cfg, "default"))
		if code != ExitInvalid || !strings.Contains(out, "ENGAGED") || !strings.Contains(out, "cannot be read") {
			t.Errorf("status: exit %d: %s", code, out)
		}
		before := podUIDs(ctx, t, s.Client())
		code, out, rec := runExp(ctx, t, s, exp, "--kubeconfig", writeKubeconfig(t, cfg, sandbox.ShopNamespace), "--require-opt-in=false")
		if code != ExitAborted || (rec.Verdict != journal.Skipped && rec.Verdict != journal.Aborted) {
			t.Fatalf("exit %d, verdict %s %v\n%s", code, rec.Verdict, rec.Reasons, out)
		}
		if r := joined(rec); !strings.Contains(r, "cannot read the kill switch") || !strings.Contains(r, "forbidden") {
			t.Errorf("the reasons do not say the switch could not be read: %v", rec.Reasons)
		}
		if after := podUIDs(ctx, t, s.Client()); !maps.Equal(before, after) {
			t.Error("pods changed while the kill switch could not be read")
		}
	})
}

// floorExperiment targets the kube-system decoy (app=checkout, one replica,
// its namespace opted in on purpose) with minHealthy 0, so that only the
// namespace rules decide.
var floorExperiment = strings.Replace(experimentYAML("floor", evictOne, "  safety: {minHealthy: 0}\n"), "namespaces: [shop]", "namespaces: [kube-system]", 1)

// Protections are a floor: --exclude-namespaces adds to it, a system
// namespace is lifted only when named (and still needs its opt-in label),
// and chaosnight's own namespace is never a target. Dry runs: the guard's
// rules run against the real API server, nothing is touched.
func TestProtectionFloor(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	before := podUIDs(ctx, t, s.Client())
	defer func() {
		if after := podUIDs(ctx, t, s.Client()); !maps.Equal(before, after) {
			t.Error("pods changed during dry runs")
		}
	}()

	t.Run("--exclude-namespaces=foo does not unprotect kube-system", func(t *testing.T) {
		code, out, rec := runExp(ctx, t, s, floorExperiment, "--dry-run", "--exclude-namespaces=foo")
		if code != ExitAborted || rec.Verdict != journal.Skipped || !strings.Contains(joined(rec), "kube-system is a system namespace") {
			t.Fatalf("exit %d, verdict %s %v\n%s", code, rec.Verdict, rec.Reasons, out)
		}
	})

	t.Run("a lifted system namespace is planned, warned and journaled", func(t *testing.T) {
		code, out, rec := runExp(ctx, t, s, floorExperiment, "--dry-run", "--allow-system-namespaces=kube-system")
		if code != 0 || rec.Verdict != journal.DryRun {
			t.Fatalf("exit %d, verdict %s %v\n%s", code, rec.Verdict, rec.Reasons, out)
		}
		if len(rec.Injections) != 1 || rec.Injections[0].Policy == nil || !slices.Equal(rec.Injections[0].Policy.AllowedSystemNamespaces, []string{"kube-system"}) {
			t.Errorf("the journal does not record the lifted namespace: %+v", rec.Injections)
		}
		for _, want := range []string{"level=WARN msg=\"system namespaces lifted from the protection floor", "lifted from the protection floor by safety.allowSystemNamespaces: kube-system"} {
			if !strings.Contains(out, want) {
				t.Errorf("the output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("a lifted system namespace still needs its opt-in label", func(t *testing.T) {
		nss := s.Client().CoreV1().Namespaces()
		unlabel := []byte(`{"metadata":{"labels":{"` + inject.OptInLabel + `":null}}}`)
		if _, err := nss.Patch(ctx, "kube-system", types.MergePatchType, unlabel, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			relabel := []byte(`{"metadata":{"labels":{"` + inject.OptInLabel + `":"true"}}}`)
			if _, err := nss.Patch(context.Background(), "kube-system", types.MergePatchType, relabel, metav1.PatchOptions{}); err != nil {
				t.Errorf("restoring kube-system's label: %v", err)
			}
		})
		code, out, rec := runExp(ctx, t, s, floorExperiment, "--dry-run", "--allow-system-namespaces=kube-system", "--require-opt-in=false")
		if code != ExitAborted || rec.Verdict != journal.Skipped || !strings.Contains(joined(rec), "kube-system is not opted in") {
			t.Fatalf("exit %d, verdict %s %v\n%s", code, rec.Verdict, rec.Reasons, out)
		}
	})

	t.Run("chaosnight's own namespace is never a target", func(t *testing.T) {
		exp := experimentYAML("own", evictOne, "  safety: {minHealthy: 0}\n")
		code, out, rec := runExp(ctx, t, s, exp, "--dry-run", "--kill-switch-namespace", sandbox.ShopNamespace)
		if code != ExitAborted || rec.Verdict != journal.Skipped || !strings.Contains(joined(rec), "namespace shop is chaosnight's own") {
			t.Fatalf("exit %d, verdict %s %v\n%s", code, rec.Verdict, rec.Reasons, out)
		}
	})

	t.Run("lifting a namespace that is not a system one is refused at start", func(t *testing.T) {
		code, out := cli(ctx, t, "run", "--kubeconfig", s.Kubeconfig, "--dry-run", "--allow-system-namespaces=shop", filepath.Join("..", "..", "experiments", "checkout-pod-kill.yaml"))
		if code != ExitInvalid || !strings.Contains(out, `safety.allowSystemNamespaces (--allow-system-namespaces): "shop" is not a system namespace`) {
			t.Errorf("exit %d: %s", code, out)
		}
	})
}

// Operator limits win over the experiment's when stricter, against the
// real ready counts; the plan and the journal say which side set each.
func TestOperatorLimits(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	before := podUIDs(ctx, t, s.Client())
	defer func() {
		if after := podUIDs(ctx, t, s.Client()); !maps.Equal(before, after) {
			t.Error("pods changed during dry runs")
		}
	}()

	t.Run("a ceiling lower than the experiment's maxTargets", func(t *testing.T) {
		exp := strings.Replace(experimentYAML("ceiling", evictOne, "  safety: {minHealthy: 0, maxTargets: 5}\n"), "pick: {count: 1}", "pick: {count: 3}", 1)
		code, out, rec := runExp(ctx, t, s, exp, "--dry-run", "--max-targets", "1")
		if code != 0 || rec.Verdict != journal.DryRun || len(rec.Injections) != 1 {
			t.Fatalf("exit %d, verdict %s %v\n%s", code, rec.Verdict, rec.Reasons, out)
		}
		inj := rec.Injections[0]
		counts := map[string]int{}
		for _, o := range inj.Outcomes {
			counts[o.Status]++
		}
		if counts[inject.StatusDryRun] != 1 || counts[inject.StatusRefused] != 2 {
			t.Errorf("outcomes %v, want 1 dry-run and 2 refused by maxTargets", counts)
		}
		want := inject.Limits{MaxTargets: 1, MaxTargetsFrom: inject.FromOperator, MinHealthy: 0, MinHealthyFrom: inject.FromExperiment, OperatorMaxTargets: 1}
		if inj.Policy == nil || inj.Policy.Limits != want {
			t.Errorf("journal limits %+v, want %+v", inj.Policy, want)
		}
		if !strings.Contains(out, "limits: maxTargets 1 (operator ceiling safety.maxTargets), minHealthy 0 (experiment)") {
			t.Errorf("the plan does not show the limits:\n%s", out)
		}
	})

	t.Run("a floor higher than the experiment's minHealthy", func(t *testing.T) {
		exp := experimentYAML("floor-limit", evictOne, "  safety: {minHealthy: 1}\n")
		code, out, rec := runExp(ctx, t, s, exp, "--dry-run", "--min-healthy", "3")
		if code != ExitAborted || rec.Verdict != journal.Skipped || !strings.Contains(joined(rec), "has 3 ready pods, minHealthy 3") {
			t.Fatalf("exit %d, verdict %s %v\n%s", code, rec.Verdict, rec.Reasons, out)
		}
		if p := rec.Injections[0].Policy; p == nil || p.MinHealthy != 3 || p.MinHealthyFrom != inject.FromOperator {
			t.Errorf("journal limits %+v", p)
		}
		if !strings.Contains(out, "minHealthy 3 (operator floor safety.minHealthy)") {
			t.Errorf("the summary does not show the limits:\n%s", out)
		}
	})
}
