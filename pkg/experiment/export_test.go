package experiment

import (
	"reflect"

	"go.yaml.in/yaml/v3"
)

// Exported for the external tests (package experiment_test), which need
// the program's fault kinds and so cannot be in this package: the kinds
// import it.
var (
	DurationType   = durationType
	ExperimentType = experimentType
	ActionType     = actionType
)

// YAMLFields lists a struct's fields as YAML sees them.
func YAMLFields(t reflect.Type) (names []string, types []reflect.Type) {
	for _, f := range yamlFields(t) {
		names = append(names, f.name)
		types = append(types, f.typ)
	}
	return names, types
}

// IsNull reports whether a node is YAML null.
func IsNull(n *yaml.Node) bool { return isNull(n) }
