package crdgen

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// SchemaError is a JSON Schema construct that has no structural OpenAPI v3
// equivalent. Path locates it in the source schema (JSON pointer-like).
type SchemaError struct {
	Path string
	Msg  string
}

func (e *SchemaError) Error() string { return e.Path + ": " + e.Msg }

// passThrough are the JSON Schema keywords copied as they are: their meaning
// is the same in a CRD's OpenAPI v3 schema.
var passThrough = []string{
	"description", "type", "format", "pattern", "minimum", "maximum",
	"exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength",
	"minItems", "maxItems", "minProperties", "maxProperties", "enum", "required",
}

// dropped are keywords of the draft-07 document that a CRD does not take
// and that carry no validation.
var dropped = []string{"$schema", "$id", "title", "definitions", "$comment", "examples"}

// Structural converts a draft-07 JSON Schema document (as `chaosnight
// schema` prints it, with its "#/definitions/...") into a structural
// OpenAPI v3 schema for a CustomResourceDefinition. at is the path of
// properties from the document's root to the schema wanted (e.g. "spec");
// none converts the root itself.
//
// The conversion (docs/crds.md, "Decisions"):
//   - "$ref" is inlined (structural schemas forbid it); a description next
//     to it wins over the definition's.
//   - anyOf [X, {type: null}] becomes X with nullable: true ("podKill:" with
//     nothing after it is a pod kill with every default).
//   - "const" becomes an enum of one.
//   - additionalProperties: false is dropped: the API server prunes unknown
//     fields, and with strict field validation (kubectl's default, and
//     server-side apply) refuses them naming the field, as the file loader
//     does. true becomes x-kubernetes-preserve-unknown-fields.
//   - "default" moves into the description instead of the schema: API
//     server defaulting would write the defaults into the stored spec, so the
//     object in the cluster would differ from the file in git (GitOps diffs)
//     and the runner already applies the same defaults to files.
//   - uniqueItems: true (refused in CRDs) becomes x-kubernetes-list-type: set.
//   - inside oneOf/anyOf/allOf/not only validation remains (type,
//     description, nullable are not allowed there).
//
// Any other keyword is an error, so that a new construct in the source
// schema fails the generating test instead of being silently lost.
func Structural(doc []byte, at ...string) (*apiextv1.JSONSchemaProps, error) {
	var root map[string]any
	if err := json.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("the JSON Schema: %w", err)
	}
	defs, _ := root["definitions"].(map[string]any)
	c := converter{defs: defs}
	node, path := root, "#"
	for _, p := range at {
		node, path = c.resolve(node, path)
		if node == nil {
			break
		}
		props, _ := node["properties"].(map[string]any)
		next, ok := props[p].(map[string]any)
		if !ok {
			return nil, &SchemaError{Path: path, Msg: "no property " + p}
		}
		node, path = next, path+"/properties/"+p
	}
	if c.err != nil {
		return nil, c.err
	}
	out := c.convert(node, path, false, nil)
	if c.err != nil {
		return nil, c.err
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	var props apiextv1.JSONSchemaProps
	if err := json.Unmarshal(b, &props); err != nil {
		return nil, fmt.Errorf("the converted schema: %w", err)
	}
	return &props, nil
}

type converter struct {
	defs map[string]any
	err  error
}

func (c *converter) fail(path, format string, args ...any) {
	if c.err == nil {
		c.err = &SchemaError{Path: path, Msg: fmt.Sprintf(format, args...)}
	}
}

// resolve follows a "$ref" of node, if any.
func (c *converter) resolve(node map[string]any, path string) (map[string]any, string) {
	ref, ok := node["$ref"].(string)
	if !ok {
		return node, path
	}
	name, ok := strings.CutPrefix(ref, "#/definitions/")
	def, found := c.defs[name].(map[string]any)
	if !ok || !found {
		c.fail(path, "unresolvable $ref %q", ref)
		return nil, path
	}
	return def, ref
}

// convert converts one schema node. inValidation is true under
// oneOf/anyOf/allOf/not; refs are the definitions being inlined (a cycle
// cannot be inlined).
func (c *converter) convert(node map[string]any, path string, inValidation bool, refs []string) map[string]any {
	if c.err != nil {
		return nil
	}
	if ref, ok := node["$ref"].(string); ok {
		return c.convertRef(node, ref, path, inValidation, refs)
	}
	if branches, ok := node["anyOf"].([]any); ok && len(branches) == 2 {
		if other, isNull := nullBranch(branches); isNull {
			out := c.convert(other, path+"/anyOf", inValidation, refs)
			if out != nil && !inValidation {
				out["nullable"] = true
				copyDescription(out, node)
			}
			return out
		}
	}
	if types := mixedTypes(node); types != nil {
		// A value of several types ("20%" or 0.05): a structural schema
		// has one type per node and value validations may not name types,
		// so only "any value" can express it. The runner checks it.
		out := map[string]any{"x-kubernetes-preserve-unknown-fields": true}
		if d, ok := node["description"].(string); ok && !inValidation {
			out["description"] = d + " (" + strings.Join(types, " or ") + "; the runner checks the value, the API server cannot.)"
		}
		return out
	}
	out := map[string]any{}
	keys := make([]string, 0, len(node))
	for k := range node {
		keys = append(keys, k)
	}
	sort.Strings(keys) // the first error found is the same every run
	for _, k := range keys {
		c.keyword(out, k, node[k], path+"/"+k, inValidation, refs)
	}
	if c.err != nil {
		return nil
	}
	return c.finish(out, path, inValidation)
}

// convertRef inlines the definition a "$ref" names.
func (c *converter) convertRef(node map[string]any, ref, path string, inValidation bool, refs []string) map[string]any {
	if slices.Contains(refs, ref) {
		c.fail(path, "recursive $ref %s cannot be inlined", ref)
		return nil
	}
	for k := range node {
		if k != "$ref" && k != "description" && !slices.Contains(dropped, k) {
			c.fail(path, "keyword %s next to $ref", k)
		}
	}
	def, defPath := c.resolve(node, path)
	if def == nil {
		return nil
	}
	out := c.convert(def, defPath, inValidation, append(refs, ref))
	if out != nil && !inValidation {
		copyDescription(out, node)
	}
	return out
}

// keyword converts one keyword k of value v into out.
func (c *converter) keyword(out map[string]any, k string, v any, p string, inValidation bool, refs []string) {
	sub := func(v any) map[string]any {
		m, ok := v.(map[string]any)
		if !ok {
			c.fail(p, "%s must be a schema", k)
			return nil
		}
		return c.convert(m, p, inValidation, refs)
	}
	switch {
	case slices.Contains(passThrough, k):
		out[k] = v
	case slices.Contains(dropped, k):
	case k == "const":
		out["enum"] = []any{v}
	case k == "default":
		out["x-default"] = v // folded into the description by finish
	case k == "uniqueItems":
		if v == true {
			out["x-kubernetes-list-type"] = "set"
		}
	case k == "additionalProperties":
		if v == true {
			out["x-kubernetes-preserve-unknown-fields"] = true
		} else if _, isBool := v.(bool); !isBool {
			out[k] = sub(v)
		}
	case k == "properties":
		props, _ := v.(map[string]any)
		conv := map[string]any{}
		for name, s := range props {
			sm, _ := s.(map[string]any)
			conv[name] = c.convert(sm, p+"/"+name, inValidation, refs)
		}
		out[k] = conv
	case k == "items":
		out[k] = sub(v)
	case k == "oneOf" || k == "anyOf" || k == "allOf":
		list, _ := v.([]any)
		conv := make([]any, 0, len(list))
		for i, s := range list {
			sm, _ := s.(map[string]any)
			conv = append(conv, c.convert(sm, fmt.Sprintf("%s/%d", p, i), true, refs))
		}
		out[k] = conv
	case k == "not":
		sm, _ := v.(map[string]any)
		out[k] = c.convert(sm, p, true, refs)
	default:
		c.fail(p, "keyword %s has no structural OpenAPI v3 equivalent", k)
	}
}

// finish checks the node's type and applies what depends on the whole node.
func (c *converter) finish(out map[string]any, path string, inValidation bool) map[string]any {
	if t, ok := out["type"]; ok {
		if _, isString := t.(string); !isString {
			c.fail(path, "type must be a single type, not %v", t)
			return nil
		}
	}
	if def, ok := out["x-default"]; ok {
		delete(out, "x-default")
		b, _ := json.Marshal(def)
		if d, _ := out["description"].(string); !strings.Contains(d, "Default") {
			out["description"] = strings.TrimSpace(d + " Default: " + string(b) + " (applied by the runner).")
		}
	}
	if inValidation {
		// Structural schemas allow only validation under value validations.
		for _, k := range []string{"type", "description", "nullable", "additionalProperties", "x-kubernetes-list-type", "x-kubernetes-preserve-unknown-fields"} {
			delete(out, k)
		}
		return out
	}
	if _, typed := out["type"]; !typed && out["x-kubernetes-preserve-unknown-fields"] != true {
		c.fail(path, "no type: a structural schema needs one at every node")
		return nil
	}
	return out
}

// copyDescription lets a description written next to a "$ref" or an
// "anyOf" win over the inlined definition's.
func copyDescription(out, node map[string]any) {
	if d, ok := node["description"]; ok {
		out["description"] = d
	}
}

// nullBranch reports whether one of two anyOf branches is {type: null},
// returning the other.
func nullBranch(branches []any) (map[string]any, bool) {
	for i, b := range branches {
		if m, ok := b.(map[string]any); ok && len(m) == 1 && m["type"] == "null" {
			other, ok := branches[1-i].(map[string]any)
			return other, ok
		}
	}
	return nil, false
}

// mixedTypes returns the types of an untyped node whose oneOf or anyOf
// branches each have a different type, nil otherwise.
func mixedTypes(node map[string]any) []string {
	if _, typed := node["type"]; typed {
		return nil
	}
	for _, k := range []string{"oneOf", "anyOf"} {
		branches, ok := node[k].([]any)
		if !ok || len(branches) < 2 {
			continue
		}
		var types []string
		for _, b := range branches {
			m, _ := b.(map[string]any)
			t, ok := m["type"].(string)
			if !ok || slices.Contains(types, t) {
				return nil
			}
			types = append(types, t)
		}
		return types
	}
	return nil
}
