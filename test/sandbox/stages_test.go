package sandbox

import (
	"strings"
	"testing"
)

func TestAddReadyDelay(t *testing.T) {
	in := "---\n# kustomize/stage/pod/fast/pod-create.yaml\nspec:\n  next:\n    x: 1\n---\n" + podReadyMarker + "\nspec:\n  selector: {}\n  next:\n    statusTemplate: y\n"
	out, err := addReadyDelay(in)
	if err != nil {
		t.Fatal(err)
	}
	ready := out[strings.Index(out, podReadyMarker):]
	if !strings.Contains(ready, "  delay:\n    durationMilliseconds: 0\n    durationFrom:\n      expressionFrom: '.metadata.annotations[\""+ReadyDelayAnnotation+"\"]'\n  next:\n") {
		t.Errorf("delay not added before pod-ready's next:\n%s", out)
	}
	if strings.Count(out, "delay:") != 1 {
		t.Errorf("delay added more than once:\n%s", out)
	}
	if _, err := addReadyDelay("no stages here"); err == nil {
		t.Error("missing pod-ready stage not reported")
	}
}
