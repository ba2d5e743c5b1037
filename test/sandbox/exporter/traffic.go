package exporter

import (
	"fmt"
	"math"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
)

// Annotations on a Deployment that opt it in to the demo traffic model.
// docs/sandbox.md explains the model; keep the two in step.
const (
	// AnnotationRPS is the request rate the service receives, in requests
	// per second, whatever its state (clients keep calling). Required.
	AnnotationRPS = "sandbox.chaosnight.dev/traffic-rps"
	// AnnotationMinReady is how many ready pods serve the whole load without
	// errors (default 1).
	AnnotationMinReady = "sandbox.chaosnight.dev/traffic-min-ready"
	// AnnotationLatency is the median latency at full strength, in
	// milliseconds (default 20).
	AnnotationLatency = "sandbox.chaosnight.dev/traffic-latency-ms"
	// AnnotationBaseErrors is the fraction of served requests that fail with
	// a 500 even at full strength (default 0.001).
	AnnotationBaseErrors = "sandbox.chaosnight.dev/traffic-base-error-ratio"
)

// Model defaults.
const (
	defaultMinReady   = 1
	defaultLatencyMS  = 20.0
	defaultBaseErrors = 0.001
	// gatewayTimeout is how long the (imaginary) load balancer waits for a
	// free backend before answering 503.
	gatewayTimeout = 1.0
)

// Buckets of http_request_duration_seconds, those of the client_golang default.
func Buckets() []float64 { return []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10} }

// latencyShape spreads served requests over multiples of the current median:
// half at the median, then a tail. It is fixed so quantiles are predictable.
func latencyShape() [4]struct{ share, factor float64 } {
	return [4]struct{ share, factor float64 }{{0.50, 1}, {0.40, 2}, {0.09, 4}, {0.01, 10}}
}

// Service is the traffic configuration of one Deployment.
type Service struct {
	RPS        float64
	MinReady   int
	LatencyMS  float64
	BaseErrors float64
}

// ServiceFromDeployment reads the traffic annotations. ok is false when the
// Deployment is not opted in; err reports a malformed annotation.
func ServiceFromDeployment(d *appsv1.Deployment) (svc Service, ok bool, err error) {
	a := d.Annotations
	raw, found := a[AnnotationRPS]
	if !found {
		return Service{}, false, nil
	}
	svc = Service{MinReady: defaultMinReady, LatencyMS: defaultLatencyMS, BaseErrors: defaultBaseErrors}
	if svc.RPS, err = strconv.ParseFloat(raw, 64); err != nil || svc.RPS < 0 || math.IsInf(svc.RPS, 0) || math.IsNaN(svc.RPS) {
		return Service{}, false, fmt.Errorf("%s=%q: want a non-negative number", AnnotationRPS, raw)
	}
	if raw, found := a[AnnotationMinReady]; found {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			return Service{}, false, fmt.Errorf("%s=%q: want an integer >= 1", AnnotationMinReady, raw)
		}
		svc.MinReady = n
	}
	if raw, found := a[AnnotationLatency]; found {
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil || v <= 0 || math.IsInf(v, 0) {
			return Service{}, false, fmt.Errorf("%s=%q: want a positive number of milliseconds", AnnotationLatency, raw)
		}
		svc.LatencyMS = v
	}
	if raw, found := a[AnnotationBaseErrors]; found {
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil || v < 0 || v > 1 {
			return Service{}, false, fmt.Errorf("%s=%q: want a ratio between 0 and 1", AnnotationBaseErrors, raw)
		}
		svc.BaseErrors = v
	}
	return svc, true, nil
}

// Rates is what a service does per second in a given state.
type Rates struct {
	OK          float64 // code="200"
	ServerError float64 // code="500": the base error ratio of served requests
	Unavailable float64 // code="503": requests no ready pod could take
	// Latency is, per bucket of Buckets() plus +Inf, the requests per second
	// that fall into it (not cumulative).
	Latency []float64
	// LatencySum is the seconds of latency accrued per second.
	LatencySum float64
}

// ErrorRatio is the fraction of requests answered with a 5xx.
func (r Rates) ErrorRatio() float64 {
	total := r.OK + r.ServerError + r.Unavailable
	if total == 0 {
		return 0
	}
	return (r.ServerError + r.Unavailable) / total
}

// RatesFor is the whole model: with ready pods out of the MinReady needed,
// the service serves min(1, ready/MinReady) of its load; the rest waits for
// the gateway timeout and fails with 503. Served requests fail with 500 at
// the base ratio. Served latency is the median times the shape factors,
// slowed by MinReady/ready when fewer pods than needed carry the load.
func RatesFor(s Service, ready int) Rates {
	buckets := Buckets()
	r := Rates{Latency: make([]float64, len(buckets)+1)}
	served := 1.0
	if ready < s.MinReady {
		served = float64(ready) / float64(s.MinReady)
	}
	servedRPS := s.RPS * served
	r.Unavailable = s.RPS - servedRPS
	r.ServerError = servedRPS * s.BaseErrors
	r.OK = servedRPS - r.ServerError

	slow := 1.0
	if ready > 0 && ready < s.MinReady {
		slow = float64(s.MinReady) / float64(ready)
	}
	median := s.LatencyMS / 1000 * slow
	for _, sh := range latencyShape() {
		observe(&r, buckets, median*sh.factor, servedRPS*sh.share)
	}
	observe(&r, buckets, gatewayTimeout, r.Unavailable)
	return r
}

func observe(r *Rates, buckets []float64, seconds, perSecond float64) {
	if perSecond == 0 {
		return
	}
	i := len(buckets) // +Inf
	for j, le := range buckets {
		if seconds <= le {
			i = j
			break
		}
	}
	r.Latency[i] += perSecond
	r.LatencySum += seconds * perSecond
}

// counters accumulate one service's traffic. Values are kept as floats so
// that fractional requests are never lost between steps; they are exposed
// rounded down, like a real server counts whole requests.
type counters struct {
	ok, serverError, unavailable float64
	latency                      []float64 // per bucket, not cumulative
	latencySum                   float64
	last                         time.Time
}

func newCounters(now time.Time) *counters {
	return &counters{latency: make([]float64, len(Buckets())+1), last: now}
}

// advance integrates the rates of the current state since the last step.
func (c *counters) advance(now time.Time, r Rates) {
	dt := now.Sub(c.last).Seconds()
	if dt <= 0 {
		return
	}
	c.last = now
	c.ok += r.OK * dt
	c.serverError += r.ServerError * dt
	c.unavailable += r.Unavailable * dt
	for i, v := range r.Latency {
		c.latency[i] += v * dt
	}
	c.latencySum += r.LatencySum * dt
}
