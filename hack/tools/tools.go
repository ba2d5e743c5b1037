//go:build tools

// Package tools pins the Kubernetes binaries the sandbox runs: the control
// plane, and the kubelet of the real node (Config.RealNode).
// It is never imported: hack/sandbox-tools.sh builds the commands below from
// this module so their dependency set is exactly Kubernetes v1.36.3's.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
