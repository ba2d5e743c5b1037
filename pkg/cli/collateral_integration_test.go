package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// TestRunNodeStressDryRunShowsOptInAndCollateral: `run --dry-run` of a
// node-scope stress refuses the targets on nodes that are not opted in
// (rule nodeOptIn) and lists, in the journal and in the summary, the pods
// of other workloads on the node that would be stressed.
func TestRunNodeStressDryRunShowsOptInAndCollateral(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	c := s.Client()
	checkout, err := c.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=checkout"})
	if err != nil || len(checkout.Items) == 0 {
		t.Fatalf("checkout pods: %v", err)
	}
	sort.Slice(checkout.Items, func(i, j int) bool { return checkout.Items[i].Name < checkout.Items[j].Name })
	optedIn := checkout.Items[0].Spec.NodeName
	setLabel := func(node, value string) {
		patch := `{"metadata":{"labels":{"chaosnight.dev/enabled":` + value + `}}}`
		if _, err := c.CoreV1().Nodes().Patch(context.Background(), node, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		node := sandbox.NodeName(i)
		setLabel(node, map[bool]string{true: `"true"`, false: "null"}[node == optedIn])
		t.Cleanup(func() { setLabel(node, "null") })
	}
	// A neighbour of another namespace on the opted-in node.
	const ns = "cli-collateral"
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Gone before the next test: tests that compare every pod's UID before
	// and after a run must not see this bare pod vanish meanwhile.
	t.Cleanup(func() {
		_ = c.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
		sandbox.WaitFor(t, 60*time.Second, "namespace "+ns+" deleted", func() error {
			_, err := c.CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil
			}
			return fmt.Errorf("still there (%v)", err)
		})
	})
	spec := sandbox.PodSpec("neighbour")
	spec.NodeName = optedIn
	if _, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "neighbour", Namespace: ns}, Spec: spec}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	action := `    stress:
      scope: node
      cpu: {workers: 1, load: 20}`
	exp := strings.Replace(experimentYAML("node-stress-dry", action, "  safety: {minHealthy: 0}\n"), "pick: {count: 1}", "pick: {all: true}", 1)
	code, out, rec := runExp(ctx, t, s, exp, "--dry-run")
	if code != 0 || rec.Verdict != journal.DryRun || len(rec.Injections) != 1 {
		t.Fatalf("exit %d, verdict %s %v, %d injections\n%s", code, rec.Verdict, rec.Reasons, len(rec.Injections), out)
	}
	t.Logf("summary:\n%s", out)
	inj := rec.Injections[0]
	for _, o := range inj.Outcomes {
		want := "nodeOptIn: node " + o.Pod.Node + " is not opted in (label chaosnight.dev/enabled=true is missing)"
		switch {
		case o.Pod.Node == optedIn && o.Status != inject.StatusDryRun:
			t.Errorf("%s on the opted-in node: %s (%s)", o.Pod.Key(), o.Status, o.Detail)
		case o.Pod.Node != optedIn && (o.Status != inject.StatusRefused || o.Detail != want):
			t.Errorf("%s: %s (%s), want refused: %s", o.Pod.Key(), o.Status, o.Detail, want)
		}
	}
	if len(inj.Collateral) != 1 || inj.Collateral[0].Node != optedIn {
		t.Fatalf("collateral %+v, want node %s only", inj.Collateral, optedIn)
	}
	found := false
	for _, p := range inj.Collateral[0].Pods {
		found = found || p.Key() == ns+"/neighbour"
		if p.Namespace == "shop" && strings.HasPrefix(p.Name, "checkout-") && p.Workload == checkout.Items[0].OwnerReferences[0].Kind+" "+checkout.Items[0].OwnerReferences[0].Name {
			t.Errorf("a pod of the workload under test is listed as collateral: %s", p.Key())
		}
	}
	if !found {
		t.Errorf("collateral %+v lacks %s/neighbour", inj.Collateral[0].Pods, ns)
	}
	if want := "collateral (pods of other workloads that would share a stressed node):\n    " + optedIn + ": "; !strings.Contains(out, want) || !strings.Contains(out, ns+"/neighbour") {
		t.Errorf("the summary lacks the collateral (%q):\n%s", want, out)
	}
	if helpers, err := c.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "chaosnight.dev/helper"}); err != nil || len(helpers.Items) != 0 {
		t.Errorf("a dry run created helpers: %v %d", err, len(helpers.Items))
	}
}
