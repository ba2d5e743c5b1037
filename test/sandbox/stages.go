package sandbox

import (
	"fmt"
	"os"
	"strings"
)

// ReadyDelayAnnotation on a pod (template) makes kwok keep the pod Pending,
// and so not Ready, for that long (a Go duration such as "15s") before it
// becomes Running and Ready: an application's start-up time. Without it kwok
// replaces a killed pod in about 0.1 s, which hides every weakness a pod kill
// is meant to reveal.
const ReadyDelayAnnotation = "sandbox.chaosnight.dev/ready-delay"

// podReadyMarker starts kwok's fast pod-ready stage in the generated stages file.
const podReadyMarker = "# kustomize/stage/pod/fast/pod-ready.yaml"

// ephemeralRunningStage makes kwok report every ephemeral container of a
// running pod as running once it is added, as a kubelet does when it has
// started it; kwok's own fast stages leave ephemeral containers without
// any status. Statuses are rewritten as a whole. What a kubelet reports
// beyond "running" (a container that fails to start, or ends) is proven
// on the real node (test/realnode), not written here.
const ephemeralRunningStage = `---
# sandbox: ephemeral containers run once added
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: sandbox-ephemeral-running
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '(.spec.ephemeralContainers // [] | length) > (.status.ephemeralContainerStatuses // [] | length)'
      operator: 'In'
      values:
      - 'true'
  next:
    statusTemplate: |
      {{ $now := Now }}
      ephemeralContainerStatuses:
      {{ range .spec.ephemeralContainers }}
      - image: {{ .image | Quote }}
        imageID: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 0
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
`

// writeStages copies the cached kwok stages into the sandbox directory with
// a delay, read from ReadyDelayAnnotation, added to the pod-ready stage,
// and ephemeralRunningStage appended. It is done per sandbox, not in the
// tools cache, so the cache stays exactly what the kwok module ships.
func writeStages(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("read kwok stages: %w", err)
	}
	patched, err := addReadyDelay(string(b))
	if err != nil {
		return fmt.Errorf("kwok stages %s: %w", src, err)
	}
	patched = strings.TrimRight(patched, "\n") + "\n" + ephemeralRunningStage
	if err := os.WriteFile(dst, []byte(patched), 0o644); err != nil {
		return fmt.Errorf("write kwok stages: %w", err)
	}
	return nil
}

func addReadyDelay(stages string) (string, error) {
	start := strings.Index(stages, podReadyMarker)
	if start < 0 {
		return "", fmt.Errorf("no %q section", podReadyMarker)
	}
	next := strings.Index(stages[start:], "\n  next:\n")
	if next < 0 {
		return "", fmt.Errorf("pod-ready stage has no spec.next")
	}
	at := start + next + 1
	delay := "  delay:\n" +
		"    durationMilliseconds: 0\n" +
		"    durationFrom:\n" +
		"      expressionFrom: '.metadata.annotations[\"" + ReadyDelayAnnotation + "\"]'\n"
	return stages[:at] + delay + stages[at:], nil
}
