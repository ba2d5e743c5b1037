package safety_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/chaosnight/chaosnight/test/safety"
)

// The same seed gives the same case, so a printed seed replays it.
func TestGenerateIsDeterministic(t *testing.T) {
	for seed := uint64(1); seed <= 200; seed++ {
		a, b := safety.Generate(seed), safety.Generate(seed)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d: two cases\n%+v\n%+v", seed, a, b)
		}
		if n := a.Pods(); n > 40 {
			t.Errorf("seed %d: %d pods, a case keeps to 40", seed, n)
		}
	}
	if reflect.DeepEqual(safety.Generate(1), safety.Generate(2)) {
		t.Error("seeds 1 and 2 give the same case")
	}
	// Another prefix renames, and draws the same.
	a, b := safety.Generate(19), safety.GenerateNamed(19, "w19")
	if a.Exp.SelectorString() != b.Exp.SelectorString() || a.Pods() != b.Pods() || a.RunSeed != b.RunSeed || b.Deployments[1].Name != "w19-d1" {
		t.Errorf("GenerateNamed draws another case:\n%+v\n%+v", a, b)
	}
}

// handCase is a case written by hand: shop (opted in) holds web (3
// replicas, PDB minAvailable 2 → 1 disruption) and its look-alike
// web-canary (2); shop-staging (not opted in) holds web again; a bare
// pod solo in shop. The experiment evicts app=web in both namespaces.
func handCase() safety.Case {
	two := 2
	return safety.Case{
		Prefix:     "h",
		Namespaces: []safety.Namespace{{Name: "shop", OptIn: true}, {Name: "shop-staging"}},
		Deployments: []safety.Deployment{
			{Namespace: "shop", Name: "web", Labels: map[string]string{"app": "web"}, Replicas: 3, PDB: &safety.PDB{MinAvailable: &two}},
			{Namespace: "shop", Name: "canary", Labels: map[string]string{"app": "web-canary"}, Replicas: 2},
			{Namespace: "shop-staging", Name: "staging", Labels: map[string]string{"app": "web"}, Replicas: 3},
		},
		Bare: []safety.BarePod{{Namespace: "shop", Name: "solo", Labels: map[string]string{"app": "web"}}},
		Exp: safety.Experiment{Name: "h", Namespaces: []string{"shop", "shop-staging"}, Method: "evict", All: true,
			Selector: []safety.Req{{Key: "app", Op: "=", Values: []string{"web"}}}},
		Op: safety.Operator{RequireOptIn: true},
	}
}

func TestOracleOfAHandWrittenCase(t *testing.T) {
	o := safety.Compute(handCase())
	if !o.May["web"] || o.May["canary"] || o.May["staging"] || o.May["solo"] {
		t.Errorf("may %v, want only web (why not: %v)", o.May, o.Why)
	}
	want := map[string]string{"canary": "not selected", "staging": "not opted in", "solo": "minHealthy"}
	if !reflect.DeepEqual(o.Why, want) {
		t.Errorf("why %v, want %v", o.Why, want)
	}
	// 3 ready, minHealthy 1 leaves 2; the PDB allows 1 at a time (the
	// ready pods are watched for it, not capped by count).
	if o.GroupCap["web"] != 2 || o.PDBAllowed["web"] != 1 || o.PDBDesired["web"] != 2 || o.Selected != 7 || o.PickN != 7 || o.MaxTargets != 10 {
		t.Errorf("cap %v, selected %d, pick %d, maxTargets %d", o.GroupCap, o.Selected, o.PickN, o.MaxTargets)
	}
}

// pods of the hand case as the API server would show them.
func handPods() map[string]safety.PodState {
	out := map[string]safety.PodState{}
	add := func(ns, group string, n int) {
		for i := range n {
			uid := group + "-" + string(rune('a'+i))
			out[uid] = safety.PodState{Namespace: ns, Name: uid, UID: uid, Group: group}
		}
	}
	add("shop", "web", 3)
	add("shop", "canary", 2)
	add("shop-staging", "staging", 3)
	add("shop", "solo", 1)
	return out
}

// observe is a consistent observation in which the run touched uids.
func observe(verdict string, uids ...string) safety.Observation {
	before := handPods()
	after := handPods()
	set := map[string]bool{}
	for _, u := range uids {
		delete(after, u)
		set[u] = true
	}
	return safety.Observation{BeforeDry: before, Before: before, After: after, Journal: set, Events: set, Planned: set,
		PDBRefused: map[string]bool{}, Verdict: verdict, DryVerdict: "dry-run"}
}

// The checker passes what the rules allow and catches every kind of
// violation it is fed: a test that could not fail would prove nothing.
func TestCheckCatchesViolations(t *testing.T) {
	k := handCase()
	o := safety.Compute(k)
	if v := safety.Check(k, o, observe("held", "web-a")); len(v) != 0 {
		t.Fatalf("an allowed run is reported: %v", v)
	}
	if v := safety.Check(k, o, observe("skipped")); len(v) != 0 {
		t.Fatalf("a skipped run that touched nothing is reported: %v", v)
	}
	cases := []struct {
		name string
		ob   func() safety.Observation
		want string
	}{
		{"a look-alike's pod (prefix label)", func() safety.Observation { return observe("held", "canary-a") }, "decoy touched: shop/canary-a"},
		{"a namespace not opted in", func() safety.Observation { return observe("held", "staging-b") }, "decoy touched: shop-staging/staging-b"},
		{"the last ready pod of a bare pod", func() safety.Observation { return observe("held", "solo-a") }, "decoy touched: shop/solo-a (group \"solo\": minHealthy)"},
		{"more than minHealthy allows", func() safety.Observation { return observe("held", "web-a", "web-b", "web-c") }, "3 pods of web touched, at most 2 allowed"},
		{"the PDB's healthy pods dipped", func() safety.Observation {
			ob := observe("held", "web-a", "web-b")
			ob.InitialReady, ob.LeastReady = map[string]int{"web": 3}, map[string]int{"web": 1}
			return ob
		}, "the PodDisruptionBudget of web fell to 1 healthy pods (from 3), it wants 2"},
		{"a workload under minHealthy for a moment", func() safety.Observation {
			ob := observe("held", "web-a", "web-b")
			ob.InitialReady, ob.LeastReady = map[string]int{"web": 3}, map[string]int{"web": 0}
			return ob
		}, "web fell to 0 ready pods (from 3), minHealthy is 1"},
		{"nothing touched but held", func() safety.Observation { return observe("held") }, `nothing was touched but the verdict is "held"`},
		{"touched but skipped", func() safety.Observation { return observe("skipped", "web-a") }, "1 pods touched but the verdict is skipped"},
		{"a pod gone that the journal does not list", func() safety.Observation {
			ob := observe("held", "web-a")
			delete(ob.After, "canary-b")
			return ob
		}, "differ from the pods the API server shows gone"},
		{"a pod newly terminating", func() safety.Observation {
			ob := observe("held", "web-a")
			p := ob.After["staging-a"]
			p.Terminating = true
			ob.After["staging-a"] = p
			return ob
		}, "decoy touched: shop-staging/staging-a"},
		{"an Event missing", func() safety.Observation {
			ob := observe("held", "web-a")
			ob.Events = map[string]bool{}
			return ob
		}, "the ChaosInjected Events [] differ"},
		{"the dry run planned another pod", func() safety.Observation {
			ob := observe("held", "web-a")
			ob.Planned = map[string]bool{"web-b": true}
			return ob
		}, "the dry run planned [shop/web-b], the real run touched [shop/web-a]"},
		{"the dry run changed a pod", func() safety.Observation {
			ob := observe("held", "web-a")
			ob.BeforeDry = handPods()
			ob.BeforeDry["gone-before"] = safety.PodState{UID: "gone-before"}
			return ob
		}, "the dry run changed pods"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := safety.Check(k, o, c.ob())
			if !strings.Contains(strings.Join(v, "\n"), c.want) {
				t.Errorf("violations %q, want one containing %q", v, c.want)
			}
		})
	}

	t.Run("a PDB that allows nothing keeps its pods out", func(t *testing.T) {
		k := handCase()
		three := 3
		k.Deployments[0].PDB = &safety.PDB{MinAvailable: &three}
		o := safety.Compute(k)
		if o.May["web"] || o.Why["web"] != "PodDisruptionBudget allows 0" {
			t.Errorf("may %v, why %v", o.May, o.Why)
		}
		if v := safety.Check(k, o, observe("held", "web-a")); !strings.Contains(strings.Join(v, "\n"), "decoy touched: shop/web-a") {
			t.Errorf("violations %q", v)
		}
	})
	t.Run("maxTargets and pick", func(t *testing.T) {
		k := handCase()
		k.Exp.All, k.Exp.Count, k.Op.MaxTargets = false, 1, 1
		k.Exp.Method = "delete" // no PDB cap: only the run's bounds
		o := safety.Compute(k)
		v := safety.Check(k, o, observe("held", "web-a", "web-b"))
		joined := strings.Join(v, "\n")
		for _, want := range []string{"2 pods touched, maxTargets is 1", "2 pods touched, pick takes 1 of 7 selected"} {
			if !strings.Contains(joined, want) {
				t.Errorf("violations %q, want %q", v, want)
			}
		}
	})
	t.Run("the floor namespace, whatever the operator excludes", func(t *testing.T) {
		k := handCase()
		k.Namespaces[0].Name = "kube-system"
		k.Deployments[0].Namespace, k.Exp.Namespaces = "kube-system", []string{"kube-system"}
		k.Op.Exclude = []string{"kube-system-x"}
		o := safety.Compute(k)
		if o.May["web"] || o.Why["web"] != "protected namespace" {
			t.Errorf("may %v, why %v", o.May, o.Why)
		}
	})
}
