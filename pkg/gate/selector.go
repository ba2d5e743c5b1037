package gate

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Matcher is one PromQL label matcher of the alert selector:
// severity="critical", team=~"pay|shop", env!="dev".
type Matcher struct {
	Name  string `json:"name"`
	Op    string `json:"op"` // =, !=, =~, !~
	Value string `json:"value"`
}

// String is the matcher in PromQL, its value quoted with Go's (and
// PromQL's) double-quote escapes.
func (m Matcher) String() string { return m.Name + m.Op + strconv.Quote(m.Value) }

// SelectorError is an alert selector that does not parse; Pos is the byte
// offset of the problem in the selector.
type SelectorError struct {
	Selector string
	Pos      int
	Problem  string
}

func (e *SelectorError) Error() string {
	return fmt.Sprintf("alert selector %q: at offset %d: %s (expected PromQL label matchers such as severity=\"critical\", team=~\"pay|shop\")", e.Selector, e.Pos, e.Problem)
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*`)

// ParseSelector reads a list of PromQL label matchers separated by commas,
// optionally wrapped in braces ({severity="critical"}). An empty selector
// is valid and selects every firing alert. alertname may be matched;
// alertstate may not (the gate reads firing alerts, always).
//
// A hand parser rather than Prometheus's own: the gate needs the matchers
// only, and the promql package would pull the whole engine into the binary.
// Regular expressions are checked with Go's RE2, which is the syntax
// Prometheus uses, anchored as Prometheus anchors them.
func ParseSelector(s string) ([]Matcher, error) {
	in := strings.TrimSpace(s)
	off := len(s) - len(strings.TrimLeft(s, " \t\n"))
	if strings.HasPrefix(in, "{") {
		if !strings.HasSuffix(in, "}") {
			return nil, &SelectorError{Selector: s, Pos: off, Problem: "an opening { without its closing }"}
		}
		in = strings.TrimSpace(in[1 : len(in)-1])
		off++
	}
	sc := &scanner{sel: s, in: in, off: off}
	var out []Matcher
	for {
		sc.skip()
		if sc.done() {
			return out, nil // the end, or a trailing comma as PromQL allows
		}
		m, err := sc.matcher()
		if err != nil {
			return nil, err
		}
		out = append(out, m)
		sc.skip()
		if sc.done() {
			return out, nil
		}
		if sc.in[sc.pos] != ',' {
			return nil, sc.bad("a comma must separate two matchers")
		}
		sc.pos++
	}
}

// scanner walks the selector; off is where in the user's text in starts.
type scanner struct {
	sel, in  string
	off, pos int
}

func (sc *scanner) done() bool { return sc.pos == len(sc.in) }

func (sc *scanner) skip() {
	for !sc.done() && strings.ContainsRune(" \t\n", rune(sc.in[sc.pos])) {
		sc.pos++
	}
}

func (sc *scanner) bad(format string, args ...any) error {
	return &SelectorError{Selector: sc.sel, Pos: sc.off + sc.pos, Problem: fmt.Sprintf(format, args...)}
}

// matcher reads one name, operator and quoted value.
func (sc *scanner) matcher() (Matcher, error) {
	name := labelName.FindString(sc.in[sc.pos:])
	switch name {
	case "":
		return Matcher{}, sc.bad("a label name must start here")
	case "alertstate":
		return Matcher{}, sc.bad("alertstate cannot be matched: the gate reads firing alerts only")
	}
	sc.pos += len(name)
	sc.skip()
	op := ""
	for _, o := range []string{"=~", "!~", "!=", "="} {
		if strings.HasPrefix(sc.in[sc.pos:], o) {
			op = o
			break
		}
	}
	if op == "" {
		return Matcher{}, sc.bad("an operator (=, !=, =~, !~) must follow the label %s", name)
	}
	sc.pos += len(op)
	sc.skip()
	if sc.done() || (sc.in[sc.pos] != '"' && sc.in[sc.pos] != '`') {
		return Matcher{}, sc.bad("a value in double quotes must follow %s%s", name, op)
	}
	lit, err := strconv.QuotedPrefix(sc.in[sc.pos:])
	if err != nil {
		return Matcher{}, sc.bad("the value of %s is not a closed, valid string", name)
	}
	value, _ := strconv.Unquote(lit) // QuotedPrefix checked it
	if op == "=~" || op == "!~" {
		if _, err := regexp.Compile("^(?:" + value + ")$"); err != nil {
			return Matcher{}, sc.bad("the regular expression of %s is invalid: %v", name, err)
		}
	}
	sc.pos += len(lit)
	return Matcher{Name: name, Op: op, Value: value}, nil
}

// alertsQuery is the instant query of the firing alerts the selector
// matches.
func alertsQuery(ms []Matcher) string {
	parts := []string{`alertstate="firing"`}
	for _, m := range ms {
		parts = append(parts, m.String())
	}
	return "ALERTS{" + strings.Join(parts, ",") + "}"
}
