package crdgen_test

import (
	"encoding/json"
	"errors"
	"flag"
	"path/filepath"
	"testing"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	"github.com/chaosnight/chaosnight/pkg/crd/crdgen"
	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/experiment/schemagen"
	"github.com/chaosnight/chaosnight/pkg/faults"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/schedule"
)

var update = flag.Bool("update", false, "rewrite the CRDs in charts/chaosnight/crds")

// crdDir is the chart's crds/ directory: Helm installs what is there
// before the templates (and never upgrades it: docs/crds.md).
var crdDir = filepath.Join("..", "..", "..", "charts", "chaosnight", "crds")

// verdicts are the values of status.lastRun.verdict: every journal verdict.
var verdicts = []journal.Verdict{journal.Held, journal.Deviated, journal.Aborted, journal.Skipped,
	journal.Error, journal.DryRun, journal.Running}

// nightSchema reflects one night of the serve configuration from
// schedule.Night, with what the type cannot say; its name is the resource's
// metadata.name, so it is not in the spec.
func nightSchema(t *testing.T) []byte {
	t.Helper()
	s := schemagen.Reflect(t, &schedule.Night{}, "github.com/chaosnight/chaosnight/pkg/crd/crdgen", filepath.Join("..", "..", "schedule"))
	s.Definitions["Night"] = s
	d := schemagen.NewDefs(t, s.Definitions)
	d.Prop("Night", "opens").MinLength = schemagen.U(1)
	d.Prop("Night", "timezone").MinLength = schemagen.U(1)
	d.Prop("Night", "order").Enum = []any{schedule.OrderListed, schedule.OrderShuffled}
	d.Prop("Night", "maxPerNight").Minimum = "0"
	d.Prop("Skip", "dates").Items.Pattern = `^[0-9]{4}-[0-9]{2}-[0-9]{2}$`
	d.Prop("Skip", "weekdays").Items.Pattern = `^[A-Za-z]{3,9}$`
	d.Def("Selection").OneOf = schemagen.Required("selector", "names")
	d.Prop("Selection", "names").MinItems = schemagen.U(1)
	d.Prop("Selection", "names").Items.Pattern = schemagen.DNSLabelPattern
	delete(s.Definitions, "Night")
	s.Properties.Delete("name")
	for i, r := range s.Required {
		if r == "name" {
			s.Required = append(s.Required[:i], s.Required[i+1:]...)
			break
		}
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return schemagen.FixRefs(b)
}

// generate makes the chart's CRD files from the two JSON Schemas.
func generate(t *testing.T) map[string][]byte {
	t.Helper()
	expSchema, err := experiment.JSONSchema(faults.Must().Formats())
	if err != nil {
		t.Fatal(err)
	}
	expSpec, err := crdgen.Structural(expSchema, "spec")
	if err != nil {
		t.Fatalf("the experiment schema: %v", err)
	}
	nightSpec, err := crdgen.Structural(nightSchema(t))
	if err != nil {
		t.Fatalf("the night schema: %v", err)
	}
	vs := make([]string, len(verdicts))
	for i, v := range verdicts {
		vs[i] = string(v)
	}
	out := map[string][]byte{}
	for _, c := range []*apiextv1.CustomResourceDefinition{crdgen.Experiment(expSpec, vs), crdgen.ChaosNight(nightSpec)} {
		y, err := crdgen.YAML(c)
		if err != nil {
			t.Fatal(err)
		}
		out[c.Name+".yaml"] = y
	}
	return out
}

// TestCRDsAreGenerated fails when the committed CRDs drift from the
// schemas of the files (run with -update, or make schema).
func TestCRDsAreGenerated(t *testing.T) {
	for name, got := range generate(t) {
		schemagen.Golden(t, filepath.Join(crdDir, name), got, *update)
	}
}

func TestStructural(t *testing.T) {
	tests := []struct {
		name, schema string
		at           []string
		want         string // the converted schema's JSON
	}{
		{
			name: "ref inlined, description next to it wins",
			schema: `{"definitions":{"D":{"type":"string","description":"def"}},
				"type":"object","properties":{"a":{"$ref":"#/definitions/D","description":"prop"}}}`,
			want: `{"type":"object","properties":{"a":{"type":"string","description":"prop"}}}`,
		},
		{
			name:   "anyOf with null is nullable",
			schema: `{"definitions":{"D":{"type":"object"}},"anyOf":[{"$ref":"#/definitions/D"},{"type":"null"}],"description":"x"}`,
			want:   `{"type":"object","nullable":true,"description":"x"}`,
		},
		{
			name:   "const is an enum of one",
			schema: `{"type":"string","const":"v1"}`,
			want:   `{"type":"string","enum":["v1"]}`,
		},
		{
			name:   "default goes into the description",
			schema: `{"type":"string","default":"15s","description":"Interval."}`,
			want:   `{"type":"string","description":"Interval. Default: \"15s\" (applied by the runner)."}`,
		},
		{
			name:   "additionalProperties false is dropped, uniqueItems is a set",
			schema: `{"type":"object","additionalProperties":false,"properties":{"l":{"type":"array","uniqueItems":true,"items":{"type":"string"}}}}`,
			want:   `{"type":"object","properties":{"l":{"type":"array","x-kubernetes-list-type":"set","items":{"type":"string"}}}}`,
		},
		{
			name:   "a map keeps its value schema",
			schema: `{"type":"object","additionalProperties":{"type":"string"}}`,
			want:   `{"type":"object","additionalProperties":{"type":"string"}}`,
		},
		{
			name: "value validations keep validation only",
			schema: `{"type":"object","properties":{"a":{"type":"boolean"}},
				"oneOf":[{"required":["a"],"description":"d"}],"not":{"properties":{"a":{"const":true,"type":"boolean"}}}}`,
			want: `{"type":"object","properties":{"a":{"type":"boolean"}},"oneOf":[{"required":["a"]}],"not":{"properties":{"a":{"enum":[true]}}}}`,
		},
		{
			name:   "at selects a property through a ref",
			schema: `{"definitions":{"S":{"type":"object","properties":{"n":{"type":"integer","minimum":1}}}},"properties":{"spec":{"$ref":"#/definitions/S"}}}`,
			at:     []string{"spec"},
			want:   `{"type":"object","properties":{"n":{"type":"integer","minimum":1}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := crdgen.Structural([]byte(tt.schema), tt.at...)
			if err != nil {
				t.Fatal(err)
			}
			assertJSONEqual(t, got, tt.want)
		})
	}
}

func TestStructuralRefuses(t *testing.T) {
	tests := []struct{ name, schema, path string }{
		{"unknown keyword", `{"type":"object","properties":{"a":{"type":"string","if":{}}}}`, "#/properties/a/if"},
		{"no type", `{"type":"object","properties":{"a":{"description":"untyped"}}}`, "#/properties/a"},
		{"recursive ref", `{"definitions":{"R":{"type":"object","properties":{"r":{"$ref":"#/definitions/R"}}}},"$ref":"#/definitions/R"}`, "#/definitions/R/properties/r"},
		{"missing ref", `{"$ref":"#/definitions/Nope"}`, "#"},
		{"type list", `{"type":["string","null"]}`, "#"},
		{"missing property", `{"type":"object"}`, "#"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := []string(nil)
			if tt.name == "missing property" {
				at = []string{"spec"}
			}
			_, err := crdgen.Structural([]byte(tt.schema), at...)
			var se *crdgen.SchemaError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a *crdgen.SchemaError", err)
			}
			if se.Path != tt.path {
				t.Errorf("error at %s, want %s (%v)", se.Path, tt.path, err)
			}
		})
	}
}

func assertJSONEqual(t *testing.T, got any, want string) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var gv, wv any
	if err := json.Unmarshal(g, &gv); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &wv); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(gv)
	wb, _ := json.Marshal(wv)
	if string(gb) != string(wb) {
		t.Errorf("got  %s\nwant %s", gb, wb)
	}
}
