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

// writeStages copies the cached kwok stages into the sandbox directory with
// a delay, read from ReadyDelayAnnotation, added to the pod-ready stage. It
// is done per sandbox, not in the tools cache, so the cache stays exactly
// what the kwok module ships.
func writeStages(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("read kwok stages: %w", err)
	}
	patched, err := addReadyDelay(string(b))
	if err != nil {
		return fmt.Errorf("kwok stages %s: %w", src, err)
	}
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
