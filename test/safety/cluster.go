package safety

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/test/sandbox"
)

// optInLabel is the namespace opt-in label (README), restated.
const optInLabel = "chaosnight.dev/enabled"

// holdFinalizer keeps a deleted bare pod in the API server as a
// terminating pod until the case's cleanup removes it.
const holdFinalizer = "safety.chaosnight.dev/hold"

// Create makes the case's objects. Pods land on the kwok nodes, whose
// stages make them Ready by themselves.
func Create(ctx context.Context, c kubernetes.Interface, k Case) error {
	for _, ns := range k.Namespaces {
		obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns.Name, Labels: map[string]string{}}}
		if ns.OptIn {
			obj.Labels[optInLabel] = "true"
		}
		if _, err := c.CoreV1().Namespaces().Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create namespace %s: %w", ns.Name, err)
		}
	}
	if k.UsesSystem() {
		if err := labelSystem(ctx, c, k.SystemOptIn); err != nil {
			return err
		}
	}
	for _, d := range k.Deployments {
		if err := createDeployment(ctx, c, d); err != nil {
			return err
		}
	}
	for _, b := range k.Bare {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: b.Name, Namespace: b.Namespace, Labels: withGroup(b.Labels, b.Name)},
			Spec:       sandbox.PodSpec(b.Labels["app"]),
		}
		if b.Terminating {
			pod.Finalizers = []string{holdFinalizer}
		}
		if err := createPod(ctx, c, pod); err != nil {
			return err
		}
	}
	return nil
}

// labelSystem sets or removes the opt-in label of SystemNamespace.
func labelSystem(ctx context.Context, c kubernetes.Interface, optIn bool) error {
	var value any // JSON null removes the label
	if optIn {
		value = "true"
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]any{optInLabel: value}}})
	if err != nil {
		return err
	}
	if _, err := c.CoreV1().Namespaces().Patch(ctx, SystemNamespace, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("label namespace %s: %w", SystemNamespace, err)
	}
	return nil
}

func withGroup(labels map[string]string, group string) map[string]string {
	out := maps.Clone(labels)
	out[GroupLabel] = group
	return out
}

func createDeployment(ctx context.Context, c kubernetes.Interface, d Deployment) error {
	replicas := int32(d.Replicas)
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{GroupLabel: d.Name}}
	spec := sandbox.PodSpec(d.Labels["app"])
	zero := int64(0) // replaced pods leave at once: the next case starts on a quiet cluster
	spec.TerminationGracePeriodSeconds = &zero
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: d.Name, Namespace: d.Namespace, Labels: withGroup(d.Labels, d.Name)},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: sel,
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: withGroup(d.Labels, d.Name)}, Spec: spec},
		},
	}
	if _, err := c.AppsV1().Deployments(d.Namespace).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	if d.PDB == nil {
		return nil
	}
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: d.Name, Namespace: d.Namespace},
		Spec:       policyv1.PodDisruptionBudgetSpec{Selector: sel},
	}
	if v := d.PDB.MinAvailable; v != nil {
		x := intstr.FromInt32(int32(*v))
		pdb.Spec.MinAvailable = &x
	}
	if v := d.PDB.MaxUnavailable; v != nil {
		x := intstr.FromInt32(int32(*v))
		pdb.Spec.MaxUnavailable = &x
	}
	if _, err := c.PolicyV1().PodDisruptionBudgets(d.Namespace).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create poddisruptionbudget %s/%s: %w", d.Namespace, d.Name, err)
	}
	return nil
}

// createPod retries while the namespace's default ServiceAccount does not
// exist yet (the admission plugin refuses pods until the controller made it).
func createPod(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod) error {
	for {
		_, err := c.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err == nil {
			return nil
		}
		if !strings.Contains(err.Error(), "serviceaccount") {
			return fmt.Errorf("create pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create pod %s/%s: %w (last error: %v)", pod.Namespace, pod.Name, context.Cause(ctx), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Ready returns nil once the generated cluster is as the oracle assumes:
// every Deployment's pods available, every bare pod Ready, no other pod in
// the case's namespaces, and every PDB's status computed by the
// controller-manager for this generation with the allowance the oracle
// computed. Otherwise it says what is pending.
func Ready(ctx context.Context, c kubernetes.Interface, k Case, o Oracle) error {
	for _, d := range k.Deployments {
		dep, err := c.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		r := int32(d.Replicas)
		if dep.Status.ObservedGeneration < dep.Generation || dep.Status.AvailableReplicas != r || dep.Status.ReadyReplicas != r || dep.Status.Replicas != r {
			return fmt.Errorf("deployment %s/%s: %d of %d available", d.Namespace, d.Name, dep.Status.AvailableReplicas, r)
		}
		if d.PDB == nil {
			continue
		}
		p, err := c.PolicyV1().PodDisruptionBudgets(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.Status.ObservedGeneration < p.Generation || p.Status.CurrentHealthy != r || p.Status.DisruptionsAllowed != int32(o.PDBAllowed[d.Name]) {
			return fmt.Errorf("poddisruptionbudget %s/%s: observedGeneration %d of %d, currentHealthy %d, disruptionsAllowed %d (oracle: %d)",
				d.Namespace, d.Name, p.Status.ObservedGeneration, p.Generation, p.Status.CurrentHealthy, p.Status.DisruptionsAllowed, o.PDBAllowed[d.Name])
		}
	}
	pods, err := Pods(ctx, c, k)
	if err != nil {
		return err
	}
	if len(pods) != k.Pods() {
		return fmt.Errorf("%d pods, the case has %d", len(pods), k.Pods())
	}
	for _, b := range k.Bare {
		p, err := c.CoreV1().Pods(b.Namespace).Get(ctx, b.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !podReady(p) {
			return fmt.Errorf("pod %s/%s is not ready", b.Namespace, b.Name)
		}
	}
	return nil
}

// Terminate deletes the case's terminating bare pods: their finalizer
// keeps them, with a deletionTimestamp. Call it once the case is Ready.
func Terminate(ctx context.Context, c kubernetes.Interface, k Case) error {
	for _, b := range k.Bare {
		if !b.Terminating {
			continue
		}
		if err := c.CoreV1().Pods(b.Namespace).Delete(ctx, b.Name, metav1.DeleteOptions{}); err != nil {
			return fmt.Errorf("delete pod %s/%s: %w", b.Namespace, b.Name, err)
		}
	}
	return nil
}

// Terminated returns nil once every terminating bare pod shows its
// deletionTimestamp.
func Terminated(ctx context.Context, c kubernetes.Interface, k Case) error {
	for _, b := range k.Bare {
		if !b.Terminating {
			continue
		}
		p, err := c.CoreV1().Pods(b.Namespace).Get(ctx, b.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if p.DeletionTimestamp == nil {
			return fmt.Errorf("pod %s/%s is not terminating yet", b.Namespace, b.Name)
		}
	}
	return nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// Pods are the pods of the case's namespaces and of SystemNamespace, by
// UID: everything a run could reach.
func Pods(ctx context.Context, c kubernetes.Interface, k Case) (map[string]PodState, error) {
	out := map[string]PodState{}
	spaces := []string{SystemNamespace}
	for _, ns := range k.Namespaces {
		spaces = append(spaces, ns.Name)
	}
	for _, ns := range spaces {
		list, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("list pods in %s: %w", ns, err)
		}
		for _, p := range list.Items {
			out[string(p.UID)] = PodState{Namespace: p.Namespace, Name: p.Name, UID: string(p.UID), Group: p.Labels[GroupLabel], Terminating: p.DeletionTimestamp != nil}
		}
	}
	return out, nil
}

// Cleanup removes the case: the hold finalizers, its objects in
// SystemNamespace (pods at once; the caller waits until they are gone,
// since the next case shares that namespace), the system label, and its
// namespaces (without waiting: the names are unique per case).
func Cleanup(ctx context.Context, c kubernetes.Interface, k Case) error {
	if err := release(ctx, c, k); err != nil {
		return err
	}
	if k.UsesSystem() {
		if err := cleanSystem(ctx, c, k); err != nil {
			return err
		}
	}
	for _, ns := range k.Namespaces {
		if err := c.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{}); ignoreNotFound(err) != nil {
			return fmt.Errorf("delete namespace %s: %w", ns.Name, err)
		}
	}
	return nil
}

// release removes the hold finalizer of the terminating bare pods.
func release(ctx context.Context, c kubernetes.Interface, k Case) error {
	patch := []byte(`{"metadata":{"finalizers":null}}`)
	for _, b := range k.Bare {
		if !b.Terminating {
			continue
		}
		if _, err := c.CoreV1().Pods(b.Namespace).Patch(ctx, b.Name, types.MergePatchType, patch, metav1.PatchOptions{}); ignoreNotFound(err) != nil {
			return fmt.Errorf("release pod %s/%s: %w", b.Namespace, b.Name, err)
		}
	}
	return nil
}

// cleanSystem deletes the case's objects in SystemNamespace and its label.
func cleanSystem(ctx context.Context, c kubernetes.Interface, k Case) error {
	fg := metav1.DeletePropagationForeground
	for _, d := range k.Deployments {
		if d.Namespace != SystemNamespace {
			continue
		}
		if err := c.AppsV1().Deployments(d.Namespace).Delete(ctx, d.Name, metav1.DeleteOptions{PropagationPolicy: &fg}); ignoreNotFound(err) != nil {
			return err
		}
		if d.PDB == nil {
			continue
		}
		if err := c.PolicyV1().PodDisruptionBudgets(d.Namespace).Delete(ctx, d.Name, metav1.DeleteOptions{}); ignoreNotFound(err) != nil {
			return err
		}
	}
	zero := int64(0)
	for _, b := range k.Bare {
		if b.Namespace != SystemNamespace {
			continue
		}
		if err := c.CoreV1().Pods(b.Namespace).Delete(ctx, b.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); ignoreNotFound(err) != nil {
			return err
		}
	}
	return labelSystem(ctx, c, false)
}

func ignoreNotFound(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// SystemClear returns nil once SystemNamespace holds no pod of the case.
func SystemClear(ctx context.Context, c kubernetes.Interface, k Case) error {
	list, err := c.CoreV1().Pods(SystemNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, p := range list.Items {
		if strings.HasPrefix(p.Name, k.Prefix+"-") {
			return fmt.Errorf("pod %s/%s is still there", p.Namespace, p.Name)
		}
	}
	return nil
}
