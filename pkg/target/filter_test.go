package target

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

var t0 = time.Date(2026, 7, 1, 22, 0, 0, 0, time.UTC)

func pod(ns, name string, mods ...func(*Pod)) Pod {
	p := Pod{
		Namespace: ns, Name: name, UID: "uid-" + ns + "-" + name,
		Labels:  map[string]string{"app": "checkout"},
		Created: t0.Add(-time.Hour), Phase: "Running", Ready: true,
		Owner: &Owner{Kind: "ReplicaSet", Name: "checkout-7d9", UID: "rs-" + ns},
	}
	for _, m := range mods {
		m(&p)
	}
	return p
}

func keys(pods []Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Key()
	}
	return out
}

func TestEligible(t *testing.T) {
	target := experiment.Target{
		Namespaces: []string{"shop", "cart"},
		Selector:   "app=checkout",
		MinAge:     experiment.Duration{Duration: 5 * time.Minute},
	}
	tests := []struct {
		name   string
		pod    Pod
		target *experiment.Target // nil: target above
		reason string             // "" = eligible
	}{
		{name: "running, ready, old", pod: pod("shop", "a")},
		{name: "not ready is still eligible", pod: pod("shop", "a", func(p *Pod) { p.Ready = false })},
		{name: "second namespace", pod: pod("cart", "a")},
		{name: "exactly minAge", pod: pod("shop", "a", func(p *Pod) { p.Created = t0.Add(-5 * time.Minute) })},
		{name: "other namespace", pod: pod("kube-system", "a"), reason: "namespace kube-system is not a target namespace"},
		{name: "look-alike labels", pod: pod("shop", "a", func(p *Pod) { p.Labels = map[string]string{"app": "checkout-canary"} }),
			reason: `labels do not match selector "app=checkout"`},
		{name: "pending", pod: pod("shop", "a", func(p *Pod) { p.Phase = "Pending" }), reason: "phase Pending, not Running"},
		{name: "terminating", pod: pod("shop", "a", func(p *Pod) { p.Terminating = true }), reason: "terminating"},
		{name: "too young", pod: pod("shop", "a", func(p *Pod) { p.Created = t0.Add(-90 * time.Second) }),
			reason: "younger than minAge 5m0s (age 1m30s)"},
		{name: "no minAge admits a brand new pod", pod: pod("shop", "a", func(p *Pod) { p.Created = t0 }),
			target: &experiment.Target{Namespaces: []string{"shop"}, Selector: "app=checkout"}},
		{name: "empty selector never means every pod", pod: pod("shop", "a"),
			target: &experiment.Target{Namespaces: []string{"shop"}, Selector: ""},
			reason: `invalid label selector: selector "" matches every pod`},
		{name: "unparsable selector", pod: pod("shop", "a"),
			target: &experiment.Target{Namespaces: []string{"shop"}, Selector: "app in (a"},
			reason: "invalid label selector: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := target
			if tc.target != nil {
				tg = *tc.target
			}
			el, ex := Eligible([]Pod{tc.pod}, tg, t0)
			if tc.reason == "" {
				if len(el) != 1 || len(ex) != 0 {
					t.Fatalf("want eligible, got eligible=%v excluded=%+v", keys(el), ex)
				}
				return
			}
			if len(el) != 0 || len(ex) != 1 {
				t.Fatalf("want excluded, got eligible=%v excluded=%+v", keys(el), ex)
			}
			if !strings.HasPrefix(ex[0].Reason, tc.reason) {
				t.Errorf("reason = %q, want prefix %q", ex[0].Reason, tc.reason)
			}
			if ex[0].Pod.UID != tc.pod.UID {
				t.Errorf("exclusion names pod %s, want %s", ex[0].Pod.UID, tc.pod.UID)
			}
		})
	}
}

func TestEligibleKeepsOrder(t *testing.T) {
	in := []Pod{pod("shop", "c"), pod("shop", "x", func(p *Pod) { p.Terminating = true }), pod("shop", "a"), pod("shop", "b")}
	el, ex := Eligible(in, experiment.Target{Namespaces: []string{"shop"}, Selector: "app"}, t0)
	if got, want := keys(el), []string{"shop/c", "shop/a", "shop/b"}; !slices.Equal(got, want) {
		t.Errorf("eligible = %v, want %v", got, want)
	}
	if len(ex) != 1 || ex[0].Pod.Name != "x" {
		t.Errorf("excluded = %+v, want shop/x", ex)
	}
}

func ptr(i int) *int { return &i }

func TestPickCount(t *testing.T) {
	tests := []struct {
		name string
		pick experiment.Pick
		n    int
		want int
	}{
		{"default is one", experiment.Pick{}, 10, 1},
		{"default of nothing", experiment.Pick{}, 0, 0},
		{"count", experiment.Pick{Count: ptr(3)}, 10, 3},
		{"count above len", experiment.Pick{Count: ptr(30)}, 10, 10},
		{"count zero", experiment.Pick{Count: ptr(0)}, 10, 0},
		{"count negative", experiment.Pick{Count: ptr(-1)}, 10, 0},
		{"percent rounds up", experiment.Pick{Percent: ptr(25)}, 10, 3},
		{"percent exact", experiment.Pick{Percent: ptr(50)}, 10, 5},
		{"percent at least one", experiment.Pick{Percent: ptr(1)}, 3, 1},
		{"percent 100", experiment.Pick{Percent: ptr(100)}, 7, 7},
		{"percent above 100", experiment.Pick{Percent: ptr(250)}, 7, 7},
		{"percent zero", experiment.Pick{Percent: ptr(0)}, 7, 0},
		{"percent of nothing", experiment.Pick{Percent: ptr(50)}, 0, 0},
		{"all", experiment.Pick{All: true}, 7, 7},
		{"all of nothing", experiment.Pick{All: true}, 0, 0},
		{"invalid mix: smallest wins", experiment.Pick{All: true, Count: ptr(2), Percent: ptr(50)}, 10, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pods := make([]Pod, tc.n)
			for i := range pods {
				pods[i] = pod("shop", fmt.Sprintf("p%02d", i))
			}
			if got := Pick(pods, tc.pick, false, NewRand(1)); len(got) != tc.want {
				t.Errorf("picked %d, want %d", len(got), tc.want)
			}
		})
	}
}

func TestPickDeterministic(t *testing.T) {
	var pods []Pod
	for i := range 50 {
		pods = append(pods, pod(fmt.Sprintf("ns%d", i%3), fmt.Sprintf("p%02d", i)))
	}
	reversed := slices.Clone(pods)
	slices.Reverse(reversed)
	all := experiment.Pick{All: true}

	a := keys(Pick(pods, experiment.Pick{Count: ptr(5)}, false, NewRand(42)))
	b := keys(Pick(reversed, experiment.Pick{Count: ptr(5)}, false, NewRand(42)))
	if !slices.Equal(a, b) {
		t.Errorf("same seed, different input order: %v vs %v", a, b)
	}
	if c := keys(Pick(pods, experiment.Pick{Count: ptr(5)}, false, NewRand(43))); slices.Equal(a, c) {
		t.Errorf("seeds 42 and 43 picked the same pods %v", a)
	}
	// Every pod is reachable and none is duplicated.
	got := keys(Pick(pods, all, false, NewRand(7)))
	slices.Sort(got)
	want := keys(pods)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("all: got %v, want %v", got, want)
	}
	// A nil rng keeps the sorted order.
	if got := keys(Pick(reversed, experiment.Pick{Count: ptr(2)}, false, nil)); !slices.Equal(got, []string{"ns0/p00", "ns0/p03"}) {
		t.Errorf("nil rng: %v", got)
	}
	// The input is not modified.
	if reversed[0].Name != "p49" {
		t.Errorf("Pick reordered its input")
	}
}

func TestPickSpreadsOverSeeds(t *testing.T) {
	pods := []Pod{pod("shop", "a"), pod("shop", "b"), pod("shop", "c")}
	seen := map[string]int{}
	for seed := range int64(300) {
		seen[Pick(pods, experiment.Pick{}, false, NewRand(seed))[0].Name]++
	}
	for _, n := range []string{"a", "b", "c"} {
		if seen[n] < 50 { // expected ~100 each
			t.Errorf("pod %s picked %d times out of 300: %v", n, seen[n], seen)
		}
	}
}

func TestPickOnePerOwner(t *testing.T) {
	owned := func(uid string) func(*Pod) {
		return func(p *Pod) { p.Owner = &Owner{Kind: "ReplicaSet", Name: uid, UID: uid} }
	}
	orphan := func(p *Pod) { p.Owner = nil }
	pods := []Pod{
		pod("shop", "a1", owned("A")), pod("shop", "a2", owned("A")), pod("shop", "a3", owned("A")),
		pod("shop", "b1", owned("B")), pod("shop", "b2", owned("B")),
		pod("shop", "solo1", orphan), pod("shop", "solo2", orphan),
	}
	tests := []struct {
		name string
		pick experiment.Pick
		want int
	}{
		{"all: one per owner, orphans are their own owner", experiment.Pick{All: true}, 4},
		{"count below owners", experiment.Pick{Count: ptr(2)}, 2},
		{"count above owners", experiment.Pick{Count: ptr(6)}, 4},
		{"percent of pods, capped by owners", experiment.Pick{Percent: ptr(100)}, 4},
	}
	for _, tc := range tests {
		for seed := range int64(20) {
			got := Pick(pods, tc.pick, true, NewRand(seed))
			if len(got) != tc.want {
				t.Fatalf("%s seed %d: picked %v, want %d pods", tc.name, seed, keys(got), tc.want)
			}
			owners := map[string]bool{}
			for _, p := range got {
				if owners[OwnerKey(p)] {
					t.Fatalf("%s seed %d: two pods of owner %s in %v", tc.name, seed, OwnerKey(p), keys(got))
				}
				owners[OwnerKey(p)] = true
			}
		}
	}
}

func TestEligibleNeverPicksChaosnightHelpers(t *testing.T) {
	tgt := experiment.Target{Namespaces: []string{"shop"}, Selector: "app=checkout"}
	helper := Pod{Namespace: "shop", Name: "h", UID: "h", Phase: "Running", Ready: true,
		Labels: map[string]string{"app": "checkout", HelperLabel: "stress"}}
	eligible, excluded := Eligible([]Pod{helper}, tgt, time.Now())
	if len(eligible) != 0 || len(excluded) != 1 || excluded[0].Reason != "a chaosnight helper pod" {
		t.Errorf("helper pod eligible: %+v %+v", eligible, excluded)
	}
}
