package cli

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/chaosnight/chaosnight/pkg/cr"
	"github.com/chaosnight/chaosnight/pkg/crd"
	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/schedule"
)

// doctorObjects is what the doctor found among the custom resources.
type doctorObjects struct {
	exps    []experiment.Experiment
	nights  []schedule.Night
	invalid []string
	counts  map[string]int // by kind
}

// customResources checks, when the configuration turns them on, that the
// Experiment and ChaosNight objects can be read where serve would watch
// them, and validates each as serve does: an invalid one fails the check
// with its located problems (serve would leave it out), the valid ones
// are returned to be checked like files.
func (d *doctor) customResources(ctx context.Context) ([]experiment.Experiment, []schedule.Night) {
	if !d.resources.Enabled {
		return nil, nil
	}
	dc, err := dynamic.NewForConfig(d.rest)
	if err != nil {
		d.report.fail(sectionResources, fmt.Sprintf("no Kubernetes client: %v", err), "")
		return nil, nil
	}
	namespaces := d.resources.Namespaces
	where := "in namespaces " + strings.Join(namespaces, ", ")
	if len(namespaces) == 0 {
		namespaces, where = []string{metav1.NamespaceAll}, "in every namespace"
	}
	found := &doctorObjects{counts: map[string]int{}}
	for _, ns := range namespaces {
		for _, kind := range []string{crd.ExperimentKind, crd.ChaosNightKind} {
			gvr := map[string]schema.GroupVersionResource{crd.ExperimentKind: cr.ExperimentGVR, crd.ChaosNightKind: cr.NightGVR}[kind]
			list, err := dc.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				unavailable := &cr.UnavailableError{Resource: gvr.GroupResource().String(), Err: err}
				d.report.fail(sectionResources, unavailable.Error(),
					fmt.Sprintf("kubectl apply --server-side -f charts/chaosnight/crds/, and grant %s get/list/watch on %s (the chart does)", d.user, gvr.GroupResource()))
				return nil, nil
			}
			for i := range list.Items {
				d.decodeObject(found, kind, &list.Items[i])
			}
		}
	}
	d.report.ok(sectionResources, "%d Experiment and %d ChaosNight objects readable %s; %d valid experiments and %d valid nights join the checks",
		found.counts[crd.ExperimentKind], found.counts[crd.ChaosNightKind], where, len(found.exps), len(found.nights))
	for _, msg := range found.invalid {
		d.report.fail(sectionResources, msg, "fix the object (kubectl edit, or its file in git)")
	}
	return found.exps, found.nights
}

// decodeObject validates one object as serve does and files it as valid
// or invalid.
func (d *doctor) decodeObject(found *doctorObjects, kind string, u *unstructured.Unstructured) {
	found.counts[kind]++
	var problems experiment.Problems
	if kind == crd.ExperimentKind {
		var e experiment.Experiment
		if e, problems = cr.DecodeExperiment(d.g.faults.Formats(), u); len(problems) == 0 {
			found.exps = append(found.exps, e)
		}
	} else {
		var n schedule.Night
		if n, problems = cr.DecodeNight(u, d.now); len(problems) == 0 {
			found.nights = append(found.nights, n)
		}
	}
	if len(problems) > 0 {
		found.invalid = append(found.invalid, fmt.Sprintf("%s is invalid: serve leaves it out (Valid=False): %s",
			cr.Describe(kind, u.GetNamespace(), u.GetName()), strings.ReplaceAll(cr.Message(problems), "\n", "; ")))
	}
}
