package prometheus

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// HTTPConfig is the part of Prometheus' own HTTP client block
// (prometheus/common's HTTPClientConfig: the `http_config` of a scrape
// config, remote_write, ...) that this client supports, with the same YAML
// field names and meaning, so a block copied from prometheus.yml either
// works the same here or is refused naming the field. prometheus/common's
// type itself is not used: its package links a template executor into the
// binary (README, design decisions).
type HTTPConfig struct {
	// Authorization sends "Authorization: <type> <credentials>", the
	// credentials read from a file on every request.
	Authorization *Authorization `yaml:"authorization,omitempty"`
	// BearerTokenFile is the older spelling of authorization with type
	// Bearer (deprecated in Prometheus, still accepted there and here).
	BearerTokenFile string    `yaml:"bearer_token_file,omitempty"`
	TLSConfig       TLSConfig `yaml:"tls_config,omitempty"`
}

// Authorization is Prometheus' authorization block, file credentials only.
type Authorization struct {
	// Type is the scheme; empty means Bearer, as in Prometheus. Basic is
	// refused, as in Prometheus (basic_auth is its own block there).
	Type            string `yaml:"type,omitempty"`
	CredentialsFile string `yaml:"credentials_file,omitempty"`
}

// TLSConfig is Prometheus' tls_config block, server verification only.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file,omitempty"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify,omitempty"`
}

// HTTPConfigError is one problem in an HTTPConfig block: the field's path
// inside the block ("tls_config.cert_file") and its line.
type HTTPConfigError struct {
	Line  int
	Field string
	// Unsupported is true for a field of Prometheus' HTTP client
	// configuration that this client does not implement (as opposed to a
	// misspelt or wrong value).
	Unsupported bool
	Why         string
}

func (e *HTTPConfigError) Error() string {
	return fmt.Sprintf("line %d: %s: %s", e.Line, e.Field, e.Why)
}

// unsupported are the fields of Prometheus' HTTP client configuration
// (prometheus/common v0.72) this client does not implement, by block, with
// what to use instead where there is something.
var unsupported = map[string]map[string]string{
	"": {
		"basic_auth":             "",
		"oauth2":                 "",
		"bearer_token":           "an inline secret; use bearer_token_file or authorization.credentials_file (re-read on every request)",
		"proxy_url":              "the proxy comes from HTTPS_PROXY / NO_PROXY",
		"no_proxy":               "the proxy comes from HTTPS_PROXY / NO_PROXY",
		"proxy_from_environment": "the proxy always comes from HTTPS_PROXY / NO_PROXY",
		"proxy_connect_header":   "",
		"http_headers":           "",
		"follow_redirects":       "redirects are followed, without credentials to another host",
		"enable_http2":           "",
	},
	"authorization": {
		"credentials":     "an inline secret; use credentials_file (re-read on every request)",
		"credentials_ref": "there is no secret manager; use credentials_file",
	},
	"tls_config": {
		"ca": "inline PEM; use ca_file", "cert": "", "key": "", "cert_file": "", "key_file": "",
		"ca_ref": "", "cert_ref": "", "key_ref": "", "server_name": "", "min_version": "TLS 1.2 is the minimum", "max_version": "",
	},
}

// supported are the fields this client implements, by block (for messages).
var supported = map[string][]string{
	"":              {"authorization", "bearer_token_file", "tls_config"},
	"authorization": {"type", "credentials_file"},
	"tls_config":    {"ca_file", "insecure_skip_verify"},
}

// DecodeHTTPConfig decodes a Prometheus HTTP client block from its YAML
// node, strictly: every problem is an *HTTPConfigError (joined), located
// at the field's line. Relative file names are made relative to dir (the
// directory of the file the block is in), as Prometheus does. A nil or
// null node is an empty block.
func DecodeHTTPConfig(n *yaml.Node, dir string) (HTTPConfig, error) {
	var h HTTPConfig
	if n == nil || n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return h, nil
	}
	d := &httpDecoder{lines: map[string]int{}}
	d.mapping(n, "", func(key string, v *yaml.Node) {
		switch key {
		case "authorization":
			h.Authorization = &Authorization{}
			d.mapping(v, key, func(k string, v *yaml.Node) {
				switch k {
				case "type":
					d.scalar(v, key+"."+k, &h.Authorization.Type)
				case "credentials_file":
					d.scalar(v, key+"."+k, &h.Authorization.CredentialsFile)
				}
			})
		case "bearer_token_file":
			d.scalar(v, key, &h.BearerTokenFile)
		case "tls_config":
			d.mapping(v, key, func(k string, v *yaml.Node) {
				switch k {
				case "ca_file":
					d.scalar(v, key+"."+k, &h.TLSConfig.CAFile)
				case "insecure_skip_verify":
					d.scalar(v, key+"."+k, &h.TLSConfig.InsecureSkipVerify)
				}
			})
		}
	})
	// Prometheus' own rules for what was decoded.
	if a := h.Authorization; a != nil {
		switch {
		case strings.EqualFold(a.Type, "basic"):
			d.fail(d.line("authorization.type", n), "authorization.type", false, "authorization type cannot be set to \"basic\", use \"basic_auth\" instead (Prometheus' rule; basic_auth is not supported here)")
		case a.CredentialsFile == "":
			d.fail(d.line("authorization", n), "authorization", false, "credentials_file is required (the only credentials supported)")
		}
		if h.BearerTokenFile != "" {
			d.fail(d.line("bearer_token_file", n), "bearer_token_file", false, "at most one of bearer_token_file and authorization may be set (Prometheus' rule)")
		}
	}
	if err := errors.Join(d.errs...); err != nil {
		return HTTPConfig{}, err
	}
	h.BearerTokenFile = inDir(dir, h.BearerTokenFile)
	if h.Authorization != nil {
		h.Authorization.CredentialsFile = inDir(dir, h.Authorization.CredentialsFile)
	}
	h.TLSConfig.CAFile = inDir(dir, h.TLSConfig.CAFile)
	return h, nil
}

// Apply puts the block into cfg, whose fields come from flags and settings.
// The two may say the same thing, but not two different things: a second
// token or CA file is refused rather than one silently winning.
func (h HTTPConfig) Apply(cfg Config) (Config, error) {
	token, scheme := h.BearerTokenFile, ""
	if a := h.Authorization; a != nil {
		token, scheme = a.CredentialsFile, a.Type
	}
	if token != "" {
		if cfg.BearerTokenFile != "" && cfg.BearerTokenFile != token {
			return cfg, fmt.Errorf("prometheus credentials: the bearer token file %s and the http block's %s disagree; set one", cfg.BearerTokenFile, token)
		}
		cfg.BearerTokenFile, cfg.AuthorizationType = token, scheme
	}
	if ca := h.TLSConfig.CAFile; ca != "" {
		if cfg.CAFile != "" && cfg.CAFile != ca {
			return cfg, fmt.Errorf("prometheus CA: the CA file %s and the http block's tls_config.ca_file %s disagree; set one", cfg.CAFile, ca)
		}
		cfg.CAFile = ca
	}
	cfg.InsecureSkipVerify = cfg.InsecureSkipVerify || h.TLSConfig.InsecureSkipVerify
	return cfg, nil
}

func inDir(dir, file string) string {
	if file == "" || dir == "" || filepath.IsAbs(file) {
		return file
	}
	return filepath.Join(dir, file)
}

// httpDecoder collects the problems of one block, and the line of every
// field it met (for the rules checked after decoding).
type httpDecoder struct {
	errs  []error
	lines map[string]int // by field path
}

// line is the line of field, or the block's when it was not met.
func (d *httpDecoder) line(field string, block *yaml.Node) int {
	if l, ok := d.lines[field]; ok {
		return l
	}
	return block.Line
}

func (d *httpDecoder) fail(line int, field string, unsupported bool, format string, args ...any) {
	d.errs = append(d.errs, &HTTPConfigError{Line: line, Field: field, Unsupported: unsupported, Why: fmt.Sprintf(format, args...)})
}

// mapping calls fn with each supported key of the mapping n (the block at
// path, "" for the top), and reports the others: Prometheus' fields this
// client lacks as unsupported, anything else as unknown.
func (d *httpDecoder) mapping(n *yaml.Node, path string, fn func(key string, v *yaml.Node)) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, cmpPath(path), false, "expected a mapping")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		field := k.Value
		if path != "" {
			field = path + "." + k.Value
		}
		switch hint, isProm := unsupported[path][k.Value]; {
		case seen[k.Value]:
			d.fail(k.Line, field, false, "set twice")
		case slices.Contains(supported[path], k.Value):
			fn(k.Value, v)
		case isProm:
			why := "a field of Prometheus' HTTP client configuration that chaosnight does not support"
			if hint != "" {
				why += ": " + hint
			}
			d.fail(k.Line, field, true, "%s", why)
		default:
			d.fail(k.Line, field, false, "unknown field (supported here: %s)", strings.Join(supported[path], ", "))
		}
		seen[k.Value] = true
		d.lines[field] = k.Line
	}
}

// scalar decodes the scalar node n into out (a *string or *bool).
func (d *httpDecoder) scalar(n *yaml.Node, field string, out any) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n.Line, field, false, "expected a single value")
		return
	}
	if err := n.Decode(out); err != nil {
		want := "a string"
		if _, ok := out.(*bool); ok {
			want = "true or false"
		}
		d.fail(n.Line, field, false, "expected %s, got %q", want, n.Value)
	}
}

func cmpPath(path string) string {
	if path == "" {
		return "http"
	}
	return path
}
