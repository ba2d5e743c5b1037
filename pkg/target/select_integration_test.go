package target_test

// Integration tests of Selector against the real sandbox API server: the
// stream decoder and the cluster-scoped listing must return exactly what
// the generated client returns, and RBAC's Forbidden must send the
// Selector back to per-namespace listing.

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/target"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

var sb *sandbox.Sandbox

func TestMain(m *testing.M) {
	os.Exit(sandbox.RunTests(m, sandbox.Config{}, func(s *sandbox.Sandbox) { sb = s }))
}

const (
	itNamespaces = 6
	itPodsPerNS  = 3
	itApp        = "select-it"
)

// fixture creates itNamespaces target namespaces and one look-alike
// namespace, each with itPodsPerNS running pods labelled app=select-it,
// and waits until they run. It returns the target namespaces.
func fixture(t *testing.T, c kubernetes.Interface) []string {
	t.Helper()
	ctx := context.Background()
	var target []string
	for i := range itNamespaces + 1 {
		ns := fmt.Sprintf("select-it-%d", i)
		if i == itNamespaces {
			ns = "select-it-elsewhere"
		} else {
			target = append(target, ns)
		}
		if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		for j := range itPodsPerNS {
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", j), Namespace: ns, Labels: map[string]string{"app": itApp, "idx": fmt.Sprint(j)}},
				Spec:       sandbox.PodSpec(itApp),
			}
			if _, err := c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
	}
	deadline := time.Now().Add(time.Minute)
	for {
		list, err := c.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: "app=" + itApp, FieldSelector: "status.phase=Running"})
		if err == nil && len(list.Items) == (itNamespaces+1)*itPodsPerNS {
			return target
		}
		if time.Now().After(deadline) {
			t.Fatalf("fixture pods not running after a minute (err %v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// expected is what the generated client and FromPod make of the target's pods.
func expected(t *testing.T, c kubernetes.Interface, namespaces []string) []target.Pod {
	t.Helper()
	var want []target.Pod
	for _, ns := range namespaces {
		list, err := c.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=" + itApp})
		if err != nil {
			t.Fatal(err)
		}
		for i := range list.Items {
			want = append(want, target.FromPod(&list.Items[i]))
		}
	}
	return normalize(want)
}

// normalize sorts by key and puts times in UTC (JSON decodes to UTC,
// protobuf to local time).
func normalize(pods []target.Pod) []target.Pod {
	out := slices.Clone(pods)
	for i := range out {
		out[i].Created = out[i].Created.UTC()
	}
	slices.SortFunc(out, func(a, b target.Pod) int {
		if a.Key() < b.Key() {
			return -1
		}
		if a.Key() > b.Key() {
			return 1
		}
		return 0
	})
	return out
}

func TestSelectorClusterScopeMatchesPerNamespace(t *testing.T) {
	s := sandbox.Require(t, sb)
	namespaces := fixture(t, s.Client())
	want := expected(t, s.Client(), namespaces)
	cs, err := target.NewClientset(s.RESTConfig, 100, 200)
	if err != nil {
		t.Fatal(err)
	}
	tg := experiment.Target{Namespaces: namespaces, Selector: "app=" + itApp}
	for _, tc := range []struct {
		name      string
		sel       *target.Selector
		wantScope string
	}{
		{"cluster scope, pages of 4", &target.Selector{Client: cs, PageSize: 4, ClusterScopeMin: itNamespaces}, target.ScopeCluster},
		{"per namespace, pages of 2", &target.Selector{Client: cs, PageSize: 2, ClusterScopeMin: -1}, target.ScopeNamespace},
		{"per namespace, one at a time", &target.Selector{Client: cs, PageSize: 2, ClusterScopeMin: -1, Concurrency: 1}, target.ScopeNamespace},
		// Below DefaultClusterScopeMin namespaces: concurrently, per namespace.
		{"defaults", &target.Selector{Client: cs}, target.ScopeNamespace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, st, err := tc.sel.List(context.Background(), tg)
			if err != nil {
				t.Fatal(err)
			}
			if st.Scope != tc.wantScope || st.Fallback != "" || st.Namespaces != itNamespaces {
				t.Errorf("stats = %+v, want scope %s", st, tc.wantScope)
			}
			if !reflect.DeepEqual(normalize(got), want) {
				t.Errorf("pods:\n got %+v\nwant %+v", normalize(got), want)
			}
		})
	}
}

func TestSelectorClusterScopeForbiddenFallsBack(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := context.Background()
	admin := s.Client()
	namespaces := fixture(t, admin)
	want := expected(t, admin, namespaces)

	// A ServiceAccount that may list pods in the target namespaces only.
	const saNS, saName = "select-it-0", "lister"
	if _, err := admin.CoreV1().ServiceAccounts(saNS).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: saName}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	for _, ns := range namespaces {
		role := &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "pod-lister", Namespace: ns},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}}},
		}
		if _, err := admin.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
		rb := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "pod-lister", Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "pod-lister"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: saNS, Name: saName}},
		}
		if _, err := admin.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	cfg, err := s.ServiceAccountConfig(ctx, saNS, saName)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := target.NewClientset(cfg, 100, 200)
	if err != nil {
		t.Fatal(err)
	}
	var sel *target.Selector
	tg := experiment.Target{Namespaces: namespaces, Selector: "app=" + itApp}
	// RBAC takes a moment to reach the authorizer's cache.
	deadline := time.Now().Add(30 * time.Second)
	for {
		sel = &target.Selector{Client: cs, ClusterScopeMin: itNamespaces} // nothing remembered yet
		got, st, err := sel.List(ctx, tg)
		if err == nil {
			if st.Scope != target.ScopeNamespace || st.Fallback == "" || st.Requests != itNamespaces+1 {
				t.Errorf("stats = %+v, want a forbidden cluster-scoped LIST, then one per namespace", st)
			}
			if !reflect.DeepEqual(normalize(got), want) {
				t.Errorf("pods:\n got %+v\nwant %+v", normalize(got), want)
			}
			break
		}
		if !apierrors.IsForbidden(err) || time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Remembered: the next List does not ask at cluster scope again.
	_, st, err := sel.List(ctx, tg)
	if err != nil {
		t.Fatal(err)
	}
	if st.Requests != itNamespaces || st.Scope != target.ScopeNamespace {
		t.Errorf("second list: stats = %+v, want %d requests", st, itNamespaces)
	}
}
