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

	"github.com/invopop/jsonschema"
	schemavalidator "github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// Patterns of the schema. They mirror the loader's checks closely enough
// for an editor; the loader stays the authority.
const (
	dnsLabelPattern = `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// A Go duration without a sign: negative durations are refused
	// everywhere.
	durationPattern = `^\+?(0|(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`
	// A Kubernetes quantity in bytes.
	quantityPattern = `^([0-9]+(\.[0-9]*)?|\.[0-9]+)([KMGTPE]i|[kMGTPE]|[eE][0-9]+)?$`
)

// generateSchema reflects the schema from the Go types, with descriptions
// from their doc comments, and adds what the types cannot say (enums,
// ranges, patterns, "exactly one of").
func generateSchema(t *testing.T) []byte {
	t.Helper()
	r := &jsonschema.Reflector{
		FieldNameTag: "yaml",
		Anonymous:    true,
		// The experiment itself at the root rather than a bare "$ref": in
		// draft-07 the keywords next to a "$ref" are ignored.
		ExpandedStruct: true,
		Mapper: func(typ reflect.Type) *jsonschema.Schema {
			if typ == durationType {
				return &jsonschema.Schema{
					Type:        "string",
					Pattern:     durationPattern,
					Description: "A Go duration such as 30s, 5m or 1h30m.",
				}
			}
			return nil
		},
	}
	if err := r.AddGoComments("github.com/chaosnight/chaosnight/pkg/experiment", "."); err != nil {
		t.Fatalf("reading doc comments: %v", err)
	}
	s := r.Reflect(&Experiment{})
	s.Version = "http://json-schema.org/draft-07/schema#"
	s.Title = "chaosnight experiment (" + APIVersion + ")"
	// The root is the Experiment; refine it under that name like the rest.
	s.Definitions["Experiment"] = s
	refineSchema(t, s.Definitions)
	delete(s.Definitions, "Experiment")

	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	// draft-07 names the definitions section "definitions"; "$defs" only
	// resolves there by accident of JSON pointers.
	out = bytes.ReplaceAll(out, []byte(`"$defs"`), []byte(`"definitions"`))
	out = bytes.ReplaceAll(out, []byte(`"#/$defs/`), []byte(`"#/definitions/`))
	return append(out, '\n')
}

func refineSchema(t *testing.T, defs jsonschema.Definitions) {
	prop := func(def, name string) *jsonschema.Schema {
		t.Helper()
		d, ok := defs[def]
		if !ok {
			t.Fatalf("schema has no definition %s", def)
		}
		p, ok := d.Properties.Get(name)
		if !ok {
			t.Fatalf("schema definition %s has no property %s", def, name)
		}
		return p
	}
	def := func(name string) *jsonschema.Schema {
		t.Helper()
		d, ok := defs[name]
		if !ok {
			t.Fatalf("schema has no definition %s", name)
		}
		return d
	}
	u := func(n uint64) *uint64 { return &n }
	required := func(names ...string) []*jsonschema.Schema {
		var out []*jsonschema.Schema
		for _, n := range names {
			out = append(out, &jsonschema.Schema{Required: []string{n}})
		}
		return out
	}
	dnsLabel := func(s *jsonschema.Schema) {
		s.Pattern, s.MaxLength = dnsLabelPattern, u(63)
	}

	prop("Experiment", "apiVersion").Const = APIVersion
	prop("Experiment", "kind").Const = Kind
	dnsLabel(prop("Metadata", "name"))

	prop("Spec", "probeInterval").Default = formatDuration(DefaultProbeInterval)
	prop("Spec", "recovery").Default = formatDuration(DefaultRecovery)
	prop("Hypothesis", "probes").MinItems = u(1)

	dnsLabel(prop("Probe", "name"))
	prop("Probe", "query").MinLength = u(1)
	prop("Probe", "onEmpty").Enum = []any{OnEmptyFail, OnEmptyPass}
	prop("Probe", "onEmpty").Default = OnEmptyFail
	def("Expect").OneOf = required("below", "atMost", "above", "atLeast", "between", "equals")
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

	// The loader reads "podKill:" with nothing after it as a pod kill with
	// every default, so the schema lets these be null too.
	for _, f := range []struct{ def, prop string }{
		{"Action", "podKill"}, {"Action", "stress"}, {"Stress", "cpu"}, {"Stress", "memory"},
		{"Stress", "disk"}, {"DiskStress", "io"},
	} {
		p := prop(f.def, f.prop)
		*p = jsonschema.Schema{
			AnyOf:       []*jsonschema.Schema{{Ref: p.Ref}, {Type: "null"}},
			Description: p.Description,
		}
	}
	def("Action").OneOf = required("podKill", "stress")
	prop("PodKill", "method").Enum = []any{MethodEvict, MethodDelete}
	prop("PodKill", "method").Default = MethodEvict
	prop("Stress", "scope").Enum = []any{ScopePod, ScopeNode}
	prop("Stress", "scope").Default = ScopePod
	def("Stress").AnyOf = required("cpu", "memory", "disk")
	w := prop("CPUStress", "workers")
	w.Minimum, w.Maximum, w.Default = "1", "64", DefaultCPUWorkers
	l := prop("CPUStress", "load")
	l.Minimum, l.Maximum, l.Default = "1", "100", DefaultCPULoad
	prop("MemoryStress", "size").Pattern = quantityPattern
	def("DiskStress").AnyOf = required("fill", "io")
	prop("DiskStress", "fill").Pattern = `^(` + strings.TrimSuffix(strings.TrimPrefix(quantityPattern, "^"), "$") + `|([1-9]|[1-9][0-9])%)$`
	prop("DiskStress", "path").Pattern = `^/.`
	dnsLabel(prop("DiskStress", "volume"))
	dw := prop("DiskIO", "workers")
	dw.Minimum, dw.Maximum, dw.Default = "1", "32", DefaultDiskIOWorkers

	mt := prop("Safety", "maxTargets")
	mt.Minimum, mt.Default = "1", DefaultMaxTargets
	mh := prop("Safety", "minHealthy")
	mh.Minimum, mh.Default = "0", DefaultMinHealthy

	// Fields whose Go declaration has no comment still deserve a hover
	// text in an editor.
	for _, d := range []struct{ def, prop, text string }{
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
		{"Stress", "cpu", "Burn CPU."},
		{"Stress", "memory", "Allocate and hold memory."},
		{"Stress", "disk", "Fill a disk and/or put it under I/O pressure."},
		{"DiskStress", "io", "Sustained write+fsync and read load."},
	} {
		if p := prop(d.def, d.prop); p.Description == "" {
			p.Description = d.text
		}
	}
}

// TestSchemaIsGenerated keeps schema.json equal to what the types generate.
func TestSchemaIsGenerated(t *testing.T) {
	got := generateSchema(t)
	if *update {
		if err := os.WriteFile("schema.json", got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if string(got) != string(JSONSchema()) {
		t.Fatalf("schema.json is stale: run go test ./pkg/experiment -run TestSchema -update")
	}
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
	if err := json.Unmarshal(JSONSchema(), &schema); err != nil {
		t.Fatal(err)
	}
	if _, ok := schema.Definitions["Experiment"]; ok {
		t.Fatal("the experiment belongs at the root of the schema, not in its definitions")
	}
	schema.Definitions["Experiment"] = schema.definition
	seen := map[reflect.Type]bool{}
	var visit func(reflect.Type)
	visit = func(typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == durationType || seen[typ] {
			return
		}
		seen[typ] = true
		def, ok := schema.Definitions[typ.Name()]
		if !ok {
			t.Errorf("schema has no definition for %s", typ.Name())
			return
		}
		if def.AdditionalProperties == nil || *def.AdditionalProperties {
			t.Errorf("%s: schema allows unknown fields", typ.Name())
		}
		var fields, props []string
		for _, f := range yamlFields(typ) {
			fields = append(fields, f.name)
			visit(f.typ)
		}
		for p := range def.Properties {
			props = append(props, p)
		}
		slices.Sort(fields)
		slices.Sort(props)
		if !slices.Equal(fields, props) {
			t.Errorf("%s: yaml fields %v, schema properties %v", typ.Name(), fields, props)
		}
	}
	visit(experimentType)
	if len(seen) < 10 {
		t.Fatalf("visited only %d types", len(seen))
	}
}

func compileSchema(t *testing.T) *schemavalidator.Schema {
	t.Helper()
	doc, err := schemavalidator.UnmarshalJSON(bytes.NewReader(JSONSchema()))
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
		if !bytes.Equal(data, JSONSchema()) {
			t.Errorf("%s differs from JSONSchema(); write it again from experiment.JSONSchema()", c)
		}
	}
}
