// trafficstate.go runs the traffic model (traffic.go) against the cluster:
// the state of every opted-in service, integrated each step from the ready
// pods behind its Deployment, and the series it publishes.

package exporter

import (
	"math"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

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
		svc.RPS *= e.cfg.Noise.Factor(key, now) // noise.go: drift and jitter of the rate
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
