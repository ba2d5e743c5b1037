package sandbox

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
)

// Leftovers lists what is left of a Helm release after `helm uninstall`:
// every object of every listable namespaced resource type in namespace ns
// (found through discovery, so a kind nobody thought of is not missed), and
// the objects labelled app.kubernetes.io/instance=release anywhere else
// (cluster-scoped, or in other namespaces). Events (they expire by
// themselves) and the namespace's own defaults (ConfigMap
// kube-root-ca.crt, ServiceAccount default) are not counted.
// Each entry reads "kind namespace/name".
func (s *Sandbox) Leftovers(ctx context.Context, ns, release string) ([]string, error) {
	disc, err := discovery.NewDiscoveryClientForConfig(s.RESTConfig)
	if err != nil {
		return nil, fmt.Errorf("leftovers: %w", err)
	}
	dyn, err := dynamic.NewForConfig(s.RESTConfig)
	if err != nil {
		return nil, fmt.Errorf("leftovers: %w", err)
	}
	// A group that does not answer discovery is skipped with the rest
	// returned (the aggregated metrics API, when present, often does not).
	lists, _ := disc.ServerPreferredResources()
	skip := map[string]bool{
		"Event": true, "ConfigMap/kube-root-ca.crt": true, "ServiceAccount/default": true,
	}
	var out []string
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") || skip[r.Kind] {
				continue
			}
			items, err := leftoversOf(ctx, dyn.Resource(gv.WithResource(r.Name)), r, ns, release, skip)
			if err != nil {
				return nil, err
			}
			out = append(out, items...)
		}
	}
	sort.Strings(out)
	return out, nil
}

// leftoversOf lists one resource type's leftovers: every object in ns
// (when namespaced), and the release's labelled objects elsewhere.
func leftoversOf(ctx context.Context, res dynamic.NamespaceableResourceInterface, r metav1.APIResource, ns, release string, skip map[string]bool) ([]string, error) {
	var items []string
	if r.Namespaced {
		list, err := res.Namespace(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("leftovers: list %s in %s: %w", r.Name, ns, err)
		}
		for _, o := range list.Items {
			if !skip[r.Kind+"/"+o.GetName()] {
				items = append(items, r.Kind+" "+ns+"/"+o.GetName())
			}
		}
	}
	// Labelled objects elsewhere: cluster-scoped ones, and the release's
	// objects in other namespaces (Roles in the target namespaces).
	mine := metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + release}
	list, err := res.List(ctx, mine)
	if err != nil {
		return nil, fmt.Errorf("leftovers: list %s labelled %s: %w", r.Name, mine.LabelSelector, err)
	}
	for _, o := range list.Items {
		if o.GetNamespace() != ns {
			items = append(items, r.Kind+" "+o.GetNamespace()+"/"+o.GetName())
		}
	}
	return items, nil
}
