package experiment

import (
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the work of the strict decoder. yaml.v3 protects its own
// decoding against alias bombs, but the decoder below follows aliases and
// merge keys itself; no real experiment comes near this many nodes.
const maxNodes = 100_000

// maxMergeDepth bounds merge keys ("<<: *base") that merge mappings that
// themselves merge, and so breaks the cycles an anchor can make.
const maxMergeDepth = 16

// strictDecoder walks a YAML node tree against the Go type it will be
// decoded into. yaml.v3's Node.Decode has no KnownFields option and stops
// at the first hard error, so this walk is what rejects unknown keys,
// wrong shapes and bad scalars, each with its field path and line, and
// records where every key was written for the validation that follows.
type strictDecoder struct {
	file     string
	kinds    *Kinds
	lines    fieldLines
	problems Problems
	// broken holds the paths whose value could not be decoded; validation
	// problems on or around them would only repeat the same mistake.
	broken []string
	// suggested holds the fields offered as "did you mean": they are absent,
	// and "required" problems about them would be noise next to the typo.
	suggested []string
	budget    int
}

func newStrictDecoder(file string, kinds *Kinds) *strictDecoder {
	return &strictDecoder{file: file, kinds: kinds, lines: fieldLines{}, budget: maxNodes}
}

func (s *strictDecoder) add(line int, path, format string, args ...any) {
	s.problems = append(s.problems, newProblem(s.file, line, path, format, args...))
}

// fail records a value that could not be decoded.
func (s *strictDecoder) fail(line int, path, format string, args ...any) {
	s.add(line, path, format, args...)
	s.broken = append(s.broken, path)
}

// walk checks node n, found at path, against type t.
func (s *strictDecoder) walk(n *yaml.Node, t reflect.Type, path string) {
	orig := n
	n = resolve(n)
	if n == nil {
		return
	}
	if s.budget--; s.budget < 0 {
		if s.budget == -1 {
			s.fail(n.Line, "", "document too large or too deeply aliased (more than %d nodes)", maxNodes)
		}
		return
	}
	if t == actionType {
		s.action(n, path)
		return
	}
	if t == durationType {
		if n.Kind != yaml.ScalarNode {
			s.wrongShape(n, t, path)
		}
		// Bad duration text is left to Validate, which reports it with the
		// same words for experiments built in Go.
		return
	}
	switch t.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			if t.Elem().Kind() == reflect.Struct && t.Elem() != durationType {
				// "podKill:" with nothing after it reads as "a pod kill with
				// every default", not as "no pod kill". The alias node itself
				// (not its anchor) is rewritten, so other uses are unchanged.
				*orig = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: orig.Line, Column: orig.Column}
				return
			}
			s.fail(n.Line, path, "missing value (expected %s)", describeType(t.Elem()))
			return
		}
		s.walk(n, t.Elem(), path)
	case reflect.Struct:
		s.structure(n, t, path)
	case reflect.Map:
		s.dictionary(n, t, path)
	case reflect.Slice:
		s.list(n, t, path)
	default:
		s.scalar(n, t, path)
	}
}

func (s *strictDecoder) structure(n *yaml.Node, t reflect.Type, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		s.wrongShape(n, t, path)
		return
	}
	fields := yamlFields(t)
	pairs := s.pairs(n, path, 0)
	present := make(map[string]bool, len(pairs))
	for _, p := range pairs {
		if k := resolve(p.key); k != nil && k.Kind == yaml.ScalarNode {
			present[k.Value] = true
		}
	}
	seen := make(map[string]int, len(pairs))
	for _, p := range pairs {
		k := resolve(p.key)
		if k == nil {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			s.add(k.Line, path, "keys must be plain strings, got %s", describeNode(k))
			continue
		}
		name := k.Value
		f, ok := fields.lookup(name)
		if !ok {
			s.unknownField(k, path, name, fields, present)
			continue
		}
		cp := childPath(path, name)
		if first, dup := seen[name]; dup {
			s.add(k.Line, cp, "duplicate key (first set at line %d)", first)
			dropPair(n, p.key)
			continue
		}
		seen[name] = k.Line
		s.lines[cp] = k.Line
		s.walk(p.value, f.typ, cp)
	}
}

var actionType = reflect.TypeFor[Action]()

// action checks spec.action: a mapping whose keys are registered fault
// kinds, each body walked against its kind's spec type. How many kinds are
// set is for validation to say.
func (s *strictDecoder) action(n *yaml.Node, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		s.wrongShape(n, actionType, path)
		return
	}
	var kindFields structFields
	for _, name := range s.kinds.Names() {
		kind, _ := s.kinds.Lookup(name)
		kindFields = append(kindFields, structField{name: name, typ: reflect.TypeOf(kind.NewSpec())})
	}
	pairs := s.pairs(n, path, 0)
	present := make(map[string]bool, len(pairs))
	for _, p := range pairs {
		if k := resolve(p.key); k != nil && k.Kind == yaml.ScalarNode {
			present[k.Value] = true
		}
	}
	seen := make(map[string]int, len(pairs))
	for _, p := range pairs {
		k := resolve(p.key)
		if k == nil {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			s.add(k.Line, path, "keys must be plain strings, got %s", describeNode(k))
			continue
		}
		f, ok := kindFields.lookup(k.Value)
		if !ok {
			s.unknownField(k, path, k.Value, kindFields, present)
			continue
		}
		cp := childPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			s.add(k.Line, cp, "duplicate key (first set at line %d)", first)
			dropPair(n, p.key)
			continue
		}
		seen[k.Value] = k.Line
		s.lines[cp] = k.Line
		s.walk(p.value, f.typ, cp)
	}
}

func (s *strictDecoder) unknownField(k *yaml.Node, path, name string, fields structFields, present map[string]bool) {
	allowed := fields.names()
	msg := "unknown field (allowed: " + strings.Join(allowed, ", ") + ")"
	var absent []string
	for _, a := range allowed {
		if !present[a] {
			absent = append(absent, a)
		}
	}
	if guess := suggest(name, absent); guess != "" {
		msg += "; did you mean " + strconv.Quote(guess) + "?"
		s.suggested = append(s.suggested, childPath(path, guess))
	}
	s.add(k.Line, childPath(path, name), "%s", msg)
}

func (s *strictDecoder) dictionary(n *yaml.Node, t reflect.Type, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		s.wrongShape(n, t, path)
		return
	}
	seen := map[string]int{}
	for _, p := range s.pairs(n, path, 0) {
		k := resolve(p.key)
		if k == nil {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			s.fail(k.Line, path, "keys must be plain strings, got %s", describeNode(k))
			continue
		}
		if isNull(k) {
			// yaml.v3 would drop the entry without a word.
			s.add(k.Line, path, "a key cannot be null")
			continue
		}
		kp := keyPath(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			s.add(k.Line, kp, "duplicate key (first set at line %d)", first)
			dropPair(n, p.key)
			continue
		}
		seen[k.Value] = k.Line
		s.lines[kp] = k.Line
		s.walk(p.value, t.Elem(), kp)
	}
}

func (s *strictDecoder) list(n *yaml.Node, t reflect.Type, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		s.wrongShape(n, t, path)
		return
	}
	for i, item := range n.Content {
		ip := indexPath(path, i)
		if r := resolve(item); r != nil {
			s.lines[ip] = r.Line
		}
		s.walk(item, t.Elem(), ip)
	}
}

func (s *strictDecoder) scalar(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.ScalarNode {
		s.wrongShape(n, t, path)
		return
	}
	if isNull(n) {
		// An empty string or false is a fine reading of "nothing"; a
		// number is not, and 0 would be a surprising one.
		if isNumber(t) {
			s.fail(n.Line, path, "missing value (expected %s)", describeType(t))
		}
		return
	}
	// Decoding the one scalar with yaml.v3 itself keeps this check in
	// step with what the real decoding accepts (0x10, 1_000, 1.0 ...).
	v := reflect.New(t)
	if err := n.Decode(v.Interface()); err != nil {
		s.fail(n.Line, path, "invalid value %s (expected %s)", quoteValue(n.Value), describeType(t))
	}
}

func (s *strictDecoder) wrongShape(n *yaml.Node, t reflect.Type, path string) {
	want := describeType(t)
	if path == "" {
		want = "an experiment (a mapping with apiVersion, kind, metadata and spec)"
	}
	s.fail(n.Line, path, "expected %s, got %s", want, describeNode(n))
}

// dropPair removes a repeated key from mapping n, keeping the first
// value: yaml.v3 refuses to decode a document with a repeated key at all,
// which would turn one problem into a page of "required".
func dropPair(n *yaml.Node, key *yaml.Node) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i] == key {
			n.Content = slices.Delete(n.Content, i, i+2)
			return
		}
	}
}

// pair is one key and value of a mapping.
type pair struct{ key, value *yaml.Node }

// pairs lists the entries of a mapping with merge keys ("<<: *defaults")
// expanded as yaml.v3 decodes them: keys written in the mapping win over
// merged ones, and earlier merged mappings over later ones.
func (s *strictDecoder) pairs(n *yaml.Node, path string, depth int) []pair {
	var out, merges []pair
	for i := 0; i+1 < len(n.Content); i += 2 {
		p := pair{n.Content[i], n.Content[i+1]}
		if isMerge(p.key) {
			merges = append(merges, p)
			continue
		}
		out = append(out, p)
	}
	if len(merges) == 0 {
		return out
	}
	have := map[string]bool{}
	for _, p := range out {
		if k := resolve(p.key); k != nil && k.Kind == yaml.ScalarNode {
			have[k.Value] = true
		}
	}
	for _, m := range merges {
		if depth >= maxMergeDepth {
			s.fail(m.key.Line, path, "merge keys (<<) nested more than %d deep", maxMergeDepth)
			return out
		}
		out = s.merge(out, m, have, path, depth)
	}
	return out
}

// merge appends the entries one merge key (<<) brings, skipping the keys
// already present (have, which it updates).
func (s *strictDecoder) merge(out []pair, m pair, have map[string]bool, path string, depth int) []pair {
	v := resolve(m.value)
	if v == nil {
		return out
	}
	var sources []*yaml.Node
	switch v.Kind {
	case yaml.MappingNode:
		sources = []*yaml.Node{v}
	case yaml.SequenceNode:
		for _, item := range v.Content {
			sources = append(sources, resolve(item))
		}
	}
	if len(sources) == 0 {
		s.fail(m.key.Line, path, "a merge key (<<) takes a mapping or a list of mappings")
	}
	for _, src := range sources {
		if src == nil || src.Kind != yaml.MappingNode {
			s.fail(m.key.Line, path, "a merge key (<<) takes a mapping or a list of mappings")
			continue
		}
		for _, p := range s.pairs(src, path, depth+1) {
			k := resolve(p.key)
			if k != nil && k.Kind == yaml.ScalarNode {
				if have[k.Value] {
					continue
				}
				have[k.Value] = true
			}
			out = append(out, p)
		}
	}
	return out
}
