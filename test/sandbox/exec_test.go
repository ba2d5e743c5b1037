package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaosnight/chaosnight/test/sandbox"
)

// An exec through the real API server reaches kwok, which runs the command
// from ExecBinDir with the pod and container it was aimed at; an unrouted
// pod or container refuses it and runs nothing.
func TestExecIsRoutedToALocalCommand(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const ns = "exec-routing"
	newNamespace(t, s.Client(), ns)
	newDeployment(t, s.Client(), ns, "echo", 2)
	pods := waitReady(t, s.Client(), ns, "echo", 2, 30*time.Second)
	routed, other := pods[0], pods[1]

	record := filepath.Join(t.TempDir(), "execs")
	script := "#!/bin/sh\nprintf '%s %s %s|%s\\n' \"$" + sandbox.EnvExecNamespace + "\" \"$" + sandbox.EnvExecPod + "\" \"$" +
		sandbox.EnvExecContainer + "\" \"$*\" >> " + record + "\necho out:$1\necho err:$2 >&2\n"
	bin := filepath.Join(s.ExecBinDir(), "sandbox-test-recorder")
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(bin) })

	container := routed.Spec.Containers[0].Name
	if err := s.RouteExec(ctx, ns, routed.Name, container); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, err := s.Exec(ctx, ns, routed.Name, container, "sandbox-test-recorder", "a", "b c")
	if err != nil {
		t.Fatalf("exec into the routed pod: %v (stderr %q)", err, stderr)
	}
	if stdout != "out:a\n" || stderr != "err:b c\n" {
		t.Errorf("stdout %q, stderr %q", stdout, stderr)
	}
	if _, _, err := s.Exec(ctx, ns, other.Name, container, "sandbox-test-recorder", "x"); err == nil || !strings.Contains(err.Error(), "no exec found") {
		t.Errorf("exec into an unrouted pod: %v, want refused", err)
	}
	got, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	if want := ns + " " + routed.Name + " " + container + "|a b c\n"; string(got) != want {
		t.Errorf("recorded %q, want %q", got, want)
	}
}

// kwok reports ephemeral containers running once added, as a kubelet
// would after starting them.
func TestEphemeralContainersRun(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := context.Background()
	const ns = "ephemeral-status"
	newNamespace(t, s.Client(), ns)
	newDeployment(t, s.Client(), ns, "eph", 2)
	pods := waitReady(t, s.Client(), ns, "eph", 2, 30*time.Second)
	for _, p := range pods {
		eventually(t, 10*time.Second, func() error {
			cur, err := s.Client().CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur.Spec.EphemeralContainers = append(cur.Spec.EphemeralContainers, corev1.EphemeralContainer{
				EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger", Image: "busybox", TerminationMessagePolicy: corev1.TerminationMessageReadFile, ImagePullPolicy: corev1.PullIfNotPresent},
			})
			_, err = s.Client().CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, p.Name, cur, metav1.UpdateOptions{})
			return err
		})
	}
	for _, p := range pods {
		eventually(t, 10*time.Second, func() error {
			cur, err := s.Client().CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if st := cur.Status.EphemeralContainerStatuses; len(st) != 1 || st[0].Name != "debugger" || st[0].State.Running == nil {
				return fmt.Errorf("%s: statuses %+v", p.Name, st)
			}
			return nil
		})
	}
}
