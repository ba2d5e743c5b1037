package inject

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	k8stesting "k8s.io/client-go/testing"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/target"
)

var t0 = time.Date(2026, 7, 1, 22, 0, 0, 0, time.UTC)

// recorder is an Injector that records what it was given and reports each
// target with status (default evicted).
type recorder struct {
	calls    [][]string
	status   map[string]string // by pod name; default StatusEvicted
	err      error
	onInject func() // called during Inject, e.g. to cancel the context
}

func (r *recorder) Kind() string { return "podKill" }
func (r *recorder) Inject(_ context.Context, run Run, targets []target.Pod) (Injection, error) {
	var names []string
	inj := Injection{Run: run, Kind: r.Kind(), State: map[string]string{"method": "evict"}}
	for _, p := range targets {
		names = append(names, p.Key())
		st := r.status[p.Name]
		if st == "" {
			st = StatusEvicted
		}
		inj.Outcomes = append(inj.Outcomes, Outcome{Pod: p, Status: st, At: t0})
	}
	r.calls = append(r.calls, names)
	if r.onInject != nil {
		r.onInject()
	}
	return inj, r.err
}
func (r *recorder) Revert(context.Context, Injection) error { return nil }

type killSwitch struct {
	engaged bool
	reason  string
	err     error
	calls   int
}

func (k *killSwitch) Engaged(context.Context) (bool, string, error) {
	k.calls++
	return k.engaged, k.reason, k.err
}

// cluster builds objects for the fake clientset.
type cluster struct{ objs []runtime.Object }

func (c *cluster) ns(name string, optIn bool) *cluster {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if optIn {
		ns.Labels = map[string]string{OptInLabel: "true"}
	}
	c.objs = append(c.objs, ns)
	return c
}

// rs adds a ReplicaSet app=<name> with pods <name>-0..n-1; notReady lists
// the indexes of pods that are not ready.
func (c *cluster) rs(ns, name string, n int, notReady ...int) *cluster {
	uid := types.UID("rs-" + ns + "-" + name)
	c.objs = append(c.objs, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: uid},
		Spec:       appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}},
	})
	for i := range n {
		p := kpod(ns, fmt.Sprintf("%s-%d", name, i), !slices.Contains(notReady, i))
		p.Labels = map[string]string{"app": name}
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: name, UID: uid, Controller: ptr(true)}}
		c.objs = append(c.objs, p)
	}
	return c
}

func (c *cluster) pod(p *corev1.Pod) *cluster { c.objs = append(c.objs, p); return c }

func kpod(ns, name string, ready bool) *corev1.Pod {
	st := corev1.ConditionTrue
	if !ready {
		st = corev1.ConditionFalse
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name),
			CreationTimestamp: metav1.NewTime(t0.Add(-time.Hour))},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

func ptr[T any](v T) *T { return &v }

// targets converts pods of the fake cluster to targets, by "ns/name".
func targets(t *testing.T, c *cluster, keys ...string) []target.Pod {
	t.Helper()
	var out []target.Pod
	for _, k := range keys {
		found := false
		for _, o := range c.objs {
			if p, ok := o.(*corev1.Pod); ok && p.Namespace+"/"+p.Name == k {
				out = append(out, target.FromPod(p))
				found = true
			}
		}
		if !found {
			t.Fatalf("no pod %s in the fixture", k)
		}
	}
	return out
}

func newGuard(c *cluster, p Policy) (*Guard, *fake.Clientset) {
	cs := fake.NewClientset(c.objs...)
	return &Guard{Client: cs, Policy: p, Now: func() time.Time { return t0 }}, cs
}

// summary renders outcomes as "ns/name=status" plus the detail of refusals.
func summary(inj Injection) []string {
	var out []string
	for _, o := range inj.Outcomes {
		s := o.Pod.Key() + "=" + o.Status
		if o.Status == StatusRefused || o.Status == StatusGone || o.Status == StatusDryRun {
			s += " (" + o.Detail + ")"
		}
		out = append(out, s)
	}
	return out
}

func TestGuardRules(t *testing.T) {
	base := func() *cluster {
		return new(cluster).
			ns("shop", true).ns("staging", false).ns("kube-system", true).
			rs("shop", "checkout", 3).rs("shop", "cart", 2).rs("staging", "checkout", 3).rs("kube-system", "dns", 2)
	}
	optIn := Policy{RequireOptIn: true}
	tests := []struct {
		name       string
		cluster    *cluster
		policy     Policy
		req        Request
		targets    []string
		want       []string // summary, in request order
		injected   []string // what the injector got; nil = not called
		refusedErr string   // rule of the RefusedError; "" = no error
	}{
		{
			name: "admitted", policy: optIn,
			req:      Request{MinHealthy: 1},
			targets:  []string{"shop/checkout-0"},
			want:     []string{"shop/checkout-0=evicted"},
			injected: []string{"shop/checkout-0"},
		},
		{
			name: "deny list wins over the opt-in label", policy: optIn,
			targets:    []string{"kube-system/dns-0"},
			want:       []string{"kube-system/dns-0=refused (denyNamespace: namespace kube-system is a system namespace, protected unless safety.allowSystemNamespaces names it)"},
			refusedErr: RuleDenyNamespace,
		},
		{
			name: "the deny list adds to the floor, never replaces it", policy: Policy{DenyNamespaces: []string{"shop"}},
			targets: []string{"shop/checkout-0", "kube-system/dns-0"},
			want: []string{
				"shop/checkout-0=refused (denyNamespace: namespace shop is on the deny list (safety.excludeNamespaces))",
				"kube-system/dns-0=refused (denyNamespace: namespace kube-system is a system namespace, protected unless safety.allowSystemNamespaces names it)",
			},
			refusedErr: RuleDenyNamespace,
		},
		{
			name: "an empty deny list still protects the floor", policy: Policy{DenyNamespaces: []string{}},
			targets:    []string{"kube-system/dns-0"},
			want:       []string{"kube-system/dns-0=refused (denyNamespace: namespace kube-system is a system namespace, protected unless safety.allowSystemNamespaces names it)"},
			refusedErr: RuleDenyNamespace,
		},
		{
			name: "chaosnight's own namespace is on the floor", policy: Policy{OwnNamespaces: []string{"shop"}, AllowSystemNamespaces: []string{"shop"}},
			targets:    []string{"shop/checkout-0"},
			want:       []string{"shop/checkout-0=refused (denyNamespace: namespace shop is chaosnight's own (kill switch, runner), always protected)"},
			refusedErr: RuleDenyNamespace,
		},
		{
			name: "a lifted system namespace may be targeted, opted in", policy: Policy{RequireOptIn: true, AllowSystemNamespaces: []string{"kube-system"}},
			targets:  []string{"kube-system/dns-0"},
			want:     []string{"kube-system/dns-0=evicted"},
			injected: []string{"kube-system/dns-0"},
		},
		{
			name:    "a lifted system namespace needs the opt-in label even when opt-in is off",
			cluster: new(cluster).ns("kube-system", false).ns("staging", false).rs("kube-system", "dns", 2).rs("staging", "checkout", 3),
			policy:  Policy{AllowSystemNamespaces: []string{"kube-system"}},
			targets: []string{"kube-system/dns-0", "staging/checkout-0"},
			want: []string{
				"kube-system/dns-0=refused (optIn: namespace kube-system is not opted in (label chaosnight.dev/enabled=true is missing))",
				"staging/checkout-0=evicted",
			},
			injected: []string{"staging/checkout-0"},
		},
		{
			name: "exclusion wins over lifting", policy: Policy{RequireOptIn: true, AllowSystemNamespaces: []string{"kube-system"}, DenyNamespaces: []string{"kube-system"}},
			targets:    []string{"kube-system/dns-0"},
			want:       []string{"kube-system/dns-0=refused (denyNamespace: namespace kube-system is on the deny list (safety.excludeNamespaces))"},
			refusedErr: RuleDenyNamespace,
		},
		{
			name: "not opted in", policy: optIn,
			targets:    []string{"staging/checkout-0"},
			want:       []string{"staging/checkout-0=refused (optIn: namespace staging is not opted in (label chaosnight.dev/enabled=true is missing))"},
			refusedErr: RuleOptIn,
		},
		{
			name: "opt-in not required", policy: Policy{},
			targets:  []string{"staging/checkout-0"},
			want:     []string{"staging/checkout-0=evicted"},
			injected: []string{"staging/checkout-0"},
		},
		{
			name: "namespace missing", policy: optIn,
			cluster:    new(cluster).pod(kpod("ghost", "p", true)),
			targets:    []string{"ghost/p"},
			want:       []string{"ghost/p=refused (optIn: namespace ghost not found)"},
			refusedErr: RuleOptIn,
		},
		{
			name: "maxTargets: the first ones pass, refused targets do not count", policy: optIn,
			req:     Request{MaxTargets: 2},
			targets: []string{"staging/checkout-0", "shop/checkout-0", "shop/cart-0", "shop/checkout-1"},
			want: []string{
				"staging/checkout-0=refused (optIn: namespace staging is not opted in (label chaosnight.dev/enabled=true is missing))",
				"shop/checkout-0=evicted", "shop/cart-0=evicted",
				"shop/checkout-1=refused (maxTargets: the limit of maxTargets 2 (experiment) is reached)",
			},
			injected: []string{"shop/checkout-0", "shop/cart-0"},
		},
		{
			name: "stricter maxTargets: policy", policy: Policy{MaxTargets: 1},
			req:      Request{MaxTargets: 5},
			targets:  []string{"shop/checkout-0", "shop/cart-0"},
			want:     []string{"shop/checkout-0=evicted", "shop/cart-0=refused (maxTargets: the limit of maxTargets 1 (operator) is reached)"},
			injected: []string{"shop/checkout-0"},
		},
		{
			name:     "no maxTargets anywhere: the experiment default (10)",
			targets:  []string{"shop/checkout-0", "shop/checkout-1", "shop/checkout-2", "shop/cart-0", "shop/cart-1"},
			want:     []string{"shop/checkout-0=evicted", "shop/checkout-1=evicted", "shop/checkout-2=evicted", "shop/cart-0=evicted", "shop/cart-1=evicted"},
			injected: []string{"shop/checkout-0", "shop/checkout-1", "shop/checkout-2", "shop/cart-0", "shop/cart-1"},
		},
		{
			name: "minHealthy: at most ready-minHealthy per owner", policy: optIn,
			req:     Request{MinHealthy: 2},
			targets: []string{"shop/checkout-0", "shop/checkout-1", "shop/cart-0"},
			want: []string{
				"shop/checkout-0=evicted",
				"shop/checkout-1=refused (minHealthy: ReplicaSet shop/checkout has 3 ready pods, minHealthy 2 (1 pod already admitted in this injection))",
				"shop/cart-0=refused (minHealthy: ReplicaSet shop/cart has 2 ready pods, minHealthy 2)",
			},
			injected: []string{"shop/checkout-0"},
		},
		{
			name: "stricter minHealthy: policy", policy: Policy{MinHealthy: 3},
			req:        Request{MinHealthy: 1},
			targets:    []string{"shop/checkout-0"},
			want:       []string{"shop/checkout-0=refused (minHealthy: ReplicaSet shop/checkout has 3 ready pods, minHealthy 3)"},
			refusedErr: RuleMinHealthy,
		},
		{
			name:     "minHealthy: a pod that is not ready does not count and may go",
			cluster:  new(cluster).ns("shop", true).rs("shop", "checkout", 3, 2),
			req:      Request{MinHealthy: 2},
			targets:  []string{"shop/checkout-2", "shop/checkout-0"},
			want:     []string{"shop/checkout-2=evicted", "shop/checkout-0=refused (minHealthy: ReplicaSet shop/checkout has 2 ready pods, minHealthy 2)"},
			injected: []string{"shop/checkout-2"},
		},
		{
			name: "minHealthy: look-alike pods of another owner are not counted",
			cluster: new(cluster).ns("shop", true).rs("shop", "checkout", 2).pod(func() *corev1.Pod {
				p := kpod("shop", "checkout-impostor", true) // same labels, no controller
				p.Labels = map[string]string{"app": "checkout"}
				return p
			}()),
			req:        Request{MinHealthy: 2},
			targets:    []string{"shop/checkout-0"},
			want:       []string{"shop/checkout-0=refused (minHealthy: ReplicaSet shop/checkout has 2 ready pods, minHealthy 2)"},
			refusedErr: RuleMinHealthy,
		},
		{
			name:       "minHealthy: a pod without controller is its own workload",
			cluster:    new(cluster).ns("shop", true).pod(kpod("shop", "solo", true)),
			req:        Request{MinHealthy: 1},
			targets:    []string{"shop/solo"},
			want:       []string{"shop/solo=refused (minHealthy: Pod shop/solo has 1 ready pod, minHealthy 1)"},
			refusedErr: RuleMinHealthy,
		},
		{
			name:     "minHealthy 0 admits a pod without controller",
			cluster:  new(cluster).ns("shop", true).pod(kpod("shop", "solo", true)),
			targets:  []string{"shop/solo"},
			want:     []string{"shop/solo=evicted"},
			injected: []string{"shop/solo"},
		},
		{
			name: "dry run: reported, never injected", policy: Policy{RequireOptIn: true, DryRun: true},
			req:     Request{MinHealthy: 2, Action: "pod kill (evict)"},
			targets: []string{"shop/checkout-0", "shop/checkout-1", "staging/checkout-0"},
			want: []string{
				"shop/checkout-0=dry-run (dry run: would inject pod kill (evict))",
				"shop/checkout-1=refused (minHealthy: ReplicaSet shop/checkout has 3 ready pods, minHealthy 2 (1 pod already admitted in this injection))",
				"staging/checkout-0=refused (optIn: namespace staging is not opted in (label chaosnight.dev/enabled=true is missing))",
			},
		},
		{
			name: "dry run with everything refused is still a refusal", policy: Policy{RequireOptIn: true, DryRun: true},
			targets:    []string{"staging/checkout-0"},
			want:       []string{"staging/checkout-0=refused (optIn: namespace staging is not opted in (label chaosnight.dev/enabled=true is missing))"},
			refusedErr: RuleOptIn,
		},
		{
			name:    "no targets: nothing to do, no error",
			targets: nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cluster
			if c == nil {
				c = base()
			}
			g, cs := newGuard(c, tc.policy)
			rec := &recorder{}
			req := tc.req
			req.Run = Run{ID: "run-1", Experiment: "exp"}
			req.Injector = rec
			req.Targets = targets(t, c, tc.targets...)
			inj, err := g.Inject(context.Background(), req)

			if got := summary(inj); !slices.Equal(got, tc.want) {
				t.Errorf("outcomes:\n got %q\nwant %q", got, tc.want)
			}
			switch {
			case tc.injected == nil && len(rec.calls) > 0:
				t.Errorf("injector called with %v, want not called", rec.calls)
			case tc.injected != nil && (len(rec.calls) != 1 || !slices.Equal(rec.calls[0], tc.injected)):
				t.Errorf("injector calls = %v, want one call with %v", rec.calls, tc.injected)
			}
			var re *RefusedError
			if tc.refusedErr == "" {
				if err != nil {
					t.Errorf("err = %v, want nil", err)
				}
			} else if !errors.As(err, &re) || re.Rule != tc.refusedErr {
				t.Errorf("err = %v, want RefusedError with rule %s", err, tc.refusedErr)
			}
			// Events: exactly one per touched victim, on that pod.
			evs, _ := cs.CoreV1().Events(metav1.NamespaceAll).List(context.Background(), metav1.ListOptions{})
			var evPods []string
			for _, e := range evs.Items {
				evPods = append(evPods, e.InvolvedObject.Namespace+"/"+e.InvolvedObject.Name)
			}
			var touched []string
			for _, o := range inj.Outcomes {
				if Touched(o.Status) {
					touched = append(touched, o.Pod.Key())
				}
			}
			slices.Sort(evPods)
			slices.Sort(touched)
			if !slices.Equal(evPods, touched) {
				t.Errorf("events on %v, want on %v", evPods, touched)
			}
		})
	}
}

func TestGuardKillSwitch(t *testing.T) {
	c := new(cluster).ns("shop", true).rs("shop", "checkout", 3)
	tests := []struct {
		name   string
		ks     *killSwitch
		detail string
	}{
		{"engaged", &killSwitch{engaged: true, reason: "set by alice: incident 4711"}, "killSwitch: engaged: set by alice: incident 4711"},
		{"engaged without reason", &killSwitch{engaged: true}, "killSwitch: engaged: no reason given"},
		{"unreadable is never go", &killSwitch{err: errors.New("configmaps is forbidden")},
			"killSwitch: cannot read the kill switch, so nothing is injected: configmaps is forbidden"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, cs := newGuard(c, Policy{RequireOptIn: true})
			g.KillSwitch = tc.ks
			rec := &recorder{}
			inj, err := g.Inject(context.Background(), Request{Run: Run{ID: "r"}, Injector: rec, Targets: targets(t, c, "shop/checkout-0", "shop/checkout-1")})
			var re *RefusedError
			if !errors.As(err, &re) || re.Rule != RuleKillSwitch || re.Detail != tc.detail || re.Refused != 2 {
				t.Fatalf("err = %#v, want RefusedError{killSwitch, %q, 2}", err, tc.detail)
			}
			for _, o := range inj.Outcomes {
				if o.Status != StatusRefused || o.Detail != tc.detail {
					t.Errorf("outcome %+v, want refused %q", o, tc.detail)
				}
			}
			if len(rec.calls) != 0 {
				t.Errorf("injector called")
			}
			// The kill switch comes first: not even a namespace was read.
			for _, a := range cs.Actions() {
				t.Errorf("API call %s %s while the kill switch said no", a.GetVerb(), a.GetResource().Resource)
			}
		})
	}
	t.Run("no targets still reports the engaged switch", func(t *testing.T) {
		g, _ := newGuard(c, Policy{})
		g.KillSwitch = &killSwitch{engaged: true, reason: "night over"}
		_, err := g.Inject(context.Background(), Request{Injector: &recorder{}})
		var re *RefusedError
		if !errors.As(err, &re) || re.Rule != RuleKillSwitch {
			t.Errorf("err = %v, want kill switch refusal", err)
		}
	})
	t.Run("checked again right before injecting", func(t *testing.T) {
		g, _ := newGuard(c, Policy{})
		ks := &killSwitch{}
		g.KillSwitch = ks
		rec := &recorder{}
		if _, err := g.Inject(context.Background(), Request{Injector: rec, Targets: targets(t, c, "shop/checkout-0")}); err != nil {
			t.Fatal(err)
		}
		if ks.calls != 2 || len(rec.calls) != 1 {
			t.Errorf("kill switch read %d times, injector called %d times; want 2 and 1", ks.calls, len(rec.calls))
		}
	})
}

func TestGuardSanity(t *testing.T) {
	c := new(cluster).ns("shop", true).rs("shop", "checkout", 3)
	g, _ := newGuard(c, Policy{})
	ts := targets(t, c, "shop/checkout-0", "shop/checkout-0", "shop/checkout-1")
	ts[2].UID = ""
	rec := &recorder{}
	inj, err := g.Inject(context.Background(), Request{Injector: rec, Targets: ts})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"shop/checkout-0=evicted",
		"shop/checkout-0=refused (duplicate: shop/checkout-0 is already a target of this injection)",
		`shop/checkout-1=refused (invalid: target "shop/checkout-1" has no namespace, name or UID)`,
	}
	if got := summary(inj); !slices.Equal(got, want) {
		t.Errorf("outcomes:\n got %q\nwant %q", got, want)
	}
}

func TestGuardOptInReadsEachNamespaceOnce(t *testing.T) {
	c := new(cluster).ns("shop", true).ns("cart", true).rs("shop", "checkout", 3).rs("cart", "cart", 3)
	g, cs := newGuard(c, Policy{RequireOptIn: true})
	_, err := g.Inject(context.Background(), Request{Injector: &recorder{},
		Targets: targets(t, c, "shop/checkout-0", "cart/cart-0", "shop/checkout-1", "cart/cart-1")})
	if err != nil {
		t.Fatal(err)
	}
	gets := map[string]int{}
	for _, a := range cs.Actions() {
		if a.GetVerb() == "get" && a.GetResource().Resource == "namespaces" {
			gets[a.(k8stesting.GetAction).GetName()]++
		}
	}
	if gets["shop"] != 1 || gets["cart"] != 1 || len(gets) != 2 {
		t.Errorf("namespace GETs = %v, want one each for shop and cart", gets)
	}
}

func TestGuardUnknownIsNeverGo(t *testing.T) {
	forbidden := func(resource string) k8stesting.ReactionFunc {
		return func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "x", errors.New("rbac"))
		}
	}
	tests := []struct {
		name, verb, resource, want string
		minHealthy                 int
	}{
		{"namespace unreadable", "get", "namespaces", "optIn: cannot read namespace shop: ", 0},
		{"owner unreadable", "get", "replicasets", "minHealthy: cannot count the ready pods of ReplicaSet shop/checkout, so nothing of it is touched: get ReplicaSet shop/checkout: ", 1},
		{"pods unreadable", "list", "pods", "minHealthy: cannot count the ready pods of ReplicaSet shop/checkout, so nothing of it is touched: list pods in namespace shop: ", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := new(cluster).ns("shop", true).rs("shop", "checkout", 3)
			g, cs := newGuard(c, Policy{RequireOptIn: true})
			cs.PrependReactor(tc.verb, tc.resource, forbidden(tc.resource))
			rec := &recorder{}
			inj, err := g.Inject(context.Background(), Request{Injector: rec, MinHealthy: tc.minHealthy, Targets: targets(t, c, "shop/checkout-0")})
			var re *RefusedError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want RefusedError", err)
			}
			if o := inj.Outcomes[0]; o.Status != StatusRefused || !strings.HasPrefix(o.Detail, tc.want) {
				t.Errorf("outcome %s %q, want refused %q...", o.Status, o.Detail, tc.want)
			}
			if len(rec.calls) != 0 {
				t.Error("injector called")
			}
		})
	}
}

func TestGuardFreshRead(t *testing.T) {
	c := new(cluster).ns("shop", true).rs("shop", "checkout", 3)
	ts := targets(t, c, "shop/checkout-0", "shop/checkout-1", "shop/checkout-2")
	g, cs := newGuard(c, Policy{})
	ctx := context.Background()
	// Since selection: checkout-0 was replaced (same name, new UID),
	// checkout-1 started terminating, checkout-2 became unready.
	if err := cs.CoreV1().Pods("shop").Delete(ctx, "checkout-0", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	replacement := kpod("shop", "checkout-0", true)
	replacement.UID = "new-uid"
	replacement.Labels = map[string]string{"app": "checkout"}
	replacement.OwnerReferences = c.objs[2].(*corev1.Pod).OwnerReferences
	if _, err := cs.CoreV1().Pods("shop").Create(ctx, replacement, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p1, _ := cs.CoreV1().Pods("shop").Get(ctx, "checkout-1", metav1.GetOptions{})
	p1.DeletionTimestamp = ptr(metav1.NewTime(t0))
	p2, _ := cs.CoreV1().Pods("shop").Get(ctx, "checkout-2", metav1.GetOptions{})
	p2.Status.Conditions[0].Status = corev1.ConditionFalse
	for _, p := range []*corev1.Pod{p1, p2} {
		if _, err := cs.CoreV1().Pods("shop").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rec := &recorder{}
	inj, err := g.Inject(ctx, Request{Injector: rec, MinHealthy: 1, Targets: ts})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"shop/checkout-0=gone (the pod no longer exists (deleted, or replaced by a pod with another UID))",
		"shop/checkout-1=gone (the pod is already terminating)",
		"shop/checkout-2=evicted", // not ready any more: its loss costs no ready replica
	}
	if got := summary(inj); !slices.Equal(got, want) {
		t.Errorf("outcomes:\n got %q\nwant %q", got, want)
	}
}

func TestGuardMergesInjectorResults(t *testing.T) {
	c := new(cluster).ns("shop", true).rs("shop", "checkout", 4)
	g, cs := newGuard(c, Policy{})
	rec := &recorder{status: map[string]string{"checkout-1": StatusProtected, "checkout-2": StatusFailed}, err: errors.New("boom")}
	inj, err := g.Inject(context.Background(), Request{
		Run: Run{ID: "run-42", Experiment: "checkout-survives"}, Action: "evict", Injector: rec, MinHealthy: 1,
		Targets: targets(t, c, "shop/checkout-0", "shop/checkout-1", "shop/checkout-2"),
	})
	if err == nil || err.Error() != "podKill injection: boom" {
		t.Errorf("err = %v, want the wrapped injector error", err)
	}
	var re *RefusedError
	if errors.As(err, &re) {
		t.Error("an injector error is not a refusal")
	}
	if inj.Kind != "podKill" || inj.State["method"] != "evict" || !inj.At.Equal(t0) {
		t.Errorf("injection header = %+v", inj)
	}
	if got, want := summary(inj), []string{"shop/checkout-0=evicted", "shop/checkout-1=protected-by-pdb", "shop/checkout-2=failed"}; !slices.Equal(got, want) {
		t.Errorf("outcomes %q, want %q", got, want)
	}
	evs, _ := cs.CoreV1().Events("shop").List(context.Background(), metav1.ListOptions{})
	if len(evs.Items) != 1 {
		t.Fatalf("%d events, want 1 (only the evicted pod was touched)", len(evs.Items))
	}
	e := evs.Items[0]
	if e.InvolvedObject.Name != "checkout-0" || e.InvolvedObject.UID != "uid-shop-checkout-0" || e.InvolvedObject.Kind != "Pod" ||
		e.Type != corev1.EventTypeWarning || e.Reason != ReasonInjected || e.Source.Component != DefaultComponent ||
		e.Message != `chaosnight experiment "checkout-survives", run run-42: evict (evicted)` ||
		e.Labels[RunLabel] != "run-42" || e.Annotations[ExperimentAnnotation] != "checkout-survives" {
		t.Errorf("event = %+v", e)
	}
}

func TestGuardOwnerKinds(t *testing.T) {
	// A StatefulSet owner is read through its own API and its selector
	// narrows the LIST; an unknown kind (here an Argo Rollout) falls back to
	// listing the namespace and matching pods by controller UID.
	c := new(cluster).ns("shop", true)
	c.objs = append(c.objs, &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db", UID: "sts-uid"},
		Spec:       appsv1.StatefulSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}},
	})
	own := func(p *corev1.Pod, kind, name, uid, app string) *corev1.Pod {
		p.Labels = map[string]string{"app": app}
		p.OwnerReferences = []metav1.OwnerReference{{Kind: kind, Name: name, UID: types.UID(uid), Controller: ptr(true)}}
		return p
	}
	c.pod(own(kpod("shop", "db-0", true), "StatefulSet", "db", "sts-uid", "db")).
		pod(own(kpod("shop", "db-1", true), "StatefulSet", "db", "sts-uid", "db")).
		pod(own(kpod("shop", "web-0", true), "Rollout", "web", "rollout-uid", "web")).
		pod(own(kpod("shop", "web-1", true), "Rollout", "web", "rollout-uid", "web")).
		pod(own(kpod("shop", "web-2", true), "Rollout", "web", "rollout-uid", "web"))
	g, cs := newGuard(c, Policy{})
	rec := &recorder{}
	inj, err := g.Inject(context.Background(), Request{Injector: rec, MinHealthy: 2, Targets: targets(t, c, "shop/db-0", "shop/web-0")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"shop/db-0=refused (minHealthy: StatefulSet shop/db has 2 ready pods, minHealthy 2)",
		"shop/web-0=evicted",
	}
	if got := summary(inj); !slices.Equal(got, want) {
		t.Errorf("outcomes:\n got %q\nwant %q", got, want)
	}
	var lists []string
	for _, a := range cs.Actions() {
		if l, ok := a.(k8stesting.ListAction); ok && a.GetResource().Resource == "pods" {
			lists = append(lists, l.GetListRestrictions().Labels.String())
		}
	}
	slices.Sort(lists)
	if !slices.Equal(lists, []string{"", "app=db"}) {
		t.Errorf("pod LISTs with selectors %q, want the StatefulSet's and one namespace-wide", lists)
	}
}

func TestGuardRecordsEventsAfterCancel(t *testing.T) {
	// SIGTERM arrives while the pods are being killed: the kills happened,
	// so their Events must still be written.
	c := new(cluster).ns("shop", true).rs("shop", "checkout", 3)
	g, cs := newGuard(c, Policy{})
	g.Client = ctxClient{cs} // the fake ignores contexts; real clients do not
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rec := &recorder{onInject: cancel}
	inj, err := g.Inject(ctx, Request{Run: Run{ID: "r"}, Injector: rec, Targets: targets(t, c, "shop/checkout-0", "shop/checkout-1")})
	if err != nil || len(inj.Outcomes) != 2 {
		t.Fatalf("err = %v, outcomes %q", err, summary(inj))
	}
	evs, _ := cs.CoreV1().Events("shop").List(context.Background(), metav1.ListOptions{})
	if len(evs.Items) != 2 {
		t.Errorf("%d events, want 2", len(evs.Items))
	}
}

// ctxClient is a fake clientset whose Events().Create fails on a done
// context, as a real client's request does.
type ctxClient struct{ *fake.Clientset }

func (c ctxClient) CoreV1() corev1client.CoreV1Interface { return ctxCore{c.Clientset.CoreV1()} }

type ctxCore struct{ corev1client.CoreV1Interface }

func (c ctxCore) Events(ns string) corev1client.EventInterface {
	return ctxEvents{c.CoreV1Interface.Events(ns)}
}

type ctxEvents struct{ corev1client.EventInterface }

func (e ctxEvents) Create(ctx context.Context, ev *corev1.Event, opts metav1.CreateOptions) (*corev1.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return e.EventInterface.Create(ctx, ev, opts)
}

// The operator's ceiling and floor win when they are stricter, and the
// record says which side each effective value came from.
func TestEffectiveLimits(t *testing.T) {
	tests := []struct {
		name           string
		policy         Policy
		reqMax, reqMin int
		want           Limits
		wantString     string
	}{
		{"experiment only", Policy{}, 5, 2,
			Limits{MaxTargets: 5, MaxTargetsFrom: FromExperiment, MinHealthy: 2, MinHealthyFrom: FromExperiment},
			"maxTargets 5 (experiment), minHealthy 2 (experiment)"},
		{"operator ceiling is lower", Policy{MaxTargets: 3}, 5, 2,
			Limits{MaxTargets: 3, MaxTargetsFrom: FromOperator, MinHealthy: 2, MinHealthyFrom: FromExperiment, OperatorMaxTargets: 3},
			"maxTargets 3 (operator ceiling safety.maxTargets), minHealthy 2 (experiment)"},
		{"operator ceiling is higher: the experiment's stands", Policy{MaxTargets: 10}, 5, 0,
			Limits{MaxTargets: 5, MaxTargetsFrom: FromExperiment, MinHealthyFrom: FromExperiment, OperatorMaxTargets: 10},
			"maxTargets 5 (experiment), minHealthy 0 (experiment)"},
		{"equal: the experiment is named", Policy{MaxTargets: 5, MinHealthy: 2}, 5, 2,
			Limits{MaxTargets: 5, MaxTargetsFrom: FromExperiment, MinHealthy: 2, MinHealthyFrom: FromExperiment, OperatorMaxTargets: 5, OperatorMinHealthy: 2},
			"maxTargets 5 (experiment), minHealthy 2 (experiment)"},
		{"operator floor is higher", Policy{MinHealthy: 3}, 5, 1,
			Limits{MaxTargets: 5, MaxTargetsFrom: FromExperiment, MinHealthy: 3, MinHealthyFrom: FromOperator, OperatorMinHealthy: 3},
			"maxTargets 5 (experiment), minHealthy 3 (operator floor safety.minHealthy)"},
		{"operator floor is lower: the experiment's stands", Policy{MinHealthy: 1}, 5, 2,
			Limits{MaxTargets: 5, MaxTargetsFrom: FromExperiment, MinHealthy: 2, MinHealthyFrom: FromExperiment, OperatorMinHealthy: 1},
			"maxTargets 5 (experiment), minHealthy 2 (experiment)"},
		{"neither sets maxTargets: the default", Policy{}, 0, 0,
			Limits{MaxTargets: experiment.DefaultMaxTargets, MaxTargetsFrom: FromDefault, MinHealthyFrom: FromExperiment},
			"maxTargets 10 (default), minHealthy 0 (experiment)"},
		{"only the operator sets maxTargets", Policy{MaxTargets: 4}, 0, 0,
			Limits{MaxTargets: 4, MaxTargetsFrom: FromOperator, MinHealthyFrom: FromExperiment, OperatorMaxTargets: 4},
			"maxTargets 4 (operator ceiling safety.maxTargets), minHealthy 0 (experiment)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.policy.EffectiveLimits(tt.reqMax, tt.reqMin)
			if got != tt.want {
				t.Errorf("EffectiveLimits = %+v, want %+v", got, tt.want)
			}
			if s := got.String(); s != tt.wantString {
				t.Errorf("String = %q, want %q", s, tt.wantString)
			}
		})
	}
}

// The protected namespaces are the union of the floor and the deny list;
// only system namespaces can be lifted, and exclusion wins over lifting.
func TestPolicyProtected(t *testing.T) {
	tests := []struct {
		name       string
		policy     Policy
		want       map[string]string
		wantLifted []string
	}{
		{"the floor alone", Policy{},
			map[string]string{"kube-system": "system", "kube-public": "system", "kube-node-lease": "system"}, nil},
		{"the deny list adds", Policy{DenyNamespaces: []string{"payments"}, OwnNamespaces: []string{"chaosnight"}},
			map[string]string{"kube-system": "system", "kube-public": "system", "kube-node-lease": "system", "payments": "excluded", "chaosnight": "chaosnight"}, nil},
		{"lifting kube-system", Policy{AllowSystemNamespaces: []string{"kube-system"}},
			map[string]string{"kube-public": "system", "kube-node-lease": "system"}, []string{"kube-system"}},
		{"lifting a namespace that is not a system one lifts nothing", Policy{OwnNamespaces: []string{"chaosnight"}, AllowSystemNamespaces: []string{"chaosnight", "shop"}},
			map[string]string{"kube-system": "system", "kube-public": "system", "kube-node-lease": "system", "chaosnight": "chaosnight"}, nil},
		{"exclusion wins over lifting", Policy{AllowSystemNamespaces: []string{"kube-system"}, DenyNamespaces: []string{"kube-system"}},
			map[string]string{"kube-system": "excluded", "kube-public": "system", "kube-node-lease": "system"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.Protected(); !maps.Equal(got, tt.want) {
				t.Errorf("Protected = %v, want %v", got, tt.want)
			}
			if got := tt.policy.LiftedSystemNamespaces(); !slices.Equal(got, tt.wantLifted) {
				t.Errorf("LiftedSystemNamespaces = %v, want %v", got, tt.wantLifted)
			}
		})
	}
}

// The Injection carries the policy it was guarded by, so it reaches the
// journal: effective limits with sources, protection, lifted namespaces.
func TestGuardRecordsThePolicy(t *testing.T) {
	c := new(cluster).ns("shop", true).ns("kube-system", true).rs("shop", "checkout", 3)
	g, _ := newGuard(c, Policy{RequireOptIn: true, MaxTargets: 1, MinHealthy: 2, AllowSystemNamespaces: []string{"kube-system"}, OwnNamespaces: []string{"chaosnight"}})
	inj, err := g.Inject(context.Background(), Request{Run: Run{ID: "r"}, Injector: &recorder{}, Targets: targets(t, c, "shop/checkout-0"), MaxTargets: 3, MinHealthy: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := &AppliedPolicy{
		Limits:                  Limits{MaxTargets: 1, MaxTargetsFrom: FromOperator, MinHealthy: 2, MinHealthyFrom: FromOperator, OperatorMaxTargets: 1, OperatorMinHealthy: 2},
		Protected:               []string{"chaosnight", "kube-node-lease", "kube-public"},
		AllowedSystemNamespaces: []string{"kube-system"},
		RequireOptIn:            true,
	}
	if inj.Policy == nil || !reflect.DeepEqual(*inj.Policy, *want) {
		t.Errorf("policy %+v, want %+v", inj.Policy, want)
	}
}
