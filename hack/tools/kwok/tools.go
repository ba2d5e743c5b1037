//go:build tools

// Package tools pins kwok v0.8.0 with the dependency set kwok itself was
// released with (its own module, so Kubernetes' newer staging modules do not
// leak into it). The stage YAML the sandbox feeds kwok comes from this
// module's kustomize/stage directory in the module cache.
package tools

import _ "sigs.k8s.io/kwok/cmd/kwok"
