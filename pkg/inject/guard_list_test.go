package inject

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// pagedPods makes the fake clientset's pod LISTs paginate like an API
// server (pageSize pods a page, the continue token is the offset), and
// answers the first expire requests that carry a continue token with 410
// Gone (ResourceExpired), as a server does when paging outlives etcd
// compaction. The fake clientset alone never pages.
type pagedPods struct {
	pageSize int
	expire   int

	mu      sync.Mutex
	lists   []string // "ns?continue" of every pod LIST
	expired int
}

func (pp *pagedPods) install(cs *fake.Clientset) {
	cs.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		la := a.(k8stesting.ListAction)
		opts := la.(interface{ GetListOptions() metav1.ListOptions }).GetListOptions()
		pp.mu.Lock()
		pp.lists = append(pp.lists, a.GetNamespace()+"?"+opts.Continue)
		if opts.Continue != "" && pp.expired < pp.expire {
			pp.expired++
			pp.mu.Unlock()
			return true, nil, apierrors.NewResourceExpired("The provided continue parameter is too old")
		}
		pp.mu.Unlock()
		obj, err := cs.Tracker().List(corev1.SchemeGroupVersion.WithResource("pods"), corev1.SchemeGroupVersion.WithKind("Pod"), a.GetNamespace())
		if err != nil {
			return true, nil, err
		}
		var all []corev1.Pod
		for _, p := range obj.(*corev1.PodList).Items {
			if la.GetListRestrictions().Labels.Matches(labels.Set(p.Labels)) {
				all = append(all, p)
			}
		}
		// A stable order, so offsets mean the same on every page.
		slices.SortFunc(all, func(a, b corev1.Pod) int {
			return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
		})
		start := 0
		if opts.Continue != "" {
			if start, err = strconv.Atoi(opts.Continue); err != nil {
				return true, nil, fmt.Errorf("bad continue token %q", opts.Continue)
			}
		}
		end := min(start+pp.pageSize, len(all))
		page := &corev1.PodList{Items: all[start:end]}
		if end < len(all) {
			page.Continue = strconv.Itoa(end)
		}
		return true, page, nil
	})
}

// TestGuardMinHealthyListRestartsOnExpiredContinue proves that an expired
// continue token while counting an owner's ready pods restarts the LIST
// from the beginning (once), without counting a pod twice, instead of
// refusing the owner's targets as uncountable; a second expiry still
// refuses. Both ways of counting are covered: owner by owner (few
// namespaces) and one cluster-wide LIST (targets in many namespaces).
func TestGuardMinHealthyListRestartsOnExpiredContinue(t *testing.T) {
	oneNS := func() (*cluster, []string) {
		c := new(cluster).ns("shop", true).rs("shop", "checkout", 5)
		return c, []string{"shop/checkout-0", "shop/checkout-1", "shop/checkout-2", "shop/checkout-3", "shop/checkout-4"}
	}
	// One ReplicaSet of 3 in each of n namespaces (>= ListNamespacesMin),
	// all pods targeted: the guard counts them with one LIST per namespace
	// (up to NamespaceListMax namespaces), else one LIST of all pods.
	manyNS := func(n int) func() (*cluster, []string) {
		return func() (*cluster, []string) {
			c := new(cluster)
			var keys []string
			for i := range n {
				ns := fmt.Sprintf("team-%d", i)
				c.ns(ns, true).rs(ns, "web", 3)
				for j := range 3 {
					keys = append(keys, fmt.Sprintf("%s/web-%d", ns, j))
				}
			}
			return c, keys
		}
	}
	for _, tc := range []struct {
		name    string
		fixture func() (*cluster, []string)
		expire  int
		// admitted and refused count the outcomes; a pod counted twice
		// raises the ready count and admits more than minHealthy allows.
		admitted, refused int
		refusal           string // substring of every refusal
		allRefused        bool   // Inject returns a RefusedError
		// clusterLists is the number of cluster-wide pod LISTs sent;
		// nsLists the number of LISTs in a namespace.
		clusterLists, nsLists int
	}{
		{name: "owner by owner, no expiry", fixture: oneNS, expire: 0,
			admitted: 3, refused: 2, refusal: "has 5 ready pods, minHealthy 2", nsLists: 3},
		{name: "owner by owner, restarted", fixture: oneNS, expire: 1,
			admitted: 3, refused: 2, refusal: "has 5 ready pods, minHealthy 2", nsLists: 2 + 3},
		{name: "owner by owner, expired twice", fixture: oneNS, expire: 2,
			admitted: 0, refused: 5, refusal: "cannot count the ready pods of ReplicaSet shop/checkout", allRefused: true, nsLists: 2 + 2},
		{name: "namespace by namespace, restarted", fixture: manyNS(6), expire: 1,
			// Pages of 2 of 3 pods: two LISTs each, and the namespace whose
			// continue token expired is listed again (2 more).
			admitted: 6, refused: 12, refusal: "has 3 ready pods, minHealthy 2", nsLists: 6*2 + 2},
		{name: "cluster-wide, restarted", fixture: manyNS(NamespaceListMax + 1), expire: 1,
			admitted: NamespaceListMax + 1, refused: 2 * (NamespaceListMax + 1), refusal: "has 3 ready pods, minHealthy 2",
			clusterLists: 2 + (3*(NamespaceListMax+1)+1)/2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, keys := tc.fixture()
			g, cs := newGuard(c, Policy{})
			pp := &pagedPods{pageSize: 2, expire: tc.expire}
			pp.install(cs)
			inj, err := g.Inject(context.Background(), Request{Injector: &recorder{}, MaxTargets: len(keys), MinHealthy: 2, Targets: targets(t, c, keys...)})
			var refusedErr *RefusedError
			switch {
			case tc.allRefused && !errors.As(err, &refusedErr):
				t.Fatalf("Inject: %v, want a RefusedError", err)
			case !tc.allRefused && err != nil:
				t.Fatal(err)
			}
			admitted, refused := 0, 0
			for _, o := range inj.Outcomes {
				switch o.Status {
				case StatusEvicted:
					admitted++
				case StatusRefused:
					refused++
					if !strings.Contains(o.Detail, tc.refusal) {
						t.Errorf("%s refused %q, want it to say %q", o.Pod.Key(), o.Detail, tc.refusal)
					}
				default:
					t.Errorf("%s: unexpected outcome %s (%s)", o.Pod.Key(), o.Status, o.Detail)
				}
			}
			if admitted != tc.admitted || refused != tc.refused {
				t.Errorf("admitted %d, refused %d; want %d, %d\n%q", admitted, refused, tc.admitted, tc.refused, summary(inj))
			}
			clusterLists, nsLists := 0, 0
			for _, l := range pp.lists {
				if strings.HasPrefix(l, "?") {
					clusterLists++
				} else {
					nsLists++
				}
			}
			if pp.expired != tc.expire || clusterLists != tc.clusterLists || nsLists != tc.nsLists {
				t.Errorf("%d expired answers, %d cluster-wide and %d namespaced LISTs; want %d, %d, %d\nLISTs: %q",
					pp.expired, clusterLists, nsLists, tc.expire, tc.clusterLists, tc.nsLists, pp.lists)
			}
		})
	}
}

// TestGuardOptInInOneList: with targets in many namespaces the opt-in
// labels are read in one LIST of the opted-in namespaces (the chart's
// default RBAC has no list: then, and with few namespaces, one GET each);
// the refused namespaces are read by GET for the exact reason. The
// refusals are the same whichever way the labels were read.
func TestGuardOptInInOneList(t *testing.T) {
	fixture := func(n int) (*cluster, []string) {
		c := new(cluster)
		var keys []string
		for i := range n {
			ns := fmt.Sprintf("ns%d", i)
			c.ns(ns, i != 1).rs(ns, "app", 1) // ns1 is not opted in
			keys = append(keys, ns+"/app-0")
		}
		c.rs("gone", "app", 1) // pods in a namespace that no longer exists
		return c, append(keys, "gone/app-0")
	}
	for _, tc := range []struct {
		name       string
		namespaces int
		forbidList bool
		lists      int
		gets       []string
	}{
		{name: "many namespaces: one LIST", namespaces: 6, lists: 1, gets: []string{"gone", "ns1"}},
		{name: "many namespaces, list forbidden: a GET each", namespaces: 6, forbidList: true, lists: 1,
			gets: []string{"gone", "ns0", "ns1", "ns2", "ns3", "ns4", "ns5"}},
		{name: "few namespaces: a GET each", namespaces: 3, lists: 0, gets: []string{"gone", "ns0", "ns1", "ns2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, keys := fixture(tc.namespaces)
			g, cs := newGuard(c, Policy{RequireOptIn: true})
			if tc.forbidList {
				cs.PrependReactor("list", "namespaces", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(corev1.Resource("namespaces"), "", errors.New("no list"))
				})
			}
			inj, err := g.Inject(context.Background(), Request{Injector: &recorder{}, MaxTargets: len(keys), Targets: targets(t, c, keys...)})
			if err != nil {
				t.Fatal(err)
			}
			refused := map[string]string{}
			for _, o := range inj.Outcomes {
				if o.Status == StatusRefused {
					refused[o.Pod.Namespace] = o.Detail
				}
			}
			want := map[string]string{
				"ns1":  "optIn: namespace ns1 is not opted in (label chaosnight.dev/enabled=true is missing)",
				"gone": "optIn: namespace gone not found",
			}
			if !maps.Equal(refused, want) {
				t.Errorf("refused %q, want %q", refused, want)
			}
			lists := 0
			var gets []string
			for _, a := range cs.Actions() {
				if a.GetResource().Resource != "namespaces" {
					continue
				}
				switch a.GetVerb() {
				case "list":
					lists++
					if sel := a.(k8stesting.ListAction).GetListRestrictions().Labels.String(); sel != OptInLabel+"=true" {
						t.Errorf("namespaces listed with selector %q", sel)
					}
				case "get":
					gets = append(gets, a.(k8stesting.GetAction).GetName())
				}
			}
			slices.Sort(gets)
			if lists != tc.lists || !slices.Equal(gets, tc.gets) {
				t.Errorf("%d namespace LISTs and GETs of %v; want %d and %v", lists, gets, tc.lists, tc.gets)
			}
		})
	}
}
