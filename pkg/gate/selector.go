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
	var out []Matcher
	pos := 0
	skip := func() {
		for pos < len(in) && (in[pos] == ' ' || in[pos] == '\t' || in[pos] == '\n') {
			pos++
		}
	}
	bad := func(format string, args ...any) error {
		return &SelectorError{Selector: s, Pos: off + pos, Problem: fmt.Sprintf(format, args...)}
	}
	for {
		skip()
		if pos == len(in) {
			break // the end, or a trailing comma as PromQL allows
		}
		name := labelName.FindString(in[pos:])
		if name == "" {
			return nil, bad("a label name must start here")
		}
		if name == "alertstate" {
			return nil, bad("alertstate cannot be matched: the gate reads firing alerts only")
		}
		pos += len(name)
		skip()
		op := ""
		for _, o := range []string{"=~", "!~", "!=", "="} {
			if strings.HasPrefix(in[pos:], o) {
				op = o
				break
			}
		}
		if op == "" {
			return nil, bad("an operator (=, !=, =~, !~) must follow the label %s", name)
		}
		pos += len(op)
		skip()
		if pos == len(in) || (in[pos] != '"' && in[pos] != '`') {
			return nil, bad("a value in double quotes must follow %s%s", name, op)
		}
		lit, err := strconv.QuotedPrefix(in[pos:])
		if err != nil {
			return nil, bad("the value of %s is not a closed, valid string", name)
		}
		value, _ := strconv.Unquote(lit) // QuotedPrefix checked it
		if op == "=~" || op == "!~" {
			if _, err := regexp.Compile("^(?:" + value + ")$"); err != nil {
				return nil, bad("the regular expression of %s is invalid: %v", name, err)
			}
		}
		pos += len(lit)
		out = append(out, Matcher{Name: name, Op: op, Value: value})
		skip()
		if pos == len(in) {
			break
		}
		if in[pos] != ',' {
			return nil, bad("a comma must separate two matchers")
		}
		pos++
	}
	return out, nil
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
