package experiment

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
)

// This file lends the experiment loader's strict decoding and its
// FILE:LINE: field: message problems to other file formats of chaosnight
// (the serve configuration), so that every file a user writes is checked
// with the same rules and reported in the same words.

// DNSLabelRule says what a DNS-1123 label is, in the words the experiment
// problems use, for other formats that name things the same way.
const DNSLabelRule = dnsLabelRule

// Findings collects the problems of one strictly decoded YAML document:
// those of decoding first, then those the caller's validation of the
// decoded Go values adds, each placed at the line where its field was
// written (or, for a missing field, where its parent was).
type Findings struct {
	file     string
	dec      *strictDecoder // nil for values built in Go
	decoded  bool
	problems Problems
}

// NewFindings returns an empty collection for values built in Go: their
// problems carry the file name (which may be empty) but no line.
func NewFindings(file string) *Findings {
	return &Findings{file: file, decoded: true}
}

// DecodeStrict decodes the single YAML document of data into out, a
// non-nil pointer to a struct, with the rules experiment files follow:
// unknown fields are refused with their path, line and the closest known
// field; wrong shapes, bad scalars and repeated keys are reported; aliases
// and merge keys are followed within bounds. Fields of type Duration keep
// their text for validation to check. Problems are reported against file.
//
// An empty document leaves out untouched and is not a problem. A document
// that could not be decoded at all (a syntax error, or a top level that is
// not a mapping) leaves Decoded false: validating what little was decoded
// would only list every field as missing.
func DecodeStrict(file string, data []byte, out any) *Findings {
	f := &Findings{file: file}
	rv := reflect.ValueOf(out)
	if !rv.IsValid() || rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		// A programming error, not a user's: say so plainly.
		f.problems = append(f.problems, Problem{File: file, Message: fmt.Sprintf("cannot decode into %T (want a pointer to a struct)", out)})
		return f
	}
	f.dec = newStrictDecoder(file, nil)

	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root yaml.Node
	err := decodeNode(dec, &root)
	if errors.Is(err, io.EOF) {
		f.decoded = true
		return f
	}
	if err != nil {
		f.problems = append(f.problems, syntaxProblem(file, data, err))
		return f
	}
	f.extraDocuments(dec, data)
	if len(root.Content) == 0 || isNull(root.Content[0]) {
		f.decoded = true
		return f
	}
	content := root.Content[0]
	if n := resolve(content); n == nil || n.Kind != yaml.MappingNode {
		line := content.Line
		what := "something else"
		if n != nil {
			what = describeNode(n)
		}
		f.problems = append(f.problems, newProblem(file, line, "", "expected a mapping of settings, got %s", what))
		return f
	}

	f.dec.lines[""] = content.Line
	f.dec.walk(content, rv.Elem().Type(), "")
	err = decodeAny(content, out)
	if err != nil && len(f.dec.problems) == 0 {
		// The strict walk should have refused whatever yaml.v3 refuses; if
		// it missed something, yaml's own words beat silence.
		f.dec.problems = append(f.dec.problems, yamlErrorProblems(file, content.Line, err)...)
	}
	f.problems = append(f.problems, f.dec.problems...)
	var typeErr *yaml.TypeError
	f.decoded = err == nil || errors.As(err, &typeErr)
	return f
}

// extraDocuments reports a second document: a settings file holds one,
// and silently ignoring the rest would hide whatever was written there.
func (f *Findings) extraDocuments(dec *yaml.Decoder, data []byte) {
	for {
		var next yaml.Node
		err := decodeNode(dec, &next)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			f.problems = append(f.problems, syntaxProblem(f.file, data, err))
			return
		}
		if len(next.Content) > 0 && !isNull(next.Content[0]) {
			f.problems = append(f.problems, newProblem(f.file, next.Content[0].Line, "", "a second YAML document (this file holds one document; merge the two or remove the \"---\")"))
			return
		}
	}
}

func decodeAny(n *yaml.Node, out any) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: decoder failed: %v", r)
		}
	}()
	return n.Decode(out)
}

// Decoded reports whether the document was decoded well enough for its
// values to be validated.
func (f *Findings) Decoded() bool {
	return f.decoded
}

// Line returns the line where path (such as nights[1].opens) was written,
// or for a missing field that of the nearest enclosing field that was; 0
// for values built in Go.
func (f *Findings) Line(path string) int {
	if f.dec == nil {
		return 0
	}
	return f.dec.lines.lineOf(path)
}

// Written reports whether path was written in the file; it tells an
// explicit zero from an absent field.
func (f *Findings) Written(path string) bool {
	return f.dec != nil && f.dec.lines.has(path)
}

// Add records a validation problem at path, unless it merely repeats a
// decoding problem (a value that could not be decoded, or the field a
// misspelt key was meant to be).
func (f *Findings) Add(path, format string, args ...any) {
	if f.dec != nil && f.dec.explains(path) {
		return
	}
	f.problems = append(f.problems, newProblem(f.file, f.Line(path), path, format, args...))
}

// Problems returns every problem so far, sorted by file, line and field;
// nil when there is none.
func (f *Findings) Problems() Problems {
	if len(f.problems) == 0 {
		return nil
	}
	ps := slices.Clone(f.problems)
	ps.sort()
	return ps
}

// Err returns the sorted problems as an error, or nil when there is none
// (a nil Problems stored in an error would not compare equal to nil).
func (f *Findings) Err() error {
	return f.Problems().errOrNil()
}

// QuoteValue quotes a value for a problem message the way experiment
// problems do, cut short so that one long value does not bury the report.
func QuoteValue(v string) string {
	return quoteValue(v)
}

// Suggest returns the candidate that got is a plausible typo of, or "".
func Suggest(got string, candidates []string) string {
	return suggest(got, candidates)
}

// FormatDuration writes d the way durations are written in files: "5m",
// "1h30m", not "5m0s".
func FormatDuration(d time.Duration) string {
	return formatDuration(d)
}
