package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// The sandbox's Prometheus evaluates alerting rules from the files of
// rulesDir (rule_files in prometheus.yml). ShopAlertRules are written at
// start; tests add, replace or remove their own groups with SetAlertRules.
const rulesDir = "rules"

// Alerts of ShopAlertRules, for experiments' spec.detect and tests.
const (
	// AlertShopHighErrorRate fires when more than 5 % of a shop
	// service's requests fail, for 3 s.
	AlertShopHighErrorRate = "ShopHighErrorRate"
	// AlertShopReplicasUnavailable fires when a shop Deployment has had an
	// unavailable replica for 2 s.
	AlertShopReplicasUnavailable = "ShopReplicasUnavailable"
)

// ShopAlertRules are the shop's alerting rules, with the "for:" durations
// of a production rule (minutes) scaled down to seconds so that tests and
// the demo see them fire and resolve within a run. They read the series
// the exporter (and, on the real node, the real shop) export.
const ShopAlertRules = `groups:
  - name: shop
    rules:
      - alert: ShopHighErrorRate
        expr: |
          sum by (namespace, service) (rate(http_requests_total{namespace="shop",code=~"5.."}[10s]))
            / sum by (namespace, service) (rate(http_requests_total{namespace="shop"}[10s])) > 0.05
        for: 3s
        labels: {severity: warning}
        annotations: {summary: "{{ $labels.service }}: more than 5% of requests fail"}
      - alert: ShopReplicasUnavailable
        expr: kube_deployment_status_replicas_unavailable{namespace="shop"} > 0
        for: 2s
        labels: {severity: warning}
        annotations: {summary: "{{ $labels.deployment }} has unavailable replicas"}
`

// writeDefaultRules writes the shop's rules before Prometheus starts.
func (s *Sandbox) writeDefaultRules() error {
	dir := filepath.Join(s.Dir, rulesDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("sandbox: rules directory: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, "shop.yml"), []byte(ShopAlertRules), 0o644)
}

// SetAlertRules writes (or, with empty rules, removes) the rule file
// name.yml and has Prometheus reload its rules, returning once the groups
// Prometheus reports are exactly those of the files. A bad file is an
// error from Prometheus's reload.
func (s *Sandbox) SetAlertRules(ctx context.Context, name, rules string) error {
	file := filepath.Join(s.Dir, rulesDir, name+".yml")
	var err error
	if rules == "" {
		err = os.Remove(file)
		if os.IsNotExist(err) {
			err = nil
		}
	} else {
		err = os.WriteFile(file, []byte(rules), 0o644)
	}
	if err != nil {
		return fmt.Errorf("sandbox: rule file %s: %w", name, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.PrometheusURL+"/-/reload", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("sandbox: reload prometheus: %w", err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sandbox: reload prometheus: %s (see %s)", resp.Status, filepath.Join(s.Dir, "prometheus.log"))
	}
	return nil
}

// RuleGroups lists the rule groups Prometheus evaluates, by file base name
// and group name ("shop.yml/shop").
func (s *Sandbox) RuleGroups(ctx context.Context) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.PrometheusURL+"/api/v1/rules", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Data struct {
			Groups []struct {
				Name string `json:"name"`
				File string `json:"file"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("sandbox: rules: %w", err)
	}
	var out []string
	for _, g := range body.Data.Groups {
		out = append(out, filepath.Base(g.File)+"/"+g.Name)
	}
	slices.Sort(out)
	return out, nil
}

// AlertState is the state of an alert in Prometheus: "" (inactive),
// "pending" or "firing", for the first alert of that name whose labels
// include labels.
func (s *Sandbox) AlertState(ctx context.Context, alert string, labels map[string]string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.PrometheusURL+"/api/v1/alerts", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	var body struct {
		Data struct {
			Alerts []struct {
				Labels   map[string]string `json:"labels"`
				State    string            `json:"state"`
				ActiveAt time.Time         `json:"activeAt"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("sandbox: alerts: %w", err)
	}
	state := ""
next:
	for _, a := range body.Data.Alerts {
		if a.Labels["alertname"] != alert {
			continue
		}
		for k, v := range labels {
			if a.Labels[k] != v {
				continue next
			}
		}
		if a.State == "firing" {
			return "firing", nil
		}
		state = a.State
	}
	return state, nil
}
