// Package exporter is the sandbox's stand-in for kube-state-metrics plus a
// demo service mesh. kube-state-metrics is not available from the Go module
// proxy, so this package publishes, from the real API server, the
// kube-state-metrics series chaosnight's examples use (same names, same
// label names), and a deterministic traffic model for Deployments annotated
// with sandbox.chaosnight.dev/traffic-rps whose error ratio and latency
// worsen when too few of their pods are ready. docs/sandbox.md documents the
// series and the model for experiment authors.
package exporter

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
)

// Config configures an Exporter.
type Config struct {
	// Client reads the cluster (list and watch on pods, deployments and
	// poddisruptionbudgets in all namespaces).
	Client kubernetes.Interface
	// Now is the clock of the traffic model (time.Now when nil).
	Now func() time.Time
	// Log receives malformed-annotation warnings (discarded when nil).
	Log *slog.Logger
	// Step is how often the traffic model integrates the current state, so
	// a pod that is ready for half a second still counts (default 250ms).
	Step time.Duration
}

// Exporter serves the sandbox metrics. Create it with New, then Start it.
type Exporter struct {
	cfg      Config
	factory  informers.SharedInformerFactory
	pods     corelisters.PodLister
	deploys  appslisters.DeploymentLister
	pdbs     policylisters.PodDisruptionBudgetLister
	registry *prometheus.Registry
	synced   atomic.Bool

	mu      sync.Mutex
	traffic map[string]*serviceState // by namespace/name
	warned  map[string]string        // last malformed-annotation warning per deployment

	descs descs
}

type serviceState struct {
	namespace, name string
	c               *counters
	rates           sampled // of the state seen at the last step
}

// sampled is the state of a service at one step and the rates it implies.
type sampled struct {
	Rates
	readyPods, minReady int
}

// New builds an Exporter; nothing runs until Start.
func New(cfg Config) (*Exporter, error) {
	if cfg.Client == nil {
		return nil, fmt.Errorf("exporter: a kubernetes client is required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if cfg.Step <= 0 {
		cfg.Step = 250 * time.Millisecond
	}
	f := informers.NewSharedInformerFactory(cfg.Client, 0)
	e := &Exporter{
		cfg:      cfg,
		factory:  f,
		pods:     f.Core().V1().Pods().Lister(),
		deploys:  f.Apps().V1().Deployments().Lister(),
		pdbs:     f.Policy().V1().PodDisruptionBudgets().Lister(),
		registry: prometheus.NewRegistry(),
		traffic:  map[string]*serviceState{},
		warned:   map[string]string{},
		descs:    newDescs(),
	}
	if err := e.registry.Register(e); err != nil {
		return nil, fmt.Errorf("exporter: register collector: %w", err)
	}
	return e, nil
}

// Start runs the informers until ctx ends and returns once their caches are
// synced; until then the handler answers 503, so Prometheus records up=0
// rather than a scrape with no pods in it.
func (e *Exporter) Start(ctx context.Context) error {
	e.factory.Start(ctx.Done())
	for typ, ok := range e.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("exporter: %v informer did not sync: %w", typ, context.Cause(ctx))
		}
	}
	e.advance(e.cfg.Now())
	e.synced.Store(true)
	go func() {
		t := time.NewTicker(e.cfg.Step)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				e.advance(e.cfg.Now())
			}
		}
	}()
	return nil
}

// Handler serves /metrics in the Prometheus text format.
func (e *Exporter) Handler() http.Handler {
	h := promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !e.synced.Load() {
			http.Error(w, "informers not synced yet", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Gatherer exposes the registry, for tests that read metrics in-process.
func (e *Exporter) Gatherer() prometheus.Gatherer { return e.registry }

type descs struct {
	depSpec, depReplicas, depAvailable, depUnavailable, depReady, depUpdated *prometheus.Desc
	podInfo, podPhase, podReady, podRestarts, podContainerReady              *prometheus.Desc
	pdbCurrent, pdbDesired, pdbAllowed, pdbExpected                          *prometheus.Desc
	requests, duration, ready, minReady                                      *prometheus.Desc
}

func newDescs() descs {
	dep := []string{"namespace", "deployment"}
	pod := []string{"namespace", "pod", "uid"}
	pdb := []string{"namespace", "poddisruptionbudget"}
	svc := []string{"namespace", "service"}
	d := func(name, help string, l []string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append(append([]string{}, l...), extra...), nil)
	}
	return descs{
		depSpec:        d("kube_deployment_spec_replicas", "Number of desired pods for a deployment.", dep),
		depReplicas:    d("kube_deployment_status_replicas", "The number of replicas per deployment.", dep),
		depAvailable:   d("kube_deployment_status_replicas_available", "The number of available replicas per deployment.", dep),
		depUnavailable: d("kube_deployment_status_replicas_unavailable", "The number of unavailable replicas per deployment.", dep),
		depReady:       d("kube_deployment_status_replicas_ready", "The number of ready replicas per deployment.", dep),
		depUpdated:     d("kube_deployment_status_replicas_updated", "The number of updated replicas per deployment.", dep),

		podInfo:           d("kube_pod_info", "Information about pod.", pod, "host_ip", "pod_ip", "node", "created_by_kind", "created_by_name", "priority_class", "host_network"),
		podPhase:          d("kube_pod_status_phase", "The pods current phase.", pod, "phase"),
		podReady:          d("kube_pod_status_ready", "Describes whether the pod is ready to serve requests.", pod, "condition"),
		podRestarts:       d("kube_pod_container_status_restarts_total", "The number of container restarts per container.", pod, "container"),
		podContainerReady: d("kube_pod_container_status_ready", "Describes whether the containers readiness check succeeded.", pod, "container"),

		pdbCurrent:  d("kube_poddisruptionbudget_status_current_healthy", "Current number of healthy pods.", pdb),
		pdbDesired:  d("kube_poddisruptionbudget_status_desired_healthy", "Minimum desired number of healthy pods.", pdb),
		pdbAllowed:  d("kube_poddisruptionbudget_status_pod_disruptions_allowed", "Number of pod disruptions that are currently allowed.", pdb),
		pdbExpected: d("kube_poddisruptionbudget_status_expected_pods", "Total number of pods counted by this disruption budget.", pdb),

		requests: d("http_requests_total", "Demo traffic: requests handled by the service (sandbox traffic model).", svc, "code"),
		duration: d("http_request_duration_seconds", "Demo traffic: request latency (sandbox traffic model).", svc),
		ready:    d("sandbox_traffic_ready_pods", "Ready, non-terminating pods the traffic model sees behind the service.", svc),
		minReady: d("sandbox_traffic_min_ready_pods", "Ready pods the service needs to serve its load without errors.", svc),
	}
}

// Describe implements prometheus.Collector.
func (e *Exporter) Describe(ch chan<- *prometheus.Desc) {
	d := e.descs
	for _, x := range []*prometheus.Desc{
		d.depSpec, d.depReplicas, d.depAvailable, d.depUnavailable, d.depReady, d.depUpdated,
		d.podInfo, d.podPhase, d.podReady, d.podRestarts, d.podContainerReady,
		d.pdbCurrent, d.pdbDesired, d.pdbAllowed, d.pdbExpected,
		d.requests, d.duration, d.ready, d.minReady,
	} {
		ch <- x
	}
}

// Collect implements prometheus.Collector. Every scrape reads the informer
// caches, so the series follow the API server within a watch event.
func (e *Exporter) Collect(ch chan<- prometheus.Metric) {
	e.advance(e.cfg.Now())
	e.collectDeployments(ch)
	e.collectPods(ch)
	e.collectPDBs(ch)
	e.collectTraffic(ch)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, lv ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
}

func (e *Exporter) collectDeployments(ch chan<- prometheus.Metric) {
	deps, err := e.deploys.List(labels.Everything())
	if err != nil {
		return
	}
	d := e.descs
	for _, dep := range deps {
		lv := []string{dep.Namespace, dep.Name}
		spec := int32(1) // the API default when unset
		if dep.Spec.Replicas != nil {
			spec = *dep.Spec.Replicas
		}
		gauge(ch, d.depSpec, float64(spec), lv...)
		gauge(ch, d.depReplicas, float64(dep.Status.Replicas), lv...)
		gauge(ch, d.depAvailable, float64(dep.Status.AvailableReplicas), lv...)
		gauge(ch, d.depUnavailable, float64(dep.Status.UnavailableReplicas), lv...)
		gauge(ch, d.depReady, float64(dep.Status.ReadyReplicas), lv...)
		gauge(ch, d.depUpdated, float64(dep.Status.UpdatedReplicas), lv...)
	}
}

func (e *Exporter) collectPods(ch chan<- prometheus.Metric) {
	pods, err := e.pods.List(labels.Everything())
	if err != nil {
		return
	}
	d := e.descs
	phases := []corev1.PodPhase{corev1.PodPending, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown, corev1.PodRunning}
	for _, p := range pods {
		lv := []string{p.Namespace, p.Name, string(p.UID)}
		kind, owner := "<none>", "<none>"
		if ref := metav1.GetControllerOf(p); ref != nil {
			kind, owner = ref.Kind, ref.Name
		}
		gauge(ch, d.podInfo, 1, append(lv, p.Status.HostIP, p.Status.PodIP, p.Spec.NodeName, kind, owner,
			p.Spec.PriorityClassName, strconv.FormatBool(p.Spec.HostNetwork))...)
		for _, ph := range phases {
			gauge(ch, d.podPhase, boolf(p.Status.Phase == ph), append(lv, string(ph))...)
		}
		for _, c := range p.Status.Conditions {
			if c.Type != corev1.PodReady {
				continue
			}
			for _, st := range []corev1.ConditionStatus{corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown} {
				// kube-state-metrics spells the label values in lower case.
				gauge(ch, d.podReady, boolf(c.Status == st), append(lv, lower(st))...)
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			ch <- prometheus.MustNewConstMetric(d.podRestarts, prometheus.CounterValue, float64(cs.RestartCount), append(lv, cs.Name)...)
			gauge(ch, d.podContainerReady, boolf(cs.Ready), append(lv, cs.Name)...)
		}
	}
}

func (e *Exporter) collectPDBs(ch chan<- prometheus.Metric) {
	pdbs, err := e.pdbs.List(labels.Everything())
	if err != nil {
		return
	}
	d := e.descs
	for _, p := range pdbs {
		lv := []string{p.Namespace, p.Name}
		gauge(ch, d.pdbCurrent, float64(p.Status.CurrentHealthy), lv...)
		gauge(ch, d.pdbDesired, float64(p.Status.DesiredHealthy), lv...)
		gauge(ch, d.pdbAllowed, float64(p.Status.DisruptionsAllowed), lv...)
		gauge(ch, d.pdbExpected, float64(p.Status.ExpectedPods), lv...)
	}
}

func (e *Exporter) collectTraffic(ch chan<- prometheus.Metric) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.descs
	keys := make([]string, 0, len(e.traffic))
	for k := range e.traffic {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	buckets := Buckets()
	for _, k := range keys {
		st := e.traffic[k]
		c := st.c
		lv := []string{st.namespace, st.name}
		// 5xx series exist from the start (at 0), so an error-ratio query
		// returns 0 rather than an empty result at full strength.
		for _, x := range []struct {
			code string
			v    float64
		}{{"200", c.ok}, {"500", c.serverError}, {"503", c.unavailable}} {
			ch <- prometheus.MustNewConstMetric(d.requests, prometheus.CounterValue, math.Floor(x.v), append(lv, x.code)...)
		}
		cum := 0.0
		bm := make(map[float64]uint64, len(buckets))
		for i, le := range buckets {
			cum += c.latency[i]
			bm[le] = uint64(math.Floor(cum))
		}
		cum += c.latency[len(buckets)]
		ch <- prometheus.MustNewConstHistogram(d.duration, uint64(math.Floor(cum)), c.latencySum, bm, lv...)
		gauge(ch, d.ready, float64(st.rates.readyPods), lv...)
		gauge(ch, d.minReady, float64(st.rates.minReady), lv...)
	}
}

// advance integrates every opted-in service's traffic up to now, using the
// rates of the state seen at the previous step, then samples the current
// state for the next step.
func (e *Exporter) advance(now time.Time) {
	deps, err := e.deploys.List(labels.Everything())
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	seen := make(map[string]bool, len(e.traffic))
	for _, dep := range deps {
		key := dep.Namespace + "/" + dep.Name
		svc, ok, err := ServiceFromDeployment(dep)
		if err != nil {
			if e.warned[key] != err.Error() {
				e.warned[key] = err.Error()
				e.cfg.Log.Warn("ignoring deployment with malformed traffic annotation", "deployment", key, "err", err)
			}
			continue
		}
		if !ok {
			continue
		}
		seen[key] = true
		st := e.traffic[key]
		if st == nil {
			st = &serviceState{namespace: dep.Namespace, name: dep.Name, c: newCounters(now)}
			e.traffic[key] = st
		}
		st.c.advance(now, st.rates.Rates)
		ready := e.readyPods(dep)
		st.rates = sampled{Rates: RatesFor(svc, ready), readyPods: ready, minReady: svc.MinReady}
	}
	for k := range e.traffic {
		if !seen[k] {
			delete(e.traffic, k)
		}
	}
}

// readyPods counts the pods a Service with the Deployment's selector would
// send traffic to: Ready and not terminating (endpoints drop terminating pods).
func (e *Exporter) readyPods(dep *appsv1.Deployment) int {
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil || sel.Empty() {
		return 0
	}
	pods, err := e.pods.Pods(dep.Namespace).List(sel)
	if err != nil {
		return 0
	}
	n := 0
	for _, p := range pods {
		if p.DeletionTimestamp == nil && podReady(p) {
			n++
		}
	}
	return n
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func lower(s corev1.ConditionStatus) string {
	switch s {
	case corev1.ConditionTrue:
		return "true"
	case corev1.ConditionFalse:
		return "false"
	default:
		return "unknown"
	}
}
