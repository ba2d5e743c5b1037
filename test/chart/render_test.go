package chart_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// The release every render uses unless a test says otherwise.
const (
	releaseName      = "chaosnight"
	releaseNamespace = "chaosnight"
)

// kubeVersion is the cluster version renders and lint assume (the
// sandbox's). Helm's library default is 1.20, below the chart's kubeVersion.
func kubeVersion() *chartutil.KubeVersion {
	return &chartutil.KubeVersion{Version: "v1.36.3", Major: "1", Minor: "36"}
}

// chartDir is charts/chaosnight, found from this file so that the tests run
// from any working directory.
func chartDir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "charts", "chaosnight")
}

func loadChart(t testing.TB) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir(t))
	if err != nil {
		t.Fatalf("load chart: %v", err)
	}
	return c
}

// vals parses YAML values, as a -f values file would be.
func vals(t testing.TB, doc string) map[string]any {
	t.Helper()
	out := map[string]any{}
	if err := yaml.Unmarshal([]byte(doc), &out); err != nil {
		t.Fatalf("test values: %v\n%s", err, doc)
	}
	return out
}

// release is one rendering of the chart, as `helm template` makes it.
type release struct {
	Name, Namespace string
	Manifest        string
	Notes           string
	Objects         []*unstructured.Unstructured
}

// renderChart renders the chart like `helm template NAME CHART -n NS
// --kube-version 1.36 -f values`: schema validation, template functions
// and NOTES.txt included, no cluster.
func renderChart(c *chart.Chart, name, ns string, values map[string]any) (*release, error) {
	cfg := &action.Configuration{
		Releases: storage.Init(driver.NewMemory()),
		Log:      func(string, ...any) {},
	}
	inst := action.NewInstall(cfg)
	inst.DryRun = true
	inst.DryRunOption = "client"
	inst.ClientOnly = true
	inst.Replace = true
	inst.ReleaseName = name
	inst.Namespace = ns
	inst.KubeVersion = kubeVersion()
	rel, err := inst.RunWithContext(context.Background(), c, values)
	if err != nil {
		return nil, err
	}
	objs, err := decodeManifest(rel.Manifest)
	if err != nil {
		return nil, err
	}
	return &release{Name: name, Namespace: ns, Manifest: rel.Manifest, Notes: rel.Info.Notes, Objects: objs}, nil
}

func render(t testing.TB, values map[string]any) *release {
	t.Helper()
	return renderNamed(t, releaseName, releaseNamespace, values)
}

func renderNamed(t testing.TB, name, ns string, values map[string]any) *release {
	t.Helper()
	rel, err := renderChart(loadChart(t), name, ns, values)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return rel
}

// decodeManifest splits a multi-document manifest into objects.
func decodeManifest(manifest string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	var out []*unstructured.Unstructured
	for {
		var m map[string]any
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("decode manifest: %w", err)
		}
		if len(m) == 0 {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: m})
	}
}

// find returns the object of that kind and name (any namespace), or fails.
func (r *release) find(t testing.TB, kind, name string) *unstructured.Unstructured {
	t.Helper()
	if o := r.lookup(kind, name); o != nil {
		return o
	}
	t.Fatalf("no %s %q in the rendered chart; objects: %s", kind, name, strings.Join(r.names(), ", "))
	return nil
}

func (r *release) lookup(kind, name string) *unstructured.Unstructured {
	for _, o := range r.Objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func (r *release) kinds(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.Objects {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func (r *release) names() []string {
	var out []string
	for _, o := range r.Objects {
		n := o.GetKind() + " " + o.GetName()
		if ns := o.GetNamespace(); ns != "" {
			n = o.GetKind() + " " + ns + "/" + o.GetName()
		}
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// typed converts a rendered object to its Go type (strictly: an unknown
// field is an error, as the API server's strict field validation would say).
func typed[T any](t testing.TB, o *unstructured.Unstructured) *T {
	t.Helper()
	data, err := o.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := yaml.UnmarshalStrict(data, &out); err != nil {
		t.Fatalf("%s %s: %v", o.GetKind(), o.GetName(), err)
	}
	return &out
}

// configData returns the data of a rendered ConfigMap.
func (r *release) configData(t testing.TB, name string) map[string]string {
	t.Helper()
	return typed[corev1.ConfigMap](t, r.find(t, "ConfigMap", name)).Data
}

// grant is one permission: verb on group/resource[/subresource], maybe
// limited to one name, in a namespace ("" = cluster-wide).
type grant struct {
	Namespace, Group, Resource, Verb, Name string
}

func (g grant) String() string {
	where := "cluster-wide"
	if g.Namespace != "" {
		where = "in " + g.Namespace
	}
	res := g.Resource
	if g.Group != "" {
		res = g.Group + "/" + res
	}
	if g.Name != "" {
		res += " " + g.Name
	}
	return fmt.Sprintf("%s %s %s", g.Verb, res, where)
}

// grants lists every permission the rendered RBAC gives the subject
// ServiceAccount ns/sa, one per verb, resource and name: what a
// SubjectAccessReview would allow, computed from the objects.
func (r *release) grants(t testing.TB, ns, sa string) []grant {
	t.Helper()
	roles := map[string][]rbacv1.PolicyRule{} // "ns/name" or "/name" for ClusterRoles
	for _, o := range r.kinds("Role") {
		roles[o.GetNamespace()+"/"+o.GetName()] = typed[rbacv1.Role](t, o).Rules
	}
	for _, o := range r.kinds("ClusterRole") {
		roles["/"+o.GetName()] = typed[rbacv1.ClusterRole](t, o).Rules
	}
	subject := func(subjects []rbacv1.Subject) bool {
		for _, s := range subjects {
			if s.Kind == "ServiceAccount" && s.Name == sa && s.Namespace == ns {
				return true
			}
		}
		return false
	}
	var out []grant
	add := func(where string, rules []rbacv1.PolicyRule) {
		for _, rule := range rules {
			for _, g := range rule.APIGroups {
				for _, res := range rule.Resources {
					for _, v := range rule.Verbs {
						names := rule.ResourceNames
						if len(names) == 0 {
							names = []string{""}
						}
						for _, n := range names {
							out = append(out, grant{Namespace: where, Group: g, Resource: res, Verb: v, Name: n})
						}
					}
				}
			}
		}
	}
	for _, o := range r.kinds("RoleBinding") {
		rb := typed[rbacv1.RoleBinding](t, o)
		if !subject(rb.Subjects) {
			continue
		}
		key := "/" + rb.RoleRef.Name
		if rb.RoleRef.Kind == "Role" {
			key = rb.Namespace + "/" + rb.RoleRef.Name
		}
		rules, ok := roles[key]
		if !ok {
			t.Fatalf("RoleBinding %s/%s refers to %s %s, which the chart does not render", rb.Namespace, rb.Name, rb.RoleRef.Kind, rb.RoleRef.Name)
		}
		add(rb.Namespace, rules)
	}
	for _, o := range r.kinds("ClusterRoleBinding") {
		crb := typed[rbacv1.ClusterRoleBinding](t, o)
		if !subject(crb.Subjects) {
			continue
		}
		rules, ok := roles["/"+crb.RoleRef.Name]
		if !ok || crb.RoleRef.Kind != "ClusterRole" {
			t.Fatalf("ClusterRoleBinding %s refers to %s %s, which the chart does not render", crb.Name, crb.RoleRef.Kind, crb.RoleRef.Name)
		}
		add("", rules)
	}
	sortGrants(out)
	return dedupe(out)
}

func sortGrants(gs []grant) {
	sort.Slice(gs, func(i, j int) bool { return gs[i].String() < gs[j].String() })
}

func dedupe(gs []grant) []grant {
	var out []grant
	for i, g := range gs {
		if i > 0 && g == gs[i-1] {
			continue
		}
		out = append(out, g)
	}
	return out
}

func grantList(gs []grant) string {
	var b bytes.Buffer
	for _, g := range gs {
		fmt.Fprintf(&b, "  %s\n", g)
	}
	return b.String()
}
