package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/test/sandbox/shop"
)

func envOf(m map[string]string) lookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// The environment configures what the command line does not; the command
// line wins; a bad value names its variable.
func TestParseServe(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(serveConfig) bool
		wantErr string
	}{
		{name: "defaults", args: []string{"--service", "cart", "--namespace", "shop"},
			check: func(c serveConfig) bool {
				return c.Listen == ":8080" && c.Work == 10*time.Millisecond && c.Drain == 5*time.Second && c.Downstreams == nil
			}},
		{name: "environment alone", env: map[string]string{"SHOP_SERVICE": "checkout", "POD_NAMESPACE": "shop",
			"SHOP_WORK": "20ms", "SHOP_DOWNSTREAMS": "http://10.0.0.2:8080, http://10.0.0.3:8080", "SHOP_READY_DELAY": "10s",
			"SHOP_READY_NEEDS_DOWNSTREAMS": "true", "SHOP_DRAIN": "3s", "SHOP_LISTEN": ":9000"},
			check: func(c serveConfig) bool {
				return c.Service == "checkout" && c.Namespace == "shop" && c.Work == 20*time.Millisecond && c.ReadyDelay == 10*time.Second &&
					c.ReadyNeedsDownstreams && c.Drain == 3*time.Second && c.Listen == ":9000" &&
					slices.Equal(c.Downstreams, []string{"http://10.0.0.2:8080", "http://10.0.0.3:8080"})
			}},
		{name: "SHOP_NAMESPACE wins over POD_NAMESPACE", env: map[string]string{"POD_NAMESPACE": "default", "SHOP_NAMESPACE": "shop"},
			check: func(c serveConfig) bool { return c.Namespace == "shop" }},
		{name: "flags win over the environment", args: []string{"--work", "1ms", "--downstream", "http://10.0.0.9:8080"},
			env: map[string]string{"SHOP_WORK": "20ms", "SHOP_DOWNSTREAMS": "http://10.0.0.2:8080"},
			check: func(c serveConfig) bool {
				return c.Work == time.Millisecond && slices.Equal(c.Downstreams, []string{"http://10.0.0.9:8080"})
			}},
		{name: "bad environment value", env: map[string]string{"SHOP_WORK": "fast"}, wantErr: `environment SHOP_WORK="fast"`},
		{name: "bad flag", args: []string{"--drain", "soon"}, wantErr: `invalid value "soon" for flag -drain`},
		{name: "stray argument", args: []string{"cart"}, wantErr: `unexpected argument "cart"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseServe(tt.args, envOf(tt.env), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(cfg) {
				t.Errorf("config %+v", cfg)
			}
		})
	}
}

func TestRunRefuses(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{nil, "usage: shop serve|load"},
		{[]string{"buy"}, `unknown command "buy"`},
		{[]string{"serve", "--namespace", "shop"}, "shop serve: service: required"},
		{[]string{"load", "--rps", "5", "http://127.0.0.1:1/"}, "shop load: count: a count, a duration or both are required"},
	}
	for _, tt := range tests {
		var stderr bytes.Buffer
		if code := run(context.Background(), tt.args, envOf(nil), io.Discard, &stderr); code != 2 || !strings.Contains(stderr.String(), tt.wantErr) {
			t.Errorf("run %q = %d, stderr %q: want 2 and %q", tt.args, code, stderr.String(), tt.wantErr)
		}
	}
}

// shop load prints its report as JSON once it stopped at its count.
func TestRunLoadReports(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	defer srv.Close()
	var stdout bytes.Buffer
	if code := run(context.Background(), []string{"load", "--rps", "1000", "--count", "5", srv.URL + "/"}, envOf(nil), &stdout, io.Discard); code != 0 {
		t.Fatalf("exit %d", code)
	}
	var rep shop.LoadReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report %q: %v", stdout.String(), err)
	}
	if rep.Sent != 5 || rep.Codes[200] != 5 {
		t.Errorf("report %+v, want 5 sent, 5 answered 200", rep)
	}
}

// The real binary: SIGTERM (a pod's deletion) drains and stops cleanly,
// exit 0, with the steps in its JSON log.
func TestBinarySIGTERMDrains(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := filepath.Join(t.TempDir(), "shop")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.CommandContext(t.Context(), bin, "serve", "--listen", "127.0.0.1:0", "--drain", "100ms", "--work", "1ms")
	cmd.Env = append(cmd.Environ(), "SHOP_SERVICE=checkout", "POD_NAMESPACE=shop")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stderr)
	var msgs []string
	for lines.Scan() {
		var rec struct{ Msg, Addr string }
		if err := json.Unmarshal(lines.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", lines.Text(), err)
		}
		msgs = append(msgs, rec.Msg)
		if rec.Msg != "serving" {
			continue
		}
		resp, err := http.Get("http://" + rec.Addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET / = %d", resp.StatusCode)
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v, want 0", err)
	}
	want := []string{"calibrated work", "serving", "draining: not ready, still serving", "shutting down: listener closed, waiting for in-flight requests", "stopped"}
	if !slices.Equal(msgs, want) {
		t.Errorf("log messages %q, want %q", msgs, want)
	}
}
