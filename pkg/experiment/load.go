package experiment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// document is one experiment document of a file, with what the loader
// learnt about it.
type document struct {
	exp     Experiment
	lines   fieldLines
	invalid bool
}

// Load parses every YAML document of one file (documents are separated by
// "---"; empty ones are ignored), applies defaults and validates each
// experiment. The file name is only used in problems and in Source.
//
// On bad input the error is a Problems listing everything wrong with the
// file, and the experiments returned are only the valid ones: a caller
// that goes on despite the error gets no half-checked experiment, and one
// that stops has every problem to show.
func Load(kinds *Kinds, file string, data []byte) ([]Experiment, error) {
	docs, problems := parseFile(kinds, file, data)
	problems = append(problems, duplicateNames(docs)...)
	return collect(docs, problems)
}

// collect returns the valid experiments and every problem.
func collect(docs []*document, problems Problems) ([]Experiment, error) {
	var out []Experiment
	for _, d := range docs {
		if !d.invalid {
			out = append(out, d.exp)
		}
	}
	return out, problems.errOrNil()
}

// parseFile splits a file into YAML documents and loads each one.
func parseFile(kinds *Kinds, file string, data []byte) ([]*document, Problems) {
	var (
		docs     []*document
		problems Problems
	)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for index := 0; ; index++ {
		var root yaml.Node
		err := decodeNode(dec, &root)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// The parser cannot resynchronise after a syntax error, so the
			// documents after this one are not read.
			problems = append(problems, syntaxProblem(file, data, err))
			break
		}
		if len(root.Content) == 0 || isNull(root.Content[0]) {
			continue // an empty document, e.g. a trailing "---"
		}
		d, ps := parseDocument(kinds, file, index, root.Content[0])
		docs = append(docs, d)
		problems = append(problems, ps...)
	}
	if len(docs) == 0 && len(problems) == 0 {
		// An empty file is almost always a mistake (a file truncated by a
		// bad merge, a wrong path): "0 experiments are valid" would let a
		// CI job pass on nothing.
		problems = append(problems, Problem{File: file, Message: "holds no experiment: the file is empty, or holds only comments or null " +
			"(an experiment has apiVersion: " + APIVersion + ", kind: " + Kind + ", metadata and spec)"})
	}
	return docs, problems
}

// decodeNode reads the next document. yaml.v3 turns its own failures into
// errors; the recover keeps any panic it might still let through on
// hostile input from taking the caller down with it.
func decodeNode(dec *yaml.Decoder, root *yaml.Node) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: parser failed: %v", r)
		}
	}()
	return dec.Decode(root)
}

var experimentType = reflect.TypeFor[Experiment]()

// parseDocument checks one document strictly, decodes and validates it,
// then applies defaults.
func parseDocument(kinds *Kinds, file string, index int, content *yaml.Node) (*document, Problems) {
	src := Source{File: file, Document: index, Line: content.Line}
	if ps := foreignDocument(file, content); ps != nil {
		return &document{exp: Experiment{Source: src}, invalid: true}, ps
	}

	s := newStrictDecoder(file, kinds)
	s.lines[""] = content.Line
	s.walk(content, experimentType, "")

	var e Experiment
	err := decodeInto(content, &e)
	if aerr := decodeAction(&e.Spec.Action, kinds); err == nil {
		err = aerr
	}
	if err != nil && len(s.problems) == 0 {
		// The strict walk should have refused whatever yaml.v3 refuses; if
		// it missed something, yaml's own words beat silence.
		s.problems = append(s.problems, yamlErrorProblems(file, content.Line, err)...)
	}
	e.Source = src
	var typeErr *yaml.TypeError
	if err != nil && !errors.As(err, &typeErr) {
		// yaml.v3 gave up on the whole document (a TypeError would have let
		// it go on): validating what little was decoded would only list
		// every field as missing.
		return &document{exp: e, lines: s.lines, invalid: true}, s.problems
	}

	v := &validator{file: file, lines: s.lines, kinds: kinds}
	v.experiment(&e)
	problems := s.problems
	for _, p := range v.problems {
		if !s.explains(p.Field) {
			problems = append(problems, p)
		}
	}
	ApplyDefaults(&e)
	return &document{exp: e, lines: s.lines, invalid: len(problems) > 0}, problems
}

// explains reports whether a validation problem at path merely repeats a
// decoding problem: a value that could not be decoded leaves its field,
// and its parent's count of set fields, empty; a misspelt key leaves the
// field it was meant to be missing.
func (s *strictDecoder) explains(path string) bool {
	for _, b := range s.broken {
		if isUnder(path, b) || (b != "" && path == parentPath(b)) {
			return true
		}
	}
	for _, g := range s.suggested {
		if isUnder(path, g) {
			return true
		}
	}
	return false
}

func decodeInto(n *yaml.Node, e *Experiment) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: decoder failed: %v", r)
		}
	}()
	return n.Decode(e)
}

// foreignDocument recognises a document that is not an experiment at all
// (a Deployment, a kustomization) and reports that alone: listing its
// fields as unknown would bury the one thing worth saying. A kind that is
// merely misspelt is left to full validation.
func foreignDocument(file string, n *yaml.Node) Problems {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k == nil || v == nil || k.Kind != yaml.ScalarNode || k.Value != "kind" || v.Kind != yaml.ScalarNode || isNull(v) {
			continue
		}
		if v.Value == Kind || suggest(v.Value, []string{Kind}) != "" {
			return nil
		}
		return Problems{newProblem(file, k.Line, "kind", "%s is not an experiment (expected apiVersion %s and kind %s); nothing else in this document was checked",
			quoteValue(v.Value), APIVersion, Kind)}
	}
	return nil
}

// duplicateNames reports experiments that share a metadata.name, at each
// place, naming the others, and marks them invalid: which one was meant
// cannot be guessed.
func duplicateNames(docs []*document) Problems {
	byName := map[string][]*document{}
	for _, d := range docs {
		if name := d.exp.Metadata.Name; name != "" {
			byName[name] = append(byName[name], d)
		}
	}
	var problems Problems
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		ds := byName[name]
		if len(ds) < 2 {
			continue
		}
		for i, d := range ds {
			var others []string
			for j, o := range ds {
				if j != i {
					others = append(others, location(o))
				}
			}
			d.invalid = true
			problems = append(problems, newProblem(d.exp.Source.File, d.lines.lineOf("metadata.name"), "metadata.name",
				"duplicate experiment name %s (also defined at %s)", quoteValue(name), strings.Join(others, ", ")))
		}
	}
	return problems
}

func location(d *document) string {
	loc := d.exp.Source.File
	if line := d.lines.lineOf("metadata.name"); line > 0 {
		loc += ":" + strconv.Itoa(line)
	}
	return loc
}
