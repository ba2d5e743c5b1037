package experiment

import (
	"strconv"
	"strings"
)

// fieldLines maps a field path ("spec.hypothesis.probes[1].expect") to the
// line of its key in the source, so that problems found after decoding,
// on plain Go values, can still point at the file. It is nil for
// experiments built in Go.
type fieldLines map[string]int

// has reports whether the field was written in the source.
func (l fieldLines) has(path string) bool {
	_, ok := l[path]
	return ok
}

// lineOf returns the line of path or, for a field that is missing, of the
// nearest enclosing field that was written: that is where the missing key
// has to be added.
func (l fieldLines) lineOf(path string) int {
	if l == nil {
		return 0
	}
	for {
		if line, ok := l[path]; ok {
			return line
		}
		if path == "" {
			return 0
		}
		path = parentPath(path)
	}
}

// childPath names a struct field below path.
func childPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// indexPath names a list item below path.
func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// keyPath names a map entry below path. The key is quoted because label
// keys contain dots and slashes ("app.kubernetes.io/name").
func keyPath(path, key string) string {
	return path + "[" + strconv.Quote(key) + "]"
}

// isUnder reports whether path is base or lies below it.
func isUnder(path, base string) bool {
	if base == "" || path == base {
		return true
	}
	if !strings.HasPrefix(path, base) {
		return false
	}
	next := path[len(base)]
	return next == '.' || next == '['
}

// parentPath strips the last element of a field path.
func parentPath(path string) string {
	if strings.HasSuffix(path, "\"]") {
		// A quoted key cannot contain an unescaped `["`, so the last one
		// opens it.
		if i := strings.LastIndex(path, "[\""); i >= 0 {
			return path[:i]
		}
	}
	if strings.HasSuffix(path, "]") {
		if i := strings.LastIndexByte(path, '['); i >= 0 {
			return path[:i]
		}
	}
	if i := strings.LastIndexByte(path, '.'); i >= 0 {
		return path[:i]
	}
	return ""
}
