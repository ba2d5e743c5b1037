package chart_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/chaosnight/chaosnight/test/sandbox"
)

// applier creates rendered objects on the sandbox's API server, with
// strict field validation (an unknown or misplaced field is an error, not
// a silently dropped one), and collects the server's warnings
// (deprecations, Pod Security).
type applier struct {
	dyn    dynamic.Interface
	mapper *restmapper.DeferredDiscoveryRESTMapper

	mu       sync.Mutex
	warnings []string
}

func (a *applier) HandleWarningHeader(code int, agent, text string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.warnings = append(a.warnings, text)
}

func (a *applier) takeWarnings() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	w := a.warnings
	a.warnings = nil
	return w
}

func newApplier(t testing.TB, s *sandbox.Sandbox) *applier {
	t.Helper()
	a := &applier{}
	cfg := rest.CopyConfig(s.RESTConfig)
	cfg.WarningHandler = a
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.dyn = dyn
	a.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return a
}

func (a *applier) create(ctx context.Context, o *unstructured.Unstructured) error {
	gvk := o.GroupVersionKind()
	m, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		a.mapper.Reset()
		if m, err = a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			return fmt.Errorf("%s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	var ri dynamic.ResourceInterface = a.dyn.Resource(m.Resource)
	if m.Scope.Name() == "namespace" {
		ri = a.dyn.Resource(m.Resource).Namespace(o.GetNamespace())
	}
	if _, err := ri.Create(ctx, o, metav1.CreateOptions{FieldValidation: "Strict", FieldManager: "chart-test"}); err != nil {
		return fmt.Errorf("%s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
	}
	return nil
}

// installMonitoringCRDs creates the ServiceMonitor and PodMonitor CRDs
// (testdata/monitoring-crds.yaml) once per sandbox and waits until they
// are served.
func installMonitoringCRDs(ctx context.Context, t testing.TB, a *applier) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "monitoring-crds.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := decodeManifest(string(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if err := a.create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		a.mapper.Reset()
		_, err1 := a.mapper.RESTMapping(objs[0].GroupVersionKind().GroupKind(), "v1")
		_, err2 := a.mapper.RESTMapping(schema.GroupKind{Group: "monitoring.coreos.com", Kind: "PodMonitor"}, "v1")
		if err1 == nil && err2 == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the monitoring CRDs are not served: %v %v", err1, err2)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ensureNamespace creates a namespace that enforces the "restricted" Pod
// Security Standard, so that the API server refuses a runner pod that is
// not hardened.
func ensureNamespace(ctx context.Context, t testing.TB, c kubernetes.Interface, name string) {
	t.Helper()
	_, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: name,
		Labels: map[string]string{
			"pod-security.kubernetes.io/enforce": "restricted",
			"pod-security.kubernetes.io/warn":    "restricted",
		},
	}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

// checkPodSecurity creates (dry run) a Pod from the Deployment's template
// in its namespace: the API server's Pod Security admission enforces the
// restricted profile on it.
func checkPodSecurity(ctx context.Context, t testing.TB, c kubernetes.Interface, rel *release) {
	t.Helper()
	dep := typed[appsv1.Deployment](t, rel.find(t, "Deployment", rel.fullname()))
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: dep.Name + "-pod-security-check", Namespace: dep.Namespace, Labels: dep.Spec.Template.Labels},
		Spec:       dep.Spec.Template.Spec,
	}
	if _, err := c.CoreV1().Pods(dep.Namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Errorf("the runner pod is refused (Pod Security restricted): %v", err)
	}
}

// access is one SubjectAccessReview question.
type access struct {
	Namespace, Verb, Group, Resource, Subresource, Name string
}

func (a access) String() string {
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	if a.Group != "" {
		res = a.Group + "/" + res
	}
	if a.Name != "" {
		res += " " + a.Name
	}
	where := "cluster-wide"
	if a.Namespace != "" {
		where = "in " + a.Namespace
	}
	return a.Verb + " " + res + " " + where
}

// allowedFor asks the real API server whether ServiceAccount ns/sa may do
// a, with the groups a ServiceAccount token carries.
func allowedFor(ctx context.Context, c kubernetes.Interface, ns, sa string, a access) (bool, error) {
	r, err := c.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User:   "system:serviceaccount:" + ns + ":" + sa,
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
		ResourceAttributes: &authzv1.ResourceAttributes{
			Namespace: a.Namespace, Verb: a.Verb, Group: a.Group, Resource: a.Resource, Subresource: a.Subresource, Name: a.Name,
		},
	}}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("subjectaccessreview %s: %w", a, err)
	}
	return r.Status.Allowed, nil
}

// expectAllowed is what expectedGrants says about a.
func (f features) expectAllowed(a access) bool {
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	for _, g := range expectedGrants(f) {
		if g.Verb == a.Verb && g.Group == a.Group && g.Resource == res &&
			(g.Name == "" || g.Name == a.Name) && (g.Namespace == "" || g.Namespace == a.Namespace) {
			return true
		}
	}
	return false
}

// probes are the questions asked for every case: the rights the runner
// needs, and many it must not have, in its namespace, in targets, in
// namespaces outside its scope and cluster-wide.
func probes(f features) []access {
	var out []access
	nss := []string{f.releaseNS, "shop", "shop-staging", "kube-system", "default"}
	type rv struct {
		group, resource, sub string
		verbs                []string
		names                []string
	}
	everywhere := []rv{
		{"", "pods", "", []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}, nil},
		{"", "pods", "eviction", []string{"create"}, nil},
		{"", "pods", "exec", []string{"create", "get"}, nil},
		{"", "pods", "ephemeralcontainers", []string{"update", "patch"}, nil},
		{"", "pods", "attach", []string{"create"}, nil},
		{"", "pods", "portforward", []string{"create"}, nil},
		{"", "pods", "log", []string{"get"}, nil},
		{"", "secrets", "", []string{"get", "list", "watch", "create", "update"}, []string{"", "chaosnight-kill-switch"}},
		{"", "configmaps", "", []string{"get", "list", "watch", "create", "update", "patch", "delete"}, []string{"", "chaosnight-kill-switch", "chaosnight-state", "other"}},
		{"coordination.k8s.io", "leases", "", []string{"get", "list", "create", "update", "delete"}, []string{"", f.leaseName, "other"}},
		{"", "events", "", []string{"create", "list", "delete"}, nil},
		{"", "serviceaccounts", "token", []string{"create"}, []string{"", f.sa, "default"}},
		{"", "serviceaccounts", "", []string{"get", "create"}, nil},
		{"apps", "replicasets", "", []string{"get", "list", "update", "delete"}, nil},
		{"apps", "deployments", "", []string{"get", "update", "patch"}, nil},
		{"apps", "deployments", "scale", []string{"update"}, nil},
		{"apps", "statefulsets", "", []string{"get", "delete"}, nil},
		{"apps", "daemonsets", "", []string{"get", "delete"}, nil},
		{"batch", "jobs", "", []string{"get", "create"}, nil},
		{"", "replicationcontrollers", "", []string{"get", "update"}, nil},
		{"policy", "poddisruptionbudgets", "", []string{"get", "delete"}, nil},
		{"rbac.authorization.k8s.io", "roles", "", []string{"create", "bind", "escalate"}, nil},
		{"rbac.authorization.k8s.io", "rolebindings", "", []string{"create"}, nil},
		{"", "services", "", []string{"get", "update"}, nil},
		{"chaosnight.dev", "experiments", "", []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}, nil},
		{"chaosnight.dev", "experiments", "status", []string{"get", "update", "patch"}, nil},
		{"chaosnight.dev", "chaosnights", "", []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}, nil},
		{"chaosnight.dev", "chaosnights", "status", []string{"get", "update", "patch"}, nil},
	}
	for _, ns := range append(nss, "") {
		for _, r := range everywhere {
			names := r.names
			if len(names) == 0 {
				names = []string{""}
			}
			for _, v := range r.verbs {
				for _, n := range names {
					if n != "" && (v == "list" || v == "watch" || v == "create" || v == "deletecollection") {
						continue
					}
					out = append(out, access{Namespace: ns, Verb: v, Group: r.group, Resource: r.resource, Subresource: r.sub, Name: n})
				}
			}
		}
	}
	for _, v := range []string{"get", "list", "watch", "update", "delete"} {
		for _, n := range []string{"", "shop", "kube-system"} {
			if n != "" && (v == "list" || v == "watch") {
				continue
			}
			out = append(out, access{Verb: v, Resource: "namespaces", Name: n})
		}
	}
	for _, r := range []struct{ group, resource, verb string }{
		{"", "nodes", "get"}, {"", "nodes", "update"}, {"", "nodes", "list"}, {"", "nodes", "patch"}, {"", "nodes", "delete"},
		{"rbac.authorization.k8s.io", "clusterroles", "bind"}, {"rbac.authorization.k8s.io", "clusterroles", "escalate"},
		{"rbac.authorization.k8s.io", "clusterrolebindings", "create"},
		{"certificates.k8s.io", "certificatesigningrequests", "create"},
		{"", "persistentvolumes", "delete"},
		{"admissionregistration.k8s.io", "validatingwebhookconfigurations", "delete"},
	} {
		out = append(out, access{Verb: r.verb, Group: r.group, Resource: r.resource})
	}
	return out
}

// checkAccess asks every probe of f and compares the real API server's
// answers with expectedGrants.
func checkAccess(ctx context.Context, t testing.TB, c kubernetes.Interface, f features) {
	t.Helper()
	ps := probes(f)
	type answer struct {
		allowed bool
		err     error
	}
	answers := make([]answer, len(ps))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, p := range ps {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ok, err := allowedFor(ctx, c, f.releaseNS, f.sa, p)
			answers[i] = answer{ok, err}
		})
	}
	wg.Wait()
	var wrong []string
	for i, p := range ps {
		if answers[i].err != nil {
			t.Fatal(answers[i].err)
		}
		want := f.expectAllowed(p)
		if answers[i].allowed != want {
			wrong = append(wrong, fmt.Sprintf("  %s: API server says allowed=%v, want %v", p, answers[i].allowed, want))
		}
		// Node-scope stress reads a node's opt-in label, and nothing else of
		// nodes; node faults also list and patch (cordon) them, never update
		// or delete them.
		nodeOptIn := (f.stressNode || f.nodeFaults) && p.Resource == "nodes" && p.Verb == "get"
		nodeFault := f.nodeFaults && p.Resource == "nodes" && (p.Verb == "list" || p.Verb == "patch")
		if answers[i].allowed && (p.Resource == "secrets" || (p.Resource == "nodes" && !nodeOptIn && !nodeFault) || strings.HasPrefix(p.Group, "rbac")) {
			t.Errorf("the runner may %s", p)
		}
		// The custom resources are read, never written: only their status
		// is (a GitOps tool would see any other write as drift).
		if answers[i].allowed && p.Group == "chaosnight.dev" && p.Subresource == "" && !slices.Contains([]string{"get", "list", "watch"}, p.Verb) {
			t.Errorf("the runner may %s", p)
		}
	}
	if len(wrong) > 0 {
		t.Errorf("%d of %d access reviews differ from the least privilege of the features:\n%s", len(wrong), len(ps), strings.Join(wrong, "\n"))
	}
}

// TestApplyMatrix renders every case of the matrix, creates every object
// on the real API server (strict field validation, in a namespace that
// enforces Pod Security "restricted"), and checks the ServiceAccount's
// rights with SubjectAccessReviews against the real RBAC.
func TestApplyMatrix(t *testing.T) {
	s := sandbox.Require(t, sb)
	t.Parallel()
	ctx := t.Context()
	a := newApplier(t, s)
	installMonitoringCRDs(ctx, t, a)
	for _, mc := range matrix() {
		t.Run(mc.name, func(t *testing.T) {
			name := "cn-" + mc.name
			want := mc.want
			want.releaseNS = name
			if want.sa == releaseName {
				want.sa = name + "-chaosnight"
			}
			ensureNamespace(ctx, t, s.Client(), name)
			rel := renderNamed(t, name, name, vals(t, mc.values))
			for _, o := range rel.Objects {
				if err := a.create(ctx, o); err != nil {
					t.Errorf("the API server refuses a rendered object: %v", err)
				}
			}
			if w := a.takeWarnings(); len(w) > 0 {
				t.Errorf("API server warnings: %q", w)
			}
			checkPodSecurity(ctx, t, s.Client(), rel)
			checkAccess(ctx, t, s.Client(), want)
		})
	}
}
