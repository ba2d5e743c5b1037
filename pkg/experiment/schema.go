package experiment

import _ "embed" // for schema.json

// schemaJSON is generated from the types by TestSchemaIsGenerated (run
// "go test ./pkg/experiment -run TestSchema -update" after changing them),
// so the schema cannot drift from what Load accepts. It is a string so
// that nobody can modify it through a returned slice.
//
//go:embed schema.json
var schemaJSON string

// JSONSchema returns a JSON Schema (draft-07, the draft yaml-language-server
// implements) of the experiment file format. Editors use it for completion
// and inline checks, e.g. with a first line of
//
//	# yaml-language-server: $schema=https://.../experiment.schema.json
//
// It checks shape, names, enums and ranges; Load checks more (PromQL,
// selectors, durations against each other), so it complements Validate
// rather than replacing it. The result is a fresh copy.
func JSONSchema() []byte {
	return []byte(schemaJSON)
}
