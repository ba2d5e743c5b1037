package crdgen

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaosnight/chaosnight/pkg/crd"
)

// TestStatusTypesMatchSchema: every JSON field of the Go status types is a
// property of the hand-written status schema, and the other way round, so
// that what the runner writes is never pruned by the API server.
func TestStatusTypesMatchSchema(t *testing.T) {
	for _, tc := range []struct {
		name   string
		typ    reflect.Type
		schema *apiextv1.JSONSchemaProps
	}{
		{"Experiment", reflect.TypeFor[crd.ExperimentStatus](), experimentStatus([]string{"held"})},
		{"ChaosNight", reflect.TypeFor[crd.ChaosNightStatus](), chaosNightStatus()},
	} {
		t.Run(tc.name, func(t *testing.T) { compareFields(t, "status", tc.typ, tc.schema) })
	}
}

func compareFields(t *testing.T, path string, typ reflect.Type, s *apiextv1.JSONSchemaProps) {
	t.Helper()
	for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
		typ = typ.Elem()
		if s.Items != nil && s.Type == "array" {
			s = s.Items.Schema
		}
	}
	if typ.Kind() != reflect.Struct || typ == reflect.TypeFor[metav1.Time]() {
		return
	}
	var fields []string
	for f := range typ.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		fields = append(fields, name)
		prop, ok := s.Properties[name]
		if !ok {
			t.Errorf("%s.%s: a Go field the schema does not have (the API server would prune it)", path, name)
			continue
		}
		if typ == reflect.TypeFor[metav1.Condition]() {
			continue
		}
		compareFields(t, path+"."+name, f.Type, &prop)
	}
	for name := range s.Properties {
		if !slices.Contains(fields, name) {
			t.Errorf("%s.%s: in the schema but not in the Go type", path, name)
		}
	}
}
