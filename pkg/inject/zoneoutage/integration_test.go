package zoneoutage_test

// Integration tests against the sandbox control plane: four kwok nodes in
// two zones, the real kube-scheduler and controller-manager. Losing a zone
// moves its pods to the other zone; the Guard's limits bound the
// evictions. Each test works in its own namespace and leaves every node
// schedulable, unannotated and without the zone and opt-in labels.

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/nodedrain"
	"github.com/chaosnight/chaosnight/pkg/inject/zoneoutage"
	"github.com/chaosnight/chaosnight/pkg/target"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

const sandboxNodes = 4

var sb *sandbox.Sandbox

func TestMain(m *testing.M) {
	os.Exit(sandbox.RunTests(m, sandbox.Config{Nodes: sandboxNodes}, func(s *sandbox.Sandbox) { sb = s }))
}

// zoneOf is the zone the tests give node i: two nodes per zone.
func zoneOf(i int) string { return []string{"zone-a", "zone-b"}[i/2] }

type zoneEnv struct {
	admin  kubernetes.Interface
	client kubernetes.Interface
	ns     string
	zones  map[string]string // node -> zone
}

// zoneSetup labels every kwok node with its zone and the node opt-in, and
// creates the test's (opted-in) namespace; cleanup undoes all of it.
func zoneSetup(t *testing.T) zoneEnv {
	t.Helper()
	s := sandbox.Require(t, sb)
	cs, err := target.NewClientset(s.RESTConfig, 100, 200)
	if err != nil {
		t.Fatal(err)
	}
	e := zoneEnv{admin: s.Client(), client: cs, ns: zoneNamespace(t), zones: map[string]string{}}
	for i := range sandboxNodes {
		e.zones[sandbox.NodeName(i)] = zoneOf(i)
		e.patchNode(t, sandbox.NodeName(i), fmt.Sprintf(`{"metadata":{"labels":{%q:"true",%q:%q}}}`, inject.OptInLabel, nodedrain.ZoneLabel, zoneOf(i)))
	}
	t.Cleanup(func() {
		for i := range sandboxNodes {
			e.patchNode(t, sandbox.NodeName(i), fmt.Sprintf(`{"metadata":{"labels":{%q:null,%q:null,%q:null},"annotations":{%q:null,%q:null,%q:null,%q:null}},"spec":{"unschedulable":null}}`,
				inject.OptInLabel, nodedrain.ZoneLabel, nodedrain.CordonedLabel, nodedrain.CordonedByAnnotation, nodedrain.DeadlineAnnotation, nodedrain.LeaseAnnotation, nodedrain.ExperimentAnnotation))
		}
		_ = e.admin.CoreV1().Namespaces().Delete(context.Background(), e.ns, metav1.DeleteOptions{})
	})
	if _, err := e.admin.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: e.ns, Labels: map[string]string{inject.OptInLabel: "true"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

// zoneNamespace is a fresh namespace name for t: a repeated test (-count=3) must not
// meet its previous run's namespace, which may still be terminating.
func zoneNamespace(t *testing.T) string {
	name := strings.ToLower(strings.TrimPrefix(t.Name(), "Test"))
	return fmt.Sprintf("zone-%.40s-%x", name, time.Now().UnixNano()&0xffffff)
}

func (e zoneEnv) patchNode(t *testing.T, name, patch string) {
	t.Helper()
	if _, err := e.admin.CoreV1().Nodes().Patch(context.Background(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch node %s: %v", name, err)
	}
}

// deploy creates Deployment app, spread over both zones (a topology
// spread constraint, as a zone-aware workload has), and waits until every
// replica is Ready.
func (e zoneEnv) deploy(t *testing.T, app string, replicas int32) {
	t.Helper()
	labels := map[string]string{"app": app}
	spec := sandbox.PodSpec(app)
	spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
		MaxSkew: 1, TopologyKey: nodedrain.ZoneLabel, WhenUnsatisfiable: corev1.ScheduleAnyway,
		LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
	}}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: e.ns, Labels: labels},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec}},
	}
	sandbox.WaitFor(t, 30*time.Second, "create deployment "+app, func() error {
		_, err := e.admin.AppsV1().Deployments(e.ns).Create(context.Background(), d, metav1.CreateOptions{})
		return err
	})
	sandbox.WaitFor(t, 60*time.Second, "deployment "+app+" ready", func() error {
		if n := len(e.readyPods(t, app)); n != int(replicas) {
			return fmt.Errorf("%d of %d pods ready", n, replicas)
		}
		return nil
	})
}

// readyPods returns the Ready, non-terminating pods of app: UID -> node.
func (e zoneEnv) readyPods(t *testing.T, app string) map[string]string {
	t.Helper()
	list, err := e.admin.CoreV1().Pods(e.ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for i := range list.Items {
		if p := &list.Items[i]; target.IsReady(p) && p.DeletionTimestamp == nil {
			out[string(p.UID)] = p.Spec.NodeName
		}
	}
	return out
}

// inject runs the engine's select and inject phases for a zone outage of
// zone ("" for a random one, seeded) against app.
func (e zoneEnv) inject(t *testing.T, app, zone string, maxTargets int) (*zoneoutage.Injector, inject.Injection, error) {
	t.Helper()
	ctx := context.Background()
	exp := &experiment.Experiment{
		Metadata: experiment.Metadata{Name: app + "-survives-zone-loss"},
		Spec: experiment.Spec{
			Target:   experiment.Target{Namespaces: []string{e.ns}, Selector: "app=" + app},
			Duration: experiment.Duration{Duration: time.Minute},
			Action:   experiment.NewAction(zoneoutage.Fault{}, &zoneoutage.Spec{Zone: zone}),
		},
	}
	i, err := zoneoutage.Fault{}.Injector(inject.Env{Client: e.client}, exp)
	if err != nil {
		t.Fatal(err)
	}
	in := i.(*zoneoutage.Injector)
	pods, _, err := (&target.Selector{Client: e.client}).List(ctx, exp.Spec.Target)
	if err != nil {
		t.Fatal(err)
	}
	eligible, _ := target.Eligible(pods, exp.Spec.Target, time.Now())
	picked, note, err := in.PickTargets(ctx, eligible, target.NewRand(5))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("picked %d of %d eligible: %s", len(picked), len(eligible), note)
	if len(picked) == 0 {
		t.Fatalf("nothing picked: %s", note)
	}
	g := &inject.Guard{Client: e.client, Policy: inject.Policy{RequireOptIn: true}}
	inj, err := g.Inject(ctx, inject.Request{Run: inject.Run{ID: "run-" + e.ns, Experiment: exp.Metadata.Name}, Targets: picked,
		Injector: in, MaxTargets: maxTargets, MinHealthy: 1})
	return in, inj, err
}

func (e zoneEnv) unschedulable(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for name := range e.zones {
		n, err := e.admin.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out[name] = n.Spec.Unschedulable
	}
	return out
}

func statuses(inj inject.Injection) []string {
	var out []string
	for _, o := range inj.Outcomes {
		out = append(out, o.Pod.Name+"="+o.Status+" ("+o.Detail+")")
	}
	return out
}

// TestZoneOutageMovesThePodsToTheOtherZone loses a zone picked at random:
// both its nodes are cordoned, every web pod there is evicted, the
// replacements are scheduled in the other zone only, the pods of the
// other zone are untouched, and the revert uncordons both nodes.
func TestZoneOutageMovesThePodsToTheOtherZone(t *testing.T) {
	e := zoneSetup(t)
	const replicas = 6
	e.deploy(t, "web", replicas)
	before := e.readyPods(t, "web")

	in, inj, err := e.inject(t, "web", "", 10)
	if err != nil {
		t.Fatalf("inject: %v (%v)", err, statuses(inj))
	}
	lost := inj.State[zoneoutage.StateZone]
	if lost != "zone-a" && lost != "zone-b" {
		t.Fatalf("zone lost %q", lost)
	}
	var victims []string
	for uid, node := range before {
		if e.zones[node] == lost {
			victims = append(victims, uid)
		}
	}
	t.Logf("lost %s: %d of %d web pods ran there", lost, len(victims), replicas)
	if len(inj.Outcomes) != len(victims) {
		t.Fatalf("outcomes %v, want one per web pod of %s (%d)", statuses(inj), lost, len(victims))
	}
	for _, o := range inj.Outcomes {
		if o.Status != inject.StatusEvicted || e.zones[o.Pod.Node] != lost {
			t.Errorf("outcome %s=%s on %s (%s), want evicted from zone %s", o.Pod.Name, o.Status, o.Pod.Node, o.Detail, lost)
		}
	}
	for node, cordoned := range e.unschedulable(t) {
		if want := e.zones[node] == lost; cordoned != want {
			t.Errorf("node %s (%s) unschedulable %v, want %v", node, e.zones[node], cordoned, want)
		}
	}

	sandbox.WaitFor(t, 60*time.Second, "replacements Ready in the other zone", func() error {
		now := e.readyPods(t, "web")
		if len(now) != replicas {
			return fmt.Errorf("%d of %d web pods ready", len(now), replicas)
		}
		for uid, node := range now {
			if e.zones[node] == lost {
				return fmt.Errorf("pod %s is on %s in the lost zone %s", uid, node, lost)
			}
		}
		return nil
	})
	after := e.readyPods(t, "web")
	for uid, node := range before {
		if _, still := after[uid]; still == (e.zones[node] == lost) {
			t.Errorf("pod %s on %s (%s): still there %v after losing %s", uid, node, e.zones[node], still, lost)
		}
	}

	if err := in.Revert(context.Background(), inj); err != nil {
		t.Fatal(err)
	}
	for node, cordoned := range e.unschedulable(t) {
		if cordoned {
			t.Errorf("node %s still cordoned after revert", node)
		}
	}
}

// TestZoneOutageEvictsNoMoreThanTheGuardAdmits loses a named zone with
// maxTargets 1: the zone's nodes are cordoned, but only one pod is
// evicted; the Guard refuses the others, which keep running.
func TestZoneOutageEvictsNoMoreThanTheGuardAdmits(t *testing.T) {
	e := zoneSetup(t)
	e.deploy(t, "api", 6)
	before := e.readyPods(t, "api")

	in, inj, err := e.inject(t, "api", "zone-b", 1)
	if err != nil {
		t.Fatalf("inject: %v (%v)", err, statuses(inj))
	}
	evicted, refused := 0, 0
	for _, o := range inj.Outcomes {
		switch o.Status {
		case inject.StatusEvicted:
			evicted++
		case inject.StatusRefused:
			refused++
		default:
			t.Errorf("outcome %s=%s (%s)", o.Pod.Name, o.Status, o.Detail)
		}
		if e.zones[o.Pod.Node] != "zone-b" {
			t.Errorf("target %s is on %s, not in zone-b", o.Pod.Name, o.Pod.Node)
		}
	}
	if evicted != 1 || refused < 1 {
		t.Fatalf("evicted %d, refused %d, want 1 and the rest: %v", evicted, refused, statuses(inj))
	}
	for node, cordoned := range e.unschedulable(t) {
		if want := e.zones[node] == "zone-b"; cordoned != want {
			t.Errorf("node %s unschedulable %v, want %v", node, cordoned, want)
		}
	}
	refusedUIDs := map[string]bool{}
	for _, o := range inj.Outcomes {
		if o.Status == inject.StatusRefused {
			refusedUIDs[o.Pod.UID] = true
		}
	}
	after := e.readyPods(t, "api")
	for uid := range refusedUIDs {
		if _, ok := after[uid]; !ok {
			t.Errorf("refused pod %s (on %s) is gone", uid, before[uid])
		}
	}
	if err := in.Revert(context.Background(), inj); err != nil {
		t.Fatal(err)
	}
	for node, cordoned := range e.unschedulable(t) {
		if cordoned {
			t.Errorf("node %s still cordoned after revert", node)
		}
	}
}
