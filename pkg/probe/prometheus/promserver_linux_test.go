//go:build linux

package prometheus_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chaosnight/chaosnight/test/sandbox"
)

// testPrometheus is a real Prometheus server (Debian's `prometheus`
// binary) that scrapes a fixture exporter every second. Start one with
// startPrometheus; it is stopped when the test ends.
//
// The exporter publishes, with job="shop" and instance=<exporter address>
// added by the scrape:
//
//	shop_ready{service="checkout"} 3
//	shop_ready{service="cart"}     2
//	shop_errors_ratio              0.002
//	shop_nan_ratio                 NaN
//	shop_inf_value                 +Inf
//	shop_neginf_value              -Inf
type testPrometheus struct {
	// URL is the server's base address, http://127.0.0.1:<port>.
	URL string
	// Instance is the instance label of the exporter's series.
	Instance string

	stopOnce sync.Once
	stopFn   func()
}

// Stop ends the server now (it is also stopped at the end of the test).
func (p *testPrometheus) Stop() { p.stopOnce.Do(p.stopFn) }

// startPrometheus starts a Prometheus server and waits until it is ready
// and has scraped the exporter once. Without the binary the test is
// skipped, or failed under make test and in CI (sandbox.Required), which
// never pass by skipping.
func startPrometheus(t *testing.T) *testPrometheus {
	t.Helper()
	if sandbox.Disabled() {
		t.Skipf("the real Prometheus is part of the sandbox, disabled on purpose (%s=off)", sandbox.EnvSandbox)
	}
	bin, err := sandbox.PrometheusBinary("")
	if err != nil {
		msg := err.Error() + "; to fix: " + sandbox.FixHint
		if sandbox.Required() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}

	exporter := httptest.NewServer(promhttp.HandlerFor(fixtureRegistry(t), promhttp.HandlerOpts{}))
	t.Cleanup(exporter.Close)
	instance := strings.TrimPrefix(exporter.URL, "http://")

	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "prometheus.yml")
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: shop
    static_configs:
      - targets: [%q]
`, instance)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	// The free port is found by binding :0 and closing it, so another
	// process may take it before Prometheus does: retry on a new port.
	for attempt := 1; ; attempt++ {
		p, logs, err := launch(t, bin, cfgFile, filepath.Join(dir, fmt.Sprintf("data-%d", attempt)), instance)
		if err == nil {
			return p
		}
		if attempt < 3 && strings.Contains(logs, "address already in use") {
			t.Logf("prometheus lost its port, retrying: %v", err)
			continue
		}
		t.Fatalf("start prometheus: %v\n--- prometheus log ---\n%s", err, logs)
	}
}

// launch runs one Prometheus process and waits for it; on failure the
// process is already stopped and its log is returned.
func launch(t *testing.T, bin, cfgFile, dataDir, instance string) (*testPrometheus, string, error) {
	t.Helper()
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	var logs syncBuffer
	cmd := exec.Command(bin,
		"--config.file="+cfgFile,
		"--storage.tsdb.path="+dataDir,
		"--web.listen-address="+addr,
		"--log.level=warn",
	)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	// Its own process group, so that cleanup reaches every process it
	// might start; Pdeathsig, so that it does not outlive a test binary
	// killed by `go test -timeout` (t.Cleanup does not run then).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("run %s: %w", bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()

	stop := func() {
		pgid := cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-exited
		}
	}
	p := &testPrometheus{URL: "http://" + addr, Instance: instance, stopFn: stop}
	t.Cleanup(p.Stop)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = waitUntil(ctx, exited, func() error { return checkReady(ctx, p.URL) })
	if err == nil {
		// One scrape carries every fixture series at once.
		err = waitUntil(ctx, exited, func() error { return checkHasData(ctx, p.URL, "shop_errors_ratio") })
	}
	if err != nil {
		p.Stop()
		if waitErr != nil {
			err = fmt.Errorf("%w (prometheus exited: %v)", err, waitErr)
		}
		return nil, logs.String(), err
	}
	t.Cleanup(func() {
		if out := logs.String(); t.Failed() && out != "" {
			t.Logf("--- prometheus log ---\n%s", out)
		}
	})
	return p, "", nil
}

// fixtureRegistry builds the exporter's metrics on a private registry.
func fixtureRegistry(t *testing.T) *promclient.Registry {
	t.Helper()
	reg := promclient.NewRegistry()
	ready := promclient.NewGaugeVec(promclient.GaugeOpts{Name: "shop_ready", Help: "Ready replicas."}, []string{"service"})
	ready.WithLabelValues("checkout").Set(3)
	ready.WithLabelValues("cart").Set(2)
	gauge := func(name string, v float64) promclient.Collector {
		g := promclient.NewGauge(promclient.GaugeOpts{Name: name, Help: name + " fixture."})
		g.Set(v)
		return g
	}
	for _, c := range []promclient.Collector{
		ready,
		gauge("shop_errors_ratio", 0.002),
		gauge("shop_nan_ratio", math.NaN()),
		gauge("shop_inf_value", math.Inf(1)),
		gauge("shop_neginf_value", math.Inf(-1)),
	} {
		if err := reg.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	return reg
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// waitUntil polls check until it succeeds, the process exits or ctx ends.
func waitUntil(ctx context.Context, exited <-chan struct{}, check func() error) error {
	for {
		err := check()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("prometheus exited before it was ready: %w", err)
		case <-ctx.Done():
			return fmt.Errorf("prometheus not ready in time: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func checkReady(ctx context.Context, base string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/-/ready", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /-/ready: %s", resp.Status)
	}
	return nil
}

// checkHasData asks the HTTP API directly (not the code under test)
// whether query returns at least one series.
func checkHasData(ctx context.Context, base, query string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query?query="+url.QueryEscape(query), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("decode query response: %w", err)
	}
	if body.Status != "success" || len(body.Data.Result) == 0 {
		return errors.New("first scrape not in yet")
	}
	return nil
}

// syncBuffer collects the process output; the exec package writes it
// from another goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
