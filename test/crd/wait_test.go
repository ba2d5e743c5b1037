package crd_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/kubectl/pkg/cmd/wait"

	"github.com/chaosnight/chaosnight/pkg/cr"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// kubectlWait runs `kubectl wait ARGS` with kubectl's own command (the
// library the kubectl binary is built from), against the sandbox. It
// returns whether the condition was met, and the output.
func kubectlWait(ctx context.Context, s *sandbox.Sandbox, ns string, args ...string) (bool, string) {
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = &s.Kubeconfig
	flags.Namespace = &ns
	var out, errOut bytes.Buffer
	// The command's flags and options, run as its Run does, minus the
	// os.Exit of kubectl's CheckErr.
	wf := wait.NewWaitFlags(flags, genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
	cmd := &cobra.Command{Use: "wait"}
	wf.AddFlags(cmd)
	if err := cmd.ParseFlags(args); err != nil {
		return false, err.Error()
	}
	o, err := wf.ToOptions(cmd.Flags().Args())
	if err == nil {
		err = o.RunWaitContext(ctx)
	}
	if err != nil {
		errOut.WriteString(err.Error())
	}
	return err == nil, out.String() + errOut.String()
}

// TestKubectlWait: the conditions the runner writes are what `kubectl
// wait --for=condition=...` expects: Held waits for the run in flight (a
// held run before it does not satisfy it), Held=false catches any other
// verdict, Running=false says a run ended, and a spec changed after the
// run makes every condition stale (observedGeneration), so a pipeline
// never reads a verdict of another spec.
func TestKubectlWait(t *testing.T) {
	dc, ns := setup(t)
	s := sandbox.Require(t, sb)
	obj := readObject(t, filepath.Join(root, "experiments", "checkout-pod-kill.yaml"))
	created, err := dc.Resource(experimentGVR).Namespace(ns).Create(t.Context(), obj, strict)
	if err != nil {
		t.Fatal(err)
	}
	ref := cr.Ref(created)
	w := &cr.StatusWriter{Client: dc}
	ctx := t.Context()
	record := func(runID string, v journal.Verdict) {
		t.Helper()
		now := time.Now()
		rec := &journal.Record{RunID: runID, Verdict: v, Started: now.Add(-time.Minute), Ended: now, Reasons: []string{"because " + string(v)}}
		if err := w.RunEnded(ctx, ref, rec, "journals/"+runID+".json"); err != nil {
			t.Fatal(err)
		}
	}
	start := func(runID string) {
		t.Helper()
		if err := w.RunStarted(ctx, ref, runID, "friday"); err != nil {
			t.Fatal(err)
		}
	}
	name := "experiment/" + created.GetName()

	record("run-1", journal.Held)
	start("run-2") // a held run before does not satisfy a wait for this one
	var wg sync.WaitGroup
	var met bool
	var out string
	ended := make(chan struct{})
	wg.Go(func() {
		met, out = kubectlWait(ctx, s, ns, name, "--for=condition=Held", "--timeout=60s")
		select {
		case <-ended:
		default:
			t.Errorf("kubectl wait --for=condition=Held returned before the run in flight ended: %v %s", met, out)
		}
	})
	if ok, out := kubectlWait(ctx, s, ns, name, "--for=condition=Running", "--timeout=10s"); !ok {
		t.Errorf("--for=condition=Running while in flight: %s", out)
	}
	time.Sleep(2 * time.Second) // the wait above must still be waiting
	close(ended)
	record("run-2", journal.Held)
	wg.Wait()
	if !met || !strings.Contains(out, "condition met") {
		t.Errorf("--for=condition=Held after a held run: %v %s", met, out)
	}
	if ok, out := kubectlWait(ctx, s, ns, name, "--for=condition=Running=false", "--timeout=10s"); !ok {
		t.Errorf("--for=condition=Running=false after the run: %s", out)
	}

	for _, v := range []journal.Verdict{journal.Deviated, journal.Aborted, journal.Skipped, journal.DryRun, journal.Error} {
		start("run-" + string(v))
		record("run-"+string(v), v)
		if ok, out := kubectlWait(ctx, s, ns, name, "--for=condition=Held=false", "--timeout=10s"); !ok {
			t.Errorf("%s: --for=condition=Held=false: %s", v, out)
		}
		if ok, _ := kubectlWait(ctx, s, ns, name, "--for=condition=Held", "--timeout=1s"); ok {
			t.Errorf("%s: --for=condition=Held was met: a %s run is never held", v, v)
		}
	}

	record("run-3", journal.Held)
	// A new spec: the last verdict is about the old one.
	patch := []byte(`{"spec":{"duration":"45s"}}`)
	if _, err := dc.Resource(experimentGVR).Namespace(ns).Patch(ctx, created.GetName(), "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if ok, out := kubectlWait(ctx, s, ns, name, "--for=condition=Held", "--timeout=2s"); ok {
		t.Errorf("--for=condition=Held was met for a spec no run played: %s", out)
	}
	cur, err := dc.Resource(experimentGVR).Namespace(ns).Get(ctx, created.GetName(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if g, _, _ := unstructured.NestedInt64(cur.Object, "metadata", "generation"); g != 2 {
		t.Errorf("generation %d after one spec change", g)
	}
}
