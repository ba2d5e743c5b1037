package sandbox

// Exec into pods (pods/exec). kwok runs no containers, but its kubelet
// server answers exec requests by running the requested command on this
// machine, for the pods and containers an Exec object (kwok.x-k8s.io/v1alpha1)
// routes. The sandbox wires that up so that an exec issued through the real
// API server reaches kwok (nodes report InternalIP 127.0.0.1 and kwok's
// port, the API server verifies kwok's certificate against the sandbox CA)
// and so that only what a test puts in ExecBinDir can run: kwok's PATH is
// that directory alone, and a pod without an Exec object refuses every exec.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
)

// Environment variables kwok sets for a command run by an exec into a
// routed container (see RouteExec), so a recording script knows where the
// exec was aimed.
const (
	EnvExecNamespace = "SANDBOX_EXEC_NAMESPACE"
	EnvExecPod       = "SANDBOX_EXEC_POD"
	EnvExecContainer = "SANDBOX_EXEC_CONTAINER"
)

// execBinDir is where kwok looks up exec'd commands (its whole PATH).
const execBinDir = "exec-bin"

// kwokExecCRD serves kwok's Exec kind, so tests can route execs while the
// sandbox runs. The schema is open: kwok validates what it reads.
const kwokExecCRD = `{
  "apiVersion": "apiextensions.k8s.io/v1",
  "kind": "CustomResourceDefinition",
  "metadata": {"name": "execs.kwok.x-k8s.io"},
  "spec": {
    "group": "kwok.x-k8s.io",
    "scope": "Namespaced",
    "names": {"plural": "execs", "singular": "exec", "kind": "Exec", "listKind": "ExecList"},
    "versions": [{
      "name": "v1alpha1", "served": true, "storage": true,
      "subresources": {"status": {}},
      "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
    }]
  }
}`

// ExecBinDir is the directory kwok looks exec'd commands up in: a test that
// expects `kubectl exec POD -- foo bar` writes an executable named foo here
// (and routes the pod with RouteExec). Nothing else on this machine is on
// kwok's PATH.
func (s *Sandbox) ExecBinDir() string { return filepath.Join(s.Dir, execBinDir) }

// kwokEnv is kwok's environment: the test's, with PATH = ExecBinDir only.
func (s *Sandbox) kwokEnv() ([]string, error) {
	if err := os.MkdirAll(s.ExecBinDir(), 0o755); err != nil {
		return nil, fmt.Errorf("create exec bin dir: %w", err)
	}
	env := []string{"PATH=" + s.ExecBinDir()}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") {
			env = append(env, kv)
		}
	}
	return env, nil
}

// installExecCRD creates the Exec CRD and waits until it is served, before
// kwok starts watching it.
func (s *Sandbox) installExecCRD(ctx context.Context) error {
	rc := s.client.CoreV1().RESTClient()
	const path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
	err := rc.Post().AbsPath(path).SetHeader("Content-Type", "application/json").Body([]byte(kwokExecCRD)).Do(ctx).Error()
	if err != nil {
		return fmt.Errorf("create the kwok Exec CRD: %w", err)
	}
	for {
		raw, err := rc.Get().AbsPath(path, "execs.kwok.x-k8s.io").DoRaw(ctx)
		if err == nil {
			var crd struct {
				Status struct {
					Conditions []struct{ Type, Status string } `json:"conditions"`
				} `json:"status"`
			}
			if json.Unmarshal(raw, &crd) == nil {
				for _, c := range crd.Status.Conditions {
					if c.Type == "Established" && c.Status == "True" {
						return nil
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the kwok Exec CRD is not established: %w", context.Cause(ctx))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// RouteExec makes kwok answer exec requests into the named containers of
// namespace/pod by running the requested command (looked up in ExecBinDir)
// with EnvExecNamespace, EnvExecPod and EnvExecContainer set. A container
// not named refuses every exec, as does a pod that is not routed. It
// returns once kwok has seen the route, which it checks with an exec into
// the first container (so that one must be in the pod). The route is an
// Exec object named like the pod, in its namespace: it goes with the
// namespace.
func (s *Sandbox) RouteExec(ctx context.Context, namespace, pod string, containers ...string) error {
	type envVar struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	type target struct {
		Containers []string `json:"containers"`
		Local      struct {
			Envs []envVar `json:"envs"`
		} `json:"local"`
	}
	targets := make([]target, len(containers))
	for i, c := range containers {
		targets[i].Containers = []string{c}
		targets[i].Local.Envs = []envVar{{EnvExecNamespace, namespace}, {EnvExecPod, pod}, {EnvExecContainer, c}}
	}
	body, err := json.Marshal(map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1",
		"kind":       "Exec",
		"metadata":   map[string]string{"name": pod, "namespace": namespace},
		"spec":       map[string]any{"execs": targets},
	})
	if err != nil {
		return fmt.Errorf("route exec: %w", err)
	}
	if err := s.client.CoreV1().RESTClient().Post().AbsPath("/apis/kwok.x-k8s.io/v1alpha1/namespaces", namespace, "execs").
		SetHeader("Content-Type", "application/json").Body(body).Do(ctx).Error(); err != nil {
		return fmt.Errorf("route exec into %s/%s: %w", namespace, pod, err)
	}
	if len(containers) == 0 {
		return nil
	}
	// kwok watches Exec objects: wait until an exec into the first
	// container is routed. The probe command does not exist, so a routed
	// exec fails to find it (and runs nothing), an unrouted one is refused.
	const probe = "sandbox-exec-route-probe"
	for {
		_, _, err := s.Exec(ctx, namespace, pod, containers[0], probe)
		switch {
		case err == nil:
			return nil
		case strings.Contains(err.Error(), "executable file not found"):
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("route exec into %s/%s: kwok did not pick it up: %w (last: %v)", namespace, pod, ctx.Err(), err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Exec runs cmd in a container of a pod through the API server's
// pods/exec, as kubectl exec does, and returns its output.
func (s *Sandbox) Exec(ctx context.Context, namespace, pod, container string, cmd ...string) (stdout, stderr string, err error) {
	if len(cmd) == 0 {
		return "", "", errors.New("exec: no command")
	}
	req := s.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: cmd, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ex, err := remotecommand.NewSPDYExecutor(s.RESTConfig, "POST", req.URL())
	if err != nil {
		return "", "", fmt.Errorf("exec: %w", err)
	}
	var out, errOut bytes.Buffer
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut})
	if err != nil {
		return out.String(), errOut.String(), fmt.Errorf("exec %s in %s/%s[%s]: %w", strings.Join(cmd, " "), namespace, pod, container, err)
	}
	return out.String(), errOut.String(), nil
}
