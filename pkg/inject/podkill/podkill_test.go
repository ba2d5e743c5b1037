package podkill

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	apitypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// The injector satisfies the contract the Guard calls.
var _ inject.Injector = (*Injector)(nil)

func dur(d time.Duration) *time.Duration { return &d }

func tpod(name string) target.Pod {
	return target.Pod{Namespace: "shop", Name: name, UID: "uid-" + name}
}

func pdbTooMany(cause string) error {
	err := apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
	err.ErrStatus.Details.Causes = append(err.ErrStatus.Details.Causes, metav1.StatusCause{Type: policyv1.DisruptionBudgetCause, Message: cause})
	return err
}

func TestInjectorOutcomes(t *testing.T) {
	podsGR := schema.GroupResource{Resource: "pods"}
	tests := []struct {
		name, method string
		err          error // returned by the API; nil = success
		status       string
		detail       string // prefix
	}{
		{"evicted", "evict", nil, inject.StatusEvicted, "evicted (grace period 1s)"},
		{"default method is evict", "", nil, inject.StatusEvicted, "evicted"},
		{"deleted", "delete", nil, inject.StatusKilled, "deleted (grace period 1s)"},
		{"budget says no", "evict", pdbTooMany("The disruption budget checkout needs 2 healthy pods and has 2 currently"),
			inject.StatusProtected, "protected by PodDisruptionBudget shop/checkout: 0 disruptions allowed (it needs 2 healthy pods and has 2)"},
		{"budget still processing", "evict", pdbTooMany("The disruption budget checkout is still being processed by the server."),
			inject.StatusProtected, "protected by PodDisruptionBudget shop/checkout: The disruption budget checkout is still being processed"},
		{"RBAC refuses the eviction", "evict",
			apierrors.NewForbidden(schema.GroupResource{Resource: "pods/eviction"}, "checkout-0", errors.New(`User "system:serviceaccount:shop:runner" cannot create resource "pods/eviction" in API group "" in the namespace "shop"`)),
			inject.StatusFailed, `cannot evict: forbidden: pods/eviction "checkout-0" is forbidden: User "system:serviceaccount:shop:runner" cannot create resource "pods/eviction" in API group "" in the namespace "shop" (RBAC: the account lacks the right)`},
		{"RBAC refuses the deletion", "delete",
			apierrors.NewForbidden(podsGR, "checkout-0", errors.New(`User "u" cannot delete resource "pods" in API group "" in the namespace "shop"`)),
			inject.StatusFailed, `cannot delete: forbidden: pods "checkout-0" is forbidden: User "u" cannot delete resource "pods"`},
		{"admission refuses", "delete",
			apierrors.NewForbidden(podsGR, "checkout-0", errors.New("denied by policy no-chaos-on-fridays")),
			inject.StatusFailed, `cannot delete: forbidden: pods "checkout-0" is forbidden: denied by policy no-chaos-on-fridays (refused by admission)`},
		{"429 without a budget is throttling, not protection", "evict", apierrors.NewTooManyRequests("slow down", 1),
			inject.StatusFailed, "throttled by the API server (429), not retried: "},
		{"gone", "evict", apierrors.NewNotFound(podsGR, "p"), inject.StatusGone, "the pod no longer exists"},
		{"gone on delete", "delete", apierrors.NewNotFound(podsGR, "p"), inject.StatusGone, "the pod no longer exists"},
		{"replaced: uid precondition", "evict",
			apierrors.NewConflict(podsGR, "p", errors.New("the UID in the precondition (a) does not match the UID in record (b). The object might have been deleted and then recreated")),
			inject.StatusGone, "the pod was replaced by another with the same name"},
		{"replaced on delete", "delete",
			apierrors.NewConflict(podsGR, "p", errors.New("Precondition failed: UID in precondition: a, UID in object meta: b")),
			inject.StatusGone, "the pod was replaced"},
		{"other error", "evict", apierrors.NewInternalError(errors.New("etcd down")), inject.StatusFailed, "Internal error occurred: etcd down"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset()
			var evictions []*policyv1.Eviction
			var deletes []metav1.DeleteOptions
			cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if a.GetSubresource() != "eviction" {
					return false, nil, nil
				}
				evictions = append(evictions, a.(k8stesting.CreateAction).GetObject().(*policyv1.Eviction))
				return true, nil, tc.err
			})
			cs.PrependReactor("delete", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				deletes = append(deletes, a.(k8stesting.DeleteAction).GetDeleteOptions())
				return true, nil, tc.err
			})
			k := &Injector{Client: cs, Method: tc.method, GracePeriod: dur(0), Now: func() time.Time { return time.Unix(100, 0) }}
			inj, err := k.Inject(context.Background(), inject.Run{ID: "r"}, []target.Pod{tpod("checkout-0")})
			if err != nil {
				t.Fatal(err)
			}
			if len(inj.Outcomes) != 1 {
				t.Fatalf("outcomes = %+v", inj.Outcomes)
			}
			o := inj.Outcomes[0]
			if o.Status != tc.status || !strings.HasPrefix(o.Detail, tc.detail) || o.Pod.Name != "checkout-0" || o.At.Unix() != 100 {
				t.Errorf("outcome = %+v, want %s %q...", o, tc.status, tc.detail)
			}
			// Exactly one request, never retried, pinned to the UID.
			var opts *metav1.DeleteOptions
			switch {
			case tc.method == "delete" && len(deletes) == 1 && len(evictions) == 0:
				opts = &deletes[0]
			case tc.method != "delete" && len(evictions) == 1 && len(deletes) == 0:
				opts = evictions[0].DeleteOptions
				if evictions[0].Name != "checkout-0" || evictions[0].Namespace != "shop" {
					t.Errorf("eviction of %s/%s", evictions[0].Namespace, evictions[0].Name)
				}
			default:
				t.Fatalf("%d evictions and %d deletes, want exactly one %s", len(evictions), len(deletes), tc.method)
			}
			if opts == nil || opts.Preconditions == nil || opts.Preconditions.UID == nil || *opts.Preconditions.UID != "uid-checkout-0" {
				t.Errorf("delete options %+v lack the UID precondition", opts)
			}
			if opts == nil || opts.GracePeriodSeconds == nil || *opts.GracePeriodSeconds != 1 {
				t.Errorf("delete options %+v: want grace period 1 (0 is never sent)", opts)
			}
		})
	}
}

func TestInjectorKillsExactlyTheTargetsInOrder(t *testing.T) {
	var pods []runtime.Object
	for _, n := range []string{"a", "b", "c", "d"} {
		pods = append(pods, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: n, UID: apitypes.UID("uid-" + n)}})
	}
	cs := fake.NewClientset(pods...)
	k := &Injector{Client: cs, Method: "delete", Concurrency: 2}
	targets := []target.Pod{tpod("c"), tpod("a"), tpod("missing")}
	inj, err := k.Inject(context.Background(), inject.Run{ID: "r", Experiment: "e"}, targets)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"c=" + inject.StatusKilled, "a=" + inject.StatusKilled, "missing=" + inject.StatusGone}
	for i, o := range inj.Outcomes {
		if got := o.Pod.Name + "=" + o.Status; got != want[i] {
			t.Errorf("outcome %d = %s, want %s", i, got, want[i])
		}
	}
	left, _ := cs.CoreV1().Pods("shop").List(context.Background(), metav1.ListOptions{})
	var names []string
	for _, p := range left.Items {
		names = append(names, p.Name)
	}
	if strings.Join(names, ",") != "b,d" {
		t.Errorf("pods left = %v, want b,d", names)
	}
	if inj.Kind != Kind || inj.State[StateMethod] != "delete" || inj.State[StateGracePeriod] != "" || inj.Run.ID != "r" {
		t.Errorf("injection = %+v", inj)
	}
	if err := k.Revert(context.Background(), inj); err != nil {
		t.Errorf("Revert = %v, want nil (a no-op)", err)
	}
}

func TestInjectorRefusesBadInput(t *testing.T) {
	cs := fake.NewClientset()
	tests := []struct {
		name string
		k    *Injector
		ctx  func() context.Context
		want string
	}{
		{"unknown method", &Injector{Client: cs, Method: "nuke"}, context.Background, `pod kill: unknown method "nuke" (want evict or delete)`},
		{"negative grace period", &Injector{Client: cs, GracePeriod: dur(-time.Second)}, context.Background, "pod kill: negative grace period -1s"},
		{"nil client", &Injector{}, context.Background, "pod kill: nil client"},
		{"cancelled", &Injector{Client: cs}, func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, "pod kill: context canceled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inj, err := tc.k.Inject(tc.ctx(), inject.Run{}, []target.Pod{tpod("a")})
			if err == nil || err.Error() != tc.want {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
			if len(inj.Outcomes) != 0 {
				t.Errorf("outcomes %+v, want none", inj.Outcomes)
			}
			if n := len(cs.Actions()); n != 0 {
				t.Errorf("%d API calls", n)
			}
		})
	}
	t.Run("target without UID", func(t *testing.T) {
		p := tpod("a")
		p.UID = ""
		inj, err := (&Injector{Client: cs}).Inject(context.Background(), inject.Run{}, []target.Pod{p})
		if err != nil || inj.Outcomes[0].Status != inject.StatusFailed || len(cs.Actions()) != 0 {
			t.Errorf("err %v, outcomes %+v, %d calls: want a failed outcome and no call", err, inj.Outcomes, len(cs.Actions()))
		}
	})
}
