// Package cr is the cluster as a source of experiments and nights: the
// Experiment and ChaosNight custom resources (pkg/crd defines them). It
// watches them, validates each one exactly as a file is validated,
// reports what the API server's schema cannot check as a Valid=False
// condition with the located problems, and writes runs, verdicts and the
// next windows into their status, through the status subresource only: the
// runner never writes a spec or metadata, so GitOps tools stay in sync.
// docs/kubernetes-native.md is the user's view.
package cr

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/chaosnight/chaosnight/pkg/crd"
	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/schedule"
)

// The resources, as the dynamic client names them.
var (
	ExperimentGVR = schema.GroupVersionResource{Group: crd.Group, Version: crd.Version, Resource: crd.ExperimentPlural}
	NightGVR      = schema.GroupVersionResource{Group: crd.Group, Version: crd.Version, Resource: crd.ChaosNightPlural}
)

// lastApplied is kubectl's copy of the applied object: not the user's
// metadata, and as large as the spec.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// Describe names an object in problems and journals the way kubectl's
// users read it.
func Describe(kind, namespace, name string) string {
	return fmt.Sprintf("%s/%s -n %s", strings.ToLower(kind), name, namespace)
}

// Ref is the object's reference at the generation read.
func Ref(u *unstructured.Unstructured) experiment.ObjectRef {
	return experiment.ObjectRef{Namespace: u.GetNamespace(), Name: u.GetName(), UID: string(u.GetUID()), Generation: u.GetGeneration()}
}

// DecodeExperiment reads an Experiment object exactly as the loader reads
// a file: the same strict decoding, defaults and validation (PromQL,
// selectors, cross-field rules: what the API server's schema cannot
// check). Problems carry the field path (spec.hypothesis.probes[0].query)
// and no file or line: the object is the place.
func DecodeExperiment(kinds *experiment.Kinds, u *unstructured.Unstructured) (experiment.Experiment, experiment.Problems) {
	doc := map[string]any{
		"apiVersion": u.GetAPIVersion(),
		"kind":       u.GetKind(),
		"metadata":   userMetadata(u),
		"spec":       u.Object["spec"],
	}
	data, err := json.Marshal(doc) // JSON is YAML: the loader reads it as it is
	if err != nil {
		return experiment.Experiment{}, experiment.Problems{{Message: fmt.Sprintf("cannot be encoded: %v", err)}}
	}
	exps, err := experiment.Load(kinds, "", data)
	if err != nil {
		return experiment.Experiment{}, placeless(err)
	}
	if len(exps) != 1 {
		return experiment.Experiment{}, experiment.Problems{{Message: fmt.Sprintf("decodes to %d experiments, not one", len(exps))}}
	}
	e := exps[0]
	ref := Ref(u)
	e.Source = experiment.Source{File: Describe(crd.ExperimentKind, ref.Namespace, ref.Name), Object: &ref}
	return e, nil
}

// DecodeNight reads a ChaosNight object as one entry of the serve
// configuration's nights (its name is metadata.name), with the same
// validation; problem paths are rewritten from nights[0].x to spec.x.
func DecodeNight(u *unstructured.Unstructured, now time.Time) (schedule.Night, experiment.Problems) {
	night := map[string]any{}
	if spec, ok := u.Object["spec"].(map[string]any); ok {
		for k, v := range spec {
			night[k] = v
		}
	}
	night["name"] = u.GetName()
	data, err := json.Marshal(map[string]any{"nights": []any{night}})
	if err != nil {
		return schedule.Night{}, experiment.Problems{{Message: fmt.Sprintf("cannot be encoded: %v", err)}}
	}
	cfg, err := schedule.LoadConfig("", data, now)
	if err != nil {
		ps := placeless(err)
		for i := range ps {
			switch {
			case ps[i].Field == "nights[0].name":
				ps[i].Field = "metadata.name"
			case strings.HasPrefix(ps[i].Field, "nights[0]."):
				ps[i].Field = "spec." + strings.TrimPrefix(ps[i].Field, "nights[0].")
			}
		}
		return schedule.Night{}, ps
	}
	return cfg.Nights[0], nil
}

// userMetadata is the part of an object's metadata a file can hold.
func userMetadata(u *unstructured.Unstructured) map[string]any {
	md := map[string]any{"name": u.GetName()}
	if l := u.GetLabels(); len(l) > 0 {
		md["labels"] = l
	}
	ann := map[string]string{}
	for k, v := range u.GetAnnotations() {
		if k != lastApplied {
			ann[k] = v
		}
	}
	if len(ann) > 0 {
		md["annotations"] = ann
	}
	return md
}

// placeless drops the file and line of the loader's problems (the JSON
// document's lines mean nothing to the user); any other error becomes one
// problem.
func placeless(err error) experiment.Problems {
	var ps experiment.Problems
	if !errors.As(err, &ps) {
		return experiment.Problems{{Message: err.Error()}}
	}
	out := make(experiment.Problems, len(ps))
	for i, p := range ps {
		p.File, p.Line = "", 0
		out[i] = p
	}
	return out
}

// Message joins problems for a condition's message: one per line, each
// "field: message".
func Message(ps experiment.Problems) string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}
