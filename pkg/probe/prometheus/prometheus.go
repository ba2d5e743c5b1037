// Package prometheus is the probe.Querier over the Prometheus HTTP API
// (instant queries through client_golang's api/prometheus/v1 client).
//
// It turns every failure into an error that names the query and the
// server: an unreachable, slow or misconfigured Prometheus must never look
// like an empty, healthy result.
package prometheus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/chaosnight/chaosnight/pkg/probe"
)

// DefaultTimeout bounds one query when Config.Timeout is zero. A probe runs
// every few seconds; a query that takes longer than this is better reported
// as an error than left to pile up.
const DefaultTimeout = 10 * time.Second

// Config says how to reach Prometheus.
type Config struct {
	// URL of the Prometheus server (or any server with its HTTP API:
	// Thanos Query, Mimir, ...), e.g. http://prometheus.monitoring:9090.
	// A path prefix is kept (http://host/prometheus).
	URL string
	// BearerTokenFile, when set, is read on every request and sent as
	// "Authorization: Bearer <token>", so that a rotated token (a projected
	// ServiceAccount token is renewed by the kubelet) keeps working without
	// a restart.
	BearerTokenFile string
	// AuthorizationType is the scheme sent with the token file's content;
	// empty means Bearer. (Prometheus' authorization.type.)
	AuthorizationType string
	// CAFile is a PEM bundle that replaces the system roots to verify the
	// server's certificate.
	CAFile string
	// InsecureSkipVerify disables certificate verification. It cannot be
	// combined with CAFile.
	InsecureSkipVerify bool
	// Timeout bounds each query (and Ping). Zero means DefaultTimeout.
	Timeout time.Duration
	// RoundTripper replaces the HTTP transport (for tests). It cannot be
	// combined with CAFile or InsecureSkipVerify, which configure the
	// default transport. The bearer token is still added on top of it.
	RoundTripper http.RoundTripper
}

// Client runs instant queries against one Prometheus server. It is safe for
// concurrent use.
type Client struct {
	api     v1.API
	url     string // for messages, without any password
	timeout time.Duration
}

var _ probe.Querier = (*Client)(nil)

// New checks cfg and builds a Client. It does not contact the server; use
// Ping for that.
func New(cfg Config) (*Client, error) {
	u, err := parseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	switch {
	case timeout < 0:
		return nil, fmt.Errorf("prometheus timeout %s is negative", timeout)
	case timeout == 0:
		timeout = DefaultTimeout
	}

	rt, err := transport(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.BearerTokenFile != "" {
		// Read once now so that a wrong path is reported at start-up, not
		// at the first probe of the night.
		if _, err := readToken(cfg.BearerTokenFile); err != nil {
			return nil, err
		}
		scheme := cfg.AuthorizationType
		if scheme == "" {
			scheme = "Bearer"
		}
		rt = &bearerFileRoundTripper{file: cfg.BearerTokenFile, scheme: scheme, host: u.Host, next: rt}
	}

	c, err := api.NewClient(api.Config{Address: u.String(), RoundTripper: rt})
	if err != nil {
		return nil, fmt.Errorf("prometheus URL %q: %w", u.Redacted(), err)
	}
	return &Client{api: v1.NewAPI(c), url: u.Redacted(), timeout: timeout}, nil
}

// URL is the server's address as configured, with any password redacted.
func (c *Client) URL() string { return c.url }

// Query runs an instant query at instant at (the zero time means "now" on
// the server's clock).
//
// An instant vector gives one Sample per series with all its labels,
// including the metric name (__name__) when the query keeps it: in a
// report, `shop_ready{service="cart"}` says more than `{service="cart"}`.
// A scalar gives one Sample without labels. A range vector (matrix) or a
// string is an error, because a probe compares single values. API warnings
// (for example "metric might not be a counter") are not errors and are
// dropped.
func (c *Client) Query(ctx context.Context, query string, at time.Time) ([]probe.Sample, error) {
	v, err := c.query(ctx, query, at)
	if err == nil {
		var samples []probe.Sample
		if samples, err = toSamples(v); err == nil {
			return samples, nil
		}
	}
	return nil, fmt.Errorf("query %q at %s: %w", query, c.url, err)
}

// QueryRange implements probe.RangeQuerier.
func (c *Client) QueryRange(ctx context.Context, query string, start, end time.Time, step time.Duration) ([]probe.Series, error) {
	qctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	v, _, _, err := c.api.QueryRange(qctx, query, v1.Range{Start: start, End: end, Step: step}, v1.WithTimeout(c.timeout))
	if err != nil {
		if ctx.Err() == nil && errors.Is(qctx.Err(), context.DeadlineExceeded) {
			err = fmt.Errorf("no answer within %s (timeout): %w", c.timeout, err)
		}
		return nil, fmt.Errorf("range query %q over %s..%s at %s: %w", query, start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339), c.url, err)
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("range query %q at %s: unexpected result type %s", query, c.url, v.Type())
	}
	out := make([]probe.Series, 0, len(m))
	for _, ss := range m {
		if len(ss.Histograms) > 0 {
			return nil, fmt.Errorf("range query %q: series %s is a native histogram; a probe needs a float value", query, ss.Metric)
		}
		s := probe.Series{Points: make([]probe.Point, len(ss.Values))}
		if len(ss.Metric) > 0 {
			s.Labels = make(map[string]string, len(ss.Metric))
			for k, lv := range ss.Metric {
				s.Labels[string(k)] = string(lv)
			}
		}
		for i, p := range ss.Values {
			s.Points[i] = probe.Point{T: p.Timestamp.Time(), V: float64(p.Value)}
		}
		out = append(out, s)
	}
	return out, nil
}

// Ping checks that the server answers queries, through the same path,
// authentication and timeout as the probes. It evaluates vector(1) rather
// than reading /api/v1/status/buildinfo, which Prometheus-compatible
// servers (Thanos, Mimir, VictoriaMetrics) do not all serve, and which
// could pass while the query endpoint is forbidden to our token.
func (c *Client) Ping(ctx context.Context) error {
	v, err := c.query(ctx, "vector(1)", time.Time{})
	if err != nil {
		return fmt.Errorf("ping prometheus at %s: %w", c.url, err)
	}
	samples, err := toSamples(v)
	if err != nil {
		return fmt.Errorf("ping prometheus at %s: %w", c.url, err)
	}
	if len(samples) != 1 || samples[0].Value != 1 {
		return fmt.Errorf("ping prometheus at %s: vector(1) returned %d series instead of one with value 1; is this a Prometheus query API?", c.url, len(samples))
	}
	return nil
}

// query runs one instant query within the client's timeout.
func (c *Client) query(ctx context.Context, query string, at time.Time) (model.Value, error) {
	qctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	// The timeout is also sent to the server, so that it stops evaluating
	// a query nobody waits for any more.
	v, _, _, err := c.api.Query(qctx, query, at, v1.WithTimeout(c.timeout))
	if err == nil {
		return v, nil
	}
	if ctx.Err() == nil && errors.Is(qctx.Err(), context.DeadlineExceeded) {
		return nil, fmt.Errorf("no answer within %s (timeout): %w", c.timeout, err)
	}
	var apiErr *v1.Error
	if errors.As(err, &apiErr) && apiErr.Detail != "" {
		// For a non-API status (401 from a proxy, 502 from an ingress)
		// the body is the only explanation; Error() leaves it out.
		return nil, fmt.Errorf("%w: %s", err, shorten(apiErr.Detail, 200))
	}
	return nil, err
}

// toSamples converts an instant query result.
func toSamples(v model.Value) ([]probe.Sample, error) {
	switch v := v.(type) {
	case model.Vector:
		out := make([]probe.Sample, 0, len(v))
		for _, s := range v {
			if s.Histogram != nil {
				return nil, fmt.Errorf("series %s is a native histogram; a probe needs a float value (use histogram_quantile, histogram_count or histogram_sum)", s.Metric)
			}
			var labels map[string]string
			if len(s.Metric) > 0 {
				labels = make(map[string]string, len(s.Metric))
				for k, lv := range s.Metric {
					labels[string(k)] = string(lv)
				}
			}
			out = append(out, probe.Sample{Labels: labels, Value: float64(s.Value)})
		}
		return out, nil
	case *model.Scalar:
		return []probe.Sample{{Value: float64(v.Value)}}, nil
	case model.Matrix:
		return nil, errors.New("the result is a range vector; a probe needs an instant vector or a scalar (drop the [range] or wrap it in a function such as rate() or max_over_time())")
	case *model.String:
		return nil, errors.New("the result is a string; a probe needs an instant vector or a scalar")
	case nil:
		return nil, errors.New("the server returned no result")
	}
	return nil, fmt.Errorf("unexpected result type %s; a probe needs an instant vector or a scalar", v.Type())
}

func parseURL(raw string) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, errors.New("prometheus URL is not set (use --prometheus-url or CHAOSNIGHT_PROMETHEUS_URL)")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("prometheus URL %q is not valid: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("prometheus URL %q is not valid: the scheme must be http or https (for example http://prometheus.monitoring:9090)", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("prometheus URL %q is not valid: it has no host", u.Redacted())
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("prometheus URL %q is not valid: it must not have a query or fragment", u.Redacted())
	}
	return u, nil
}

// transport builds the HTTP transport: the caller's, or a clone of Go's
// default (proxy from the environment, keep-alives) with our TLS settings.
func transport(cfg Config) (http.RoundTripper, error) {
	if cfg.CAFile != "" && cfg.InsecureSkipVerify {
		return nil, errors.New("prometheus CA file and insecure-skip-verify cannot be used together: the CA file would be ignored")
	}
	if cfg.RoundTripper != nil {
		if cfg.CAFile != "" || cfg.InsecureSkipVerify {
			return nil, errors.New("prometheus RoundTripper cannot be combined with a CA file or insecure-skip-verify")
		}
		return cfg.RoundTripper, nil
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	// InsecureSkipVerify is the operator's explicit opt-in (a lab cluster
	// with a self-signed Prometheus); it is never the default.
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read prometheus CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("prometheus CA file %s holds no PEM certificate", cfg.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	t.TLSClientConfig = tlsCfg
	return t, nil
}

// bearerFileRoundTripper sends the token read from file with every request
// to host. Reading a small file every few seconds costs nothing and follows
// token rotation without watching the file.
type bearerFileRoundTripper struct {
	file   string
	scheme string // "Bearer" unless configured otherwise
	host   string // the token never goes to another host (a redirect)
	next   http.RoundTripper
}

func (rt *bearerFileRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != rt.host {
		return rt.next.RoundTrip(req)
	}
	token, err := readToken(rt.file)
	if err != nil {
		if req.Body != nil {
			req.Body.Close() // a RoundTripper must close the body, even on error
		}
		return nil, err
	}
	req = req.Clone(req.Context()) // a RoundTripper must not modify its request
	req.Header.Set("Authorization", rt.scheme+" "+token)
	return rt.next.RoundTrip(req)
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// wrapped transport.
func (rt *bearerFileRoundTripper) CloseIdleConnections() {
	if c, ok := rt.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func readToken(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read prometheus bearer token: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("prometheus bearer token file %s is empty", file)
	}
	return token, nil
}

// shorten keeps an error body readable on one line.
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		for n > 0 && !utf8.RuneStart(s[n]) {
			n-- // never cut a character in half
		}
		s = s[:n] + "…"
	}
	return s
}
