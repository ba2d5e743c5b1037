package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/chaosnight/chaosnight/pkg/probe/prometheus"
)

// keyPromHTTP is the block of chaosnight.yaml that takes Prometheus' own
// HTTP client fields (authorization, bearer_token_file, tls_config), in
// Prometheus' spelling, so that a block copied from prometheus.yml works
// or says which field is not supported. It is read from the config file
// only: it is a tree, not a flag or an environment variable.
const keyPromHTTP = "prometheus.http"

// prometheusConfig is the Prometheus client's configuration from the
// resolved settings and the config file's prometheus.http block, for
// every command that reaches Prometheus.
func (g *globals) prometheusConfig() (prometheus.Config, error) {
	cfg := prometheus.Config{
		URL:                g.settings.PrometheusURL,
		BearerTokenFile:    g.v.GetString(keyPromBearerTokenFile),
		CAFile:             g.v.GetString(keyPromCAFile),
		InsecureSkipVerify: g.v.GetBool(keyPromInsecure),
		Timeout:            g.v.GetDuration(keyPromTimeout),
	}
	block, err := loadPromHTTP(g.settings.ConfigFile)
	if err != nil {
		return cfg, err
	}
	return block.Apply(cfg)
}

// loadPromHTTP reads the prometheus.http block of the config file at path
// (none when path is empty, the file is not YAML or has no block). File
// names in it are relative to the config file's directory, as in
// prometheus.yml.
func loadPromHTTP(path string) (prometheus.HTTPConfig, error) {
	if path == "" {
		return prometheus.HTTPConfig{}, nil
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json", "":
	default:
		return prometheus.HTTPConfig{}, nil // another format viper reads; no block there
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return prometheus.HTTPConfig{}, fmt.Errorf("config file %s: %w", path, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil || len(doc.Content) == 0 {
		return prometheus.HTTPConfig{}, nil // viper has already reported a file it cannot read
	}
	_, prom := mappingValue(doc.Content[0], "prometheus")
	key, block := mappingValue(prom, "http")
	if key == nil {
		return prometheus.HTTPConfig{}, nil
	}
	h, err := prometheus.DecodeHTTPConfig(block, filepath.Dir(path))
	if err != nil {
		return h, fmt.Errorf("config file %s: %s (line %d):\n%w", path, keyPromHTTP, key.Line, err)
	}
	return h, nil
}

// mappingValue is the key node and the value node of key in the mapping
// node n, or nils.
func mappingValue(n *yaml.Node, key string) (k, v *yaml.Node) {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i], n.Content[i+1]
		}
	}
	return nil, nil
}
