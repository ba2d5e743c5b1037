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
// "line N: ..." entry of a TypeError.
func yamlErrorProblems(file string, line int, err error) Problems {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		l, msg := splitYAMLLine(strings.TrimPrefix(err.Error(), "yaml: "))
		return Problems{newProblem(file, cmp.Or(l, line), "", "%s", msg)}
	}
	var ps Problems
	for _, e := range te.Errors {
		l, msg := splitYAMLLine(e)
		ps = append(ps, newProblem(file, cmp.Or(l, line), "", "%s", msg))
	}
	return ps
}

// splitYAMLLine splits yaml.v3's "line N: message" into its parts.
func splitYAMLLine(s string) (int, string) {
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
// line that can be had.
func syntaxProblem(file string, data []byte, err error) Problem {
	line, msg := splitYAMLLine(strings.TrimPrefix(err.Error(), "yaml: "))
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
