package stress

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// NodeOptInLabel must be "true" on a node before a node-scope stress
// touches it: the same label as the namespace opt-in.
const NodeOptInLabel = inject.OptInLabel

// collateralPageSize bounds one LIST of a node's pods.
const collateralPageSize = 500

var _ inject.Admitter = (*Injector)(nil)

// Admit implements inject.Admitter. Scope pod has no rule of its own
// (the fault stays in the target pod). Scope node refuses the targets on
// nodes that are not opted in (RuleNodeOptIn) and lists, for every other
// node, the collateral: the pods on it that are neither targets nor of a
// target's workload. It reads and changes nothing else; the Guard calls
// it also in dry run.
func (s *Injector) Admit(ctx context.Context, _ inject.Run, targets []target.Pod) inject.Admission {
	if s.scope() != scopeNode || s.Client == nil {
		return inject.Admission{}
	}
	var adm inject.Admission
	var nodes []string
	byNode := map[string][]target.Pod{}
	for _, t := range targets {
		node := t.Node
		if node == "" {
			// Not scheduled when it was listed: Inject reads it fresh and
			// fails it if it still is not; nothing to admit or list here.
			continue
		}
		if _, ok := byNode[node]; !ok {
			nodes = append(nodes, node)
		}
		byNode[node] = append(byNode[node], t)
	}
	why := make([]string, len(nodes))
	s.forEach(len(nodes), func(k int) { why[k] = s.nodeOptInRefusal(ctx, nodes[k]) })
	var admitted []string
	for k, node := range nodes {
		if why[k] == "" {
			admitted = append(admitted, node)
			continue
		}
		if adm.Refused == nil {
			adm.Refused = map[string]inject.Refusal{}
		}
		for _, t := range byNode[node] {
			adm.Refused[t.UID] = inject.Refusal{Rule: inject.RuleNodeOptIn, Why: why[k]}
		}
	}
	// The workloads under test: their other replicas are the experiment's
	// subject, not collateral.
	own := map[string]bool{}
	var namespaces []string
	for _, t := range targets {
		if _, refused := adm.Refused[t.UID]; !refused {
			own[target.OwnerKey(t)] = true
			own[t.UID] = true
			namespaces = appendUnique(namespaces, t.Namespace)
		}
	}
	adm.Collateral = make([]inject.Collateral, len(admitted))
	s.forEach(len(admitted), func(k int) { adm.Collateral[k] = s.collateral(ctx, admitted[k], own, namespaces) })
	return adm
}

// nodeOptInRefusal returns why node may not be stressed (the refusal of
// rule RuleNodeOptIn), or "" when it is opted in. A node that cannot be read is not
// stressed: an unknown answer is never yes.
func (s *Injector) nodeOptInRefusal(ctx context.Context, node string) string {
	n, err := s.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Sprintf("node %s not found", node)
	case err != nil:
		return fmt.Sprintf("cannot read node %s, so it is not stressed: %v", node, err)
	case n.Labels[NodeOptInLabel] != "true":
		return fmt.Sprintf("node %s is not opted in (label %s=true is missing)", node, NodeOptInLabel)
	}
	return ""
}

// collateral lists the pods on node that are not in own (target UIDs and
// workload keys), still running or about to, and not chaosnight's own
// helpers. It lists the node's pods in every namespace; a runner that may
// only list pods in the targets' namespaces (namespaced RBAC) lists those
// and says that the rest is unknown.
func (s *Injector) collateral(ctx context.Context, node string, own map[string]bool, namespaces []string) inject.Collateral {
	c := inject.Collateral{Node: node}
	err := s.listOnNode(ctx, "", node, own, &c)
	switch {
	case err == nil:
	case apierrors.IsForbidden(err) && len(namespaces) > 0:
		c.Pods = nil
		var failed []string
		for _, ns := range namespaces {
			if nerr := s.listOnNode(ctx, ns, node, own, &c); nerr != nil {
				failed = append(failed, fmt.Sprintf("%s (%v)", ns, nerr))
			}
		}
		// Expected under namespaced RBAC, so not worded as a failure (the
		// API server's own message is not repeated).
		c.Error = fmt.Sprintf("only the pods of namespace(s) %s were looked at; the pods of other namespaces on node %s are unknown (this runner may not list pods in every namespace)",
			strings.Join(namespaces, ", "), node)
		if len(failed) > 0 {
			c.Error += "; and cannot list " + strings.Join(failed, ", ")
		}
	default:
		return inject.Collateral{Node: node, Error: fmt.Sprintf("cannot list the pods of node %s, so what else it stresses is unknown: %v", node, err)}
	}
	slices.SortFunc(c.Pods, func(a, b inject.CollateralPod) int { return strings.Compare(a.Key(), b.Key()) })
	return c
}

// listOnNode appends to c the collateral pods of node in namespace ns
// ("" for every namespace). The LIST streams through target's lister, and
// an expired continue token (410 Gone, when paging a busy node outlives
// etcd compaction) starts it once more from the first page after dropping
// what the first attempt appended, so no pod is listed twice.
func (s *Injector) listOnNode(ctx context.Context, ns, node string, own map[string]bool, c *inject.Collateral) error {
	opts := metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String(),
		Limit:         collateralPageSize,
	}
	start := len(c.Pods)
	reset := func() { c.Pods = c.Pods[:start] }
	_, err := target.ListPodsRestarting(ctx, s.Client, ns, opts, reset, func(p target.Pod) {
		switch {
		case own[p.UID], own[target.OwnerKey(p)]:
			return
		case p.Phase == string(corev1.PodSucceeded) || p.Phase == string(corev1.PodFailed):
			return // finished: nothing left to disturb
		case p.Labels[HelperLabel] != "":
			return // chaosnight's own
		}
		cp := inject.CollateralPod{Namespace: p.Namespace, Name: p.Name}
		if o := p.Owner; o != nil {
			cp.Workload = o.Kind + " " + o.Name
		}
		c.Pods = append(c.Pods, cp)
	})
	return err
}
