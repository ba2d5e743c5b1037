package nodedrain_test

// Integration tests against the sandbox control plane: kwok nodes with the
// real kube-scheduler and controller-manager, so a drained node's evicted
// pods are re-created by their ReplicaSet and scheduled onto the nodes
// that remain schedulable. Each test works in its own namespace and
// leaves every node schedulable and unannotated.

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/nodedrain"
	"github.com/chaosnight/chaosnight/pkg/target"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// sandboxNodes is the number of kwok nodes: enough that a drained node's
// pods have several places to go.
const sandboxNodes = 4

var sb *sandbox.Sandbox

func TestMain(m *testing.M) {
	os.Exit(sandbox.RunTests(m, sandbox.Config{Nodes: sandboxNodes}, func(s *sandbox.Sandbox) { sb = s }))
}

// drainEnv is what every integration test needs.
type drainEnv struct {
	admin  kubernetes.Interface // the sandbox's own client, for set-up and assertions
	client kubernetes.Interface // chaosnight's client: protobuf, 100 qps
	ns     string               // the test's namespace, opted in
}

// drainSetup opts every kwok node in, and creates the test's namespace
// (opted in too). Cleanup uncordons every node and removes the drain's
// annotations and the opt-in, whatever the test left.
func drainSetup(t *testing.T) drainEnv {
	t.Helper()
	s := sandbox.Require(t, sb)
	cs, err := target.NewClientset(s.RESTConfig, 100, 200)
	if err != nil {
		t.Fatal(err)
	}
	e := drainEnv{admin: s.Client(), client: cs, ns: drainNamespace(t)}
	ctx := context.Background()
	for i := range sandboxNodes {
		e.patchNode(t, sandbox.NodeName(i), fmt.Sprintf(`{"metadata":{"labels":{%q:"true"}}}`, inject.OptInLabel))
	}
	t.Cleanup(func() {
		for i := range sandboxNodes {
			e.patchNode(t, sandbox.NodeName(i), fmt.Sprintf(`{"metadata":{"labels":{%q:null,%q:null},"annotations":{%q:null,%q:null,%q:null,%q:null}},"spec":{"unschedulable":null}}`,
				inject.OptInLabel, nodedrain.CordonedLabel, nodedrain.CordonedByAnnotation, nodedrain.DeadlineAnnotation, nodedrain.LeaseAnnotation, nodedrain.ExperimentAnnotation))
		}
		_ = e.admin.CoreV1().Namespaces().Delete(context.Background(), e.ns, metav1.DeleteOptions{})
	})
	if _, err := e.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: e.ns, Labels: map[string]string{inject.OptInLabel: "true"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

// drainNamespace is a fresh namespace name for t: a repeated test (-count=3) must not
// meet its previous run's namespace, which may still be terminating.
func drainNamespace(t *testing.T) string {
	name := strings.ToLower(strings.TrimPrefix(t.Name(), "Test"))
	return fmt.Sprintf("drain-%.40s-%x", name, time.Now().UnixNano()&0xffffff)
}

func (e drainEnv) patchNode(t *testing.T, name, patch string) {
	t.Helper()
	if _, err := e.admin.CoreV1().Nodes().Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch node %s: %v", name, err)
	}
}

// deploy creates Deployment app with replicas (and, when pdbMin > 0, a
// PodDisruptionBudget with that minAvailable) and waits until every
// replica is Ready and the budget's status is computed. readyDelay ("" for
// none) is how long its pods take to become Ready (ReadyDelayAnnotation):
// without one kwok replaces an evicted pod in about 0.1 s, and a budget
// that allows one disruption would let a second eviction through a moment
// later, rightly.
func (e drainEnv) deploy(t *testing.T, app string, replicas int32, pdbMin int, readyDelay string) {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{"app": app}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: e.ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: sandbox.PodSpec(app)},
		},
	}
	if readyDelay != "" {
		d.Spec.Template.Annotations = map[string]string{sandbox.ReadyDelayAnnotation: readyDelay}
	}
	sandbox.WaitFor(t, 30*time.Second, "create deployment "+app, func() error {
		_, err := e.admin.AppsV1().Deployments(e.ns).Create(ctx, d, metav1.CreateOptions{})
		return err
	})
	if pdbMin > 0 {
		min := intstr.FromInt(pdbMin)
		if _, err := e.admin.PolicyV1().PodDisruptionBudgets(e.ns).Create(ctx, &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: e.ns},
			Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &min, Selector: &metav1.LabelSelector{MatchLabels: labels}},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sandbox.WaitFor(t, 60*time.Second, "deployment "+app+" ready", func() error {
		ready := e.readyPods(t, app)
		if len(ready) != int(replicas) {
			return fmt.Errorf("%d of %d pods ready", len(ready), replicas)
		}
		if pdbMin == 0 {
			return nil
		}
		pdb, err := e.admin.PolicyV1().PodDisruptionBudgets(e.ns).Get(ctx, app, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pdb.Status.ObservedGeneration < pdb.Generation || pdb.Status.CurrentHealthy != replicas {
			return fmt.Errorf("budget status not computed yet: %+v", pdb.Status)
		}
		return nil
	})
}

// readyPods returns the Ready, non-terminating pods of app: UID -> node.
func (e drainEnv) readyPods(t *testing.T, app string) map[string]string {
	t.Helper()
	list, err := e.admin.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for i := range list.Items {
		p := &list.Items[i]
		if target.IsReady(p) && p.DeletionTimestamp == nil {
			out[string(p.UID)] = p.Spec.NodeName
		}
	}
	return out
}

// busiestNode is the node with the most pods of pods (ties: by name).
func busiestNode(pods map[string]string) string {
	count := map[string]int{}
	for _, n := range pods {
		count[n]++
	}
	best := ""
	for n, c := range count {
		if best == "" || c > count[best] || c == count[best] && n < best {
			best = n
		}
	}
	return best
}

// experimentFor is an experiment of e's namespace whose target is app and
// whose action is a drain of node.
func (e drainEnv) experimentFor(app, node string) *experiment.Experiment {
	spec := &nodedrain.Spec{Nodes: nodedrain.NodeSelection{Selector: "kubernetes.io/hostname=" + node}}
	return &experiment.Experiment{
		Metadata: experiment.Metadata{Name: app + "-survives-drain"},
		Spec: experiment.Spec{
			Target:   experiment.Target{Namespaces: []string{e.ns}, Selector: "app=" + app},
			Duration: experiment.Duration{Duration: time.Minute},
			Action:   experiment.NewAction(nodedrain.Fault{}, spec),
		},
	}
}

// inject runs the engine's select and inject phases: list and filter the
// targets, let the injector pick, then the Guard.
func (e drainEnv) inject(t *testing.T, exp *experiment.Experiment, runID string, minHealthy int) (*nodedrain.Injector, inject.Injection, error) {
	t.Helper()
	ctx := context.Background()
	i, err := nodedrain.Fault{}.Injector(inject.Env{Client: e.client}, exp)
	if err != nil {
		t.Fatal(err)
	}
	in := i.(*nodedrain.Injector)
	pods, _, err := (&target.Selector{Client: e.client}).List(ctx, exp.Spec.Target)
	if err != nil {
		t.Fatal(err)
	}
	eligible, _ := target.Eligible(pods, exp.Spec.Target, time.Now())
	picked, note, err := in.PickTargets(ctx, eligible, target.NewRand(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("picked %d of %d eligible: %s", len(picked), len(eligible), note)
	if len(picked) == 0 {
		t.Fatalf("nothing picked: %s", note)
	}
	g := &inject.Guard{Client: e.client, Policy: inject.Policy{RequireOptIn: true}}
	inj, err := g.Inject(ctx, inject.Request{Run: inject.Run{ID: runID, Experiment: exp.Metadata.Name}, Targets: picked,
		Injector: in, MaxTargets: 10, MinHealthy: minHealthy})
	return in, inj, err
}

func (e drainEnv) node(t *testing.T, name string) *corev1.Node {
	t.Helper()
	n, err := e.admin.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func statuses(inj inject.Injection) []string {
	var out []string
	for _, o := range inj.Outcomes {
		out = append(out, o.Pod.Name+"="+o.Status+" ("+o.Detail+")")
	}
	return out
}

// TestDrainMovesThePodsToTheOtherNodes drains the node with the most web
// pods: it is cordoned with the run's annotations, its web pods are
// evicted, the ReplicaSet's replacements are scheduled onto the other
// nodes only, the web pods elsewhere are untouched, and the revert makes
// the node schedulable again.
func TestDrainMovesThePodsToTheOtherNodes(t *testing.T) {
	e := drainSetup(t)
	const replicas = 6
	e.deploy(t, "web", replicas, 0, "")
	before := e.readyPods(t, "web")
	drained := busiestNode(before)
	var victims, others []string
	for uid, n := range before {
		if n == drained {
			victims = append(victims, uid)
		} else {
			others = append(others, uid)
		}
	}
	t.Logf("draining %s: %d of %d web pods run there", drained, len(victims), replicas)

	in, inj, err := e.inject(t, e.experimentFor("web", drained), "run-move", 1)
	if err != nil {
		t.Fatalf("inject: %v (%v)", err, statuses(inj))
	}
	if len(inj.Outcomes) != len(victims) {
		t.Fatalf("outcomes %v, want one per web pod on %s (%d)", statuses(inj), drained, len(victims))
	}
	for _, o := range inj.Outcomes {
		if o.Status != inject.StatusEvicted || o.Pod.Node != drained {
			t.Errorf("outcome %s=%s on %s (%s), want evicted from %s", o.Pod.Name, o.Status, o.Pod.Node, o.Detail, drained)
		}
	}
	n := e.node(t, drained)
	if !n.Spec.Unschedulable || n.Annotations[nodedrain.CordonedByAnnotation] != "run-move" || n.Annotations[nodedrain.DeadlineAnnotation] == "" ||
		n.Annotations[nodedrain.ExperimentAnnotation] != "web-survives-drain" || n.Labels[nodedrain.CordonedLabel] != "true" {
		t.Fatalf("node %s after the drain: unschedulable %v, annotations %v", drained, n.Spec.Unschedulable, n.Annotations)
	}
	if inj.State[nodedrain.StateCordoned] != drained {
		t.Errorf("state %v", inj.State)
	}

	sandbox.WaitFor(t, 60*time.Second, "replacements Ready on the other nodes", func() error {
		now := e.readyPods(t, "web")
		if len(now) != replicas {
			return fmt.Errorf("%d of %d web pods ready: %v", len(now), replicas, now)
		}
		for uid, node := range now {
			if node == drained {
				return fmt.Errorf("pod %s is on the drained node %s", uid, node)
			}
			if slices.Contains(victims, uid) {
				return fmt.Errorf("evicted pod %s still ready", uid)
			}
		}
		return nil
	})
	// Nothing outside the targets was touched: the web pods of the other
	// nodes are the same pods.
	after := e.readyPods(t, "web")
	for _, uid := range others {
		if _, ok := after[uid]; !ok {
			t.Errorf("web pod %s on node %s (not drained) was replaced", uid, before[uid])
		}
	}
	// Only the drained node is cordoned.
	for i := range sandboxNodes {
		if name := sandbox.NodeName(i); name != drained && e.node(t, name).Spec.Unschedulable {
			t.Errorf("node %s was cordoned too", name)
		}
	}

	if err := in.Revert(context.Background(), inj); err != nil {
		t.Fatal(err)
	}
	n = e.node(t, drained)
	if n.Spec.Unschedulable || n.Annotations[nodedrain.CordonedByAnnotation] != "" || n.Annotations[nodedrain.DeadlineAnnotation] != "" || n.Labels[nodedrain.CordonedLabel] != "" {
		t.Errorf("node %s after revert: unschedulable %v, annotations %v", drained, n.Spec.Unschedulable, n.Annotations)
	}
}

// TestDrainLeavesWhatABudgetProtects drains the node of a workload whose
// PodDisruptionBudget allows no disruption: the node is cordoned (as
// kubectl drain would), the eviction is refused and reported as
// protected-by-pdb, the pod is untouched, and the revert uncordons.
func TestDrainLeavesWhatABudgetProtects(t *testing.T) {
	e := drainSetup(t)
	e.deploy(t, "guarded", 2, 2, "")
	before := e.readyPods(t, "guarded")
	drained := busiestNode(before)

	in, inj, err := e.inject(t, e.experimentFor("guarded", drained), "run-pdb", 0)
	if err != nil {
		t.Fatalf("inject: %v (%v)", err, statuses(inj))
	}
	protected := 0
	for _, o := range inj.Outcomes {
		switch o.Status {
		case inject.StatusProtected:
			protected++
			if !strings.Contains(o.Detail, "PodDisruptionBudget "+e.ns+"/guarded") {
				t.Errorf("protected detail %q does not name the budget", o.Detail)
			}
		case inject.StatusRefused:
		default:
			t.Errorf("outcome %s=%s (%s), want protected-by-pdb", o.Pod.Name, o.Status, o.Detail)
		}
	}
	if protected == 0 {
		t.Fatalf("no eviction refused by the budget: %v", statuses(inj))
	}
	if !e.node(t, drained).Spec.Unschedulable {
		t.Errorf("node %s not cordoned", drained)
	}
	after := e.readyPods(t, "guarded")
	for uid := range before {
		if _, ok := after[uid]; !ok {
			t.Errorf("protected pod %s is gone", uid)
		}
	}
	if err := in.Revert(context.Background(), inj); err != nil {
		t.Fatal(err)
	}
	if e.node(t, drained).Spec.Unschedulable {
		t.Errorf("node %s still cordoned after revert", drained)
	}
}

// TestSweepUncordonsACrashedRunsNodes cordons nodes as a run that then
// dies would (no revert): a sweep keeps them while the run's Lease is
// live and the deadline ahead, and uncordons them once the Lease is gone,
// or once the deadline has passed.
func TestSweepUncordonsACrashedRunsNodes(t *testing.T) {
	e := drainSetup(t)
	ctx := context.Background()
	secs := int32(60)
	now := metav1.NewMicroTime(time.Now())
	if _, err := e.admin.CoordinationV1().Leases(e.ns).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "chaosnight-run-crashed", Namespace: e.ns},
		Spec:       coordinationv1.LeaseSpec{LeaseDurationSeconds: &secs, RenewTime: &now},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	withLease, withDeadline := sandbox.NodeName(0), sandbox.NodeName(1)
	crashed := &nodedrain.Drainer{Client: e.client, Kind: nodedrain.Kind, Hold: time.Hour, Lease: e.ns + "/chaosnight-run-crashed"}
	if _, err := crashed.Drain(ctx, inject.Run{ID: "crashed"}, []string{withLease}, nil); err != nil {
		t.Fatal(err)
	}
	short := &nodedrain.Drainer{Client: e.client, Kind: nodedrain.Kind, Hold: 3 * time.Second}
	if _, err := short.Drain(ctx, inject.Run{ID: "short"}, []string{withDeadline}, nil); err != nil {
		t.Fatal(err)
	}

	rep, err := nodedrain.Sweep(ctx, e.client, nodedrain.SweepConfig{})
	if err != nil || len(rep.Uncordoned) != 0 || rep.Kept != 2 {
		t.Fatalf("sweep with the run alive: %+v, %v; want both nodes kept", rep, err)
	}
	if err := e.admin.CoordinationV1().Leases(e.ns).Delete(ctx, "chaosnight-run-crashed", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	rep, err = nodedrain.Sweep(ctx, e.client, nodedrain.SweepConfig{})
	if err != nil || len(rep.Uncordoned) != 1 || rep.Uncordoned[0].Name != withLease || !strings.Contains(rep.Uncordoned[0].Reason, "does not exist") {
		t.Fatalf("sweep with the lease gone: %+v, %v; want %s uncordoned", rep, err, withLease)
	}
	if n := e.node(t, withLease); n.Spec.Unschedulable || n.Annotations[nodedrain.CordonedByAnnotation] != "" {
		t.Errorf("node %s after the sweep: %v %v", withLease, n.Spec.Unschedulable, n.Annotations)
	}
	if !e.node(t, withDeadline).Spec.Unschedulable {
		t.Fatalf("node %s uncordoned before its deadline", withDeadline)
	}
	sandbox.WaitFor(t, 30*time.Second, "the sweep uncordons after the deadline", func() error {
		rep, err := nodedrain.Sweep(ctx, e.client, nodedrain.SweepConfig{})
		if err != nil {
			return err
		}
		if e.node(t, withDeadline).Spec.Unschedulable {
			return fmt.Errorf("still cordoned (report %+v)", rep)
		}
		return nil
	})
}

// TestDrainEvictsNoMoreThanTheBudgetAllows drains the nodes of two pods
// of a workload whose budget allows one disruption and whose pods take 10 s
// to become Ready: the evictions go out concurrently, and the API server's
// budget accounting lets exactly one through; the other is
// protected-by-pdb.
func TestDrainEvictsNoMoreThanTheBudgetAllows(t *testing.T) {
	e := drainSetup(t)
	e.deploy(t, "pair", 3, 2, "10s")
	pods, _, err := (&target.Selector{Client: e.client}).List(context.Background(),
		experiment.Target{Namespaces: []string{e.ns}, Selector: "app=pair"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) < 2 {
		t.Fatalf("%d pods", len(pods))
	}
	two := pods[:2]
	nodes := []string{two[0].Node}
	if two[1].Node != two[0].Node {
		nodes = append(nodes, two[1].Node)
	}
	d := &nodedrain.Drainer{Client: e.client, Kind: nodedrain.Kind, Hold: time.Minute}
	inj, err := d.Drain(context.Background(), inject.Run{ID: "run-budget"}, nodes, two)
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, o := range inj.Outcomes {
		count[o.Status]++
	}
	if count[inject.StatusEvicted] != 1 || count[inject.StatusProtected] != 1 {
		t.Errorf("outcomes %v, want one evicted and one protected-by-pdb", statuses(inj))
	}
	if err := d.Revert(context.Background(), inj); err != nil {
		t.Fatal(err)
	}
}
