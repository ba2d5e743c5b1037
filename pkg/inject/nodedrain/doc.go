// Package nodedrain is the nodeDrain fault kind: it drains nodes the way
// `kubectl drain` does, within chaosnight's guard.
//
// Selection. The injector is an inject.TargetPicker: it lists the Nodes
// that match spec.action.nodeDrain.nodes.selector AND carry the node
// opt-in label chaosnight.dev/enabled=true (a node nobody opted in is
// never drained, whatever the selector says), keeps those that are Ready
// and not already unschedulable (a node somebody else cordoned is in
// maintenance: not ours to drain). The targets a drain evicts are the
// eligible pods of spec.target (its namespaces and selector stay the
// declared blast radius) minus DaemonSet pods (their controller would put
// them back at once; kubectl drain leaves them too) and mirror pods
// (static pods owned by the Node: the API cannot evict them). Among the
// usable nodes that run at least one such target, nodes.pick are chosen
// with the run's random source (same rules as spec.target.pick; default
// one), so a drain always hits the service under test; when there is none
// the run is skipped and no node is cordoned.
//
// Injection. Every chosen node is cordoned first (spec.unschedulable=true,
// pinned by resourceVersion), with annotations that name the run
// (CordonedByAnnotation), its deadline (DeadlineAnnotation) and the run's
// Lease (LeaseAnnotation), and the label CordonedLabel=true that the sweep
// selects by, so that replacements are scheduled elsewhere;
// a node found already cordoned is left as it is and never uncordoned by
// us. Then the pods the Guard admitted (opt-in namespaces, maxTargets,
// minHealthy per workload, kill switch) are evicted through the Eviction
// API with a UID precondition: PodDisruptionBudgets hold, a refusal is
// inject.StatusProtected and is not retried. Pods of a node that could not
// be cordoned are not evicted (their replacements could land back on it).
//
// Revert uncordons the nodes this run cordoned, only while their
// annotation still names the run (a node re-cordoned by someone else is
// left alone), and removes the annotations. It is idempotent; what it
// could not uncordon comes back as an inject.LeftoverError. Evicted pods
// are not brought back: their controllers replace them.
//
// After a crash, Sweep uncordons the nodes whose annotation names a run
// whose Lease is gone or expired, or whose deadline has passed. A runner
// that may not list nodes drained none: its sweep is a quiet no-op.
//
// The drain mechanics (Drainer, UsableNodes, PodsOn, Sweep) are exported
// for pkg/inject/zoneoutage, which drains every node of one zone.
package nodedrain
