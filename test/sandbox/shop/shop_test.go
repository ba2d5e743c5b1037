package shop

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaosnight/chaosnight/test/sandbox/exporter"
)

// fakeClock is a Clock the test moves: Now is set by hand and After fires
// when the test fires it, so readiness and drain have no timing in them.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	after chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), after: make(chan time.Time)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func (c *fakeClock) After(time.Duration) <-chan time.Time { return c.after }

// running is a Server serving on a real loopback listener.
type running struct {
	s      *Server
	url    string
	addr   string
	cancel context.CancelFunc
	done   chan error
}

// start serves cfg on 127.0.0.1; the cleanup stops it (firing a fake
// clock's drain if one is used).
func start(t *testing.T, cfg Config) *running {
	t.Helper()
	if cfg.Namespace == "" {
		cfg.Namespace = "shop"
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{s: s, url: "http://" + ln.Addr().String(), addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if fc, ok := cfg.Clock.(*fakeClock); ok && cfg.Drain > 0 {
			select {
			case fc.after <- time.Time{}:
			case err := <-r.done:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
				return
			}
		}
		if err := <-r.done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return r
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// scrape reads /metrics over HTTP and parses it as Prometheus would.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

func labelMap(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

// requestCounts is http_requests_total by code, after checking that every
// series has exactly the labels namespace, service and code.
func requestCounts(t *testing.T, mfs map[string]*dto.MetricFamily, namespace, service string) map[string]float64 {
	t.Helper()
	mf := mfs["http_requests_total"]
	if mf == nil || mf.GetType() != dto.MetricType_COUNTER {
		t.Fatalf("http_requests_total: missing or not a counter: %v", mf)
	}
	got := map[string]float64{}
	for _, m := range mf.GetMetric() {
		l := labelMap(m)
		if len(l) != 3 || l["namespace"] != namespace || l["service"] != service || l["code"] == "" {
			t.Errorf("http_requests_total labels %v: want exactly namespace=%q, service=%q, code", l, namespace, service)
		}
		got[l["code"]] = m.GetCounter().GetValue()
	}
	return got
}

func histogram(t *testing.T, mfs map[string]*dto.MetricFamily, namespace, service string) *dto.Histogram {
	t.Helper()
	mf := mfs["http_request_duration_seconds"]
	if mf == nil || mf.GetType() != dto.MetricType_HISTOGRAM || len(mf.GetMetric()) != 1 {
		t.Fatalf("http_request_duration_seconds: want one histogram, got %v", mf)
	}
	m := mf.GetMetric()[0]
	if l := labelMap(m); len(l) != 2 || l["namespace"] != namespace || l["service"] != service {
		t.Errorf("http_request_duration_seconds labels %v: want exactly namespace=%q, service=%q", l, namespace, service)
	}
	return m.GetHistogram()
}

// After n requests /metrics counts each by its code and observes each in
// the histogram, whatever the downstream does.
func TestMetricsAfterRequests(t *testing.T) {
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "cart is broken", http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // its address now refuses connections

	tests := []struct {
		name string
		// downstream builds the downstreams (a real shop service "cart" when nil and real is set)
		downstream func(t *testing.T) []string
		readyDelay time.Duration
		n          int
		want       map[string]float64
		wantCart   map[string]float64 // the real downstream's own counts, when there is one
	}{
		{name: "no downstream", n: 5, want: map[string]float64{"200": 5, "500": 0, "503": 0}},
		{name: "real downstream", n: 4, want: map[string]float64{"200": 4, "500": 0, "503": 0},
			downstream: func(t *testing.T) []string { return []string{start(t, Config{Service: "cart"}).url} },
			wantCart:   map[string]float64{"200": 4, "500": 0, "503": 0}},
		{name: "downstream answers 500", n: 3, want: map[string]float64{"200": 0, "500": 3, "503": 0},
			downstream: func(*testing.T) []string { return []string{failing.URL} }},
		{name: "downstream refuses connections", n: 2, want: map[string]float64{"200": 0, "500": 2, "503": 0},
			downstream: func(*testing.T) []string { return []string{closed.URL} }},
		{name: "still starting", n: 3, readyDelay: time.Hour, want: map[string]float64{"200": 0, "500": 0, "503": 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ds []string
			if tt.downstream != nil {
				ds = tt.downstream(t)
			}
			r := start(t, Config{Service: "checkout", Work: time.Millisecond, Downstreams: ds, ReadyDelay: tt.readyDelay, Clock: newFakeClock()})
			mfs := scrape(t, r.url)
			if got := requestCounts(t, mfs, "shop", "checkout"); !mapsEqual(got, map[string]float64{"200": 0, "500": 0, "503": 0}) {
				t.Errorf("before any request: %v, want the three codes at 0", got)
			}
			for range tt.n {
				httpGet(t, r.url+"/")
			}
			mfs = scrape(t, r.url)
			if got := requestCounts(t, mfs, "shop", "checkout"); !mapsEqual(got, tt.want) {
				t.Errorf("http_requests_total by code = %v, want %v", got, tt.want)
			}
			h := histogram(t, mfs, "shop", "checkout")
			if h.GetSampleCount() != uint64(tt.n) || h.GetSampleSum() <= 0 {
				t.Errorf("histogram count %d sum %g, want %d observations with a positive sum", h.GetSampleCount(), h.GetSampleSum(), tt.n)
			}
			if tt.wantCart != nil {
				cart := scrape(t, ds[0])
				if got := requestCounts(t, cart, "shop", "cart"); !mapsEqual(got, tt.wantCart) {
					t.Errorf("cart's http_requests_total = %v, want %v", got, tt.wantCart)
				}
			}
		})
	}
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// The shop's request series have the names, types, label names and buckets
// of the exporter's modelled ones, so the example probes need no change.
func TestSeriesMatchExporter(t *testing.T) {
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout",
		Annotations: map[string]string{exporter.AnnotationRPS: "50"}}}
	e, err := exporter.New(exporter.Config{Client: fake.NewClientset(dep)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	modelled, err := e.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Service: "checkout", Namespace: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	real, err := s.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}

	type shape struct {
		typ     dto.MetricType
		labels  []string // label names of every series, sorted
		codes   []string
		buckets []float64
	}
	shapeOf := func(mfs []*dto.MetricFamily, name string) shape {
		var s shape
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			s.typ = mf.GetType()
			for _, m := range mf.GetMetric() {
				l := labelMap(m)
				names := make([]string, 0, len(l))
				for k := range l {
					names = append(names, k)
				}
				sort.Strings(names)
				s.labels = names
				if c, ok := l["code"]; ok {
					s.codes = append(s.codes, c)
				}
				s.buckets = nil
				for _, b := range m.GetHistogram().GetBucket() {
					s.buckets = append(s.buckets, b.GetUpperBound())
				}
			}
			sort.Strings(s.codes)
			return s
		}
		t.Fatalf("%s: no such family", name)
		return s
	}
	for _, name := range []string{"http_requests_total", "http_request_duration_seconds"} {
		want, got := shapeOf(modelled, name), shapeOf(real, name)
		if want.typ != got.typ || !slices.Equal(want.labels, got.labels) || !slices.Equal(want.codes, got.codes) || !slices.Equal(want.buckets, got.buckets) {
			t.Errorf("%s: the shop exports %+v, the exporter's model %+v", name, got, want)
		}
	}
}

// /readyz follows the start-up delay and, when configured, the downstreams'
// readiness; the work endpoint answers 503 only while starting.
func TestReadiness(t *testing.T) {
	type step struct {
		advance        time.Duration
		downstreamDown bool
		wantReady      int
		wantReason     string // in the body of a 503
		wantServe      int
	}
	tests := []struct {
		name            string
		needDownstreams bool
		steps           []step
	}{
		{name: "dependency checked", needDownstreams: true, steps: []step{
			{wantReady: 503, wantReason: "starting: ready in 10s", wantServe: 503},
			{advance: 9 * time.Second, wantReady: 503, wantReason: "starting: ready in 1s", wantServe: 503},
			{advance: time.Second, wantReady: 200, wantServe: 200},
			{downstreamDown: true, wantReady: 503, wantReason: "downstream not ready", wantServe: 200},
			{wantReady: 200, wantServe: 200},
		}},
		{name: "dependency not checked", steps: []step{
			{wantReady: 503, wantReason: "starting", wantServe: 503},
			{advance: 10 * time.Second, wantReady: 200, wantServe: 200},
			{downstreamDown: true, wantReady: 200, wantServe: 200},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var down atomic.Bool
			cart := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/readyz" && down.Load() {
					http.Error(w, "draining", http.StatusServiceUnavailable)
					return
				}
				_, _ = io.WriteString(w, "ok")
			}))
			t.Cleanup(cart.Close)
			clock := newFakeClock()
			r := start(t, Config{Service: "checkout", ReadyDelay: 10 * time.Second, Downstreams: []string{cart.URL},
				ReadyNeedsDownstreams: tt.needDownstreams, Clock: clock})
			for i, st := range tt.steps {
				clock.Advance(st.advance)
				down.Store(st.downstreamDown)
				code, body := httpGet(t, r.url+"/readyz")
				if code != st.wantReady || (st.wantReason != "" && !strings.Contains(body, st.wantReason)) {
					t.Errorf("step %d: /readyz = %d %q, want %d %q", i, code, body, st.wantReady, st.wantReason)
				}
				if code, _ := httpGet(t, r.url+"/"); code != st.wantServe {
					t.Errorf("step %d: GET / = %d, want %d", i, code, st.wantServe)
				}
				if code, _ := httpGet(t, r.url+"/healthz"); code != 200 {
					t.Errorf("step %d: /healthz = %d, want 200 whatever the readiness", i, code)
				}
			}
		})
	}
}

// A stop drains: /readyz fails at once while requests are still served;
// after the drain period the listener refuses new connections while the
// request in flight completes, and Serve returns nil.
func TestGracefulDrain(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			arrived <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(slow.Close)
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock) // runs before slow.Close, which waits for its handler
	clock := newFakeClock()
	s, err := New(Config{Service: "checkout", Namespace: "shop", Downstreams: []string{slow.URL}, Drain: 30 * time.Second, Clock: clock, CallTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	inflight := make(chan int, 1)
	go func() {
		resp, err := http.Get(base + "/")
		if err != nil {
			t.Errorf("in-flight request: %v", err)
			inflight <- 0
			return
		}
		resp.Body.Close()
		inflight <- resp.StatusCode
	}()
	<-arrived // the request is in the handler, waiting for its downstream
	stop()    // what SIGTERM does in the command

	// Draining: not ready, still alive; the drain clock has not fired.
	waitFor(t, "/readyz to fail with draining", func() bool {
		code, body := httpGet(t, base+"/readyz")
		return code == 503 && strings.Contains(body, "draining")
	})
	if code, _ := httpGet(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz during the drain = %d, want 200", code)
	}
	clock.after <- time.Time{} // the drain period ends

	waitFor(t, "new connections to be refused", func() bool {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err == nil {
			_ = c.Close()
			return false
		}
		if errors.Is(err, syscall.ECONNRESET) {
			return false // accepted into the backlog as the listener closed: dial again
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial after the drain: %v, want connection refused", err)
		}
		return true
	})
	select {
	case code := <-inflight:
		t.Fatalf("the in-flight request ended (%d) before its work was done", code)
	case err := <-served:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	default:
	}
	unblock()
	if code := <-inflight; code != 200 {
		t.Errorf("in-flight request = %d, want 200", code)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve = %v, want nil after a clean stop", err)
	}
	mfs, err := s.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "http_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if l := labelMap(m); l["code"] == "200" && m.GetCounter().GetValue() != 1 {
				t.Errorf("code 200 counted %g, want the drained request", m.GetCounter().GetValue())
			}
		}
	}
}

// waitFor polls cond; the bound is only a safety net for a broken server,
// never the thing tested.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	tests := []struct {
		cfg       Config
		wantField string
	}{
		{Config{Namespace: "shop"}, "service"},
		{Config{Service: "cart"}, "namespace"},
		{Config{Service: "cart", Namespace: "shop", Work: -time.Second}, "work"},
		{Config{Service: "cart", Namespace: "shop", Drain: -time.Second}, "drain"},
		{Config{Service: "cart", Namespace: "shop", Downstreams: []string{"cart:8080"}}, "downstream"},
		{Config{Service: "cart", Namespace: "shop", Downstreams: []string{"http://"}}, "downstream"},
	}
	for _, tt := range tests {
		t.Run(tt.wantField, func(t *testing.T) {
			_, err := New(tt.cfg)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != tt.wantField {
				t.Fatalf("New(%+v) = %v, want a ConfigError on %s", tt.cfg, err, tt.wantField)
			}
		})
	}
}
