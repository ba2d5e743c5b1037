package prometheus_test

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/probe/prometheus"
)

// These tests need no Prometheus binary: they cover configuration, TLS and
// HTTP edge cases with small fake servers. Query semantics are tested
// against the real server in query_linux_test.go.

func TestNewRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	emptyToken := filepath.Join(dir, "empty-token")
	notPEM := filepath.Join(dir, "not-pem")
	for _, f := range []string{emptyToken, notPEM} {
		if err := os.WriteFile(f, []byte("  \n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		cfg  prometheus.Config
		want string // exact error text
	}{
		{"no URL", prometheus.Config{}, "prometheus URL is not set (use --prometheus-url or CHAOSNIGHT_PROMETHEUS_URL)"},
		{"blank URL", prometheus.Config{URL: "  "}, "prometheus URL is not set (use --prometheus-url or CHAOSNIGHT_PROMETHEUS_URL)"},
		{
			"host and port without scheme", prometheus.Config{URL: "localhost:9090"},
			`prometheus URL "localhost:9090" is not valid: the scheme must be http or https (for example http://prometheus.monitoring:9090)`,
		},
		{
			"other scheme", prometheus.Config{URL: "ftp://prometheus:9090"},
			`prometheus URL "ftp://prometheus:9090" is not valid: the scheme must be http or https (for example http://prometheus.monitoring:9090)`,
		},
		{"no host", prometheus.Config{URL: "http:///api"}, `prometheus URL "http:///api" is not valid: it has no host`},
		{
			"unparsable", prometheus.Config{URL: "http://prometheus:90%zz"},
			`prometheus URL "http://prometheus:90%zz" is not valid: parse "http://prometheus:90%zz": invalid port ":90%zz" after host`,
		},
		{
			"query string", prometheus.Config{URL: "http://prometheus:9090/?x=1"},
			`prometheus URL "http://prometheus:9090/?x=1" is not valid: it must not have a query or fragment`,
		},
		{
			"password is redacted", prometheus.Config{URL: "ftp://admin:s3cret@prometheus:9090"},
			`prometheus URL "ftp://admin:xxxxx@prometheus:9090" is not valid: the scheme must be http or https (for example http://prometheus.monitoring:9090)`,
		},
		{"negative timeout", prometheus.Config{URL: "http://p:9090", Timeout: -time.Second}, "prometheus timeout -1s is negative"},
		{
			"CA file and insecure", prometheus.Config{URL: "https://p:9090", CAFile: notPEM, InsecureSkipVerify: true},
			"prometheus CA file and insecure-skip-verify cannot be used together: the CA file would be ignored",
		},
		{
			"missing CA file", prometheus.Config{URL: "https://p:9090", CAFile: filepath.Join(dir, "nope.pem")},
			"read prometheus CA file: open " + filepath.Join(dir, "nope.pem") + ": no such file or directory",
		},
		{
			"CA file without a certificate", prometheus.Config{URL: "https://p:9090", CAFile: notPEM},
			"prometheus CA file " + notPEM + " holds no PEM certificate",
		},
		{
			"missing token file", prometheus.Config{URL: "http://p:9090", BearerTokenFile: filepath.Join(dir, "nope")},
			"read prometheus bearer token: open " + filepath.Join(dir, "nope") + ": no such file or directory",
		},
		{
			"empty token file", prometheus.Config{URL: "http://p:9090", BearerTokenFile: emptyToken},
			"prometheus bearer token file " + emptyToken + " is empty",
		},
		{
			"round tripper and TLS options", prometheus.Config{URL: "https://p:9090", InsecureSkipVerify: true, RoundTripper: http.DefaultTransport},
			"prometheus RoundTripper cannot be combined with a CA file or insecure-skip-verify",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := prometheus.New(tt.cfg)
			if err == nil {
				t.Fatalf("New() = %v, nil error; want %q", c, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("New() error\n  %s\nwant\n  %s", err, tt.want)
			}
		})
	}
}

func TestURLIsRedacted(t *testing.T) {
	c, err := prometheus.New(prometheus.Config{URL: "http://admin:s3cret@127.0.0.1:1/prom", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if c.URL() != "http://admin:xxxxx@127.0.0.1:1/prom" {
		t.Errorf("URL() = %q, want the password redacted", c.URL())
	}
	_, err = c.Query(context.Background(), "up", time.Time{})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Query error %v: want an error that does not show the password", err)
	}
}

// fakeAPI answers every query with an empty vector and records requests.
type fakeAPI struct {
	mu    sync.Mutex
	auth  []string
	paths []string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.paths = append(f.paths, r.URL.Path)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"success","data":{"resultType":"vector","result":[]}}`))
}

func (f *fakeAPI) seen() (auth, paths []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.auth...), append([]string(nil), f.paths...)
}

func TestCAFile(t *testing.T) {
	srv := httptest.NewUnstartedServer(&fakeAPI{})
	// The first case fails the handshake on purpose; keep the log quiet.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	tests := []struct {
		name    string
		cfg     prometheus.Config
		wantErr string
	}{
		{"system roots refuse a private CA", prometheus.Config{URL: srv.URL}, "certificate signed by unknown authority"},
		{"CA file", prometheus.Config{URL: srv.URL, CAFile: ca}, ""},
		{"insecure", prometheus.Config{URL: srv.URL, InsecureSkipVerify: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Timeout = 5 * time.Second
			c, err := prometheus.New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			// The fake answers every query with an empty vector, which
			// Ping rightly refuses; Query tests the transport alone.
			_, err = c.Query(ctx, "up", time.Time{})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Query: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Query error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestPingRejectsAServerThatIsNotPrometheus(t *testing.T) {
	srv := httptest.NewServer(&fakeAPI{}) // answers vector(1) with nothing
	defer srv.Close()
	c, err := prometheus.New(prometheus.Config{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Ping(context.Background())
	if err == nil || !strings.Contains(err.Error(), "vector(1) returned 0 series") {
		t.Errorf("Ping = %v, want an error about the unexpected answer", err)
	}
}

func TestPathPrefixIsKept(t *testing.T) {
	api := &fakeAPI{}
	srv := httptest.NewServer(api)
	defer srv.Close()
	c, err := prometheus.New(prometheus.Config{URL: srv.URL + "/prometheus/"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query(context.Background(), "up", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if _, paths := api.seen(); len(paths) != 1 || paths[0] != "/prometheus/api/v1/query" {
		t.Errorf("paths = %q, want [/prometheus/api/v1/query]", paths)
	}
}

func TestBearerTokenIsNotSentToAnotherHost(t *testing.T) {
	other := &fakeAPI{}
	otherSrv := httptest.NewServer(other)
	defer otherSrv.Close()
	first := &fakeAPI{}
	// 307 keeps the method and body, as a proxy in front of Prometheus might.
	firstSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		first.mu.Lock()
		first.auth = append(first.auth, r.Header.Get("Authorization"))
		first.mu.Unlock()
		http.Redirect(w, r, otherSrv.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer firstSrv.Close()

	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := prometheus.New(prometheus.Config{URL: firstSrv.URL, BearerTokenFile: token})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query(context.Background(), "up", time.Time{}); err != nil {
		t.Fatal(err)
	}
	if auth, _ := first.seen(); len(auth) != 1 || auth[0] != "Bearer s3cret" {
		t.Errorf("configured server saw %q, want the token", auth)
	}
	if auth, _ := other.seen(); len(auth) != 1 || auth[0] != "" {
		t.Errorf("redirect target saw %q, want one request without a token", auth)
	}
}

func TestHTTPErrorBodyIsShown(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "upstream connect error\nor disconnect", http.StatusBadGateway)
	}))
	defer srv.Close()
	c, err := prometheus.New(prometheus.Config{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Query(context.Background(), "up", time.Time{})
	want := `query "up" at ` + srv.URL + `: server_error: server error: 502: upstream connect error or disconnect`
	if err == nil || err.Error() != want {
		t.Errorf("Query error\n  %v\nwant\n  %s", err, want)
	}
}
