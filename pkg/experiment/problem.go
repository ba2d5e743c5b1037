package experiment

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Problem is one finding about an experiment file.
type Problem struct {
	File    string // path as given to the loader; empty for experiments built in Go
	Line    int    // 1-based line in File; 0 when unknown
	Field   string // field path such as spec.hypothesis.probes[1].expect; empty for the whole document
	Message string // what is wrong, then what is allowed
}

// String renders the problem as "FILE:LINE: field.path: message", the shape
// compilers and editors already know how to jump to. Parts that are unknown
// are left out rather than printed empty.
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	} else if p.Line > 0 {
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(p.Line))
		b.WriteString(": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every finding about one or more experiment files. It is an
// error so that callers can return it as is and still get at each problem
// with errors.As.
type Problems []Problem

// Error joins the problems, one per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// sort orders problems by file, line and field, so that output is stable
// and reads top to bottom like the file itself.
func (ps Problems) sort() {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(
			strings.Compare(a.File, b.File),
			cmp.Compare(a.Line, b.Line),
			comparePaths(a.Field, b.Field),
			strings.Compare(a.Message, b.Message),
		)
	})
}

// errOrNil returns nil for no problems: a nil Problems stored in an error
// interface would not compare equal to nil.
func (ps Problems) errOrNil() error {
	if len(ps) == 0 {
		return nil
	}
	ps.sort()
	return ps
}

// comparePaths compares field paths with their list indexes as numbers, so
// that probes[2] comes before probes[10] for experiments built in Go, whose
// problems all have line 0.
func comparePaths(a, b string) int {
	for a != "" && b != "" {
		da, db := leadingDigits(a), leadingDigits(b)
		if da > 0 && db > 0 {
			na, ea := strconv.Atoi(a[:da])
			nb, eb := strconv.Atoi(b[:db])
			if ea == nil && eb == nil && na != nb {
				return cmp.Compare(na, nb)
			}
			if c := strings.Compare(a[:da], b[:db]); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func leadingDigits(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

func newProblem(file string, line int, path, format string, args ...any) Problem {
	return Problem{File: file, Line: line, Field: path, Message: fmt.Sprintf(format, args...)}
}
