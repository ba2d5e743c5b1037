package target

import (
	"math/rand/v2"
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

func TestImplies(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"app=web,pod-template-hash=7d9", "app=web", true},
		{"app=web", "app=web", true},
		{"app=web", "app", true},
		{"app in (web)", "app in (web,api)", true},
		{"app in (web,api)", "app in (web,api,db)", true},
		{"app in (web,api)", "app=web", false}, // api pods are not app=web
		{"app=web", "app!=db", true},
		{"app=web", "app notin (db,cache)", true},
		{"app=db", "app!=db", false},
		{"!app", "app!=db", true},
		{"app notin (db,cache)", "app!=db", true},
		{"app!=db", "app notin (db,cache)", false},
		{"app", "app=web", false},
		{"app", "app", true},
		{"!app", "!app", true},
		{"app=web", "!app", false},
		{"tier=front", "app=web", false}, // another key says nothing
		{"app=web", "app=web,tier=front", false},
		{"app=web,tier=front", "app=web,tier=front", true},
		{"app=web,tier=front", "tier", true},
		{"replicas>2", "replicas>1", false}, // numeric: not reasoned about
		{"app=web", "", true},               // the empty selector matches everything
	}
	for _, tt := range tests {
		t.Run(tt.a+" => "+tt.b, func(t *testing.T) {
			a, err := labels.Parse(tt.a)
			if err != nil {
				t.Fatal(err)
			}
			b, err := labels.Parse(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if got := Implies(a, b); got != tt.want {
				t.Errorf("Implies(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
			}
		})
	}
	if Implies(nil, labels.Everything()) || Implies(labels.Everything(), nil) {
		t.Error("a nil selector implies nothing and is implied by nothing")
	}
	if Implies(labels.Nothing(), labels.Everything()) {
		t.Error("Nothing() has no requirements to reason about: want false")
	}
}

// TestImpliesIsSound checks the one property that matters for safety on
// random selectors and label sets: when Implies says yes, no label set
// matches a without matching b. (A "no" that could have been "yes" only
// costs a fresh read.)
func TestImpliesIsSound(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 7))
	keys := []string{"app", "tier"}
	vals := []string{"a", "b", "c"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	requirement := func() string {
		k := pick(keys)
		switch rng.IntN(7) {
		case 0:
			return k + "=" + pick(vals)
		case 1:
			return k + "!=" + pick(vals)
		case 2:
			return k + " in (" + pick(vals) + "," + pick(vals) + ")"
		case 3:
			return k + " notin (" + pick(vals) + "," + pick(vals) + ")"
		case 4:
			return k
		case 5:
			return "!" + k
		}
		return k + " in (" + pick(vals) + ")"
	}
	selector := func() labels.Selector {
		s := requirement()
		if rng.IntN(2) == 0 {
			s += "," + requirement()
		}
		sel, err := labels.Parse(s)
		if err != nil {
			t.Fatalf("parse %q: %v", s, err)
		}
		return sel
	}
	// Every label set over the keys and values (absent included).
	var sets []labels.Set
	for _, app := range append([]string{""}, vals...) {
		for _, tier := range append([]string{""}, vals...) {
			s := labels.Set{}
			if app != "" {
				s["app"] = app
			}
			if tier != "" {
				s["tier"] = tier
			}
			sets = append(sets, s)
		}
	}
	yes := 0
	for range 3000 {
		a, b := selector(), selector()
		if !Implies(a, b) {
			continue
		}
		yes++
		for _, s := range sets {
			if a.Matches(s) && !b.Matches(s) {
				t.Fatalf("Implies(%q, %q) but %v matches the first and not the second", a, b, s)
			}
		}
	}
	if yes < 100 {
		t.Fatalf("only %d of 3000 random pairs were implied: the generator does not exercise Implies", yes)
	}
}
