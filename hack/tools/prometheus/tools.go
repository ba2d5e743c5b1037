//go:build tools

// Package tools pins the sandbox's Prometheus (github.com/prometheus/prometheus
// v0.316.0 is Prometheus 3.16.0's Go module version). It is its own module so
// that Prometheus' dependencies never meet the control plane's.
package tools

import _ "github.com/prometheus/prometheus/cmd/prometheus"
