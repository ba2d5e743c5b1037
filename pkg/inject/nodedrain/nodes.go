package nodedrain

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// ZoneLabel is the well-known label of a node's availability zone.
const ZoneLabel = corev1.LabelTopologyZone // topology.kubernetes.io/zone

// Node is what a drain keeps of a node.
type Node struct {
	Name   string
	Zone   string // ZoneLabel's value, "" when unset
	Labels map[string]string
}

// Skipped is a node that matched the selector and the opt-in but cannot
// be drained, with the reason.
type Skipped struct {
	Name, Reason string
}

// UsableNodes lists the nodes that match selector ("" matches every node)
// and carry the opt-in label inject.OptInLabel=true, the opt-in being part
// of the server-side selector so that a node without it is never even
// read. Of those it returns, sorted by name, the ones a drain may take:
// Ready and schedulable; the others are returned as skipped with the
// reason.
func UsableNodes(ctx context.Context, client kubernetes.Interface, selector string) (usable []Node, skipped []Skipped, err error) {
	sel, err := labels.Parse(selector)
	if err != nil {
		return nil, nil, fmt.Errorf("node selector %q: %w", selector, err)
	}
	optIn, err := labels.NewRequirement(inject.OptInLabel, selection.Equals, []string{"true"})
	if err != nil {
		return nil, nil, err
	}
	sel = sel.Add(*optIn)
	opts := metav1.ListOptions{LabelSelector: sel.String(), Limit: 500}
	for {
		list, err := client.CoreV1().Nodes().List(ctx, opts)
		if err != nil {
			return nil, nil, fmt.Errorf("list nodes %q: %w", sel.String(), err)
		}
		for i := range list.Items {
			n := &list.Items[i]
			if why := unusable(n); why != "" {
				skipped = append(skipped, Skipped{Name: n.Name, Reason: why})
				continue
			}
			usable = append(usable, Node{Name: n.Name, Zone: n.Labels[ZoneLabel], Labels: n.Labels})
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	slices.SortFunc(usable, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(skipped, func(a, b Skipped) int { return strings.Compare(a.Name, b.Name) })
	return usable, skipped, nil
}

// unusable says why a drain may not take n ("" when it may).
func unusable(n *corev1.Node) string {
	if n.DeletionTimestamp != nil {
		return "being deleted"
	}
	if n.Spec.Unschedulable {
		// Somebody (an operator, an autoscaler, another run) cordoned it:
		// it is in maintenance, and its pods are theirs to move.
		return "already cordoned"
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				return ""
			}
			return "not Ready"
		}
	}
	return "not Ready (no Ready condition)"
}

// PickNodes picks nodes with the rules of spec.target.pick (count, percent
// rounded up, all; several modes: the smallest; none: one), in an order
// that depends only on the names and rng, so a seed replays a pick.
func PickNodes(nodes []Node, p experiment.Pick, rng *rand.Rand) []Node {
	n := pickCount(p, len(nodes))
	if n == 0 {
		return nil
	}
	c := slices.Clone(nodes)
	slices.SortFunc(c, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	if rng != nil {
		rng.Shuffle(len(c), func(i, j int) { c[i], c[j] = c[j], c[i] })
	}
	out := c[:n:n]
	slices.SortFunc(out, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// pickCount is how many of n items a pick takes (target.Pick's rule).
func pickCount(p experiment.Pick, n int) int {
	if n <= 0 {
		return 0
	}
	want, set := n, false
	if p.All {
		set = true
	}
	if p.Percent != nil {
		k := 0
		if pct := *p.Percent; pct > 0 {
			k = (n*min(pct, 100) + 99) / 100
		}
		want, set = min(want, k), true
	}
	if p.Count != nil {
		want, set = min(want, max(*p.Count, 0)), true
	}
	if !set {
		want = 1
	}
	return min(want, n)
}

// PodsOn returns the pods of eligible that run on one of nodes and that a
// drain evicts: not DaemonSet pods (kubectl drain leaves them: their
// controller ignores the cordon and would recreate them on the spot) and
// not mirror pods (static pods, owned by their Node, which the API cannot
// evict). Input order is kept.
func PodsOn(eligible []target.Pod, nodes []Node) []target.Pod {
	on := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		on[n.Name] = true
	}
	var out []target.Pod
	for _, p := range eligible {
		if p.Node == "" || !on[p.Node] {
			continue
		}
		if p.Owner != nil && (p.Owner.Kind == "DaemonSet" || p.Owner.Kind == "Node") {
			continue
		}
		out = append(out, p)
	}
	return out
}

// Names lists the nodes' names.
func Names(nodes []Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.Name
	}
	return out
}

// TargetWords is "1 target pod on it" or "3 target pods on them", after
// the nodes it is about (n nodes).
func TargetWords(pods, nodes int) string {
	w := fmt.Sprintf("%d target pods", pods)
	if pods == 1 {
		w = "1 target pod"
	}
	if nodes == 1 {
		return w + " on it"
	}
	return w + " on them"
}

// nodeWords is "node a" or "nodes a, b".
func nodeWords(names []string) string {
	if len(names) == 1 {
		return "node " + names[0]
	}
	return "nodes " + strings.Join(names, ", ")
}

// skippedWords says which nodes were set aside and why, for a note.
func skippedWords(skipped []Skipped) string {
	if len(skipped) == 0 {
		return ""
	}
	parts := make([]string, 0, min(len(skipped), 5))
	for i, s := range skipped {
		if i == 5 {
			parts = append(parts, fmt.Sprintf("and %d more", len(skipped)-5))
			break
		}
		parts = append(parts, s.Name+": "+s.Reason)
	}
	return "skipped " + strings.Join(parts, "; ")
}
