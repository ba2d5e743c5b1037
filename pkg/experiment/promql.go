package experiment

import (
	"errors"
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// ValidatePromQL parses query with Prometheus' own parser. The error is the
// parser's, lower-case and positioned ("1:16: parse error: unclosed left
// parenthesis"), so it reads well after "invalid PromQL: ".
//
// Experimental functions are accepted: whether they are enabled is a flag
// of the Prometheus server the experiment will run against, which a file
// check cannot see; a server without the flag still refuses the query, and
// the run then ends in error rather than in a verdict.
func ValidatePromQL(query string) error {
	_, err := parsePromQL(query)
	return err
}

func parsePromQL(query string) (expr parser.Expr, err error) {
	defer func() {
		// The parser recovers from its own panics; this guards the rest of
		// the loader against any it might still let through on odd input.
		if r := recover(); r != nil {
			expr, err = nil, fmt.Errorf("parser failed: %v", r)
		}
	}()
	p := parser.NewParser(parser.Options{EnableExperimentalFunctions: true})
	return p.ParseExpr(query)
}

// checkProbeQueryType explains why a query that parses cannot be a probe:
// a probe compares numbers, so it needs an instant vector or a scalar.
func checkProbeQueryType(expr parser.Expr) error {
	switch expr.Type() {
	case parser.ValueTypeVector, parser.ValueTypeScalar:
		return nil
	case parser.ValueTypeMatrix:
		return errors.New("the query returns a range vector; a probe needs an instant vector or a scalar (wrap it in a function such as rate() or avg_over_time())")
	default:
		return fmt.Errorf("the query returns a %s; a probe needs an instant vector or a scalar", expr.Type())
	}
}

// MetricNames are the metric names a query reads, in order of first use:
// the name of every vector selector (`rate(x_total[5m])` reads x_total),
// or its __name__ equality matcher. Selectors without a fixed name
// (`{__name__=~"x.*"}`) give none. It is how `chaosnight doctor` names the
// metric families behind an empty result.
func MetricNames(query string) ([]string, error) {
	expr, err := parsePromQL(query)
	if err != nil {
		return nil, err
	}
	var names []string
	seen := map[string]bool{}
	add := func(name string) {
		if name != "" && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		vs, ok := node.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if vs.Name != "" {
			add(vs.Name)
			return nil
		}
		for _, m := range vs.LabelMatchers {
			if m.Name == "__name__" && m.Type == labels.MatchEqual {
				add(m.Value)
			}
		}
		return nil
	})
	return names, nil
}
