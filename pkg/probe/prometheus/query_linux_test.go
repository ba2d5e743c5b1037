//go:build linux

package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/probe"
	"github.com/chaosnight/chaosnight/pkg/probe/prometheus"
)

func newClient(t *testing.T, cfg prometheus.Config) *prometheus.Client {
	t.Helper()
	c, err := prometheus.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return c
}

func sortByService(s []probe.Sample) {
	slices.SortFunc(s, func(a, b probe.Sample) int { return strings.Compare(a.Labels["service"], b.Labels["service"]) })
}

// TestAgainstPrometheus shares one server between the groups below: a
// Prometheus server takes about 5 s to run its first scrape (its target
// discovery updates every 5 s), so one per test would triple the time.
// Run one group with e.g. -run 'TestAgainstPrometheus/Timeout'.
func TestAgainstPrometheus(t *testing.T) {
	tp := startPrometheus(t)
	t.Run("Query", func(t *testing.T) { testQuery(t, tp) })
	t.Run("BearerTokenFile", func(t *testing.T) { testBearerTokenFile(t, tp) })
	t.Run("Timeout", func(t *testing.T) { testTimeout(t, tp) })
	t.Run("CheckEndToEnd", func(t *testing.T) { testCheckEndToEnd(t, tp) })
	t.Run("QueryRange", func(t *testing.T) { testQueryRange(t, tp) })
}

func testQueryRange(t *testing.T, tp *testPrometheus) {
	c := newClient(t, prometheus.Config{URL: tp.URL})
	ctx := context.Background()
	end := time.Now().Truncate(time.Second)
	start := end.Add(-10 * time.Second)
	got, err := c.QueryRange(ctx, `label_replace(vector(1), "k", "v", "", "")`, start, end, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got[0].Points) != 11 || got[0].Labels["k"] != "v" {
		t.Fatalf("got %+v, want one series {k=v} of 11 points", got)
	}
	for i, p := range got[0].Points {
		if want := start.Add(time.Duration(i) * time.Second); !p.T.Equal(want) || p.V != 1 {
			t.Errorf("point %d = %v %v, want %v 1", i, p.T, p.V, want)
		}
	}
	if _, err := c.QueryRange(ctx, "sum(", start, end, time.Second); err == nil || !strings.Contains(err.Error(), "range query") {
		t.Errorf("a bad query gave %v, want a range query error", err)
	}
}

func testQuery(t *testing.T, tp *testPrometheus) {
	c := newClient(t, prometheus.Config{URL: tp.URL})
	ctx := context.Background()

	t.Run("vector keeps every label", func(t *testing.T) {
		got, err := c.Query(ctx, "shop_ready", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		sortByService(got)
		want := []probe.Sample{
			{Labels: map[string]string{"__name__": "shop_ready", "job": "shop", "instance": tp.Instance, "service": "cart"}, Value: 2},
			{Labels: map[string]string{"__name__": "shop_ready", "job": "shop", "instance": tp.Instance, "service": "checkout"}, Value: 3},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("got  %v\nwant %v", got, want)
		}
	})

	values := []struct {
		name       string
		query      string
		want       float64
		wantLabels int
	}{
		{"aggregation drops labels", "sum(shop_ready)", 5, 0},
		{"scalar()", "scalar(sum(shop_ready))", 5, 0},
		{"scalar literal", "1", 1, 0},
		{"vector(1)", "vector(1)", 1, 0},
		{"ratio", "shop_errors_ratio", 0.002, 3},
		{"NaN gauge", "shop_nan_ratio", math.NaN(), 3},
		{"+Inf gauge", "shop_inf_value", math.Inf(1), 3},
		{"-Inf gauge", "shop_neginf_value", math.Inf(-1), 3},
		{"division by zero", "sum(shop_ready) / 0", math.Inf(1), 0},
		{"zero by zero", "vector(0) / 0", math.NaN(), 0},
	}
	for _, tt := range values {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Query(ctx, tt.query, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 {
				t.Fatalf("got %d samples %v, want 1", len(got), got)
			}
			v := got[0].Value
			if !(v == tt.want || (math.IsNaN(v) && math.IsNaN(tt.want))) {
				t.Errorf("value = %v, want %v", v, tt.want)
			}
			if len(got[0].Labels) != tt.wantLabels {
				t.Errorf("labels = %v, want %d labels", got[0].Labels, tt.wantLabels)
			}
		})
	}

	t.Run("empty result is empty, not an error", func(t *testing.T) {
		got, err := c.Query(ctx, `shop_ready{service="gone"}`, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Errorf("got %v, want no series", got)
		}
	})

	t.Run("evaluation time is honoured", func(t *testing.T) {
		// An hour ago the server did not exist: no data then, data now.
		before, err := c.Query(ctx, "shop_ready", time.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		now, err := c.Query(ctx, "shop_ready", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if len(before) != 0 || len(now) != 2 {
			t.Errorf("series an hour ago: %d, now: %d; want 0 and 2", len(before), len(now))
		}
	})

	errs := []struct {
		name  string
		query string
		want  []string
	}{
		{"range vector", "shop_ready[1m]", []string{"range vector", "needs an instant vector or a scalar"}},
		// client_golang's decoder itself refuses string results.
		{"string", `"hello"`, []string{`unexpected value type "string"`}},
		{"syntax error", "sum(shop_ready", []string{"bad_data", "parse error"}},
		{"unknown function", "nosuchfunc(shop_ready)", []string{"bad_data", "unknown function"}},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Query(ctx, tt.query, time.Time{})
			if err == nil {
				t.Fatalf("Query(%q) = %v, want an error", tt.query, got)
			}
			if got != nil {
				t.Errorf("samples %v returned with an error", got)
			}
			prefix := fmt.Sprintf("query %q at %s: ", tt.query, tp.URL)
			if !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("error %q does not start with %q", err, prefix)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}

	t.Run("ping", func(t *testing.T) {
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestQueryServerStopped(t *testing.T) {
	tp := startPrometheus(t)
	c := newClient(t, prometheus.Config{URL: tp.URL, Timeout: 5 * time.Second})
	ctx := context.Background()
	if _, err := c.Query(ctx, "shop_ready", time.Time{}); err != nil {
		t.Fatalf("query while running: %v", err)
	}

	tp.Stop()

	got, err := c.Query(ctx, "shop_ready", time.Time{})
	if err == nil {
		t.Fatalf("query after stop = %v, nil error; an unreachable server must never read as a result", got)
	}
	if got != nil {
		t.Errorf("samples %v returned with an error", got)
	}
	for _, w := range []string{`query "shop_ready" at ` + tp.URL, "connection refused"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if err := c.Ping(ctx); err == nil || !strings.Contains(err.Error(), "ping prometheus at "+tp.URL) {
		t.Errorf("Ping after stop = %v, want an error naming the server", err)
	}
}

// authProxy forwards to Prometheus only requests that carry the expected
// bearer token, and records the Authorization headers it saw.
type authProxy struct {
	mu    sync.Mutex
	want  string
	seen  []string
	delay time.Duration
	next  http.Handler
}

func newAuthProxy(t *testing.T, target, token string) (*authProxy, *httptest.Server) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	// The timeout test cancels requests on purpose; keep the log quiet.
	rp.ErrorLog = log.New(io.Discard, "", 0)
	p := &authProxy{want: token, next: rp}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv
}

func (p *authProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	want, delay := p.want, p.delay
	p.seen = append(p.seen, r.Header.Get("Authorization"))
	p.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if want != "" && r.Header.Get("Authorization") != "Bearer "+want {
		http.Error(w, "invalid bearer token", http.StatusUnauthorized)
		return
	}
	p.next.ServeHTTP(w, r)
}

func (p *authProxy) set(want string, delay time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.want, p.delay, p.seen = want, delay, nil
}

func (p *authProxy) headers() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.seen)
}

// writeToken replaces the file atomically, as the kubelet does when it
// rotates a projected ServiceAccount token.
func writeToken(t *testing.T, path, token string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// testBearerTokenFile: the token file is read on every request.
func testBearerTokenFile(t *testing.T, tp *testPrometheus) {
	proxy, srv := newAuthProxy(t, tp.URL, "token-one")
	tokenFile := filepath.Join(t.TempDir(), "token")
	writeToken(t, tokenFile, "token-one")
	c := newClient(t, prometheus.Config{URL: srv.URL, BearerTokenFile: tokenFile})
	ctx := context.Background()

	got, err := c.Query(ctx, "shop_errors_ratio", time.Time{})
	if err != nil || len(got) != 1 || got[0].Value != 0.002 {
		t.Fatalf("query with the first token = %v, %v", got, err)
	}
	if h := proxy.headers(); !slices.Equal(h, []string{"Bearer token-one"}) {
		t.Errorf("proxy saw %q, want the first token once", h)
	}

	// Rotate: the server now only accepts the new token, and so does the
	// file; the same client must follow without a restart.
	proxy.set("token-two", 0)
	writeToken(t, tokenFile, "token-two")
	got, err = c.Query(ctx, "shop_errors_ratio", time.Time{})
	if err != nil || len(got) != 1 {
		t.Fatalf("query after rotation = %v, %v", got, err)
	}
	if h := proxy.headers(); !slices.Equal(h, []string{"Bearer token-two"}) {
		t.Errorf("proxy saw %q after rotation, want the second token", h)
	}
	if err := c.Ping(ctx); err != nil {
		t.Errorf("Ping with a valid token: %v", err)
	}

	// A token the server refuses is an error that says why.
	proxy.set("token-three", 0)
	got, err = c.Query(ctx, "shop_errors_ratio", time.Time{})
	if err == nil {
		t.Fatalf("query with a refused token = %v, nil error", got)
	}
	for _, w := range []string{"401", "invalid bearer token", srv.URL} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}

	// A token file that disappears is an error too, never an anonymous request.
	if err := os.Remove(tokenFile); err != nil {
		t.Fatal(err)
	}
	proxy.set("", 0)
	if _, err := c.Query(ctx, "shop_errors_ratio", time.Time{}); err == nil || !strings.Contains(err.Error(), "read prometheus bearer token") {
		t.Errorf("query without a token file: %v, want a token read error", err)
	}
	if h := proxy.headers(); len(h) != 0 {
		t.Errorf("request sent without a token: %q", h)
	}
}

func testTimeout(t *testing.T, tp *testPrometheus) {
	proxy, srv := newAuthProxy(t, tp.URL, "")
	ctx := context.Background()

	// A slow server within the timeout is fine: the timeout is not a
	// blanket failure.
	proxy.set("", 200*time.Millisecond)
	slowOK := newClient(t, prometheus.Config{URL: srv.URL, Timeout: 5 * time.Second})
	if got, err := slowOK.Query(ctx, "shop_errors_ratio", time.Time{}); err != nil || len(got) != 1 {
		t.Fatalf("query slower than the server but within the timeout = %v, %v", got, err)
	}

	proxy.set("", 5*time.Second)
	c := newClient(t, prometheus.Config{URL: srv.URL, Timeout: 300 * time.Millisecond})
	start := time.Now()
	got, err := c.Query(ctx, "shop_errors_ratio", time.Time{})
	elapsed := time.Since(start)
	if err == nil {
		t.Fatalf("query through a 5s-slow proxy with a 300ms timeout = %v, nil error", got)
	}
	if elapsed > 2*time.Second {
		t.Errorf("query took %s, want about 300ms", elapsed)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %q does not wrap context.DeadlineExceeded", err)
	}
	if !strings.Contains(err.Error(), "no answer within 300ms (timeout)") {
		t.Errorf("error %q does not say which timeout expired", err)
	}

	start = time.Now()
	if err := c.Ping(ctx); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("Ping through a slow proxy = %v after %s, want a timeout", err, time.Since(start))
	}

	// The caller's own cancellation is reported as such, not as our timeout.
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = newClient(t, prometheus.Config{URL: srv.URL, Timeout: 10 * time.Second}).Query(cctx, "shop_errors_ratio", time.Time{})
	if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "timeout") {
		t.Errorf("query cancelled by the caller: %v, want context.Canceled without a timeout message", err)
	}
}
