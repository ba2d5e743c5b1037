package experiment

import (
	"bytes"
	"cmp"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// yamlErrorProblems turns a yaml.v3 decoding error into problems, one per
// entry of a TypeError. It is the fallback for what the strict walk of the
// node tree (decode.go) missed: the walk reports type errors at the node's
// own line, and this only runs when it found nothing. A TypeError entry's
// line is the failing node's (yaml.v3 writes node.Line into it), so it is
// used; an entry without one gets the document's line.
func yamlErrorProblems(file string, line int, err error) Problems {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		l, msg := yamlMessageLine(err.Error())
		return Problems{newProblem(file, cmp.Or(l, line), "", "%s", msg)}
	}
	var ps Problems
	for _, e := range te.Errors {
		l, msg := yamlMessageLine(e)
		ps = append(ps, newProblem(file, cmp.Or(l, line), "", "%s", msg))
	}
	return ps
}

// yamlMessageLine splits one of yaml.v3's error texts, "yaml: line N:
// message" (a syntax error) or "line N: message" (an entry of a
// TypeError), into the line and the message; line 0 when the text has
// none.
//
// This is the one place that reads the library's words for a line, and
// only because there is no other way: go.yaml.in/yaml/v3 (v3.0.5 here,
// and v3.0.6, the newest v3 on the module proxy on 2026-12-07) makes its
// scanner and parser errors with fmt.Errorf and gives a TypeError's
// entries as strings; no error type carries a line or a node. Only
// go.yaml.in/yaml/v4 (v4.0.0) has a typed LoadError with a Mark, and
// moving to it changes the Node API this whole package walks and the
// wording of every message. TestYAMLErrorTextFormat fails if v3's format
// changes under an upgrade.
func yamlMessageLine(text string) (int, string) {
	s := strings.TrimPrefix(text, "yaml: ")
	rest, ok := strings.CutPrefix(s, "line ")
	if !ok {
		return 0, s
	}
	num, msg, ok := strings.Cut(rest, ": ")
	if !ok {
		return 0, s
	}
	n, err := strconv.Atoi(num)
	if err != nil {
		return 0, s
	}
	return n, msg
}

// syntaxProblem turns a YAML syntax error into a problem with the best
// line that can be had. A syntax error has no node: the line can only come
// from the error's text (yamlMessageLine), corrected where yaml.v3 is
// known to be off by one, or be searched for in the data.
func syntaxProblem(file string, data []byte, err error) Problem {
	line, msg := yamlMessageLine(err.Error())
	switch {
	case line > 0 && isParserError(msg):
		// yaml.v3 prints the 0-based line for parser (not scanner) errors.
		line++
	case line == 0:
		line = locateSyntaxError(data, msg)
	}
	return newProblem(file, line, "", "invalid YAML: %s", msg)
}

// isParserError reports whether msg comes from yaml.v3's parser, whose
// line numbers are 0-based (those of its scanner are 1-based).
func isParserError(msg string) bool {
	switch msg {
	case "did not find expected <stream-start>",
		"did not find expected <document start>",
		"found undefined tag handle",
		"did not find expected node content",
		"did not find expected '-' indicator",
		"did not find expected key",
		"did not find expected ',' or ']'",
		"did not find expected ',' or '}'",
		"found duplicate %YAML directive",
		"found incompatible YAML document",
		"found duplicate %TAG directive":
		return true
	}
	return false
}

// locateSyntaxError finds the line of errors that yaml.v3 reports without
// one: bad characters and unknown anchors. Scanner and parser errors
// without a line are on the first line.
func locateSyntaxError(data []byte, msg string) int {
	switch {
	case strings.Contains(msg, "control characters") || strings.Contains(msg, "UTF-8"):
		if i := firstForbiddenChar(data); i >= 0 {
			return lineAt(data, i)
		}
	case strings.HasPrefix(msg, "unknown anchor '"):
		name := strings.TrimSuffix(strings.TrimPrefix(msg, "unknown anchor '"), "' referenced")
		if i := bytes.Index(data, []byte("*"+name)); i >= 0 {
			return lineAt(data, i)
		}
	}
	return 1
}

// firstForbiddenChar returns the offset of the first byte that is not
// valid UTF-8 or is a character YAML forbids in a stream.
func firstForbiddenChar(data []byte) int {
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if (r == utf8.RuneError && size <= 1) || !yamlPrintable(r) {
			return i
		}
		i += size
	}
	return -1
}

// yamlPrintable is YAML 1.2's c-printable set (with the BOM), the set
// yaml.v3's reader enforces.
func yamlPrintable(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r':
		return true
	case r >= 0x20 && r <= 0x7e:
		return true
	case r == 0x85 || (r >= 0xa0 && r <= 0xd7ff) || (r >= 0xe000 && r <= 0xfffd) || (r >= 0x10000 && r <= 0x10ffff):
		return true
	}
	return false
}

func lineAt(data []byte, offset int) int {
	return bytes.Count(data[:offset], []byte("\n")) + 1
}
