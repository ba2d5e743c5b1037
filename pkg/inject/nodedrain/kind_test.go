package nodedrain_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/nodedrain"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// load reads an experiment whose action is the nodeDrain body given.
func load(t *testing.T, body string) ([]experiment.Experiment, error) {
	t.Helper()
	kinds, err := experiment.NewKinds(nodedrain.Fault{})
	if err != nil {
		t.Fatal(err)
	}
	doc := `apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata:
  name: web-survives-drain
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
    nodeDrain:
` + body + `
  duration: 2m
`
	return experiment.Load(kinds, "drain.yaml", []byte(doc))
}

func TestValidate(t *testing.T) {
	const at = "spec.action.nodeDrain."
	for _, tc := range []struct {
		name, body string
		want       map[string]string // field -> part of the message; empty: valid
	}{
		{"valid", "      nodes: {selector: node-role.kubernetes.io/worker, pick: {count: 2}}\n      gracePeriod: 30s", nil},
		{"valid, pick left out", "      nodes: {selector: zone=a}", nil},
		{"selector missing", "      nodes: {pick: {count: 1}}", map[string]string{at + "nodes.selector": "required (a node label selector"}},
		{"nodes missing", "      gracePeriod: 10s", map[string]string{at + "nodes.selector": "required"}},
		{"selector invalid", "      nodes: {selector: 'role in (('}", map[string]string{at + "nodes.selector": "invalid node label selector"}},
		{"two pick modes", "      nodes: {selector: a=b, pick: {count: 1, all: true}}", map[string]string{at + "nodes.pick": "2 modes set: count, all"}},
		{"count 0", "      nodes: {selector: a=b, pick: {count: 0}}", map[string]string{at + "nodes.pick.count": "must be at least 1"}},
		{"percent 101", "      nodes: {selector: a=b, pick: {percent: 101}}", map[string]string{at + "nodes.pick.percent": "between 1 and 100"}},
		{"sub-second grace", "      nodes: {selector: a=b}\n      gracePeriod: 1500ms", map[string]string{at + "gracePeriod": "not a whole number of seconds"}},
		{"negative grace", "      nodes: {selector: a=b}\n      gracePeriod: -1s", map[string]string{at + "gracePeriod": "must not be negative"}},
		{"unknown field", "      nodes: {selector: a=b, zone: x}", map[string]string{at + "nodes.zone": ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exps, err := load(t, tc.body)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("problems: %v", err)
				}
				if _, ok := experiment.SpecOf[nodedrain.Spec](exps[0].Spec.Action); !ok {
					t.Errorf("action spec is %T", exps[0].Spec.Action.Spec)
				}
				return
			}
			var ps experiment.Problems
			if !errors.As(err, &ps) {
				t.Fatalf("err = %v, want experiment.Problems", err)
			}
			for field, msg := range tc.want {
				found := false
				for _, p := range ps {
					if p.Field == field && strings.Contains(p.Message, msg) && p.Line > 0 {
						found = true
					}
				}
				if !found {
					t.Errorf("no located problem at %s containing %q in:\n%v", field, msg, ps)
				}
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		pick experiment.Pick
		want string
	}{
		{experiment.Pick{}, "node drain (1 node)"},
		{experiment.Pick{Count: ptr(1)}, "node drain (1 node)"},
		{experiment.Pick{Count: ptr(3)}, "node drain (3 nodes)"},
		{experiment.Pick{Percent: ptr(25)}, "node drain (25% of the nodes)"},
		{experiment.Pick{All: true}, "node drain (all nodes)"},
	} {
		w := nodedrain.Fault{}.Describe(&nodedrain.Spec{Nodes: nodedrain.NodeSelection{Selector: "a=b", Pick: tc.pick}})
		if w.Action != tc.want || w.Revert != nodedrain.RevertWords {
			t.Errorf("Describe(%+v) = %+v, want %q", tc.pick, w, tc.want)
		}
	}
}

func TestPickTargets(t *testing.T) {
	cs := fake.NewClientset(
		node("n1", nodeOpts{optIn: true}), node("n2", nodeOpts{optIn: true}),
		node("n3", nodeOpts{}),            // matches, not opted in: never drained
		node("n4", nodeOpts{optIn: true}), // usable, but runs no target: never picked
	)
	exp := &experiment.Experiment{Spec: experiment.Spec{Duration: experiment.Duration{Duration: 2 * time.Minute},
		Action: experiment.NewAction(nodedrain.Fault{}, &nodedrain.Spec{Nodes: nodedrain.NodeSelection{Selector: "role=worker", Pick: experiment.Pick{All: true}}})}}
	inj, err := nodedrain.Fault{}.Injector(inject.Env{Client: cs, Lease: "chaos/l"}, exp)
	if err != nil {
		t.Fatal(err)
	}
	in := inj.(*nodedrain.Injector)
	if in.Hold != 2*time.Minute+nodedrain.RevertMargin || in.Lease != "chaos/l" {
		t.Errorf("drainer %+v", in.Drainer)
	}
	if _, err := in.Inject(context.Background(), inject.Run{ID: "r"}, nil); err == nil {
		t.Error("Inject before PickTargets is not an error")
	}
	eligible := []target.Pod{tpod("a", "n1"), tpod("b", "n2"), tpod("c", "n3")}
	picked, note, err := in.PickTargets(context.Background(), eligible, target.NewRand(1))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range picked {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"a", "b"}) || note != "nodes n1, n2 (2 of 2 usable nodes that run targets); 2 target pods on them" {
		t.Errorf("picked %v, note %q", names, note)
	}

	// Over seeds, "count: 1" always lands on a node that runs a target.
	for seed := range int64(20) {
		one := &nodedrain.Injector{Drainer: nodedrain.Drainer{Client: cs}, Spec: nodedrain.Spec{Nodes: nodedrain.NodeSelection{Selector: "role=worker"}}}
		picked, note, err := one.PickTargets(context.Background(), eligible, target.NewRand(seed))
		if err != nil || len(picked) != 1 || picked[0].Node == "n4" {
			t.Fatalf("seed %d: picked %v (%s), %v", seed, picked, note, err)
		}
	}

	// No usable node runs a target: no pod, and a note that says why.
	none := &nodedrain.Injector{Drainer: nodedrain.Drainer{Client: cs}, Spec: nodedrain.Spec{Nodes: nodedrain.NodeSelection{Selector: "kubernetes.io/hostname=n4"}}}
	picked, note, err = none.PickTargets(context.Background(), eligible, target.NewRand(1))
	if err != nil || len(picked) != 0 || note != `no node to drain: no node matching "kubernetes.io/hostname=n4" with chaosnight.dev/enabled=true, Ready and schedulable runs a target (usable nodes: 1)` {
		t.Errorf("picked %v, note %q, err %v", picked, note, err)
	}
}

func TestAccess(t *testing.T) {
	var got []string
	for _, a := range (nodedrain.Fault{}).Access(nil, "shop") {
		got = append(got, a.String()+"@"+a.Namespace)
	}
	want := []string{"list nodes@", "get nodes@", "patch nodes@", "create pods/eviction@shop"}
	if !slices.Equal(got, want) {
		t.Errorf("access %v, want %v", got, want)
	}
}
