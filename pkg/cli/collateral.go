package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
)

// collateralShown bounds the pods named per node in the summary; the
// journal keeps them all.
const collateralShown = 10

// printCollateral lists, for a node-scope stress, the other pods that
// share each stressed node (or, in a dry run, would): stressing a node
// reaches every pod on it, and the operator must see that blast radius
// next to the targets. Nodes are listed once, in the order first met.
func printCollateral(w io.Writer, rec *journal.Record) {
	var nodes []string
	byNode := map[string]inject.Collateral{}
	for _, inj := range rec.Injections {
		for _, c := range inj.Collateral {
			if _, seen := byNode[c.Node]; !seen {
				nodes = append(nodes, c.Node)
				byNode[c.Node] = c
			}
		}
	}
	if len(nodes) == 0 {
		return
	}
	verb := "share"
	if rec.DryRun {
		verb = "would share"
	}
	fmt.Fprintf(w, "  collateral (pods of other workloads that %s a stressed node):\n", verb)
	for _, n := range nodes {
		fmt.Fprintf(w, "    %s: %s\n", n, collateralLine(byNode[n]))
	}
}

// collateralLine is one node's collateral in words.
func collateralLine(c inject.Collateral) string {
	switch {
	case c.Error != "" && len(c.Pods) == 0:
		return "unknown: " + c.Error
	case len(c.Pods) == 0:
		return "none"
	}
	shown := c.Pods[:min(len(c.Pods), collateralShown)]
	parts := make([]string, len(shown))
	for i, p := range shown {
		parts[i] = p.Key()
		if p.Workload != "" {
			parts[i] += " (" + p.Workload + ")"
		}
	}
	line := strings.Join(parts, ", ")
	if more := len(c.Pods) - len(shown); more > 0 {
		line += fmt.Sprintf(" and %d more (see the journal)", more)
	}
	if c.Error != "" {
		line += "; incomplete: " + c.Error
	}
	return line
}
