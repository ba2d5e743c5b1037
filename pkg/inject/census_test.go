package inject

import (
	"context"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/chaosnight/chaosnight/pkg/target"
)

// TestGuardCensus proves what the select phase's LIST may decide: in a dry
// run, the owners it covers are counted from it with no request, and the
// plan is the one a fresh read gives; an owner it does not cover is read
// fresh; and a real injection ignores it, even when it is wrong, counting
// fresh from the API server right before touching anything.
func TestGuardCensus(t *testing.T) {
	c := new(cluster).ns("shop", true).rs("shop", "checkout", 3).rs("shop", "cart", 2)
	keys := []string{"shop/checkout-0", "shop/checkout-1", "shop/checkout-2", "shop/cart-0", "shop/cart-1"}
	checkout, cart := "rs-shop-checkout", "rs-shop-cart"
	all := targets(t, c, "shop/checkout-0", "shop/checkout-1", "shop/checkout-2", "shop/cart-0", "shop/cart-1")
	// lying: the census holds a ready pod of cart that does not exist, so
	// a count from it admits both cart pods (3 ready, minHealthy 1).
	lying := slices.Clone(all)
	lying = append(lying, target.Pod{Namespace: "shop", Name: "cart-ghost", UID: "ghost", Ready: true, Owner: lying[3].Owner})

	tests := []struct {
		name       string
		dryRun     bool
		census     *Census
		want       []string
		fromCensus int
		podReads   int // pod LISTs/GETs sent by minHealthy
	}{
		{
			name: "dry run, fresh reads (no census)", dryRun: true,
			want: []string{"shop/checkout-0=dry-run", "shop/checkout-1=dry-run",
				"shop/checkout-2=refused", "shop/cart-0=dry-run", "shop/cart-1=refused"},
			podReads: 2,
		},
		{
			name: "dry run, census covers both owners: same plan, no read", dryRun: true,
			census: &Census{Pods: all, Covered: map[string]bool{checkout: true, cart: true}},
			want: []string{"shop/checkout-0=dry-run", "shop/checkout-1=dry-run",
				"shop/checkout-2=refused", "shop/cart-0=dry-run", "shop/cart-1=refused"},
			fromCensus: 2,
		},
		{
			name: "dry run, census covers checkout only: cart read fresh", dryRun: true,
			census: &Census{Pods: all, Covered: map[string]bool{checkout: true}},
			want: []string{"shop/checkout-0=dry-run", "shop/checkout-1=dry-run",
				"shop/checkout-2=refused", "shop/cart-0=dry-run", "shop/cart-1=refused"},
			fromCensus: 1, podReads: 1,
		},
		{
			name: "dry run counts what the census says (the engine proves coverage)", dryRun: true,
			census: &Census{Pods: lying, Covered: map[string]bool{checkout: true, cart: true}},
			want: []string{"shop/checkout-0=dry-run", "shop/checkout-1=dry-run",
				"shop/checkout-2=refused", "shop/cart-0=dry-run", "shop/cart-1=dry-run"},
			fromCensus: 2,
		},
		{
			name:   "real injection ignores a census, even a wrong one",
			census: &Census{Pods: lying, Covered: map[string]bool{checkout: true, cart: true}},
			want: []string{"shop/checkout-0=evicted", "shop/checkout-1=evicted",
				"shop/checkout-2=refused", "shop/cart-0=evicted", "shop/cart-1=refused"},
			podReads: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, cs := newGuard(c, Policy{RequireOptIn: true, DryRun: tt.dryRun})
			reads := 0
			cs.PrependReactor("*", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if a.GetVerb() == "list" || a.GetVerb() == "get" {
					reads++
				}
				return false, nil, nil
			})
			inj, err := g.Inject(context.Background(), Request{
				Injector: &recorder{}, MinHealthy: 1, Targets: targets(t, c, keys...), Census: tt.census,
			})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range inj.Outcomes {
				got = append(got, o.Pod.Key()+"="+o.Status)
			}
			// cart has 2 ready pods and minHealthy 1: one may go; checkout 3: two may go.
			if !slices.Equal(got, tt.want) {
				t.Errorf("outcomes:\n got %v\nwant %v", got, tt.want)
			}
			if inj.Counting == nil {
				t.Fatal("Injection.Counting is nil: the journal would not say where the counts came from")
			}
			if inj.Counting.Owners != 2 || inj.Counting.FromCensus != tt.fromCensus {
				t.Errorf("counting = %+v, want 2 owners, %d from the census", *inj.Counting, tt.fromCensus)
			}
			if reads != tt.podReads {
				t.Errorf("pod reads = %d, want %d", reads, tt.podReads)
			}
			if inj.Counting.Requests < tt.podReads {
				t.Errorf("counting.requests = %d, below the %d pod reads seen", inj.Counting.Requests, tt.podReads)
			}
		})
	}
}
