package prometheus_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"net/http/httptest"

	"go.yaml.in/yaml/v3"

	"github.com/chaosnight/chaosnight/pkg/probe/prometheus"
)

// httpBlock parses src (the value of prometheus.http) into its node.
func httpBlock(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	return doc.Content[0]
}

// TestDecodeHTTPConfig: the block takes Prometheus' own field names for
// what the client supports, and refuses the rest by name and line,
// telling Prometheus' fields this client lacks from misspellings.
func TestDecodeHTTPConfig(t *testing.T) {
	type problem struct {
		line        int
		field       string
		unsupported bool
		why         string // substring
	}
	tests := []struct {
		name     string
		src      string
		want     prometheus.HTTPConfig
		problems []problem
	}{
		{name: "empty", src: "", want: prometheus.HTTPConfig{}},
		{name: "authorization and TLS, relative files in the config's directory",
			src: "authorization:\n  type: Token\n  credentials_file: secrets/token\ntls_config:\n  ca_file: /etc/ca.pem\n  insecure_skip_verify: false\n",
			want: prometheus.HTTPConfig{Authorization: &prometheus.Authorization{Type: "Token", CredentialsFile: filepath.Join("/etc/chaosnight", "secrets/token")},
				TLSConfig: prometheus.TLSConfig{CAFile: "/etc/ca.pem"}}},
		{name: "bearer_token_file, Prometheus' older spelling",
			src:  "bearer_token_file: /var/run/token\ntls_config: {insecure_skip_verify: true}\n",
			want: prometheus.HTTPConfig{BearerTokenFile: "/var/run/token", TLSConfig: prometheus.TLSConfig{InsecureSkipVerify: true}}},
		{name: "Prometheus' fields this client lacks, by name and line",
			src: "basic_auth:\n  username: u\ntls_config:\n  cert_file: c.pem\nauthorization:\n  credentials: s3cret\n",
			problems: []problem{
				{1, "basic_auth", true, "does not support"},
				{4, "tls_config.cert_file", true, "does not support"},
				{6, "authorization.credentials", true, "use credentials_file"},
				{5, "authorization", false, "credentials_file is required"},
			}},
		{name: "a misspelling is unknown, with what is supported",
			src:      "tls_config:\n  ca_flie: ca.pem\n",
			problems: []problem{{2, "tls_config.ca_flie", false, "unknown field (supported here: ca_file, insecure_skip_verify)"}}},
		{name: "Prometheus' rules: one kind of credentials, no Basic in authorization",
			src: "bearer_token_file: a\nauthorization:\n  type: Basic\n  credentials_file: b\n",
			problems: []problem{
				{3, "authorization.type", false, "basic_auth"},
				{1, "bearer_token_file", false, "at most one"},
			}},
		{name: "wrong shapes",
			src: "tls_config:\n  insecure_skip_verify: maybe\nauthorization: [a]\n",
			problems: []problem{
				{2, "tls_config.insecure_skip_verify", false, "expected true or false"},
				{3, "authorization", false, "expected a mapping"},
				{3, "authorization", false, "credentials_file is required"},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := prometheus.DecodeHTTPConfig(httpBlock(t, tt.src), "/etc/chaosnight")
			if len(tt.problems) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("decoded %+v, want %+v", got, tt.want)
				}
				return
			}
			var joined interface{ Unwrap() []error }
			if !errors.As(err, &joined) {
				t.Fatalf("error %v, want joined problems", err)
			}
			errs := joined.Unwrap()
			if len(errs) != len(tt.problems) {
				t.Fatalf("%d problems, want %d:\n%v", len(errs), len(tt.problems), err)
			}
			for i, w := range tt.problems {
				var pe *prometheus.HTTPConfigError
				if !errors.As(errs[i], &pe) {
					t.Fatalf("problem %d %v is not an HTTPConfigError", i, errs[i])
				}
				if pe.Line != w.line || pe.Field != w.field || pe.Unsupported != w.unsupported || !strings.Contains(pe.Why, w.why) {
					t.Errorf("problem %d: %+v; want line %d, field %s, unsupported %v, saying %q", i, pe, w.line, w.field, w.unsupported, w.why)
				}
			}
		})
	}
}

// TestHTTPConfigApply: the block and the flags may agree, or one says it,
// but two different token or CA files are refused.
func TestHTTPConfigApply(t *testing.T) {
	block := prometheus.HTTPConfig{Authorization: &prometheus.Authorization{CredentialsFile: "/t"}, TLSConfig: prometheus.TLSConfig{CAFile: "/ca"}}
	tests := []struct {
		name    string
		flags   prometheus.Config
		want    prometheus.Config
		wantErr string
	}{
		{name: "block only", want: prometheus.Config{BearerTokenFile: "/t", CAFile: "/ca"}},
		{name: "agreeing flags", flags: prometheus.Config{BearerTokenFile: "/t", CAFile: "/ca"}, want: prometheus.Config{BearerTokenFile: "/t", CAFile: "/ca"}},
		{name: "two token files", flags: prometheus.Config{BearerTokenFile: "/other"}, wantErr: "disagree"},
		{name: "two CA files", flags: prometheus.Config{CAFile: "/other"}, wantErr: "disagree"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := block.Apply(tt.flags)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Apply: %v, want an error saying %q", err, tt.wantErr)
				}
			case err != nil:
				t.Fatal(err)
			case !reflect.DeepEqual(got, tt.want):
				t.Errorf("Apply = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestAuthorizationTypeIsSent: authorization.type is the scheme of the
// Authorization header, as in Prometheus; Bearer by default.
func TestAuthorizationTypeIsSent(t *testing.T) {
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ typ, want string }{{"", "Bearer abc"}, {"Token", "Token abc"}} {
		api := &fakeAPI{}
		srv := httptest.NewServer(api)
		cfg, err := prometheus.HTTPConfig{Authorization: &prometheus.Authorization{Type: tt.typ, CredentialsFile: token}}.Apply(prometheus.Config{URL: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		c, err := prometheus.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Query(context.Background(), "up", time.Time{}); err != nil {
			t.Fatal(err)
		}
		srv.Close()
		if auth, _ := api.seen(); len(auth) != 1 || auth[0] != tt.want {
			t.Errorf("type %q: Authorization %q, want %q", tt.typ, auth, tt.want)
		}
	}
}
