// exporter.go holds the Exporter itself: its Config, New, Start (the informers
// and the model's step), the /metrics handler and the Collector wiring; the
// series are in series.go, the traffic model in traffic.go and its run
// against the cluster in trafficstate.go.

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
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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
	// Noise varies every modelled service's request rate (noise.go); nil
	// is DefaultNoise, &Noise{} the flat model.
	Noise *Noise
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
	if cfg.Noise == nil {
		n := DefaultNoise()
		cfg.Noise = &n
	}
	if err := cfg.Noise.Validate(); err != nil {
		return nil, err
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
