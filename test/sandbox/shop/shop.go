// Package shop is a small, real HTTP service and load generator for the
// sandbox: the services of the demo shop (checkout, cart, recommendations,
// frontend) as processes that do real CPU work per request, call their
// downstream services, and export the same request series that the
// exporter's traffic model (test/sandbox/exporter) computes today, with the
// same names, label names and label values, so that the example experiments'
// probes run unchanged against measured latency instead of a model.
//
// It lives under test/sandbox, not pkg/ or cmd/, because it is test tooling:
// chaosnight never runs it, its image does not ship it, and nothing of
// chaosnight imports it. The command is test/sandbox/cmd/shop.
//
// Series (docs/sandbox.md, "The real shop"):
//
//	http_requests_total{namespace, service, code}           code = "200", "500", "503" (all three from the start, at 0)
//	http_request_duration_seconds{namespace, service, le}   the default client_golang buckets, as the exporter's
package shop

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Clock is the time source of the readiness delay and the drain period.
// Request latency is always measured with the real clock.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Config configures a Server.
type Config struct {
	// Service and Namespace are the values of the service and namespace
	// labels of every series, like the exporter's (the Deployment's name and
	// namespace). Both required: Prometheus drops an empty label, and a
	// probe matching namespace="shop" would then find nothing.
	Service, Namespace string
	// Work is the CPU time one request costs, calibrated once at New on an
	// otherwise idle thread (see Work). 0 does no computation.
	Work time.Duration
	// Downstreams are base URLs (http://10.0.0.7:8080) of the services each
	// request calls, in order, with GET /; a failed call fails the request
	// with a 500, as a checkout whose cart is down would.
	Downstreams []string
	// ReadyDelay is how long after New /readyz reports "starting" and the
	// service answers 503, like an application warming up: it makes a
	// killed pod's replacement take time to become Ready.
	ReadyDelay time.Duration
	// ReadyNeedsDownstreams makes /readyz also GET each downstream's
	// /readyz, so a failing dependency takes this service out of its
	// endpoints too.
	ReadyNeedsDownstreams bool
	// Drain is how long the service keeps serving after it is asked to stop
	// (SIGTERM), while /readyz already fails, so endpoints drop the pod
	// before its listener closes; a pod kill's grace period is thereby
	// observable. Then in-flight requests complete and new connections are
	// refused.
	Drain time.Duration
	// ShutdownTimeout bounds how long in-flight requests may take after the
	// drain (default 10s); then the remaining connections are closed.
	ShutdownTimeout time.Duration
	// CallTimeout bounds each downstream call and readiness check (default 2s).
	CallTimeout time.Duration
	// Log receives structured logs (discarded when nil).
	Log *slog.Logger
	// Clock drives the readiness delay and the drain (the real clock when nil).
	Clock Clock
}

// Codes are the values of the code label the service answers with, all
// exported from the start so that an error-ratio query returns 0, not an
// empty result, while healthy.
func Codes() []int {
	return []int{http.StatusOK, http.StatusInternalServerError, http.StatusServiceUnavailable}
}

// Server is one shop service. Create it with New, serve it with Serve.
type Server struct {
	cfg      Config
	work     Work
	client   *http.Client
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	duration prometheus.Histogram
	started  time.Time
	draining atomic.Bool
	ready    atomic.Bool // last reported readiness, to log transitions once
}

// New validates cfg, calibrates the work and registers the metrics on a
// registry of the Server's own.
func New(cfg Config) (*Server, error) {
	if cfg.Service == "" {
		return nil, &ConfigError{Field: "service", Reason: "required (the service label of every series)"}
	}
	if cfg.Namespace == "" {
		return nil, &ConfigError{Field: "namespace", Reason: "required (the namespace label of every series)"}
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"work", cfg.Work}, {"ready-delay", cfg.ReadyDelay}, {"drain", cfg.Drain}, {"shutdown-timeout", cfg.ShutdownTimeout}, {"call-timeout", cfg.CallTimeout}} {
		if f.d < 0 {
			return nil, &ConfigError{Field: f.name, Value: f.d.String(), Reason: "must not be negative"}
		}
	}
	for _, d := range cfg.Downstreams {
		if err := checkURL(d); err != nil {
			return nil, &ConfigError{Field: "downstream", Value: d, Reason: err.Error()}
		}
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = 2 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	work, err := Calibrate(cfg.Work)
	if err != nil {
		return nil, fmt.Errorf("shop %s: %w", cfg.Service, err)
	}
	labels := prometheus.Labels{"namespace": cfg.Namespace, "service": cfg.Service}
	s := &Server{
		cfg:      cfg,
		work:     work,
		client:   newClient(cfg.CallTimeout),
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total", Help: "Requests handled by the service, by status code.", ConstLabels: labels,
		}, []string{"code"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "http_request_duration_seconds", Help: "Time to handle a request, downstream calls included.",
			ConstLabels: labels, Buckets: prometheus.DefBuckets,
		}),
		started: cfg.Clock.Now(),
	}
	for _, c := range Codes() {
		s.requests.WithLabelValues(strconv.Itoa(c))
	}
	// The process collector adds process_cpu_seconds_total: the CPU the
	// service really used, next to the latency it caused.
	for _, c := range []prometheus.Collector{s.requests, s.duration,
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), collectors.NewGoCollector()} {
		if err := s.registry.Register(c); err != nil {
			return nil, fmt.Errorf("shop %s: register metrics: %w", cfg.Service, err)
		}
	}
	cfg.Log.Info("calibrated work", "service", cfg.Service, "work", cfg.Work, "iterations", work.Iterations())
	return s, nil
}

// newClient calls only the URL it is given: no proxy from the environment
// (the sandbox's pod IPs are reachable directly) and no redirects followed.
func newClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout:       timeout,
		Transport:     &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("want an http:// or https:// URL")
	}
	if u.Host == "" {
		return errors.New("want a host")
	}
	return nil
}

// Gatherer exposes the registry, for tests and for embedding.
func (s *Server) Gatherer() prometheus.Gatherer { return s.registry }

// Work is the calibrated work of one request.
func (s *Server) Work() Work { return s.work }

// Handler serves / (the work), /readyz, /healthz and /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
	// Liveness says only that the process answers: a failing dependency
	// must not get every pod restarted.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", s.serveReady)
	mux.HandleFunc("/", s.serveRequest)
	return mux
}

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	reason := s.notReady(r.Context())
	if was := s.ready.Swap(reason == ""); was != (reason == "") {
		s.cfg.Log.Info("readiness changed", "service", s.cfg.Service, "ready", reason == "", "reason", reason)
	}
	if reason != "" {
		http.Error(w, reason, http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// notReady is why the service is not ready, or "".
func (s *Server) notReady(ctx context.Context) string {
	if s.draining.Load() {
		return "draining"
	}
	if left := s.cfg.ReadyDelay - s.cfg.Clock.Now().Sub(s.started); left > 0 {
		return fmt.Sprintf("starting: ready in %s", left)
	}
	if s.cfg.ReadyNeedsDownstreams {
		for _, d := range s.cfg.Downstreams {
			if err := s.call(ctx, d, "/readyz"); err != nil {
				return fmt.Sprintf("downstream not ready: %v", err)
			}
		}
	}
	return ""
}

// response is the body of a served request.
type response struct {
	Service     string `json:"service"`
	Digest      string `json:"digest"`
	Downstreams int    `json:"downstreams"`
}

func (s *Server) serveRequest(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code, body := s.handle(r)
	// The code is counted and the latency observed before the body is
	// written, so a client that has its answer also finds it in /metrics.
	s.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	s.duration.Observe(time.Since(start).Seconds())
	if code != http.StatusOK {
		http.Error(w, body, code)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, body)
}

func (s *Server) handle(r *http.Request) (code int, body string) {
	// Still starting: nothing is served yet (a real service warming caches
	// cannot), as the traffic model's 503 for requests no ready pod took.
	if left := s.cfg.ReadyDelay - s.cfg.Clock.Now().Sub(s.started); left > 0 {
		return http.StatusServiceUnavailable, "starting"
	}
	sum := s.work.Do([]byte(r.URL.Path))
	for _, d := range s.cfg.Downstreams {
		if err := s.call(r.Context(), d, "/"); err != nil {
			s.cfg.Log.Warn("downstream failed", "service", s.cfg.Service, "err", err)
			return http.StatusInternalServerError, err.Error()
		}
	}
	b, err := json.Marshal(response{Service: s.cfg.Service, Digest: hex.EncodeToString(sum[:]), Downstreams: len(s.cfg.Downstreams)})
	if err != nil {
		return http.StatusInternalServerError, fmt.Sprintf("encode response: %v", err)
	}
	return http.StatusOK, string(b) + "\n"
}

// call GETs base+path and fails unless the answer is a 2xx.
func (s *Server) call(ctx context.Context, base, path string) error {
	u := strings.TrimSuffix(base, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("call %s: %w", u, err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("call %s: %w", u, err)
	}
	defer resp.Body.Close()
	// Drain the body so the connection is reused rather than reopened.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("call %s: %s", u, resp.Status)
	}
	return nil
}

// Serve serves on ln until ctx ends, then stops gracefully: /readyz fails at
// once, requests are still served for Config.Drain, then the listener
// closes (new connections are refused) and in-flight requests complete
// within Config.ShutdownTimeout. It returns nil after a clean stop.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.cfg.Log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log := s.cfg.Log.With("service", s.cfg.Service)
	log.Info("serving", "addr", ln.Addr().String(), "downstreams", s.cfg.Downstreams, "ready_delay", s.cfg.ReadyDelay)
	select {
	case err := <-errc:
		return fmt.Errorf("shop %s: serve: %w", s.cfg.Service, err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	log.Info("draining: not ready, still serving", "drain", s.cfg.Drain)
	if s.cfg.Drain > 0 {
		<-s.cfg.Clock.After(s.cfg.Drain)
	}
	log.Info("shutting down: listener closed, waiting for in-flight requests", "timeout", s.cfg.ShutdownTimeout)
	// The parent context is done by now; the shutdown gets its own deadline.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		closeErr := srv.Close()
		return fmt.Errorf("shop %s: shutdown: %w", s.cfg.Service, errors.Join(err, closeErr))
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shop %s: serve: %w", s.cfg.Service, err)
	}
	log.Info("stopped")
	return nil
}

// ConfigError is a setting of Config or LoadConfig that cannot be used.
type ConfigError struct {
	Field  string // the flag's name
	Value  string // the value given, if any
	Reason string
}

func (e *ConfigError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s", e.Field, e.Reason)
	}
	return fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Reason)
}
