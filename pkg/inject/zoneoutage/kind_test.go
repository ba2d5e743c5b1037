package zoneoutage_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	apitypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/nodedrain"
	"github.com/chaosnight/chaosnight/pkg/inject/zoneoutage"
	"github.com/chaosnight/chaosnight/pkg/target"
)

func load(t *testing.T, body string) ([]experiment.Experiment, error) {
	t.Helper()
	kinds, err := experiment.NewKinds(zoneoutage.Fault{})
	if err != nil {
		t.Fatal(err)
	}
	doc := `apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata:
  name: web-survives-zone-loss
spec:
  hypothesis:
    probes:
      - name: errors
        query: sum(rate(errors_total[1m]))
        expect: {below: 0.01}
  target:
    namespaces: [shop]
    selector: app=web
  action:
    zoneOutage:` + body + `
  duration: 2m
`
	return experiment.Load(kinds, "zone.yaml", []byte(doc))
}

func TestValidate(t *testing.T) {
	const at = "spec.action.zoneOutage."
	for _, tc := range []struct {
		name, body string
		field, msg string // empty: valid
	}{
		{"empty body: a random zone", " {}", "", ""},
		{"null body", "", "", ""},
		{"zone and narrowing", " {zone: eu-west-1a, nodes: {selector: pool=general}, gracePeriod: 20s}", "", ""},
		{"bad zone", " {zone: 'eu west'}", at + "zone", "invalid zone \"eu west\""},
		{"nodes without selector", " {nodes: {}}", at + "nodes.selector", "required"},
		{"bad selector", " {nodes: {selector: 'a in (('}}", at + "nodes.selector", "invalid node label selector"},
		{"sub-second grace", " {gracePeriod: 200ms}", at + "gracePeriod", "not a whole number of seconds"},
		{"unknown field", " {zones: [a]}", at + "zones", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exps, err := load(t, tc.body)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("problems: %v", err)
				}
				if _, ok := experiment.SpecOf[zoneoutage.Spec](exps[0].Spec.Action); !ok {
					t.Errorf("action spec is %T", exps[0].Spec.Action.Spec)
				}
				return
			}
			var ps experiment.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("err = %v, want experiment.Problems", err)
			}
			if !slices.ContainsFunc(ps, func(p experiment.Problem) bool {
				return p.Field == tc.field && strings.Contains(p.Message, tc.msg) && p.Line > 0
			}) {
				t.Errorf("no located problem at %s containing %q in:\n%v", tc.field, tc.msg, ps)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		spec zoneoutage.Spec
		want string
	}{
		{zoneoutage.Spec{}, "zone outage (a random zone)"},
		{zoneoutage.Spec{Zone: "eu-west-1a"}, "zone outage (zone eu-west-1a)"},
		{zoneoutage.Spec{Zone: "b", Nodes: &zoneoutage.ZoneNodes{Selector: "pool=general"}}, "zone outage (zone b, nodes pool=general)"},
	} {
		if w := (zoneoutage.Fault{}).Describe(&tc.spec); w.Action != tc.want || w.Revert != nodedrain.RevertWords {
			t.Errorf("Describe(%+v) = %+v, want %q", tc.spec, w, tc.want)
		}
	}
}

func TestPickZone(t *testing.T) {
	nodes := []nodedrain.Node{{Name: "a1", Zone: "a"}, {Name: "b1", Zone: "b"}, {Name: "a2", Zone: "a"}, {Name: "x"}, {Name: "c1", Zone: "c"}}
	if z := zoneoutage.Zones(nodes); !slices.Equal(z, []string{"a", "b", "c"}) {
		t.Errorf("zones %v", z)
	}
	zone, got := zoneoutage.PickZone(nodes, "a", target.NewRand(1))
	if zone != "a" || !slices.Equal(nodedrain.Names(got), []string{"a1", "a2"}) {
		t.Errorf("named zone a: %s %v", zone, nodedrain.Names(got))
	}
	if zone, got := zoneoutage.PickZone(nodes, "z", nil); zone != "z" || len(got) != 0 {
		t.Errorf("absent zone: %s %v", zone, got)
	}
	if zone, got := zoneoutage.PickZone([]nodedrain.Node{{Name: "x"}}, "", target.NewRand(1)); zone != "" || len(got) != 0 {
		t.Errorf("no zone labels: %q %v", zone, got)
	}
	// Random: a seed replays its zone, every zone comes up over seeds, and
	// all of the zone's nodes come with it.
	seen := map[string]bool{}
	for seed := range int64(30) {
		z1, n1 := zoneoutage.PickZone(nodes, "", target.NewRand(seed))
		z2, _ := zoneoutage.PickZone(nodes, "", target.NewRand(seed))
		if z1 != z2 {
			t.Fatalf("seed %d picked %s then %s", seed, z1, z2)
		}
		for _, n := range n1 {
			if n.Zone != z1 {
				t.Errorf("zone %s came with node %s of zone %s", z1, n.Name, n.Zone)
			}
		}
		if z1 == "a" && len(n1) != 2 {
			t.Errorf("zone a without both its nodes: %v", nodedrain.Names(n1))
		}
		seen[z1] = true
	}
	if len(seen) != 3 {
		t.Errorf("30 seeds picked only %v", seen)
	}
}

func zoneNode(name, zone string, optIn bool) *corev1.Node {
	l := map[string]string{"pool": "general"}
	if zone != "" {
		l[nodedrain.ZoneLabel] = zone
	}
	if optIn {
		l[inject.OptInLabel] = "true"
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l},
		Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}}
}

func tpod(name, node string) target.Pod {
	return target.Pod{Namespace: "shop", Name: name, UID: "uid-" + name, Node: node}
}

func TestPickTargetsAndInject(t *testing.T) {
	objs := []runtime.Object{zoneNode("a1", "a", true), zoneNode("a2", "a", true), zoneNode("a3", "a", false), zoneNode("b1", "b", true)}
	for _, name := range []string{"p1", "p2", "p3", "q"} {
		objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: apitypes.UID("uid-" + name)}})
	}
	cs := fake.NewClientset(objs...)
	exp := &experiment.Experiment{Spec: experiment.Spec{Duration: experiment.Duration{Duration: time.Minute},
		Action: experiment.NewAction(zoneoutage.Fault{}, &zoneoutage.Spec{Zone: "a"})}}
	i, err := zoneoutage.Fault{}.Injector(inject.Env{Client: cs}, exp)
	if err != nil {
		t.Fatal(err)
	}
	in := i.(*zoneoutage.Injector)
	eligible := []target.Pod{tpod("p1", "a1"), tpod("p2", "a2"), tpod("p3", "a3"), tpod("q", "b1")}
	picked, note, err := in.PickTargets(context.Background(), eligible, target.NewRand(3))
	if err != nil {
		t.Fatal(err)
	}
	if len(picked) != 2 || picked[0].Name != "p1" || picked[1].Name != "p2" || note != "zone a: a1, a2; 2 target pods on them" {
		t.Errorf("picked %v, note %q (a3 is not opted in, b1 is in zone b)", picked, note)
	}
	inj, err := in.Inject(context.Background(), inject.Run{ID: "r1"}, picked)
	if err != nil {
		t.Fatal(err)
	}
	if inj.Kind != zoneoutage.Kind || inj.State[zoneoutage.StateZone] != "a" || inj.State[nodedrain.StateCordoned] != "a1,a2" {
		t.Errorf("injection kind %s state %v", inj.Kind, inj.State)
	}
	for _, n := range []string{"a1", "a2", "a3", "b1"} {
		node, err := cs.CoreV1().Nodes().Get(context.Background(), n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if want := n == "a1" || n == "a2"; node.Spec.Unschedulable != want {
			t.Errorf("node %s unschedulable %v, want %v", n, node.Spec.Unschedulable, want)
		}
	}
	if err := in.Revert(context.Background(), inj); err != nil {
		t.Fatal(err)
	}
	nodes, _ := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	for _, n := range nodes.Items {
		if n.Spec.Unschedulable {
			t.Errorf("node %s still cordoned after revert", n.Name)
		}
	}

	// A named zone without usable nodes says which zones have some.
	none := &zoneoutage.Injector{Drainer: nodedrain.Drainer{Client: cs}, Spec: zoneoutage.Spec{Zone: "c"}}
	picked, note, err = none.PickTargets(context.Background(), eligible, target.NewRand(1))
	if err != nil || len(picked) != 0 || !strings.Contains(note, "no usable node in zone c") || !strings.Contains(note, "zones with usable nodes: a, b") {
		t.Errorf("picked %v note %q err %v", picked, note, err)
	}
}
