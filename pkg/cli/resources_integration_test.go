package cli

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/chaosnight/chaosnight/pkg/cr"
	"github.com/chaosnight/chaosnight/pkg/crd"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// crTest is a namespace holding custom resources, with the CRDs installed.
type crTest struct {
	s  *sandbox.Sandbox
	dc dynamic.Interface
	ns string
}

func newCRTest(t *testing.T, ns string) *crTest {
	t.Helper()
	s := sandbox.Require(t, sb)
	dc := s.InstallCRDs(t, filepath.Join("..", "..", "charts", "chaosnight", "crds"))
	ensureNamespace(t.Context(), t, s.Client(), ns)
	return &crTest{s: s, dc: dc, ns: ns}
}

// create applies a YAML document as kubectl apply would (strict field
// validation), in the test's namespace.
func (c *crTest) create(t *testing.T, gvr schema.GroupVersionResource, doc string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
		t.Fatal(err)
	}
	res := c.dc.Resource(gvr).Namespace(c.ns)
	_ = res.Delete(context.Background(), obj.GetName(), metav1.DeleteOptions{}) // a previous run's
	sandbox.WaitFor(t, 10*time.Second, obj.GetName()+" gone", func() error {
		if _, err := res.Get(t.Context(), obj.GetName(), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
	created, err := res.Create(t.Context(), obj, metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	if err != nil {
		t.Fatalf("%s refused: %v", obj.GetName(), err)
	}
	t.Cleanup(func() { _ = res.Delete(context.Background(), obj.GetName(), metav1.DeleteOptions{}) })
	return created
}

func (c *crTest) get(t *testing.T, gvr schema.GroupVersionResource, name string) *unstructured.Unstructured {
	t.Helper()
	u, err := c.dc.Resource(gvr).Namespace(c.ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// statusOf reads an object's status into its Go type.
func statusOf[T any](t *testing.T, u *unstructured.Unstructured) T {
	t.Helper()
	var st T
	raw, _, _ := unstructured.NestedMap(u.Object, "status")
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func experimentStatus(t *testing.T, u *unstructured.Unstructured) crd.ExperimentStatus {
	t.Helper()
	return statusOf[crd.ExperimentStatus](t, u)
}

func nightStatus(t *testing.T, u *unstructured.Unstructured) crd.ChaosNightStatus {
	t.Helper()
	return statusOf[crd.ChaosNightStatus](t, u)
}

// conditionIs says whether the condition is status for the object's
// current generation: what `kubectl wait --for=condition=TYPE=STATUS`
// waits for.
func conditionIs(u *unstructured.Unstructured, conds []metav1.Condition, typ string, status metav1.ConditionStatus) error {
	c := meta.FindStatusCondition(conds, typ)
	switch {
	case c == nil:
		return fmt.Errorf("no %s condition in %+v", typ, conds)
	case c.Status != status || c.ObservedGeneration != u.GetGeneration():
		return fmt.Errorf("%s=%s (reason %s, observedGeneration %d of %d): %s", typ, c.Status, c.Reason, c.ObservedGeneration, u.GetGeneration(), c.Message)
	}
	return nil
}

// statusOnly checks the runner's writes went through the status
// subresource alone: ArgoCD compares spec and metadata, which must stay
// the user's.
func statusOnly(t *testing.T, u *unstructured.Unstructured) {
	t.Helper()
	if u.GetGeneration() != 1 {
		t.Errorf("%s: generation %d: the spec was written", u.GetName(), u.GetGeneration())
	}
	for _, mf := range u.GetManagedFields() {
		if strings.HasPrefix(mf.Manager, "chaosnight") && mf.Subresource != "status" {
			t.Errorf("%s: manager %s wrote %q outside status", u.GetName(), mf.Manager, mf.Subresource)
		}
	}
}

const invalidPromQLExperiment = `apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata:
  name: cr-bad-promql
spec:
  hypothesis:
    probes:
      - name: broken
        query: sum(rate(http_requests_total[1m]
        expect: {below: 1}
  target:
    namespaces: [shop]
    selector: app=checkout
    pick: {count: 1}
  action:
    podKill: {method: evict}
  duration: 5s
`

// optInNodes labels the sandbox's nodes for node-scope stress for the
// test's length.
func optInNodes(t *testing.T, s *sandbox.Sandbox) {
	t.Helper()
	for i := range 3 {
		optIn := []byte(`{"metadata":{"labels":{"chaosnight.dev/enabled":"true"}}}`)
		if _, err := s.Client().CoreV1().Nodes().Patch(t.Context(), sandbox.NodeName(i), types.MergePatchType, optIn, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			optOut := []byte(`{"metadata":{"labels":{"chaosnight.dev/enabled":null}}}`)
			_, _ = s.Client().CoreV1().Nodes().Patch(context.Background(), sandbox.NodeName(i), types.MergePatchType, optOut, metav1.PatchOptions{})
		})
	}
}

const nodeStress = `    stress:
      scope: node
      cpu: {workers: 1, load: 20}`

// TestServePlaysCustomResources: serve with no experiment files plays a
// ChaosNight object's window over Experiment objects: the valid one is
// played and its verdict, times, targets and report URL land in its
// status; an object with invalid PromQL (which the API server accepts) is
// marked Valid=False with the located message and never stops the
// others; deleting the Experiment in flight aborts and reverts its run
// through the watch; every write went through the status subresource.
func TestServePlaysCustomResources(t *testing.T) {
	c := newCRTest(t, "crtest-serve")
	s := c.s
	settle(t.Context(), t, s)
	optInNodes(t, s)
	c.create(t, cr.ExperimentGVR, strings.Replace(experimentYAML("cr-evict", evictOne, "  safety: {minHealthy: 2}\n"), "duration: 5s", "duration: 3s", 1))
	c.create(t, cr.ExperimentGVR, strings.Replace(experimentYAML("cr-stress", nodeStress, "  safety: {minHealthy: 2}\n"), "duration: 5s", "duration: 90s", 1))
	c.create(t, cr.ExperimentGVR, invalidPromQLExperiment)
	c.create(t, cr.NightGVR, `apiVersion: chaosnight.dev/v1alpha1
kind: ChaosNight
metadata:
  name: cr-night
spec:
  opens: "*/3 * * * *"
  lasts: 170s
  timezone: UTC
  experiments: {names: [cr-evict, cr-stress]}
`)
	dir := t.TempDir()
	journals := filepath.Join(dir, "journals")
	cfg := writeFile(t, dir, "chaosnight.yaml", `dryRun: false
journal: {directory: `+journals+`}
customResources: {enabled: true, namespaces: [crtest-serve]}
externalURL: http://chaosnight.example:8080/
`)
	now := time.Now()
	offset := now.Truncate(3*time.Minute).Add(3*time.Minute).Sub(now) - 4*time.Second
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan int, 1)
	var out lockedBuffer
	go func() {
		done <- RunContext(ctx, Streams{In: strings.NewReader(""), Out: &out, Err: &out}, BuildInfo{Version: "test"},
			[]string{"serve", "--config", cfg, "--kubeconfig", s.Kubeconfig, "--namespace", "default",
				"--prometheus-url", s.PrometheusURL, "--listen", "127.0.0.1:0", "--leader-elect=false",
				"--stress-image", "registry.invalid/chaosnight:test", "--clock-offset", offset.String()})
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop within 30s")
		}
		_ = s.Client().CoreV1().ConfigMaps("default").Delete(context.Background(), "chaosnight-state", metav1.DeleteOptions{})
	}()

	t.Run("invalid object marked Valid=False, the others valid", func(t *testing.T) {
		sandbox.WaitFor(t, 30*time.Second, "Valid conditions", func() error {
			bad := c.get(t, cr.ExperimentGVR, "cr-bad-promql")
			st := experimentStatus(t, bad)
			if err := conditionIs(bad, st.Conditions, crd.ConditionValid, metav1.ConditionFalse); err != nil {
				return err
			}
			msg := meta.FindStatusCondition(st.Conditions, crd.ConditionValid).Message
			if !strings.HasPrefix(msg, "spec.hypothesis.probes[0].query: invalid PromQL: ") {
				return fmt.Errorf("message %q does not locate the problem", msg)
			}
			for _, name := range []string{"cr-evict", "cr-stress"} {
				u := c.get(t, cr.ExperimentGVR, name)
				if err := conditionIs(u, experimentStatus(t, u).Conditions, crd.ConditionValid, metav1.ConditionTrue); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
			night := c.get(t, cr.NightGVR, "cr-night")
			return conditionIs(night, nightStatus(t, night).Conditions, crd.ConditionValid, metav1.ConditionTrue)
		})
	})

	var evictRec *journal.Record
	t.Run("played with the verdict in its status", func(t *testing.T) {
		evictRec = waitJournal(t, journals, "cr-evict", 60*time.Second, func(r *journal.Record) bool { return r.Verdict != journal.Running })
		if evictRec.Verdict != journal.Held || evictRec.File != "experiment/cr-evict -n crtest-serve" {
			t.Fatalf("verdict %s %v, file %q\n%s", evictRec.Verdict, evictRec.Reasons, evictRec.File, out.String())
		}
		var u *unstructured.Unstructured
		sandbox.WaitFor(t, 15*time.Second, "Held=True", func() error {
			u = c.get(t, cr.ExperimentGVR, "cr-evict")
			return conditionIs(u, experimentStatus(t, u).Conditions, crd.ConditionHeld, metav1.ConditionTrue)
		})
		st := experimentStatus(t, u)
		lr := st.LastRun
		if err := conditionIs(u, st.Conditions, crd.ConditionRunning, metav1.ConditionFalse); err != nil {
			t.Error(err)
		}
		if lr == nil || lr.ID != evictRec.RunID || lr.Verdict != "held" || lr.Targets == nil || *lr.Targets != 1 ||
			!lr.Started.Time.Equal(evictRec.Started.Truncate(time.Second)) || !lr.Finished.Time.Equal(evictRec.Ended.Truncate(time.Second)) ||
			lr.ReportURL != "http://chaosnight.example:8080/runs/"+evictRec.RunID || !strings.HasSuffix(lr.Journal, ".json") {
			t.Errorf("lastRun %+v does not say what the journal says (run %s, %s..%s)", lr, evictRec.RunID, evictRec.Started, evictRec.Ended)
		}
		if st.NextRun == nil {
			t.Error("no nextRun")
		}
		if y, err := yaml.Marshal(u.Object["status"]); err == nil {
			t.Logf("status of experiment/cr-evict (docs/kubernetes-native.md shows it):\n%s", y)
		}
	})

	t.Run("deleting the experiment in flight aborts and reverts it", func(t *testing.T) {
		rec := waitJournal(t, journals, "cr-stress", 90*time.Second, func(r *journal.Record) bool { return hasPhase(r, "observe") })
		sandbox.WaitFor(t, 20*time.Second, "the helper pod", func() error {
			pods, err := s.Client().CoreV1().Pods("shop").List(t.Context(), metav1.ListOptions{LabelSelector: "chaosnight.dev/run=" + rec.RunID})
			if err != nil || len(pods.Items) != 1 {
				return fmt.Errorf("%v, %d helper pods", err, len(pods.Items))
			}
			return nil
		})
		u := c.get(t, cr.ExperimentGVR, "cr-stress")
		if st := experimentStatus(t, u); conditionIs(u, st.Conditions, crd.ConditionRunning, metav1.ConditionTrue) != nil ||
			conditionIs(u, st.Conditions, crd.ConditionHeld, metav1.ConditionUnknown) != nil {
			t.Errorf("in flight, conditions %+v", st.Conditions)
		}
		deleted := time.Now()
		if err := c.dc.Resource(cr.ExperimentGVR).Namespace(c.ns).Delete(t.Context(), "cr-stress", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// The run lasts 90 s: a verdict within 30 s is the abort's.
		rec = waitJournal(t, journals, "cr-stress", 30*time.Second, func(r *journal.Record) bool { return r.Verdict != journal.Running })
		if rec.Verdict != journal.Aborted || !strings.Contains(strings.Join(rec.Reasons, " "), "experiment/cr-stress -n crtest-serve was deleted") || !hasPhase(rec, "revert") {
			t.Errorf("verdict %s %v", rec.Verdict, rec.Reasons)
		}
		for _, p := range rec.Phases {
			if p.Name == "revert" {
				t.Logf("reverted %v after the deletion", p.Ended.Sub(deleted).Round(time.Millisecond))
			}
		}
		pods, err := s.Client().CoreV1().Pods("shop").List(context.Background(), metav1.ListOptions{LabelSelector: "chaosnight.dev/run=" + rec.RunID})
		if err != nil || len(pods.Items) != 0 {
			t.Errorf("helper pods left after the revert: %v %d", err, len(pods.Items))
		}
	})

	t.Run("the night's status and status-only writes", func(t *testing.T) {
		night := c.get(t, cr.NightGVR, "cr-night")
		sandbox.WaitFor(t, 15*time.Second, "lastWindow", func() error {
			night = c.get(t, cr.NightGVR, "cr-night")
			st := nightStatus(t, night)
			if st.LastWindow == nil || st.LastWindow.Played == nil || *st.LastWindow.Played != 2 || st.NextOpens == nil {
				return fmt.Errorf("status %+v", st)
			}
			if !slices.Equal(st.LastWindow.Planned, []string{"cr-evict", "cr-stress"}) {
				return fmt.Errorf("planned %v", st.LastWindow.Planned)
			}
			return nil
		})
		statusOnly(t, night)
		statusOnly(t, c.get(t, cr.ExperimentGVR, "cr-evict"))
		statusOnly(t, c.get(t, cr.ExperimentGVR, "cr-bad-promql"))
	})

	t.Run("a fixed object is picked up without a restart", func(t *testing.T) {
		fix := []byte(`{"spec":{"hypothesis":{"probes":[{"name":"fixed","query":"sum(rate(http_requests_total[1m]))","expect":{"below":1e9}}]}}}`)
		if _, err := c.dc.Resource(cr.ExperimentGVR).Namespace(c.ns).Patch(t.Context(), "cr-bad-promql", types.MergePatchType, fix, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		sandbox.WaitFor(t, 20*time.Second, "Valid=True at generation 2", func() error {
			u := c.get(t, cr.ExperimentGVR, "cr-bad-promql")
			if u.GetGeneration() != 2 {
				return fmt.Errorf("generation %d", u.GetGeneration())
			}
			return conditionIs(u, experimentStatus(t, u).Conditions, crd.ConditionValid, metav1.ConditionTrue)
		})
	})
}

// waitJournal waits for the journal of experiment name in dir that
// satisfies ok, and returns it.
func waitJournal(t *testing.T, dir, name string, timeout time.Duration, ok func(*journal.Record) bool) *journal.Record {
	t.Helper()
	var rec *journal.Record
	sandbox.WaitFor(t, timeout, "journal of "+name, func() error {
		pattern := "*_" + name + ".json"
		if name == "" {
			pattern = "*.json"
		}
		files, _ := filepath.Glob(filepath.Join(dir, pattern))
		if len(files) != 1 {
			return fmt.Errorf("%d journals", len(files))
		}
		r, err := journal.Read(files[0])
		if err != nil {
			return err
		}
		if !ok(r) {
			return fmt.Errorf("verdict %s, phases %d", r.Verdict, len(r.Phases))
		}
		rec = r
		return nil
	})
	return rec
}

// TestRunExperimentResource: `run experiment/NAME -n NS` has the file
// form's exit codes and records the run in the object's status.
func TestRunExperimentResource(t *testing.T) {
	c := newCRTest(t, "crtest-run")
	s := c.s
	settle(t.Context(), t, s)
	c.create(t, cr.ExperimentGVR, experimentYAML("cr-run-held", evictOne, "  safety: {minHealthy: 2}\n"))
	c.create(t, cr.ExperimentGVR, strings.Replace(experimentYAML("cr-run-skipped", evictOne, ""), "expect: {below: 0.01}", "expect: {above: 1000}", 1))
	c.create(t, cr.ExperimentGVR, strings.Replace(invalidPromQLExperiment, "cr-bad-promql", "cr-run-invalid", 1))
	for _, tc := range []struct {
		name    string
		code    int
		verdict string
		held    metav1.ConditionStatus
		output  string
	}{
		{name: "cr-run-held", code: 0, verdict: "held", held: metav1.ConditionTrue},
		{name: "cr-run-skipped", code: ExitAborted, verdict: "skipped", held: metav1.ConditionFalse},
		{name: "cr-run-invalid", code: ExitInvalid, output: "experiment/cr-run-invalid -n crtest-run: spec.hypothesis.probes[0].query: invalid PromQL: "},
		{name: "cr-run-missing", code: ExitInvalid, output: `experiment/cr-run-missing -n crtest-run: experiments.chaosnight.dev "cr-run-missing" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			settle(t.Context(), t, s)
			jpath := filepath.Join(t.TempDir(), "journal.json")
			var stdout, stderr bytes.Buffer
			code := RunContext(t.Context(), Streams{In: strings.NewReader(""), Out: &stdout, Err: &stderr}, BuildInfo{Version: "test"},
				[]string{"run", "experiment/" + tc.name, "-n", "crtest-run", "--kubeconfig", s.Kubeconfig,
					"--prometheus-url", s.PrometheusURL, "--journal", jpath, "--prometheus-timeout", "2s"})
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, stdout.String(), stderr.String())
			}
			if tc.output != "" && !strings.Contains(stderr.String(), tc.output) {
				t.Errorf("stderr does not say %q:\n%s", tc.output, stderr.String())
			}
			if tc.verdict == "" {
				if tc.name == "cr-run-invalid" {
					u := c.get(t, cr.ExperimentGVR, tc.name)
					if err := conditionIs(u, experimentStatus(t, u).Conditions, crd.ConditionValid, metav1.ConditionFalse); err != nil {
						t.Error(err)
					}
				}
				return
			}
			rec, err := journal.Read(jpath)
			if err != nil {
				t.Fatal(err)
			}
			u := c.get(t, cr.ExperimentGVR, tc.name)
			st := experimentStatus(t, u)
			if err := conditionIs(u, st.Conditions, crd.ConditionHeld, tc.held); err != nil {
				t.Error(err)
			}
			if st.LastRun == nil || st.LastRun.ID != rec.RunID || st.LastRun.Verdict != tc.verdict || string(rec.Verdict) != tc.verdict {
				t.Errorf("lastRun %+v, journal %s %s\n%s", st.LastRun, rec.RunID, rec.Verdict, stderr.String())
			}
			if want := "chaosnight run experiment/" + tc.name + " -n crtest-run --seed "; !strings.HasPrefix(rec.Replay, want) {
				t.Errorf("replay %q, want %q...", rec.Replay, want)
			}
			statusOnly(t, u)
		})
	}
	t.Run("deleting the object mid-run aborts and reverts", func(t *testing.T) {
		optInNodes(t, s)
		settle(t.Context(), t, s)
		c.create(t, cr.ExperimentGVR, strings.Replace(experimentYAML("cr-run-deleted", nodeStress, "  safety: {minHealthy: 2}\n"), "duration: 5s", "duration: 90s", 1))
		jpath := filepath.Join(t.TempDir(), "journal.json")
		go func() {
			rec := waitJournal(t, filepath.Dir(jpath), "", 60*time.Second, func(r *journal.Record) bool { return hasPhase(r, "observe") })
			sandbox.WaitFor(t, 20*time.Second, "the helper pod", func() error {
				pods, err := s.Client().CoreV1().Pods("shop").List(t.Context(), metav1.ListOptions{LabelSelector: "chaosnight.dev/run=" + rec.RunID})
				if err != nil || len(pods.Items) != 1 {
					return fmt.Errorf("%v, %d helper pods", err, len(pods.Items))
				}
				return nil
			})
			_ = c.dc.Resource(cr.ExperimentGVR).Namespace(c.ns).Delete(context.Background(), "cr-run-deleted", metav1.DeleteOptions{})
		}()
		var stdout, stderr bytes.Buffer
		code := RunContext(t.Context(), Streams{In: strings.NewReader(""), Out: &stdout, Err: &stderr}, BuildInfo{Version: "test"},
			[]string{"run", "experiment/cr-run-deleted", "-n", "crtest-run", "--kubeconfig", s.Kubeconfig, "--prometheus-url", s.PrometheusURL,
				"--journal", jpath, "--prometheus-timeout", "2s", "--stress-image", "registry.invalid/chaosnight:test"})
		rec, err := journal.Read(jpath)
		if err != nil {
			t.Fatal(err)
		}
		if code != ExitAborted || rec.Verdict != journal.Aborted || !hasPhase(rec, "revert") ||
			!strings.Contains(strings.Join(rec.Reasons, " "), "experiment/cr-run-deleted -n crtest-run was deleted") {
			t.Errorf("exit %d, verdict %s %v\n%s%s", code, rec.Verdict, rec.Reasons, stdout.String(), stderr.String())
		}
		pods, err := s.Client().CoreV1().Pods("shop").List(context.Background(), metav1.ListOptions{LabelSelector: "chaosnight.dev/run=" + rec.RunID})
		if err != nil || len(pods.Items) != 0 {
			t.Errorf("helper pods left after the revert: %v %d", err, len(pods.Items))
		}
	})
	t.Run("doctor checks the objects serve would play", func(t *testing.T) {
		cfg := writeFile(t, t.TempDir(), "chaosnight.yaml", "customResources: {enabled: true, namespaces: [crtest-run]}\n")
		code, out := cli(t.Context(), t, "doctor", "--config", cfg, "--kubeconfig", s.Kubeconfig, "--prometheus-url", s.PrometheusURL)
		for _, want := range []string{
			"Custom resources\n  ✔ 3 Experiment and 0 ChaosNight objects readable in namespaces crtest-run; 2 valid experiments",
			"✘ experiment/cr-run-invalid -n crtest-run is invalid: serve leaves it out (Valid=False): spec.hypothesis.probes[0].query: invalid PromQL: ",
			"Experiment cr-run-held (experiment/cr-run-held -n crtest-run)",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("doctor does not say %q:\n%s", want, out)
			}
		}
		if code != ExitFailed {
			t.Errorf("exit %d, want %d (an invalid object fails the check)", code, ExitFailed)
		}
	})
	t.Run("deletion never waits for a runner", func(t *testing.T) {
		// No runner runs now (the CLI has exited): an object a run wrote
		// status to carries no finalizer, so it goes at once.
		u := c.get(t, cr.ExperimentGVR, "cr-run-held")
		if f := u.GetFinalizers(); len(f) > 0 || experimentStatus(t, u).LastRun == nil {
			t.Fatalf("finalizers %v, lastRun %+v", f, experimentStatus(t, u).LastRun)
		}
		if err := c.dc.Resource(cr.ExperimentGVR).Namespace(c.ns).Delete(t.Context(), "cr-run-held", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.dc.Resource(cr.ExperimentGVR).Namespace(c.ns).Get(t.Context(), "cr-run-held", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("still there right after the delete: %v", err)
		}
	})
}
