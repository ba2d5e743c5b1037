package realnode

// sandbox.ImportImage on the real node: an image made of a host binary and
// the shared libraries it needs (what bench/realnode does with Debian's
// stress-ng) runs in a real pod.

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaosnight/chaosnight/test/sandbox"
)

// TestImportImageHostBinary: the host's dynamically linked `echo`, with
// its libraries and loader, imported under a name of its own, runs as a
// pod's container under the restricted security context and prints its
// arguments: the loader found the libraries at their host paths.
func TestImportImageHostBinary(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := context.Background()
	bin, err := exec.LookPath("echo")
	if err != nil {
		t.Fatalf("no echo on this machine: %v", err)
	}
	if bin, err = filepath.EvalSymlinks(bin); err != nil {
		t.Fatal(err)
	}
	files, err := sandbox.HostBinaryFiles(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 2 {
		t.Fatalf("files %v: want %s and its libraries (a dynamically linked echo)", files, bin)
	}
	const image = "chaosnight.local/host-echo:test"
	if err := s.ImportImage(ctx, image, files, []string{bin}); err != nil {
		t.Fatalf("import: %v", err)
	}

	ns := "rn-import"
	namespace(t, ns, map[string]string{"pod-security.kubernetes.io/enforce": "restricted"})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "echo", Namespace: ns},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "echo", Image: image, ImagePullPolicy: corev1.PullNever,
				Args: []string{"imported", "from", "the", "host"}, SecurityContext: restricted(),
			}},
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr(int64(1)),
		},
	}
	sandbox.OnRealNode(&pod.Spec)
	if _, err := s.Client().CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got := waitPod(t, ns, "echo", "echo ran to completion", func(p *corev1.Pod) error {
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			return nil
		}
		return fmt.Errorf("phase %s, statuses %v", p.Status.Phase, p.Status.ContainerStatuses)
	})
	if got.Status.Phase != corev1.PodSucceeded {
		t.Errorf("phase %s (statuses %v), want Succeeded", got.Status.Phase, got.Status.ContainerStatuses)
	}
	rc, err := s.Client().CoreV1().Pods(ns).GetLogs("echo", &corev1.PodLogOptions{Container: "echo"}).Stream(ctx)
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	defer rc.Close()
	logs, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if string(logs) != "imported from the host\n" {
		t.Errorf("log %q, want the arguments echoed", logs)
	}
}
