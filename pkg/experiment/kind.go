package experiment

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// FaultKind is what the experiment format needs to know about one kind of
// fault: the key under spec.action, the Go type its body decodes into, its
// defaults, its validation, its schema and its words. Each kind lives in
// its own package (pkg/inject/podkill, pkg/inject/stress, ...); the format
// knows none of them by name, only the Kinds it is given.
type FaultKind interface {
	// Name is the key under spec.action ("podKill"): a lowerCamelCase word.
	Name() string
	// NewSpec returns a pointer to a new zero spec. Its fields carry yaml
	// and json tags; the strict decoder walks it like the rest of the file.
	NewSpec() any
	// Default fills the unset fields of spec (a value from NewSpec) that
	// have a default. It must be idempotent.
	Default(spec any)
	// Validate reports every problem of spec through c, with paths
	// relative to the kind's key.
	Validate(c *ActionCheck, spec any)
	// Describe says what the fault does and how it is undone, in words
	// for plans, Events, logs and reports.
	Describe(spec any) Words
	// Schema is the JSON Schema of the spec: definitions, and the name of
	// the spec's own definition among them.
	Schema() KindSchema
}

// Words describe one configured fault.
type Words struct {
	// Action is a short phrase: "pod kill (evict)", "pod-scope stress".
	Action string
	// Revert says what revert does: "nothing to undo: the workloads'
	// controllers replace the pods", "the stress processes are stopped".
	Revert string
}

// KindSchema is the JSON Schema (draft-07) of one kind's spec.
type KindSchema struct {
	// Root names the definition of the spec itself.
	Root string `json:"root"`
	// Definitions are the kind's definitions, merged into the schema's
	// "definitions"; names must not collide with other kinds' or the
	// format's own.
	Definitions map[string]json.RawMessage `json:"definitions"`
}

// ParseKindSchema reads a kind's generated schema file (see
// pkg/experiment/schemagen) and panics on a malformed one: it is embedded
// at build time and checked by the kind's tests, so a failure here is a
// programming error, never bad input.
func ParseKindSchema(data []byte) KindSchema {
	var s KindSchema
	if err := json.Unmarshal(data, &s); err != nil || s.Root == "" || s.Definitions[s.Root] == nil {
		panic(fmt.Sprintf("malformed kind schema (root %q): %v", s.Root, err))
	}
	return s
}

// Kinds is the registry of fault kinds an experiment may use. It is built
// once by the program (pkg/faults) and passed to whatever loads, checks or
// runs experiments; there is no global registry.
type Kinds struct {
	byName map[string]FaultKind
	names  []string // registration order: the order of "allowed" lists and of the schema
}

// NewKinds registers kinds. Two kinds with the same name, an empty name or
// a spec that is not a pointer to a struct are programming errors.
func NewKinds(kinds ...FaultKind) (*Kinds, error) {
	k := &Kinds{byName: make(map[string]FaultKind, len(kinds))}
	for _, kind := range kinds {
		name := kind.Name()
		if name == "" || strings.ContainsAny(name, " .[]") {
			return nil, fmt.Errorf("fault kind %T: invalid name %q", kind, name)
		}
		if _, dup := k.byName[name]; dup {
			return nil, fmt.Errorf("fault kind %q registered twice", name)
		}
		if t := reflect.TypeOf(kind.NewSpec()); t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
			return nil, fmt.Errorf("fault kind %q: NewSpec must return a pointer to a struct, got %v", name, t)
		}
		k.byName[name] = kind
		k.names = append(k.names, name)
	}
	return k, nil
}

// Lookup returns the kind registered under name.
func (k *Kinds) Lookup(name string) (FaultKind, bool) {
	if k == nil {
		return nil, false
	}
	kind, ok := k.byName[name]
	return kind, ok
}

// Names lists the registered kinds in registration order.
func (k *Kinds) Names() []string {
	if k == nil {
		return nil
	}
	return slices.Clone(k.names)
}

// Action is the fault of an experiment: one registered kind and its spec.
// In YAML and JSON it is a mapping with exactly one key, the kind's name.
type Action struct {
	// Kind is the kind's name, the key under spec.action.
	Kind string
	// Spec is the kind's spec, a pointer from FaultKind.NewSpec. An
	// experiment read back from JSON (a journal) without the registry
	// holds the raw JSON (json.RawMessage) here.
	Spec any

	fault FaultKind
	node  *yaml.Node // the body as written, until the loader decodes it
	// others holds further kinds written next to the first one: an
	// invalid action, kept so that validation reports the problems of
	// every body at once, not one per fix.
	others []Action
}

// NewAction builds the action of an experiment built in Go.
func NewAction(kind FaultKind, spec any) Action {
	return Action{Kind: kind.Name(), Spec: spec, fault: kind}
}

// Fault returns the action's kind, or nil when it is not known (an
// experiment read back from a journal, or an unregistered name).
func (a Action) Fault() FaultKind { return a.fault }

// IsZero reports whether no fault is set.
func (a Action) IsZero() bool { return a.Kind == "" && a.Spec == nil }

// Words describes the action; an action whose kind is not known (read from
// a journal) is described by its kind's name.
func (a Action) Words() Words {
	if a.fault != nil && a.Spec != nil {
		return a.fault.Describe(a.Spec)
	}
	return Words{Action: a.Kind}
}

// SpecType gives a fault kind its NewSpec for spec type T: embed it
// (type Fault struct{ experiment.SpecType[Spec] }).
type SpecType[T any] struct{}

// NewSpec implements FaultKind.NewSpec.
func (SpecType[T]) NewSpec() any { return new(T) }

// SpecAs returns spec as *T, or a new zero T when it is not one (nil, or
// another kind's), so that a kind's methods never dereference nil.
func SpecAs[T any](spec any) *T {
	if s, ok := spec.(*T); ok && s != nil {
		return s
	}
	return new(T)
}

// SpecOf returns the action's spec as *T when the action is of that type.
func SpecOf[T any](a Action) (*T, bool) {
	s, ok := a.Spec.(*T)
	return s, ok && s != nil
}

// MarshalJSON writes {"<kind>": spec}.
func (a Action) MarshalJSON() ([]byte, error) {
	if a.IsZero() {
		return []byte("{}"), nil
	}
	return json.Marshal(map[string]any{a.Kind: a.Spec})
}

// UnmarshalJSON reads {"<kind>": spec} and keeps the spec as raw JSON:
// without the registry its type is not known. Journals are read this way.
func (a *Action) UnmarshalJSON(data []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return err
	}
	if len(m) > 1 {
		return errors.New("an action has exactly one kind")
	}
	*a = Action{}
	for k, v := range m {
		a.Kind, a.Spec = k, v
	}
	return nil
}

// MarshalYAML writes {<kind>: spec}.
func (a Action) MarshalYAML() (any, error) {
	if a.IsZero() {
		return map[string]any{}, nil
	}
	return map[string]any{a.Kind: a.Spec}, nil
}

// UnmarshalYAML keeps the mapping: its body is decoded by the loader,
// which knows the registry (decodeAction).
func (a *Action) UnmarshalYAML(n *yaml.Node) error {
	*a = Action{node: n}
	return nil
}

// decodeAction decodes the action's body, kept by UnmarshalYAML, into the
// spec of its kind. The strict decoder has already reported every problem
// of its shape (unknown kinds among them); this only fills the values.
func decodeAction(a *Action, kinds *Kinds) error {
	n := resolve(a.node)
	a.node = nil
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	var found []Action
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := resolve(n.Content[i])
		if key == nil || key.Kind != yaml.ScalarNode {
			continue
		}
		kind, ok := kinds.Lookup(key.Value)
		if !ok {
			continue
		}
		spec := kind.NewSpec()
		if body := resolve(n.Content[i+1]); body != nil && !isNull(body) {
			// A TypeError leaves the other fields decoded, like the rest
			// of the document; the strict decoder has reported it.
			var typeErr *yaml.TypeError
			if err := body.Decode(spec); err != nil && !errors.As(err, &typeErr) {
				return err
			}
		}
		found = append(found, Action{Kind: key.Value, Spec: spec, fault: kind})
	}
	if len(found) == 0 {
		return nil
	}
	*a = found[0]
	if len(found) > 1 {
		a.others = found[1:]
	}
	return nil
}

// ActionCheck is what a kind's Validate reports through. Paths are
// relative to the kind's key ("method" for spec.action.podKill.method).
type ActionCheck struct {
	v    *validator
	path string
	// Spec is the whole experiment's spec, read-only: a kind may check its
	// fields against the duration or the target.
	Spec *Spec
	// DurationOK says spec.duration is valid (and Spec.Duration usable).
	DurationOK bool
}

// Path is the absolute path of a field of the kind ("" for the kind's key).
func (c *ActionCheck) Path(rel string) string {
	if rel == "" {
		return c.path
	}
	return c.path + "." + rel
}

// Add reports a problem at field rel.
func (c *ActionCheck) Add(rel, format string, args ...any) {
	c.v.add(c.Path(rel), format, args...)
}

// Written reports whether field rel was written in the file (it tells an
// explicit "workers: 0" from an absent one).
func (c *ActionCheck) Written(rel string) bool { return c.v.written(c.Path(rel)) }

// Duration checks a duration field; required fields must be written,
// positive ones must be > 0. It returns the value and whether it is valid.
func (c *ActionCheck) Duration(rel string, d Duration, required, positive bool) (time.Duration, bool) {
	return c.v.duration(c.Path(rel), d, durationRule{required: required, positive: positive})
}

// IntRange checks an integer that has a default: zero means unset unless
// it was written.
func (c *ActionCheck) IntRange(rel string, x, lo, hi int) {
	c.v.intRange(c.Path(rel), x, lo, hi)
}

// LabelSelector checks a label selector in kubectl syntax.
func (c *ActionCheck) LabelSelector(rel, s string) { c.v.labelSelector(c.Path(rel), s) }

// Pick checks a pick block.
func (c *ActionCheck) Pick(rel string, p *Pick) { c.v.pick(c.Path(rel), p) }
