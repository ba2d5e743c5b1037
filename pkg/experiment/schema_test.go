package experiment_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	. "github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/experiment/schemagen"

	"github.com/invopop/jsonschema"
	schemavalidator "github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// generateSchema reflects the schema of the format from the Go types, with
// descriptions from their doc comments, and adds what the types cannot say
// (enums, ranges, patterns, "exactly one of"). The actions come from the
// registry (each kind's own generated schema), in JSONSchema.
func generateSchema(t *testing.T) []byte {
	t.Helper()
	s := schemagen.Reflect(t, &Experiment{}, "github.com/chaosnight/chaosnight/pkg/experiment", ".")
	s.Version = "http://json-schema.org/draft-07/schema#"
	s.Title = "chaosnight experiment (" + APIVersion + ")"
	// The root is the Experiment; refine it under that name like the rest.
	s.Definitions["Experiment"] = s
	delete(s.Definitions, "Action") // filled from the registry
	refineSchema(schemagen.NewDefs(t, s.Definitions))
	delete(s.Definitions, "Experiment")

	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(schemagen.FixRefs(out), '\n')
}

func refineSchema(d schemagen.Defs) {
	u := schemagen.U
	dnsLabel := func(s *jsonschema.Schema) {
		s.Pattern, s.MaxLength = schemagen.DNSLabelPattern, u(63)
	}
	prop, def := d.Prop, d.Def

	prop("Experiment", "apiVersion").Const = APIVersion
	prop("Experiment", "kind").Const = Kind
	dnsLabel(prop("Metadata", "name"))

	prop("Spec", "probeInterval").Default = FormatDuration(DefaultProbeInterval)
	prop("Spec", "recovery").Default = FormatDuration(DefaultRecovery)
	prop("Hypothesis", "probes").MinItems = u(1)

	dnsLabel(prop("Probe", "name"))
	prop("Probe", "query").MinLength = u(1)
	prop("Probe", "onEmpty").Enum = []any{OnEmptyFail, OnEmptyPass}
	prop("Probe", "onEmpty").Default = OnEmptyFail
	def("Expect").OneOf = schemagen.Required("below", "atMost", "above", "atLeast", "between", "equals", "baseline")
	between := prop("Expect", "between")
	between.MinItems, between.MaxItems = u(2), u(2)

	ns := prop("Target", "namespaces")
	ns.MinItems, ns.UniqueItems = u(1), true
	dnsLabel(ns.Items)
	prop("Target", "selector").Pattern = `\S`
	prop("Pick", "count").Minimum = "1"
	prop("Pick", "percent").Minimum, prop("Pick", "percent").Maximum = "1", "100"
	allTrue := &jsonschema.Schema{Properties: jsonschema.NewProperties()}
	allTrue.Properties.Set("all", &jsonschema.Schema{Const: true})
	withAll := func(other string) *jsonschema.Schema {
		return &jsonschema.Schema{Required: []string{other, "all"}, Properties: allTrue.Properties}
	}
	def("Pick").Not = &jsonschema.Schema{AnyOf: []*jsonschema.Schema{
		{Required: []string{"count", "percent"}}, withAll("count"), withAll("percent"),
	}}
	def("Pick").Description = "Pick says how many matching pods become targets: at most one of count, percent and all; none means count 1."

	win := prop("Baseline", "window")
	win.Description = "How far back, before the run, the baseline is measured (a range query at the probe interval), such as 10m."
	def("Baseline").AnyOf = schemagen.Required("maxIncrease", "maxDecrease")
	def("Baseline").Required = []string{"window"}
	for _, m := range []string{"maxIncrease", "maxDecrease"} {
		p := prop("Baseline", m)
		desc := p.Description
		*p = jsonschema.Schema{Description: desc, OneOf: []*jsonschema.Schema{
			{Type: "string", Pattern: `^\s*([0-9]+(\.[0-9]*)?|\.[0-9]+)%?\s*$`},
			{Type: "number", Minimum: "0"},
		}}
	}
	prop("Detection", "alert").Pattern = `^[a-zA-Z_:][a-zA-Z0-9_:]*$`
	def("Detection").Required = []string{"alert", "within"}

	mt := prop("Safety", "maxTargets")
	mt.Minimum, mt.Default = "1", DefaultMaxTargets
	mh := prop("Safety", "minHealthy")
	mh.Minimum, mh.Default = "0", DefaultMinHealthy

	// Fields whose Go declaration has no comment still deserve a hover
	// text in an editor.
	for _, x := range []struct{ def, prop, text string }{
		{"Experiment", "apiVersion", "Always " + APIVersion + "."},
		{"Experiment", "kind", "Always " + Kind + "."},
		{"Experiment", "metadata", "Name and labels of the experiment."},
		{"Experiment", "spec", "The hypothesis, the target, the fault and its timing."},
		{"Metadata", "name", "Unique name of the experiment: a DNS-1123 label (at most 63 lower-case letters, digits and '-')."},
		{"Metadata", "labels", "Kubernetes-style labels; chaos nights select experiments by them."},
		{"Metadata", "annotations", "Free-form notes with Kubernetes-style keys."},
		{"Hypothesis", "probes", "At least one probe; the hypothesis holds while every probe holds."},
		{"Probe", "name", "Name of the probe, unique in its list (a DNS-1123 label)."},
		{"Probe", "query", "A PromQL expression that returns an instant vector or a scalar."},
		{"Pick", "count", "Pick this many of the matching pods (at least 1)."},
		{"Pick", "percent", "Pick this percentage of the matching pods (1 to 100)."},
		{"Pick", "all", "Pick every matching pod (safety.maxTargets still applies)."},
	} {
		d.Describe(x.def, x.prop, x.text)
	}
}

// jsonSchema is the schema of the format with the program's kinds.
func jsonSchema(t *testing.T) []byte {
	t.Helper()
	s, err := JSONSchema(kinds)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSchemaIsGenerated keeps schema.json equal to what the types generate.
func TestSchemaIsGenerated(t *testing.T) {
	schemagen.Golden(t, "schema.json", generateSchema(t), *update)
}

// TestSchemaMatchesTypes checks, independently of the generator, that every
// struct of the format and its schema definition name the same fields, and
// that the schema refuses fields it does not name.
func TestSchemaMatchesTypes(t *testing.T) {
	type definition struct {
		Properties           map[string]json.RawMessage `json:"properties"`
		AdditionalProperties *bool                      `json:"additionalProperties"`
	}
	var schema struct {
		definition
		Definitions map[string]definition `json:"definitions"`
	}
	if err := json.Unmarshal(jsonSchema(t), &schema); err != nil {
		t.Fatal(err)
	}
	if _, ok := schema.Definitions["Experiment"]; ok {
		t.Fatal("the experiment belongs at the root of the schema, not in its definitions")
	}
	schema.Definitions["Experiment"] = schema.definition
	seen := map[reflect.Type]bool{}
	var visit func(typ reflect.Type, name string)
	visit = func(typ reflect.Type, name string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == DurationType || seen[typ] {
			return
		}
		seen[typ] = true
		if name == "" {
			name = typ.Name()
		}
		def, ok := schema.Definitions[name]
		if !ok {
			t.Errorf("schema has no definition %s", name)
			return
		}
		if def.AdditionalProperties == nil || *def.AdditionalProperties {
			t.Errorf("%s: schema allows unknown fields", name)
		}
		var props []string
		for p := range def.Properties {
			props = append(props, p)
		}
		slices.Sort(props)
		if typ == ActionType {
			// The action's keys are the registered kinds; each body is its
			// kind's spec, defined under the kind's root name.
			names := kinds.Names()
			slices.Sort(names)
			if !slices.Equal(names, props) {
				t.Errorf("Action: kinds %v, schema properties %v", names, props)
			}
			for _, n := range kinds.Names() {
				k, _ := kinds.Lookup(n)
				visit(reflect.TypeOf(k.NewSpec()), k.Schema().Root)
			}
			return
		}
		fields, types := YAMLFields(typ)
		for _, ft := range types {
			visit(ft, "")
		}
		slices.Sort(fields)
		if !slices.Equal(fields, props) {
			t.Errorf("%s: yaml fields %v, schema properties %v", name, fields, props)
		}
	}
	visit(ExperimentType, "Experiment")
	if len(seen) < 10 {
		t.Fatalf("visited only %d types", len(seen))
	}
}

func compileSchema(t *testing.T) *schemavalidator.Schema {
	t.Helper()
	doc, err := schemavalidator.UnmarshalJSON(bytes.NewReader(jsonSchema(t)))
	if err != nil {
		t.Fatal(err)
	}
	c := schemavalidator.NewCompiler()
	if err := c.AddResource("experiment.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("experiment.schema.json")
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return s
}

// yamlDocuments reads every non-empty document of a YAML file as plain
// JSON values, the way an editor hands YAML to a JSON Schema validator.
func yamlDocuments(t *testing.T, path string) []any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []any
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if v == nil {
			continue
		}
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		inst, err := schemavalidator.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, inst)
	}
}

// TestSchemaAcceptsValidFiles validates the valid fixtures and every
// example experiment of the repository against the schema.
func TestSchemaAcceptsValidFiles(t *testing.T) {
	s := compileSchema(t)
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	var examples []string
	_ = filepath.WalkDir("../../experiments", func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			examples = append(examples, p)
		}
		return nil
	})
	if len(examples) == 0 {
		t.Log("no example experiments under ../../experiments yet; only the fixtures are checked")
	}
	for _, f := range append(files, examples...) {
		for i, doc := range yamlDocuments(t, f) {
			if err := s.Validate(doc); err != nil {
				t.Errorf("%s (document %d) does not match the schema:\n%v", f, i, err)
			}
		}
	}
}

// TestSchemaRefusesInvalidFixtures checks that the schema catches the
// mistakes it can express, so an editor flags them as the loader would.
func TestSchemaRefusesInvalidFixtures(t *testing.T) {
	s := compileSchema(t)
	for _, name := range []string{
		"unknown-field-top", "unknown-field-nested", "unknown-field-list-item", "unknown-field-no-guess",
		"wrong-shape-list", "wrong-shape-mapping", "wrong-shape-scalar", "bad-scalar", "missing-value",
		"bad-apiversion", "bad-kind", "missing-apiversion-kind", "bad-name", "missing-name",
		"missing-duration", "bad-duration", "bad-duration-number", "negative-durations",
		"no-probes", "no-hypothesis", "bad-probe-name", "empty-query",
		"no-comparator", "two-comparators", "bad-between", "bad-onempty",
		"no-namespaces", "bad-namespace", "missing-selector",
		"two-pick-modes", "percent-zero", "percent-150", "count-zero",
		"bad-safety", "no-action", "both-actions", "bad-method", "bad-scope", "stress-nothing",
		"cpu-load-150", "workers-zero", "bad-memory-size", "memory-missing-size",
		"disk-bad-fill", "disk-nothing", "disk-io-workers-zero",
		"baseline-no-window", "baseline-no-margin", "baseline-and-threshold", "baseline-bad-margin",
		"detect-no-alert", "detect-bad-names", "detect-wrong-shape",
	} {
		docs := yamlDocuments(t, filepath.Join("testdata/invalid", name+".yaml"))
		if len(docs) == 0 {
			t.Errorf("%s: no document", name)
			continue
		}
		if err := s.Validate(docs[len(docs)-1]); err == nil {
			t.Errorf("%s: the schema accepts it", name)
		}
	}
}

// TestSchemaCopies checks copies of the schema kept next to the examples
// (for their "# yaml-language-server: $schema=" lines): a stale copy would
// have editors flag valid files, or miss invalid ones.
func TestSchemaCopies(t *testing.T) {
	copies, _ := filepath.Glob("../../experiments/*.schema.json")
	if len(copies) == 0 {
		t.Skip("no schema copy under ../../experiments")
	}
	for _, c := range copies {
		data, err := os.ReadFile(c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, jsonSchema(t)) {
			t.Errorf("%s differs from jsonSchema(t); write it again from experiment.jsonSchema(t)", c)
		}
	}
}
