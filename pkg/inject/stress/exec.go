package stress

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
)

// Execer runs a command in a container and returns its output; an error
// when it could not run or exited non-zero.
type Execer interface {
	Exec(ctx context.Context, namespace, pod, container string, cmd []string) (stdout, stderr string, err error)
}

// maxExecOutput caps what is kept of a command's output: the stop command
// prints a line or two, and a confused container must not fill memory.
const maxExecOutput = 64 << 10

// RemoteExec runs commands through the API server's pods/exec, as kubectl
// exec does: WebSocket first, SPDY when the server cannot upgrade to it.
// It needs `create` on pods/exec.
type RemoteExec struct {
	Config *rest.Config
	Client kubernetes.Interface
}

// Exec implements Execer.
func (e RemoteExec) Exec(ctx context.Context, namespace, pod, container string, cmd []string) (string, string, error) {
	if e.Config == nil || e.Client == nil {
		return "", "", errors.New("exec: no client configuration")
	}
	if len(cmd) == 0 {
		return "", "", errors.New("exec: no command")
	}
	u := e.Client.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: cmd, Stdout: true, Stderr: true}, scheme.ParameterCodec).URL()
	ws, err := remotecommand.NewWebSocketExecutor(e.Config, "GET", u.String())
	if err != nil {
		return "", "", fmt.Errorf("exec: %w", err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(e.Config, "POST", u)
	if err != nil {
		return "", "", fmt.Errorf("exec: %w", err)
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return "", "", fmt.Errorf("exec: %w", err)
	}
	stdout, stderr := &limitedBuffer{max: maxExecOutput}, &limitedBuffer{max: maxExecOutput}
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: stdout, Stderr: stderr}); err != nil {
		return stdout.String(), stderr.String(), fmt.Errorf("exec in %s/%s container %s: %w", namespace, pod, container, err)
	}
	return stdout.String(), stderr.String(), nil
}

// limitedBuffer keeps the first max bytes and discards the rest.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		if len(p) > room {
			b.Buffer.Write(p[:room])
		} else {
			b.Buffer.Write(p)
		}
	}
	return len(p), nil
}
