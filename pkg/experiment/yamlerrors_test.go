package experiment

import (
	"errors"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestYAMLErrorTextFormat pins what yamlMessageLine and syntaxProblem read
// in go.yaml.in/yaml/v3's error texts: "yaml: line N: message", the
// 0-based line of its parser's errors (corrected by isParserError), and
// the errors without a line that are searched for in the data. If an
// upgrade changes the wording or fixes the off-by-one, a case here fails
// before a located problem silently points at the wrong line; every row's
// line was checked by hand against the input.
func TestYAMLErrorTextFormat(t *testing.T) {
	tests := []struct {
		name, in string
		raw      string // the library's own text, exactly
		line     int    // the problem's line
		msg      string // the problem's message
	}{
		{name: "scanner error, 1-based",
			in: "a: 1\nb: c: d\n", raw: "yaml: line 2: mapping values are not allowed in this context",
			line: 2, msg: "invalid YAML: mapping values are not allowed in this context"},
		{name: "scanner error, tab",
			in: "a: 1\n\tb: 2\n", raw: "yaml: line 2: found a tab character that violates indentation",
			line: 2, msg: "invalid YAML: found a tab character that violates indentation"},
		{name: "parser error, 0-based: expected key",
			in: "a: 1\nb:\n  c: 1\n d: 2\n", raw: "yaml: line 3: did not find expected key",
			line: 4, msg: "invalid YAML: did not find expected key"},
		{name: "parser error, 0-based: undefined tag handle",
			in: "a: 1\nb: !x!y 1\n", raw: "yaml: line 1: found undefined tag handle",
			line: 2, msg: "invalid YAML: found undefined tag handle"},
		{name: "parser error, 0-based: '-' indicator",
			in: "a:\n  - 1\n  x: 2\n", raw: "yaml: line 1: did not find expected '-' indicator",
			line: 2, msg: "invalid YAML: did not find expected '-' indicator"},
		{name: "parser error, 0-based: flow sequence",
			in: "a: 1\nb: [1, 2\nc: 3\n", raw: "yaml: line 1: did not find expected ',' or ']'",
			line: 2, msg: "invalid YAML: did not find expected ',' or ']'"},
		{name: "parser error, 0-based: duplicate %TAG",
			in: "%TAG !a! tag:x,2000:\n%TAG !a! tag:x,2000:\n---\na: 1\n", raw: "yaml: line 1: found duplicate %TAG directive",
			line: 2, msg: "invalid YAML: found duplicate %TAG directive"},
		{name: "no line: control character, searched in the data",
			in: "a: 1\nb: \x01\n", raw: "yaml: control characters are not allowed",
			line: 2, msg: "invalid YAML: control characters are not allowed"},
		{name: "no line: unknown anchor, searched in the data",
			in: "a: 1\nb: *nope\n", raw: "yaml: unknown anchor 'nope' referenced",
			line: 2, msg: "invalid YAML: unknown anchor 'nope' referenced"},
		{name: "no line, nothing to search: first line",
			in: "%YAML 2.0\n---\na: 1\n", raw: "yaml: found incompatible YAML document",
			line: 1, msg: "invalid YAML: found incompatible YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n yaml.Node
			err := yaml.Unmarshal([]byte(tt.in), &n)
			if err == nil || err.Error() != tt.raw {
				t.Fatalf("yaml.v3 says %q, want %q: its error text changed; check yamlMessageLine, isParserError and locateSyntaxError", err, tt.raw)
			}
			p := syntaxProblem("f.yaml", []byte(tt.in), err)
			if p.Line != tt.line || p.Message != tt.msg {
				t.Errorf("problem at line %d: %q; want line %d: %q", p.Line, p.Message, tt.line, tt.msg)
			}
		})
	}
}

// TestYAMLTypeErrorLines pins the fallback for type errors the strict walk
// missed: each TypeError entry is one problem at the failing node's line,
// which yaml.v3 gives only in the entry's text.
func TestYAMLTypeErrorLines(t *testing.T) {
	in := "a: 1\nb: x\nc:\n  - y\n"
	var out struct {
		A int   `yaml:"a"`
		B int   `yaml:"b"`
		C []int `yaml:"c"`
	}
	err := yaml.Unmarshal([]byte(in), &out)
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		t.Fatalf("yaml.v3 returned %v (%T), want a *yaml.TypeError", err, err)
	}
	ps := yamlErrorProblems("f.yaml", 7, err)
	want := []struct {
		line int
		msg  string
	}{
		{2, "cannot unmarshal !!str `x` into int"},
		{4, "cannot unmarshal !!str `y` into int"},
	}
	if len(ps) != len(want) {
		t.Fatalf("problems %v, want %d", ps, len(want))
	}
	for i, w := range want {
		if ps[i].Line != w.line || ps[i].Message != w.msg {
			t.Errorf("problem %d at line %d: %q; want line %d: %q (yaml.v3's entry %q)", i, ps[i].Line, ps[i].Message, w.line, w.msg, te.Errors[i])
		}
	}
	// An error without a line gets the document's.
	if ps := yamlErrorProblems("f.yaml", 7, errors.New("yaml: something odd")); len(ps) != 1 || ps[0].Line != 7 || !strings.Contains(ps[0].Message, "something odd") {
		t.Errorf("problems %v, want one at line 7", ps)
	}
}
