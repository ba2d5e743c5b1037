package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaosnight/chaosnight/pkg/probe/prometheus"
)

// TestPromHTTPBlock: prometheus.http in chaosnight.yaml takes Prometheus'
// field names, relative to the config file; a field Prometheus has and
// chaosnight lacks stops the command with the file, the block's line and
// the field's line.
func TestPromHTTPBlock(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	good := write("good.yaml", "prometheus:\n  url: http://prom:9090\n  http:\n    authorization:\n      credentials_file: token\n    tls_config:\n      ca_file: /etc/ca.pem\n")
	h, err := loadPromHTTP(good)
	if err != nil {
		t.Fatal(err)
	}
	if h.Authorization == nil || h.Authorization.CredentialsFile != filepath.Join(dir, "token") || h.TLSConfig.CAFile != "/etc/ca.pem" {
		t.Errorf("block %+v: want the token relative to the config file and the CA as written", h)
	}
	for _, none := range []string{"", write("none.yaml", "prometheus:\n  url: http://prom:9090\n"), write("other.toml", "x = 1\n")} {
		if h, err := loadPromHTTP(none); err != nil || h != (prometheus.HTTPConfig{}) {
			t.Errorf("%q: %+v, %v; want no block", none, h, err)
		}
	}

	// config view shows the block as loaded, file names made absolute.
	code, stdout, stderr := run(t, "config", "view", "--config", good)
	if code != 0 || !strings.Contains(stdout, "  http:\n    authorization:\n      credentials_file: "+filepath.Join(dir, "token")+"\n    tls_config:\n      ca_file: /etc/ca.pem\n") {
		t.Errorf("config view: exit %d, stdout:\n%s\nstderr: %s", code, stdout, stderr)
	}

	bad := write("bad.yaml", "prometheus:\n  url: http://prom:9090\n  http:\n    tls_config:\n      cert_file: c.pem\n")
	exp, err := filepath.Abs("../../experiments/checkout-pod-kill.yaml")
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr = run(t, "run", exp, "--config", bad)
	for _, want := range []string{"config file " + bad, "prometheus.http (line 3)", "line 5: tls_config.cert_file", "does not support"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q\nwant it to say %q", stderr, want)
		}
	}
	if code != ExitInvalid {
		t.Errorf("exit code %d, want %d (invalid input)", code, ExitInvalid)
	}
}
