package gate

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/chaosnight/chaosnight/pkg/target"
)

// Reasons of a Deployment's Progressing condition (the deployment
// controller's, k8s.io/kubernetes/pkg/controller/deployment/util).
const (
	reasonNewRSAvailable   = "NewReplicaSetAvailable"
	reasonDeadlineExceeded = "ProgressDeadlineExceeded"
	reasonPaused           = "DeploymentPaused"
)

// checkRollouts reads the workload of every target's owner, once per
// owner: a ReplicaSet is followed to the Deployment that controls it.
// Each workload lists the owners (target.OwnerKey) resolved to it.
func (g *Gate) checkRollouts(ctx context.Context, targets []target.Pod) RolloutCheck {
	var rc RolloutCheck
	seen := map[string]int{} // owner or workload key -> index in rc.Workloads
	add := func(key string, w Workload, owner string) {
		if i, ok := seen[key]; ok {
			rc.Workloads[i].addOwner(owner)
			return
		}
		w.addOwner(owner)
		seen[key] = len(rc.Workloads)
		rc.Workloads = append(rc.Workloads, w)
	}
	for _, p := range targets {
		if p.Owner == nil {
			continue // a bare pod has no rollout
		}
		owner := target.OwnerKey(p)
		key := p.Namespace + "/" + p.Owner.Kind + "/" + p.Owner.Name
		if i, ok := seen[key]; ok {
			rc.Workloads[i].addOwner(owner)
			continue
		}
		if name, ok := deploymentName(p); ok {
			dkey := p.Namespace + "/Deployment/" + name
			if i, ok := seen[dkey]; ok {
				seen[key] = i // another ReplicaSet of a Deployment already read
				rc.Workloads[i].addOwner(owner)
				continue
			}
			if w, ok := g.deploymentOf(ctx, p, name); ok {
				add(dkey, w, owner)
				seen[key] = seen[dkey]
				continue
			}
		}
		w := g.workload(ctx, p.Namespace, p.Owner.Kind, p.Owner.Name)
		wkey := p.Namespace + "/" + w.Kind + "/" + w.Name
		add(wkey, w, owner) // two ReplicaSets of one Deployment: read once, listed once
		seen[key] = seen[wkey]
	}
	return rc
}

// addOwner records that a target's owner resolved to w.
func (w *Workload) addOwner(owner string) {
	if !slices.Contains(w.Owners, owner) {
		w.Owners = append(w.Owners, owner)
	}
}

// deploymentName is the Deployment a ReplicaSet's pod names: the
// Deployment controller calls its ReplicaSets DEPLOYMENT-HASH and labels
// their pods pod-template-hash=HASH. ok is false when the names do not
// say (a ReplicaSet of something else, or of nothing).
func deploymentName(p target.Pod) (string, bool) {
	hash := p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
	if p.Owner == nil || p.Owner.Kind != "ReplicaSet" || hash == "" {
		return "", false
	}
	name, ok := strings.CutSuffix(p.Owner.Name, "-"+hash)
	return name, ok && name != ""
}

// deploymentOf reads the Deployment named by deploymentName without
// reading the ReplicaSet first (a 100-target pick would otherwise cost
// 100 more GETs, paced by the client's rate). It is accepted only when its
// selector matches the pod: a Deployment adopts every ReplicaSet its
// selector matches, so a match is the pod's own Deployment. Otherwise (not
// found, unreadable, another selector) ok is false and the caller follows
// the ReplicaSet's controller reference, which reports errors.
func (g *Gate) deploymentOf(ctx context.Context, p target.Pod, name string) (Workload, bool) {
	if g.Client == nil {
		return Workload{}, false
	}
	d, err := g.Client.AppsV1().Deployments(p.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil || d.Spec.Selector == nil {
		return Workload{}, false
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() || !sel.Matches(labels.Set(p.Labels)) {
		return Workload{}, false
	}
	w := Workload{Kind: "Deployment", Namespace: p.Namespace, Name: d.Name, Selector: sel.String()}
	w.RollingOut, w.Detail = DeploymentRollout(d)
	return w, true
}

// workload reads one owner and says whether it is rolling out.
func (g *Gate) workload(ctx context.Context, ns, kind, name string) Workload {
	w := Workload{Kind: kind, Namespace: ns, Name: name}
	if g.Client == nil {
		w.Error = "no Kubernetes client"
		return w
	}
	apps := g.Client.AppsV1()
	switch kind {
	case "ReplicaSet":
		rs, err := apps.ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			w.Error = readError(err)
			return w
		}
		ref := metav1.GetControllerOf(rs)
		if ref == nil || ref.Kind != "Deployment" {
			w.Detail = "no rollout: a ReplicaSet without a Deployment"
			return w
		}
		// The ReplicaSet's own selector: its pods are the targets' owner's.
		w.Kind, w.Name, w.Selector = "Deployment", ref.Name, selectorString(rs.Spec.Selector)
		d, err := apps.Deployments(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			w.Error = readError(err)
			return w
		}
		w.RollingOut, w.Detail = DeploymentRollout(d)
	case "StatefulSet":
		s, err := apps.StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			w.Error = readError(err)
			return w
		}
		w.RollingOut, w.Detail = StatefulSetRollout(s)
		w.Selector = selectorString(s.Spec.Selector)
	case "DaemonSet":
		d, err := apps.DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			w.Error = readError(err)
			return w
		}
		w.RollingOut, w.Detail = DaemonSetRollout(d)
		w.Selector = selectorString(d.Spec.Selector)
	default:
		w.Detail = "no rollout: owned by a " + kind
	}
	return w
}

// selectorString is a workload's pod selector as a string, "" when it is
// missing or invalid (then nothing is concluded from it).
func selectorString(ls *metav1.LabelSelector) string {
	if ls == nil {
		return ""
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil || sel.Empty() {
		return ""
	}
	return sel.String()
}

func readError(err error) string {
	if apierrors.IsNotFound(err) {
		return "it no longer exists (a rollout may have replaced it): " + err.Error()
	}
	return err.Error()
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// DeploymentRollout says whether a Deployment is in the middle of a
// rollout, in the words of a gate reason ("is rolling out (1 of 3 replicas
// updated)"). In progress: its controller has not yet observed the latest
// generation; fewer updated replicas than desired (paused or not); old
// replicas still running; or updated replicas not all available while the
// Progressing condition says the rollout has not completed. A rollout
// past its progress deadline counts as well: it is stuck, not finished.
//
// Missing or unavailable replicas alone do not count: after a pod kill the
// replacement is created a moment later and is "updated" but not yet
// ready, and a scale adds pods of the same ReplicaSet; through both the
// controller keeps the condition at NewReplicaSetAvailable (it is not
// re-evaluated once a rollout completed and every pod is of the new
// ReplicaSet), which tells them from a rollout. Without a progress
// deadline there is no condition: availability is not checked, and
// missing replicas count (the gate errs on the closed side).
func DeploymentRollout(d *appsv1.Deployment) (bool, string) {
	want := replicas(d.Spec.Replicas)
	s := d.Status
	if d.Generation > s.ObservedGeneration {
		return true, fmt.Sprintf("is rolling out (generation %d not yet observed by the deployment controller, which saw %d)", d.Generation, s.ObservedGeneration)
	}
	var cond *appsv1.DeploymentCondition
	for i := range s.Conditions {
		if s.Conditions[i].Type == appsv1.DeploymentProgressing {
			cond = &s.Conditions[i]
		}
	}
	if cond != nil && cond.Reason == reasonDeadlineExceeded {
		return true, fmt.Sprintf("has a stuck rollout (progress deadline exceeded, %d of %d replicas updated)", s.UpdatedReplicas, want)
	}
	verb := "is rolling out"
	if d.Spec.Paused {
		verb = "is paused mid-rollout"
	}
	// The last rollout completed and every pod belongs to its ReplicaSet:
	// fewer pods than desired is a replacement being created (a pod kill)
	// or a scale, not a rollout.
	settled := cond != nil && cond.Reason == reasonNewRSAvailable && s.Replicas == s.UpdatedReplicas
	switch {
	case s.UpdatedReplicas < want && settled:
		return false, fmt.Sprintf("rollout complete (%d of %d replicas running: a replacement or a scale, not a rollout)", s.UpdatedReplicas, want)
	case s.UpdatedReplicas < want:
		return true, fmt.Sprintf("%s (%d of %d replicas updated)", verb, s.UpdatedReplicas, want)
	case s.Replicas > s.UpdatedReplicas:
		return true, fmt.Sprintf("%s (%d of %d replicas updated, %d old still running)", verb, s.UpdatedReplicas, want, s.Replicas-s.UpdatedReplicas)
	case cond != nil && cond.Reason != reasonNewRSAvailable && cond.Reason != reasonPaused && s.AvailableReplicas < s.UpdatedReplicas:
		return true, fmt.Sprintf("%s (%d of %d replicas updated, %d available)", verb, s.UpdatedReplicas, want, s.AvailableReplicas)
	}
	return false, fmt.Sprintf("rollout complete (%d of %d replicas updated)", s.UpdatedReplicas, want)
}

// StatefulSetRollout says whether a StatefulSet is rolling out: the
// latest generation not yet observed, or (RollingUpdate) its update
// revision not yet current, which the controller makes it only once every
// replica is updated and ready. A partition holds a staged rollout on
// purpose: once the replicas above it are updated, it counts as done, as
// for `kubectl rollout status`. OnDelete sets have no rollout to follow.
func StatefulSetRollout(s *appsv1.StatefulSet) (bool, string) {
	want := replicas(s.Spec.Replicas)
	st := s.Status
	if s.Generation > st.ObservedGeneration {
		return true, fmt.Sprintf("is rolling out (generation %d not yet observed by the statefulset controller, which saw %d)", s.Generation, st.ObservedGeneration)
	}
	if s.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType {
		return false, "no rollout to follow (updateStrategy OnDelete)"
	}
	if st.UpdateRevision != "" && st.CurrentRevision != st.UpdateRevision {
		if ru := s.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil && *ru.Partition > 0 && st.UpdatedReplicas >= want-*ru.Partition {
			return false, fmt.Sprintf("staged rollout held at partition %d (%d of %d replicas updated)", *ru.Partition, st.UpdatedReplicas, want)
		}
		return true, fmt.Sprintf("is rolling out (%d of %d replicas updated, %d ready)", st.UpdatedReplicas, want, st.ReadyReplicas)
	}
	return false, fmt.Sprintf("rollout complete (%d of %d replicas updated)", st.UpdatedReplicas, want)
}

// DaemonSetRollout says whether a DaemonSet is rolling out: the latest
// generation not yet observed, or fewer nodes with the updated pod than
// nodes that should run it. Unavailable pods alone do not count (a pod
// kill leaves one unavailable); a DaemonSet has no condition that tells a
// rollout from a replacement.
func DaemonSetRollout(d *appsv1.DaemonSet) (bool, string) {
	st := d.Status
	if d.Generation > st.ObservedGeneration {
		return true, fmt.Sprintf("is rolling out (generation %d not yet observed by the daemonset controller, which saw %d)", d.Generation, st.ObservedGeneration)
	}
	if d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType {
		return false, "no rollout to follow (updateStrategy OnDelete)"
	}
	if st.UpdatedNumberScheduled < st.DesiredNumberScheduled {
		return true, fmt.Sprintf("is rolling out (%d of %d pods updated)", st.UpdatedNumberScheduled, st.DesiredNumberScheduled)
	}
	return false, fmt.Sprintf("rollout complete (%d of %d pods updated)", st.UpdatedNumberScheduled, st.DesiredNumberScheduled)
}
