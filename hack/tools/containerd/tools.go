//go:build tools

// Package tools pins containerd v2.4.2 for the sandbox's real node
// (sandbox.Config.RealNode): containerd, its runc shim and ctr, built with
// CGO off. It lives in its own module so containerd's dependency set never
// moves the Kubernetes pins in hack/tools/go.mod, and the other way round.
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
