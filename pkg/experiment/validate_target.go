package experiment

import (
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/validation"
)

// podFieldSelectors are the fields the API server lets a client select
// pods by (the pod field label conversion of k8s.io/kubernetes). Anything
// else is refused by the server at run time; checking here turns a failed
// run into a file error. A precomputed table, never modified.
var podFieldSelectors = []string{
	"metadata.name",
	"metadata.namespace",
	"spec.nodeName",
	"spec.restartPolicy",
	"spec.schedulerName",
	"spec.serviceAccountName",
	"spec.hostNetwork",
	"status.phase",
	"status.podIP",
	"status.podIPs",
	"status.nominatedNodeName",
}

func (v *validator) target(t *Target) {
	const path = "spec.target"
	if len(t.Namespaces) == 0 {
		v.add(path+".namespaces", "at least one namespace is required (there is no wildcard: the blast radius is always spelled out)")
	}
	first := map[string]int{}
	for i, ns := range t.Namespaces {
		np := indexPath(path+".namespaces", i)
		switch {
		case ns == "":
			v.add(np, "empty namespace name (%s)", dnsLabelRule)
		case len(validation.IsDNS1123Label(ns)) > 0:
			v.add(np, "invalid namespace name %s (%s)", quoteValue(ns), dnsLabelRule)
		default:
			if j, dup := first[ns]; dup {
				v.add(np, "duplicate namespace %s (also at namespaces[%d])", quoteValue(ns), j)
			} else {
				first[ns] = i
			}
		}
	}

	v.labelSelector(path+".selector", t.Selector)
	v.fieldSelector(path+".fieldSelector", t.FieldSelector)
	v.pick(path+".pick", &t.Pick)
	v.duration(path+".minAge", t.MinAge, durationRule{})
}

func (v *validator) labelSelector(path, s string) {
	if strings.TrimSpace(s) == "" {
		v.add(path, "required (a label selector in kubectl syntax such as app=checkout; an experiment never targets every pod)")
		return
	}
	sel, err := labels.Parse(s)
	if err != nil {
		v.add(path, "invalid label selector %s: %v", quoteValue(s), err)
		return
	}
	if sel.Empty() {
		v.add(path, "selects every pod (name at least one label, such as app=checkout)")
		return
	}
	if !SelectsPositively(sel) {
		v.add(path, "%s only excludes pods, so it selects almost every pod of the namespaces (add a requirement that names what to target: key=value, key==value, key in (a,b) or key; !=, notin and !key may only narrow it)", quoteValue(s))
	}
}

// SelectsPositively reports whether sel has at least one requirement that
// names the pods it selects (key=value, key==value, key in (...), key).
// A selector made only of exclusions (app!=x, app notin (a), !foo) matches
// every pod that lacks the excluded labels, new workloads included: a blast
// radius nobody spelled out.
func SelectsPositively(sel labels.Selector) bool {
	reqs, _ := sel.Requirements()
	for _, r := range reqs {
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In, selection.Exists:
			return true
		}
	}
	return false
}

func (v *validator) fieldSelector(path, s string) {
	if s == "" {
		return
	}
	sel, err := fields.ParseSelector(s)
	if err != nil {
		v.add(path, "invalid field selector %s: %v", quoteValue(s), err)
		return
	}
	for _, r := range sel.Requirements() {
		if !slices.Contains(podFieldSelectors, r.Field) {
			v.add(path, "pods cannot be selected by field %s (allowed: %s)", quoteValue(r.Field), strings.Join(podFieldSelectors, ", "))
		}
	}
}

func (v *validator) pick(path string, p *Pick) {
	var modes []string
	if p.Count != nil {
		modes = append(modes, "count")
		if *p.Count < 1 {
			v.add(path+".count", "must be at least 1, got %d", *p.Count)
		}
	}
	if p.Percent != nil {
		modes = append(modes, "percent")
		if *p.Percent < 1 || *p.Percent > 100 {
			v.add(path+".percent", "must be between 1 and 100, got %d", *p.Percent)
		}
	}
	if p.All {
		modes = append(modes, "all")
	}
	if len(modes) > 1 {
		v.add(path, "%d modes set: %s (set exactly one of count, percent, all)", len(modes), strings.Join(modes, ", "))
	}
}
