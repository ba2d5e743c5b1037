//go:build tools

// Package tools pins golangci-lint, which `make lint` runs. It is its own
// module so that the linters' dependencies never meet chaosnight's or the
// sandbox tools', and it is built from the Go module proxy (no release
// download, no install script) into the user cache like the sandbox tools.
package tools

import _ "github.com/golangci/golangci-lint/v2/cmd/golangci-lint"
