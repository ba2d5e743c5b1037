package sandbox

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/test/sandbox/exporter"
)

// The seeded workload. Experiments in experiments/ and the integration tests
// are written against these names.
const (
	// ShopNamespace is opted in to chaos (OptInLabel=true).
	ShopNamespace = "shop"
	// StagingNamespace is a decoy: same workload, same labels, not opted in.
	StagingNamespace = "shop-staging"
	// OptInLabel is the namespace label chaosnight requires before it injects.
	OptInLabel = "chaosnight.dev/enabled"
	// DecoyLabel marks every decoy object, so nobody mistakes one for a target
	// while reading a cluster dump. Selectors never use it.
	DecoyLabel = "sandbox.chaosnight.dev/decoy"
)

// Workload describes one seeded Deployment.
type Workload struct {
	Namespace string
	Name      string
	Labels    map[string]string // pod template labels; the selector is app=<Labels["app"]>
	Replicas  int32
	// PDBMinAvailable creates a PodDisruptionBudget named like the
	// Deployment when > 0.
	PDBMinAvailable int
	Traffic         *exporter.Service // nil: no demo traffic
	Decoy           bool
	// ReadyDelay is the pods' start-up time (ReadyDelayAnnotation), e.g. "15s".
	ReadyDelay string
	// Real, when set, runs the workload as real pods of the shop on the
	// real node when the sandbox has one and Config.RealShop (see
	// realshop.go): Real.Work is the CPU time of each request and the load
	// generator sends Traffic.RPS to its ready endpoints; the exporter then
	// models nothing for it.
	Real *RealService
}

// DecoyPod is a bare (unowned) decoy pod.
type DecoyPod struct {
	Namespace, Name string
	Labels          map[string]string
}

// SeededWorkloads returns the Deployments SeedWorkload creates.
//
// Targets: shop/checkout (3 replicas, PDB minAvailable 2, needs 2 ready pods
// to serve its traffic), shop/cart (2) and shop/frontend (2).
// Decoys, which no experiment may ever touch: shop/checkout-canary
// (app=checkout-canary: a prefix of the target's label), shop-staging/checkout
// (identical labels in a namespace that is not opted in) and
// kube-system/checkout-webhook (app=checkout in a namespace that is opted in
// on purpose, so the deny list must win over the opt-in label).
func SeededWorkloads() []Workload {
	return []Workload{
		{Namespace: ShopNamespace, Name: "checkout", Replicas: 3, PDBMinAvailable: 2,
			Labels:  map[string]string{"app": "checkout", "tier": "backend"},
			Traffic: &exporter.Service{RPS: 50, MinReady: 2, LatencyMS: 40, BaseErrors: 0.001},
			// Real: 20 requests a second of 3 ms of CPU each, 200m per pod.
			Real: &RealService{Work: 3 * time.Millisecond, ReadyDelay: 2 * time.Second, CPULimit: "200m", RPS: 20}},
		{Namespace: ShopNamespace, Name: "cart", Replicas: 2,
			Labels:  map[string]string{"app": "cart", "tier": "backend"},
			Traffic: &exporter.Service{RPS: 30, MinReady: 1, LatencyMS: 15, BaseErrors: 0.001}},
		{Namespace: ShopNamespace, Name: "frontend", Replicas: 2,
			Labels:  map[string]string{"app": "frontend", "tier": "web"},
			Traffic: &exporter.Service{RPS: 100, MinReady: 1, LatencyMS: 25, BaseErrors: 0.001}},
		// One replica with a 10 s start-up: the single point of failure the
		// demo's failing experiment exposes.
		{Namespace: ShopNamespace, Name: "recommendations", Replicas: 1, ReadyDelay: "10s",
			Labels:  map[string]string{"app": "recommendations", "tier": "backend"},
			Traffic: &exporter.Service{RPS: 20, MinReady: 1, LatencyMS: 30, BaseErrors: 0.001}},

		{Namespace: ShopNamespace, Name: "checkout-canary", Replicas: 1, Decoy: true,
			Labels: map[string]string{"app": "checkout-canary", "tier": "backend", "track": "canary"}},
		{Namespace: StagingNamespace, Name: "checkout", Replicas: 3, PDBMinAvailable: 2, Decoy: true,
			Labels:  map[string]string{"app": "checkout", "tier": "backend"},
			Traffic: &exporter.Service{RPS: 50, MinReady: 2, LatencyMS: 40, BaseErrors: 0.001}},
		{Namespace: "kube-system", Name: "checkout-webhook", Replicas: 1, Decoy: true,
			Labels: map[string]string{"app": "checkout", "tier": "backend"}},
	}
}

// SeededDecoyPods returns the bare decoy pods: shop/checkout-db-0
// (app=checkout-db, no owner) and shop-staging/checkout-debug (app=checkout,
// no owner).
func SeededDecoyPods() []DecoyPod {
	return []DecoyPod{
		{Namespace: ShopNamespace, Name: "checkout-db-0", Labels: map[string]string{"app": "checkout-db", "tier": "backend"}},
		{Namespace: StagingNamespace, Name: "checkout-debug", Labels: map[string]string{"app": "checkout", "tier": "backend"}},
	}
}

// seededNamespaces maps each namespace to its labels; kube-system exists
// already and only gets the label added.
func seededNamespaces() map[string]map[string]string {
	return map[string]map[string]string{
		ShopNamespace:    {OptInLabel: "true"},
		StagingNamespace: {"environment": "staging"},
		"kube-system":    {OptInLabel: "true"},
	}
}

// SeedWorkload creates the namespaces, Deployments, PodDisruptionBudgets and
// decoys, every pod on the kwok nodes. It is idempotent: existing objects
// are left as they are.
func SeedWorkload(ctx context.Context, c kubernetes.Interface) error {
	return seedWorkload(ctx, c, nil)
}

// seedWorkload is SeedWorkload; deploy, when not nil, deploys the
// workloads that have a Real form as real services instead.
func seedWorkload(ctx context.Context, c kubernetes.Interface, deploy func(context.Context, RealService) error) error {
	nss := seededNamespaces()
	names := make([]string, 0, len(nss))
	for n := range nss {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := ensureNamespace(ctx, c, name, nss[name]); err != nil {
			return err
		}
	}
	for _, w := range SeededWorkloads() {
		if w.Real != nil && deploy != nil {
			r := *w.Real
			r.Namespace, r.Name, r.Labels, r.Replicas = w.Namespace, w.Name, withDecoy(w.Labels, w.Decoy), w.Replicas
			if err := deploy(ctx, r); err != nil {
				return err
			}
		} else if _, err := c.AppsV1().Deployments(w.Namespace).Create(ctx, deploymentFor(w), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create deployment %s/%s: %w", w.Namespace, w.Name, err)
		}
		if w.PDBMinAvailable > 0 {
			if _, err := c.PolicyV1().PodDisruptionBudgets(w.Namespace).Create(ctx, pdbFor(w), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				return fmt.Errorf("create poddisruptionbudget %s/%s: %w", w.Namespace, w.Name, err)
			}
		}
	}
	for _, d := range SeededDecoyPods() {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: d.Name, Namespace: d.Namespace, Labels: withDecoy(d.Labels, true)},
			Spec:       podSpec(d.Labels["app"]),
		}
		if err := createPod(ctx, c, pod); err != nil {
			return err
		}
	}
	return nil
}

func ensureNamespace(ctx context.Context, c kubernetes.Interface, name string, labels map[string]string) error {
	ns, err := c.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get namespace %s: %w", name, err)
	}
	changed := false
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	for k, v := range labels {
		if ns.Labels[k] != v {
			ns.Labels[k], changed = v, true
		}
	}
	if changed {
		if _, err := c.CoreV1().Namespaces().Update(ctx, ns, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("label namespace %s: %w", name, err)
		}
	}
	return nil
}

// createPod retries while the namespace's default ServiceAccount does not
// exist yet: the ServiceAccount admission plugin rejects pods until the
// controller-manager has created it.
func createPod(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod) error {
	for {
		_, err := c.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
		if !strings.Contains(err.Error(), "serviceaccount") {
			return fmt.Errorf("create pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create pod %s/%s: %w (last error: %v)", pod.Namespace, pod.Name, context.Cause(ctx), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func withDecoy(labels map[string]string, decoy bool) map[string]string {
	out := make(map[string]string, len(labels)+1)
	for k, v := range labels {
		out[k] = v
	}
	if decoy {
		out[DecoyLabel] = "true"
	}
	return out
}

// PodSpec is the spec seeded pods use: it tolerates the fake nodes' taint
// and selects them, so nothing ever waits for a real kubelet. Tests that
// create their own workloads should use it too.
func PodSpec(app string) corev1.PodSpec { return podSpec(app) }

func podSpec(app string) corev1.PodSpec {
	grace := int64(30)
	return corev1.PodSpec{
		NodeSelector: map[string]string{"type": "kwok"},
		Tolerations: []corev1.Toleration{{
			Key: FakeNodeAnnotation, Operator: corev1.TolerationOpEqual, Value: "fake", Effect: corev1.TaintEffectNoSchedule,
		}},
		TerminationGracePeriodSeconds: &grace,
		Containers: []corev1.Container{{
			Name:  app,
			Image: "registry.invalid/chaosnight-sandbox/" + app + ":1.0", // kwok never pulls it
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("10m"),
				corev1.ResourceMemory: resource.MustParse("16Mi"),
			}},
		}},
	}
}

func deploymentFor(w Workload) *appsv1.Deployment {
	replicas := w.Replicas
	ann := map[string]string{}
	if t := w.Traffic; t != nil {
		ann[exporter.AnnotationRPS] = fmt.Sprint(t.RPS)
		ann[exporter.AnnotationMinReady] = fmt.Sprint(t.MinReady)
		ann[exporter.AnnotationLatency] = fmt.Sprint(t.LatencyMS)
		ann[exporter.AnnotationBaseErrors] = fmt.Sprint(t.BaseErrors)
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: w.Namespace, Labels: withDecoy(w.Labels, w.Decoy), Annotations: ann},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": w.Labels["app"]}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: withDecoy(w.Labels, w.Decoy), Annotations: podAnnotations(w)},
				Spec:       podSpec(w.Labels["app"]),
			},
		},
	}
}

func podAnnotations(w Workload) map[string]string {
	if w.ReadyDelay == "" {
		return nil
	}
	return map[string]string{ReadyDelayAnnotation: w.ReadyDelay}
}

func pdbFor(w Workload) *policyv1.PodDisruptionBudget {
	min := intstr.FromInt32(int32(w.PDBMinAvailable))
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: w.Namespace, Labels: withDecoy(w.Labels, w.Decoy)},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: &min,
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": w.Labels["app"]}},
		},
	}
}

// WaitWorkloadReady waits until every seeded Deployment has all its replicas
// available, every decoy pod is Ready and every PodDisruptionBudget's status
// has been computed (evictions are judged on that status).
func WaitWorkloadReady(ctx context.Context, c kubernetes.Interface) error {
	var pending []string
	for {
		pending = pending[:0]
		for _, w := range SeededWorkloads() {
			d, err := c.AppsV1().Deployments(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
			if err != nil || d.Status.ObservedGeneration < d.Generation || d.Status.AvailableReplicas != w.Replicas || d.Status.UpdatedReplicas != w.Replicas {
				pending = append(pending, "deployment "+w.Namespace+"/"+w.Name)
			}
			if w.PDBMinAvailable > 0 {
				p, err := c.PolicyV1().PodDisruptionBudgets(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
				if err != nil || p.Status.ObservedGeneration < p.Generation || p.Status.CurrentHealthy < w.Replicas {
					pending = append(pending, "poddisruptionbudget "+w.Namespace+"/"+w.Name)
				}
			}
		}
		for _, d := range SeededDecoyPods() {
			p, err := c.CoreV1().Pods(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
			if err != nil || !isPodReady(p) {
				pending = append(pending, "pod "+d.Namespace+"/"+d.Name)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("seeded workload not ready (%s): %w", strings.Join(pending, ", "), context.Cause(ctx))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func isPodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// DecoyRecord identifies one decoy pod as it was when snapshotted.
type DecoyRecord struct {
	Namespace, Name string
	UID             string
	ResourceVersion string
}

// DecoySnapshot is the state of every decoy pod at one moment.
type DecoySnapshot []DecoyRecord

// SnapshotDecoys records every decoy pod (the DecoyLabel ones) by UID and
// resourceVersion. Take one before an experiment and Verify it after.
func SnapshotDecoys(ctx context.Context, c kubernetes.Interface) (DecoySnapshot, error) {
	pods, err := c.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: DecoyLabel + "=true"})
	if err != nil {
		return nil, fmt.Errorf("list decoy pods: %w", err)
	}
	var snap DecoySnapshot
	for _, p := range pods.Items {
		snap = append(snap, DecoyRecord{Namespace: p.Namespace, Name: p.Name, UID: string(p.UID), ResourceVersion: p.ResourceVersion})
	}
	sort.Slice(snap, func(i, j int) bool {
		if snap[i].Namespace != snap[j].Namespace {
			return snap[i].Namespace < snap[j].Namespace
		}
		return snap[i].Name < snap[j].Name
	})
	if len(snap) == 0 {
		return nil, fmt.Errorf("no decoy pods found (was the sandbox started with SeedWorkload?)")
	}
	return snap, nil
}

// Verify reports every decoy pod that was deleted, replaced, marked for
// deletion or modified (its resourceVersion changed: an ephemeral container,
// a label, an eviction condition) since the snapshot.
func (snap DecoySnapshot) Verify(ctx context.Context, c kubernetes.Interface) error {
	var problems []string
	for _, d := range snap {
		p, err := c.CoreV1().Pods(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			problems = append(problems, fmt.Sprintf("%s/%s (uid %s) was deleted", d.Namespace, d.Name, d.UID))
		case err != nil:
			return fmt.Errorf("get decoy pod %s/%s: %w", d.Namespace, d.Name, err)
		case string(p.UID) != d.UID:
			problems = append(problems, fmt.Sprintf("%s/%s was replaced (uid %s, was %s)", d.Namespace, d.Name, p.UID, d.UID))
		case p.DeletionTimestamp != nil:
			problems = append(problems, fmt.Sprintf("%s/%s (uid %s) is being deleted", d.Namespace, d.Name, d.UID))
		case p.ResourceVersion != d.ResourceVersion:
			problems = append(problems, fmt.Sprintf("%s/%s (uid %s) was modified (resourceVersion %s, was %s)", d.Namespace, d.Name, d.UID, p.ResourceVersion, d.ResourceVersion))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("decoys touched: %s", strings.Join(problems, "; "))
	}
	return nil
}
