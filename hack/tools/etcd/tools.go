//go:build tools

// Package tools pins etcd v3.6.6. It lives in its own module because
// k8s.io/kubernetes v1.36.3 requires etcd/server v3.6.8, and minimal version
// selection would otherwise silently build that newer etcd.
package tools

import _ "go.etcd.io/etcd/server/v3"
