package experiment

import (
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// structField is a struct field as YAML sees it.
type structField struct {
	name string
	typ  reflect.Type
}

type structFields []structField

// yamlFields lists the fields of a struct by their yaml tag names, in
// declaration order (which is the order the "allowed:" lists show).
func yamlFields(t reflect.Type) structFields {
	var out structFields
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name) // yaml.v3's default
		}
		out = append(out, structField{name: name, typ: f.Type})
	}
	return out
}

func (fs structFields) lookup(name string) (structField, bool) {
	for _, f := range fs {
		if f.name == name {
			return f, true
		}
	}
	return structField{}, false
}

func (fs structFields) names() []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.name
	}
	return out
}

var durationType = reflect.TypeFor[Duration]()

// resolve follows aliases to the node they stand for.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode; i++ {
		if i > maxMergeDepth {
			return nil
		}
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

// isMerge mirrors yaml.v3's own test for a merge key.
func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "" || k.Tag == "!" || k.ShortTag() == "!!merge")
}

func isNumber(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return true
	}
	return false
}

// describeType names what a field expects, in YAML words.
func describeType(t reflect.Type) string {
	if t == durationType {
		return "a duration such as 30s"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return describeType(t.Elem())
	case reflect.Struct, reflect.Map:
		return "a mapping"
	case reflect.Slice:
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Float32, reflect.Float64:
		return "a number"
	}
	if isNumber(t) {
		return "an integer"
	}
	return "a " + t.Kind().String()
}

// describeNode names what was found, in YAML words.
func describeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return quoteValue(n.Value)
	}
	return "something else"
}

// quoteValue quotes a scalar for a message, cut short so one long value
// does not bury the rest of the report.
func quoteValue(v string) string {
	const maxRunes = 40
	if utf8.RuneCountInString(v) > maxRunes {
		r := []rune(v)
		v = string(r[:maxRunes]) + "…"
	}
	return strconv.Quote(v)
}
