package chart_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/yaml"

	"github.com/chaosnight/chaosnight/pkg/cr"
	"github.com/chaosnight/chaosnight/pkg/faults"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// The chart side of the custom resources (#18 point 6): the
// customResources and externalURL values, the runner's rights on
// Experiments and ChaosNights (read them, write their status, nothing
// else), and the roles aggregated into the cluster's edit and view.

var (
	experimentsGVR = schema.GroupVersionResource{Group: "chaosnight.dev", Version: "v1alpha1", Resource: "experiments"}
	nightsGVR      = schema.GroupVersionResource{Group: "chaosnight.dev", Version: "v1alpha1", Resource: "chaosnights"}
)

// The namespaces of the custom-resource rights test: the runner may read
// the objects of crIn, not those of crOut. Not shop: no night of the other
// tests' runners (which read every namespace by default) may select them.
const crIn, crOut = "crs-in", "crs-out"

// customResourceRules is what the runner may do on the custom resources,
// written down independently of the templates.
var customResourceRules = []rbacv1.PolicyRule{
	{APIGroups: []string{"chaosnight.dev"}, Resources: []string{"experiments", "chaosnights"}, Verbs: []string{"get", "list", "watch"}},
	{APIGroups: []string{"chaosnight.dev"}, Resources: []string{"experiments/status", "chaosnights/status"}, Verbs: []string{"update", "patch"}},
}

// TestCustomResourceValues renders the customResources and externalURL
// values and checks the serve configuration (with serve's strict loader),
// the RBAC objects and NOTES.txt.
func TestCustomResourceValues(t *testing.T) {
	t.Parallel()
	type want struct {
		enabled     bool
		namespaces  []string // customResources.namespaces in the config
		url         string   // externalURL in the config
		clusterRole bool     // the runner's ClusterRole on the custom resources
		roles       []string // or its Roles, in these namespaces
		aggregated  bool     // the edit and view ClusterRoles
		notes       string   // in NOTES.txt ("" : no kubectl get experiments line)
	}
	for _, tc := range []struct {
		name, release, namespace, values string
		want                             want
	}{
		{name: "defaults", want: want{enabled: true, url: "http://chaosnight.chaosnight.svc:8080", clusterRole: true, aggregated: true,
			notes: "(every namespace)"}},
		{name: "namespaces", values: `customResources: {namespaces: [shop-staging, shop, shop-staging, chaosnight]}`,
			want: want{enabled: true, namespaces: []string{"chaosnight", "shop", "shop-staging"}, url: "http://chaosnight.chaosnight.svc:8080",
				roles: []string{"chaosnight", "shop", "shop-staging"}, aggregated: true, notes: "(namespaces chaosnight, shop, shop-staging)"}},
		{name: "disabled", values: `customResources: {enabled: false, namespaces: [shop]}`,
			want: want{url: "http://chaosnight.chaosnight.svc:8080"}},
		{name: "no aggregated roles", values: `customResources: {aggregateToDefaultRoles: false}`,
			want: want{enabled: true, url: "http://chaosnight.chaosnight.svc:8080", clusterRole: true, notes: "(every namespace)"}},
		{name: "external URL", values: `externalURL: https://chaos.example.com/night/`,
			want: want{enabled: true, url: "https://chaos.example.com/night", clusterRole: true, aggregated: true, notes: "(every namespace)"}},
		{name: "other release, namespace and port", release: "nightly", namespace: "ops", values: `service: {port: 9090}`,
			want: want{enabled: true, url: "http://nightly-chaosnight.ops.svc:9090", clusterRole: true, aggregated: true, notes: "(every namespace)"}},
		{name: "no RBAC", values: `rbac: {create: false}
serviceAccount: {create: false, name: existing}`,
			want: want{enabled: true, url: "http://chaosnight.chaosnight.svc:8080", notes: "(every namespace)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			name, ns := releaseName, releaseNamespace
			if tc.release != "" {
				name, ns = tc.release, tc.namespace
			}
			rel := renderNamed(t, name, ns, vals(t, tc.values))
			full := rel.fullname()
			cfg := loadRenderedConfig(t, rel)
			if cfg.CustomResources.Enabled != tc.want.enabled || !slices.Equal(cfg.CustomResources.Namespaces, tc.want.namespaces) {
				t.Errorf("customResources = %+v, want enabled %v namespaces %v", cfg.CustomResources, tc.want.enabled, tc.want.namespaces)
			}
			if cfg.ExternalURL != tc.want.url {
				t.Errorf("externalURL = %q, want %q", cfg.ExternalURL, tc.want.url)
			}

			crName := full + "-" + ns + "-custom-resources"
			if cr := rel.lookup("ClusterRole", crName); (cr != nil) != tc.want.clusterRole {
				t.Errorf("ClusterRole %s rendered: %v, want %v", crName, cr != nil, tc.want.clusterRole)
			} else if cr != nil {
				if rules := typed[rbacv1.ClusterRole](t, cr).Rules; !equalRules(rules, customResourceRules) {
					t.Errorf("ClusterRole %s rules %+v, want %+v", crName, rules, customResourceRules)
				}
				crb := typed[rbacv1.ClusterRoleBinding](t, rel.find(t, "ClusterRoleBinding", crName))
				if crb.RoleRef.Name != crName || len(crb.Subjects) != 1 || crb.Subjects[0].Name != full || crb.Subjects[0].Namespace != ns {
					t.Errorf("ClusterRoleBinding %s: %+v %+v", crName, crb.RoleRef, crb.Subjects)
				}
			}
			var roles []string
			for _, o := range rel.kinds("Role") {
				if o.GetName() != full+"-custom-resources" {
					continue
				}
				roles = append(roles, o.GetNamespace())
				if rules := typed[rbacv1.Role](t, o).Rules; !equalRules(rules, customResourceRules) {
					t.Errorf("Role %s/%s rules %+v, want %+v", o.GetNamespace(), o.GetName(), rules, customResourceRules)
				}
				rb := typed[rbacv1.RoleBinding](t, rel.find(t, "RoleBinding", full+"-custom-resources"))
				if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != full+"-custom-resources" || rb.Subjects[0].Namespace != ns {
					t.Errorf("RoleBinding %s: %+v %+v", rb.Name, rb.RoleRef, rb.Subjects)
				}
			}
			slices.Sort(roles)
			if !slices.Equal(roles, tc.want.roles) {
				t.Errorf("Roles on the custom resources in %v, want %v", roles, tc.want.roles)
			}

			edit, view := rel.lookup("ClusterRole", full+"-"+ns+"-experiments-edit"), rel.lookup("ClusterRole", full+"-"+ns+"-experiments-view")
			if (edit != nil) != tc.want.aggregated || (view != nil) != tc.want.aggregated {
				t.Errorf("aggregated roles rendered: edit %v view %v, want %v", edit != nil, view != nil, tc.want.aggregated)
			}
			if edit != nil && view != nil {
				checkAggregatedRoles(t, typed[rbacv1.ClusterRole](t, edit), typed[rbacv1.ClusterRole](t, view))
				// Bound to nobody: the cluster's own bindings of edit, admin
				// and view give them to people.
				for _, kind := range []string{"RoleBinding", "ClusterRoleBinding"} {
					for _, o := range rel.kinds(kind) {
						if ref := o.Object["roleRef"].(map[string]any)["name"]; ref == edit.GetName() || ref == view.GetName() {
							t.Errorf("%s %s binds %v", kind, o.GetName(), ref)
						}
					}
				}
			}

			const line = "kubectl get experiments -A"
			if has := strings.Contains(rel.Notes, line); has != (tc.want.notes != "") || !strings.Contains(rel.Notes, tc.want.notes) {
				t.Errorf("NOTES.txt, want %q with %q: %v\n%s", line, tc.want.notes, has, rel.Notes)
			}
		})
	}
}

// checkAggregatedRoles: edit (and so admin) manages the objects but never
// writes their status (the runner's verdict); view reads both.
func checkAggregatedRoles(t *testing.T, edit, view *rbacv1.ClusterRole) {
	t.Helper()
	if edit.Labels["rbac.authorization.k8s.io/aggregate-to-edit"] != "true" || edit.Labels["rbac.authorization.k8s.io/aggregate-to-admin"] != "true" {
		t.Errorf("edit role labels %v", edit.Labels)
	}
	if view.Labels["rbac.authorization.k8s.io/aggregate-to-view"] != "true" {
		t.Errorf("view role labels %v", view.Labels)
	}
	wantEdit := []rbacv1.PolicyRule{{APIGroups: []string{"chaosnight.dev"}, Resources: []string{"experiments", "chaosnights"},
		Verbs: []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}}}
	if !equalRules(edit.Rules, wantEdit) {
		t.Errorf("edit rules %+v, want %+v", edit.Rules, wantEdit)
	}
	wantView := []rbacv1.PolicyRule{{APIGroups: []string{"chaosnight.dev"}, Resources: []string{"experiments", "experiments/status", "chaosnights", "chaosnights/status"},
		Verbs: []string{"get", "list", "watch"}}}
	if !equalRules(view.Rules, wantView) {
		t.Errorf("view rules %+v, want %+v", view.Rules, wantView)
	}
}

func equalRules(a, b []rbacv1.PolicyRule) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !slices.Equal(a[i].APIGroups, b[i].APIGroups) || !slices.Equal(a[i].Resources, b[i].Resources) ||
			!slices.Equal(a[i].Verbs, b[i].Verbs) || len(a[i].ResourceNames) != 0 || len(b[i].ResourceNames) != 0 {
			return false
		}
	}
	return true
}

// TestCustomResourceSettings: the customResources and externalURL values
// are read at start, so a change rolls the runners; values from before
// these keys existed (helm upgrade --reuse-values keeps the old chart's
// defaults, without them) render the defaults.
func TestCustomResourceSettings(t *testing.T) {
	t.Parallel()
	sum := func(values string) string {
		d := typed[appsv1.Deployment](t, render(t, vals(t, values)).find(t, "Deployment", "chaosnight"))
		return d.Spec.Template.Annotations["checksum/settings"]
	}
	orig := sum(``)
	for _, changed := range []string{`customResources: {enabled: false}`, `customResources: {namespaces: [shop]}`, `externalURL: https://chaos.example.com`} {
		if sum(changed) == orig {
			t.Errorf("%s does not change the pod template: the runners would keep the old setting", changed)
		}
	}

	c := loadChart(t)
	delete(c.Values, "customResources")
	delete(c.Values, "externalURL")
	rel, err := renderChart(c, releaseName, releaseNamespace, nil)
	if err != nil {
		t.Fatalf("values without customResources and externalURL: %v", err)
	}
	cfg := loadRenderedConfig(t, rel)
	if !cfg.CustomResources.Enabled || len(cfg.CustomResources.Namespaces) != 0 || cfg.ExternalURL != "http://chaosnight.chaosnight.svc:8080" {
		t.Errorf("customResources %+v externalURL %q, want the defaults", cfg.CustomResources, cfg.ExternalURL)
	}
	for _, name := range []string{"chaosnight-chaosnight-custom-resources", "chaosnight-chaosnight-experiments-edit", "chaosnight-chaosnight-experiments-view"} {
		rel.find(t, "ClusterRole", name)
	}
}

// TestCustomResourceValuesRefused: the schema refuses what serve would
// refuse, at install time.
func TestCustomResourceValuesRefused(t *testing.T) {
	t.Parallel()
	c := loadChart(t)
	for _, tc := range []struct{ name, values, want string }{
		{"typo", `customResources: {enable: true}`, "enable"},
		{"not a boolean", `customResources: {enabled: "yes"}`, "enabled"},
		{"bad namespace", `customResources: {namespaces: [Shop]}`, "Shop"},
		{"namespaces not a list", `customResources: {namespaces: shop}`, "namespaces"},
		{"URL without a scheme", `externalURL: chaos.example.com`, "externalURL"},
		{"URL of another scheme", `externalURL: ftp://chaos.example.com`, "externalURL"},
		{"URL with a query", `externalURL: "https://chaos.example.com/?a=b"`, "externalURL"},
		{"URL without a host", `externalURL: "https:///runs"`, "externalURL"},
	} {
		_, err := renderChart(c, releaseName, releaseNamespace, vals(t, tc.values))
		switch {
		case err == nil:
			t.Errorf("%s: %s was accepted", tc.name, tc.values)
		case !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: the error does not name %q: %v", tc.name, tc.want, err)
		}
	}
}

// allowedForUser asks the API server whether a user (of the groups a
// logged-in user has) may do a.
func allowedForUser(ctx context.Context, c kubernetes.Interface, user string, a access) (bool, error) {
	r, err := c.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User:   user,
		Groups: []string{"system:authenticated"},
		ResourceAttributes: &authzv1.ResourceAttributes{
			Namespace: a.Namespace, Verb: a.Verb, Group: a.Group, Resource: a.Resource, Subresource: a.Subresource, Name: a.Name,
		},
	}}, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("subjectaccessreview %s for %s: %w", a, user, err)
	}
	return r.Status.Allowed, nil
}

// crAccess is a question about the custom resources.
func crAccess(ns, verb, resource, sub string) access {
	return access{Namespace: ns, Verb: verb, Group: "chaosnight.dev", Resource: resource, Subresource: sub}
}

// TestCustomResourceRights installs the chart's RBAC on the sandbox, with
// customResources.namespaces [crIn] and with every namespace, and proves
// with SubjectAccessReviews and with real requests holding the runner's
// token that it may read Experiments and ChaosNights and write their
// status where it is allowed to, and nothing else; then that the roles
// aggregated into edit and view give people what they should.
func TestCustomResourceRights(t *testing.T) {
	s := sandbox.Require(t, sb)
	t.Parallel()
	ctx := t.Context()
	admin := s.Client()
	a := newApplier(t, s)
	s.InstallCRDs(t, filepath.Join(chartDir(t), "crds")) // as helm install does; other tests may have already
	for _, ns := range []string{crIn, crOut} {
		if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name, values string
		everywhere   bool
	}{
		{name: "cn-crs-namespaced", values: "rbac: {namespaces: [shop]}\ncustomResources: {namespaces: [" + crIn + "]}"},
		{name: "cn-crs-cluster", values: "rbac: {namespaces: [shop]}", everywhere: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ensureNamespace(ctx, t, admin, tc.name)
			rel := renderNamed(t, tc.name, tc.name, vals(t, tc.values))
			for _, o := range rel.Objects {
				if err := a.create(ctx, o); err != nil {
					t.Fatalf("the API server refuses a rendered object: %v", err)
				}
			}
			sa := rel.fullname()
			type question struct {
				a    access
				want bool
			}
			var qs []question
			// Where it reads: crIn, and with every namespace also the
			// others and cluster-wide lists and watches.
			for _, ns := range []string{crIn, crOut, "kube-system", ""} {
				in := ns == crIn || tc.everywhere
				for _, res := range []string{"experiments", "chaosnights"} {
					for _, v := range []string{"get", "list", "watch"} {
						qs = append(qs, question{crAccess(ns, v, res, ""), in})
					}
					for _, v := range []string{"update", "patch"} {
						qs = append(qs, question{crAccess(ns, v, res, "status"), in})
					}
					// Never: writing the objects themselves, or reading
					// status through the subresource (not needed: the
					// object carries it).
					for _, v := range []string{"create", "update", "patch", "delete", "deletecollection"} {
						qs = append(qs, question{crAccess(ns, v, res, ""), false})
					}
					qs = append(qs, question{crAccess(ns, "get", res, "status"), false})
				}
			}
			var wrong []string
			for _, q := range qs {
				got, err := allowedFor(ctx, admin, tc.name, sa, q.a)
				if err != nil {
					t.Fatal(err)
				}
				if got != q.want {
					wrong = append(wrong, fmt.Sprintf("  %s: allowed=%v, want %v", q.a, got, q.want))
				}
			}
			if len(wrong) > 0 {
				t.Errorf("%d of %d access reviews of the runner are wrong:\n%s", len(wrong), len(qs), strings.Join(wrong, "\n"))
			}
			if !tc.everywhere {
				checkRunnerRequests(ctx, t, s, tc.name, sa)
				checkStatusWriter(ctx, t, s, tc.name, sa, loadRenderedConfig(t, rel).ExternalURL)
			}
		})
	}
	t.Run("aggregated", func(t *testing.T) { checkAggregated(ctx, t, admin) })
}

// checkRunnerRequests makes real requests with a token of the runner's
// ServiceAccount (customResources.namespaces [crIn]): it lists, watches
// and reads Experiments and ChaosNights of crIn, writes every sample
// status of the ArgoCD health cases (the API server's status schema
// accepts them, and the health of the stored object is the one decided),
// and is refused any write of spec or metadata, and anything in
// crOut.
func checkRunnerRequests(ctx context.Context, t *testing.T, s *sandbox.Sandbox, releaseNS, sa string) {
	t.Helper()
	adminDyn, err := dynamic.NewForConfig(s.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	saCfg, err := s.ServiceAccountConfig(ctx, releaseNS, sa)
	if err != nil {
		t.Fatal(err)
	}
	runner, err := dynamic.NewForConfig(saCfg)
	if err != nil {
		t.Fatal(err)
	}
	experimentDoc, err := os.ReadFile(filepath.Join(chartDir(t), "..", "..", "experiments", "checkout-pod-kill.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	nightDoc, err := os.ReadFile(filepath.Join(chartDir(t), "..", "..", "test", "crd", "testdata", "chaosnight.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	gvrOf := map[string]schema.GroupVersionResource{"Experiment": experimentsGVR, "ChaosNight": nightsGVR}
	docOf := map[string][]byte{"Experiment": experimentDoc, "ChaosNight": nightDoc}
	// create makes an object of kind in ns as its owner would (kubectl
	// apply with the admin's rights), its spec changed until its
	// generation is gen.
	create := func(kind, ns, name string, gen int64) *unstructured.Unstructured {
		t.Helper()
		var m map[string]any
		if err := yaml.Unmarshal(docOf[kind], &m); err != nil {
			t.Fatal(err)
		}
		obj := &unstructured.Unstructured{Object: m}
		obj.SetName(name)
		obj.SetNamespace(ns)
		obj.SetLabels(nil) // no night selects it
		if kind == "ChaosNight" {
			// The runners of other tests read ChaosNights of every
			// namespace: this night must play nothing of theirs.
			_ = unstructured.SetNestedField(obj.Object, map[string]any{"names": []any{"crs-no-such-experiment"}}, "spec", "experiments")
		}
		ri := adminDyn.Resource(gvrOf[kind]).Namespace(ns)
		obj, err := ri.Create(ctx, obj, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
		if err != nil {
			t.Fatalf("create %s %s/%s: %v", kind, ns, name, err)
		}
		for obj.GetGeneration() < gen {
			// A spec change: the API server counts it in metadata.generation.
			patch := fmt.Sprintf(`{"spec":{"duration":"%dm"}}`, obj.GetGeneration()+2)
			if kind == "ChaosNight" {
				patch = fmt.Sprintf(`{"spec":{"maxPerNight":%d}}`, obj.GetGeneration()+4)
			}
			if obj, err = ri.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		return obj
	}

	probe := create("Experiment", crIn, "rights-probe", 1)
	outside := create("Experiment", crOut, "rights-probe", 1)
	// RBAC reaches the authorizer's cache within moments, not at once.
	sandbox.WaitFor(t, 30*time.Second, "the runner lists Experiments in crIn", func() error {
		_, err := runner.Resource(experimentsGVR).Namespace(crIn).List(ctx, metav1.ListOptions{})
		return err
	})
	if _, err := runner.Resource(nightsGVR).Namespace(crIn).List(ctx, metav1.ListOptions{}); err != nil {
		t.Errorf("the runner cannot list ChaosNights in %s: %v", crIn, err)
	}
	w, err := runner.Resource(experimentsGVR).Namespace(crIn).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=rights-probe"})
	if err != nil {
		t.Fatalf("the runner cannot watch Experiments in %s: %v", crIn, err)
	}
	select {
	case ev := <-w.ResultChan():
		if o, ok := ev.Object.(*unstructured.Unstructured); !ok || o.GetName() != "rights-probe" {
			t.Errorf("watch: first event %s %T, want the object", ev.Type, ev.Object)
		}
	case <-time.After(30 * time.Second):
		t.Error("watch: no event for an existing object")
	}
	w.Stop()

	// Refused: every write of the object itself, anything outside crIn.
	forbidden := func(what string, err error) {
		t.Helper()
		if !apierrors.IsForbidden(err) {
			t.Errorf("%s: %v, want forbidden", what, err)
		}
	}
	ri := runner.Resource(experimentsGVR).Namespace(crIn)
	changed := probe.DeepCopy()
	_ = unstructured.SetNestedField(changed.Object, "9m", "spec", "duration")
	_, err = ri.Update(ctx, changed, metav1.UpdateOptions{})
	forbidden("update the spec", err)
	_, err = ri.Patch(ctx, "rights-probe", types.MergePatchType, []byte(`{"metadata":{"labels":{"touched":"yes"}}}`), metav1.PatchOptions{})
	forbidden("patch the metadata", err)
	err = ri.Delete(ctx, "rights-probe", metav1.DeleteOptions{})
	forbidden("delete", err)
	fresh := probe.DeepCopy()
	fresh.SetName("created-by-runner")
	fresh.SetResourceVersion("")
	_, err = ri.Create(ctx, fresh, metav1.CreateOptions{})
	forbidden("create", err)
	_, err = runner.Resource(nightsGVR).Namespace(crIn).Patch(ctx, "any", types.MergePatchType, []byte(`{"spec":{"lasts":"1h"}}`), metav1.PatchOptions{})
	forbidden("patch a ChaosNight", err)
	_, err = runner.Resource(experimentsGVR).Namespace(crOut).List(ctx, metav1.ListOptions{})
	forbidden("list in crOut", err)
	outside.Object["status"] = map[string]any{"nextRun": "2026-12-08T22:00:00Z"}
	_, err = runner.Resource(experimentsGVR).Namespace(crOut).UpdateStatus(ctx, outside, metav1.UpdateOptions{})
	forbidden("update the status in crOut", err)
	_, err = runner.Resource(experimentsGVR).Namespace(crOut).Patch(ctx, "rights-probe", types.MergePatchType,
		[]byte(`{"status":{"nextRun":"2026-12-08T22:00:00Z"}}`), metav1.PatchOptions{}, "status")
	forbidden("patch the status in crOut", err)

	// Allowed: the status, by update and by patch; each sample status of
	// the ArgoCD health cases is accepted and reads back with its health.
	_, err = ri.Patch(ctx, "rights-probe", types.MergePatchType, []byte(`{"status":{"nextRun":"2026-12-08T22:00:00Z"}}`), metav1.PatchOptions{}, "status")
	if err != nil {
		t.Errorf("the runner cannot patch the status: %v", err)
	}
	nonDNS := regexp.MustCompile(`[^a-z0-9]+`)
	for _, c := range healthCases() {
		name := strings.Trim(nonDNS.ReplaceAllString(strings.ToLower(c.name), "-"), "-")
		stored := create(c.kind, crIn, name, c.generation)
		if c.status != "" {
			// What the API server stored is the answer to this write (a
			// runner of another test may write a status of its own later;
			// a conflict with one is retried).
			status := c.object(t).Object["status"]
			err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
				cur, err := runner.Resource(gvrOf[c.kind]).Namespace(crIn).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return err
				}
				cur.Object["status"] = status
				stored, err = runner.Resource(gvrOf[c.kind]).Namespace(crIn).UpdateStatus(ctx, cur, metav1.UpdateOptions{FieldValidation: metav1.FieldValidationStrict})
				return err
			})
			if err != nil {
				t.Errorf("%s: the runner's status update is refused: %v", c.name, err)
				continue
			}
		}
		if stored.GetGeneration() != c.generation {
			t.Errorf("%s: generation %d, want %d", c.name, stored.GetGeneration(), c.generation)
		}
		checkHealth(t, c, stored)
	}
}

// checkStatusWriter writes status as serve does, with pkg/cr's
// StatusWriter (server-side apply on the status subresource) holding the
// runner's token and the chart's externalURL: the chart's rights are
// enough for every write of the runner's life cycle (validation, a run
// started, a run ended), and ArgoCD's health follows each. Only writes no
// other runner of the package can make differently are used: runners of
// other tests read every namespace and validate these objects too, with
// the same result.
func checkStatusWriter(ctx context.Context, t *testing.T, s *sandbox.Sandbox, releaseNS, sa, externalURL string) {
	t.Helper()
	saCfg, err := s.ServiceAccountConfig(ctx, releaseNS, sa)
	if err != nil {
		t.Fatal(err)
	}
	runnerDyn, err := dynamic.NewForConfig(saCfg)
	if err != nil {
		t.Fatal(err)
	}
	adminDyn, err := dynamic.NewForConfig(s.RESTConfig)
	if err != nil {
		t.Fatal(err)
	}
	w := &cr.StatusWriter{Client: runnerDyn, ExternalURL: externalURL}
	data, err := os.ReadFile(filepath.Join(chartDir(t), "..", "..", "experiments", "checkout-pod-kill.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	obj := &unstructured.Unstructured{Object: m}
	obj.SetName("written-by-the-runner")
	obj.SetLabels(nil)
	ri := adminDyn.Resource(experimentsGVR).Namespace(crIn)
	if obj, err = ri.Create(ctx, obj, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}); err != nil {
		t.Fatal(err)
	}
	kinds := faults.Must().Formats()
	health := func(step, want, message string) {
		t.Helper()
		u, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		checkHealth(t, healthCase{name: step, kind: "Experiment", want: want, message: message}, u)
	}
	validate := func() {
		t.Helper()
		u, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		_, problems := cr.DecodeExperiment(kinds, u)
		if err := w.SetValid(ctx, cr.ExperimentGVR, u, problems); err != nil {
			t.Fatalf("the runner's Valid condition: %v", err)
		}
	}

	validate()
	health("validated", "Healthy", `^valid; `)
	ref := cr.Ref(obj)
	if err := w.RunStarted(ctx, ref, "crs-run-1", "weeknights"); err != nil {
		t.Fatalf("the runner's run start: %v", err)
	}
	health("run started", "Progressing", `^run crs-run-1 \(night weeknights\) in flight$`)
	now := time.Now()
	rec := &journal.Record{RunID: "crs-run-1", Verdict: journal.Deviated, Reasons: []string{"probe error-ratio: 0.07 is not below 0.01"},
		Started: now.Add(-5 * time.Minute), Ended: now}
	if err := w.RunEnded(ctx, ref, rec, "journals/crs-run-1.json"); err != nil {
		t.Fatalf("the runner's run end: %v", err)
	}
	health("run ended", "Degraded", `^Deviated \(run crs-run-1\): probe error-ratio: 0.07 is not below 0.01$`)
	u, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, _, _ := unstructured.NestedString(u.Object, "status", "lastRun", "reportURL"); got != externalURL+"/runs/crs-run-1" {
		t.Errorf("status.lastRun.reportURL = %q, want the chart's externalURL %q + /runs/crs-run-1", got, externalURL)
	}

	// The owner breaks the spec (the API server cannot check PromQL):
	// Progressing until the runner has validated it, then Degraded with
	// the located problem.
	changed, err := ri.Patch(ctx, obj.GetName(), types.JSONPatchType,
		[]byte(`[{"op":"replace","path":"/spec/hypothesis/probes/0/query","value":"sum(rate(http_requests_total[1m]"}]`), metav1.PatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The object as this change stored it: a runner of another test may
	// validate it a moment later.
	checkHealth(t, healthCase{name: "spec changed", kind: "Experiment", want: "Progressing", message: `^waiting for the runner: generation 2 not observed yet$`}, changed)
	validate()
	health("invalid", "Degraded", `spec\.hypothesis\.probes\[0\]\.query`)
}

// checkAggregated binds people to the cluster's edit, view and admin roles
// in crIn and asks what they may do with the custom resources once the
// cluster's aggregation controller has folded the chart's roles in.
func checkAggregated(ctx context.Context, t *testing.T, admin kubernetes.Interface) {
	users := map[string]string{"edit": "crs-editor@example.com", "view": "crs-viewer@example.com", "admin": "crs-admin@example.com"}
	for role, user := range users {
		_, err := admin.RbacV1().RoleBindings(crIn).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "crs-" + role},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
			Subjects:   []rbacv1.Subject{{Kind: "User", Name: user, APIGroup: "rbac.authorization.k8s.io"}},
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	// Aggregation is asynchronous: wait until each role shows its first
	// right, then ask every question.
	for role, a := range map[string]access{
		"edit": crAccess(crIn, "create", "experiments", ""), "admin": crAccess(crIn, "create", "experiments", ""),
		"view": crAccess(crIn, "get", "experiments", "status"),
	} {
		sandbox.WaitFor(t, 60*time.Second, role+" aggregates the chart's role", func() error {
			ok, err := allowedForUser(ctx, admin, users[role], a)
			if err == nil && !ok {
				err = fmt.Errorf("%s may not %s", users[role], a)
			}
			return err
		})
	}
	var qs []struct {
		role string
		a    access
		want bool
	}
	add := func(role string, a access, want bool) {
		qs = append(qs, struct {
			role string
			a    access
			want bool
		}{role, a, want})
	}
	for _, res := range []string{"experiments", "chaosnights"} {
		for _, v := range []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"} {
			add("edit", crAccess(crIn, v, res, ""), true)
			add("admin", crAccess(crIn, v, res, ""), true)
			add("view", crAccess(crIn, v, res, ""), v == "get" || v == "list" || v == "watch")
		}
		for _, v := range []string{"get", "update", "patch"} {
			// The verdict is the runner's: no person's default role writes it.
			add("edit", crAccess(crIn, v, res, "status"), v == "get")
			add("admin", crAccess(crIn, v, res, "status"), v == "get")
			add("view", crAccess(crIn, v, res, "status"), v == "get")
		}
		// Bound in crIn only.
		add("edit", crAccess(crOut, "get", res, ""), false)
		add("view", crAccess("", "list", res, ""), false)
	}
	for _, q := range qs {
		got, err := allowedForUser(ctx, admin, users[q.role], q.a)
		if err != nil {
			t.Fatal(err)
		}
		if got != q.want {
			t.Errorf("%s (%s): %s: allowed=%v, want %v", users[q.role], q.role, q.a, got, q.want)
		}
	}
}
