package experiment

import (
	_ "embed" // for schema.json
	"encoding/json"
	"fmt"
)

// schemaJSON is the format without its actions, generated from the types
// by TestSchemaIsGenerated (run "go test ./pkg/experiment -run TestSchema
// -update" after changing them), so the schema cannot drift from what Load
// accepts. Its "#/definitions/Action" is filled from the registry.
//
//go:embed schema.json
var schemaJSON string

// JSONSchema returns a JSON Schema (draft-07, the draft yaml-language-server
// implements) of the experiment file format with the actions of kinds.
// Editors use it for completion and inline checks, e.g. with a first line
// of
//
//	# yaml-language-server: $schema=https://.../experiment.schema.json
//
// It checks shape, names, enums and ranges; Load checks more (PromQL,
// selectors, durations against each other), so it complements Validate
// rather than replacing it. The result is a fresh copy. An error means two
// kinds' definitions share a name: a programming error the kinds' tests
// catch.
func JSONSchema(kinds *Kinds) ([]byte, error) {
	var root map[string]json.RawMessage
	if err := json.Unmarshal([]byte(schemaJSON), &root); err != nil {
		return nil, fmt.Errorf("the embedded schema: %w", err)
	}
	var defs map[string]json.RawMessage
	if err := json.Unmarshal(root["definitions"], &defs); err != nil {
		return nil, fmt.Errorf("the embedded schema's definitions: %w", err)
	}
	type ref struct {
		Ref string `json:"$ref,omitempty"`
	}
	type property struct {
		AnyOf       []any  `json:"anyOf"`
		Description string `json:"description,omitempty"`
	}
	props := map[string]property{}
	var oneOf []any
	for _, name := range kinds.Names() {
		kind, _ := kinds.Lookup(name)
		ks := kind.Schema()
		for n, d := range ks.Definitions {
			if _, dup := defs[n]; dup {
				return nil, fmt.Errorf("fault kind %s: schema definition %s is already defined", name, n)
			}
			defs[n] = d
		}
		var rootDef struct {
			Description string `json:"description"`
		}
		_ = json.Unmarshal(ks.Definitions[ks.Root], &rootDef)
		// "podKill:" with nothing after it is a pod kill with every
		// default, so the body may be null.
		props[name] = property{
			AnyOf:       []any{ref{Ref: "#/definitions/" + ks.Root}, map[string]string{"type": "null"}},
			Description: rootDef.Description,
		}
		oneOf = append(oneOf, map[string][]string{"required": {name}})
	}
	action := map[string]any{
		"type":                 "object",
		"description":          "The fault to inject: exactly one kind.",
		"properties":           props,
		"additionalProperties": false,
		"oneOf":                oneOf,
	}
	a, err := json.Marshal(action)
	if err != nil {
		return nil, err
	}
	defs["Action"] = a
	if root["definitions"], err = json.Marshal(defs); err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}
