package cli

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/killswitch"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// One sandbox (real API server, controllers, kwok, real Prometheus) serves
// every test of this package; the tests that use it run one after another
// because they share Prometheus and the shop workload.
var sb *sandbox.Sandbox

func TestMain(m *testing.M) {
	os.Exit(sandbox.RunTests(m, sandbox.Config{SeedWorkload: true}, func(s *sandbox.Sandbox) { sb = s }))
}

// runExp writes an experiment to a file and runs `chaosnight run` in-process
// against the sandbox. It returns the exit code, the output and the journal.
func runExp(ctx context.Context, t *testing.T, s *sandbox.Sandbox, yaml string, extra ...string) (int, string, *journal.Record) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "exp.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	jpath := filepath.Join(dir, "journal.json")
	for i, a := range extra { // a --journal of the caller's wins
		if a == "--journal" && i+1 < len(extra) {
			jpath = extra[i+1]
		}
	}
	args := append([]string{"run", file, "--kubeconfig", s.Kubeconfig, "--prometheus-url", s.PrometheusURL,
		"--journal", jpath, "--prometheus-timeout", "2s"}, extra...)
	var out, errOut bytes.Buffer
	code := RunContext(ctx, Streams{In: strings.NewReader(""), Out: &out, Err: &errOut}, BuildInfo{Version: "test"}, args)
	output := out.String() + errOut.String()
	rec, err := journal.Read(jpath)
	if err != nil {
		t.Logf("output:\n%s", output)
		t.Fatalf("no journal: %v", err)
	}
	return code, output, rec
}

// experimentYAML is a short pod-kill experiment on the seeded shop with a
// hypothesis on the demo traffic (rate windows are short because the sandbox
// scrapes every second).
func experimentYAML(name, action, extraSpec string) string {
	return fmt.Sprintf(`apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata:
  name: %s
spec:
  hypothesis:
    probes:
      - name: checkout-error-ratio
        query: sum(rate(http_requests_total{namespace="shop",service="checkout",code=~"5.."}[10s])) / sum(rate(http_requests_total{namespace="shop",service="checkout"}[10s]))
        expect: {below: 0.01}
  target:
    namespaces: [shop]
    selector: app=checkout
    pick: {count: 1}
  action:
%s
  duration: 5s
  probeInterval: 1s
  recovery: 20s
%s`, name, action, extraSpec)
}

const evictOne = `    podKill: {method: evict}`

// podUIDs returns namespace/name → UID of every pod in the cluster.
func podUIDs(ctx context.Context, t *testing.T, c kubernetes.Interface) map[string]string {
	t.Helper()
	pods, err := c.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range pods.Items {
		out[p.Namespace+"/"+p.Name] = string(p.UID)
	}
	return out
}

func readyCheckout(ctx context.Context, c kubernetes.Interface) (int, error) {
	pods, err := c.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "app=checkout"})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n, nil
}

// settle waits until checkout is back to 3 ready pods and Prometheus sees a
// clean error ratio, so each test starts from the steady state.
func settle(ctx context.Context, t *testing.T, s *sandbox.Sandbox) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		n, err := readyCheckout(ctx, s.Client())
		if err == nil && n == 3 {
			v, err := s.Query(ctx, `sum(rate(http_requests_total{namespace="shop",service="checkout",code=~"5.."}[10s])) / sum(rate(http_requests_total{namespace="shop",service="checkout"}[10s])) < 0.01`)
			if err == nil && len(v) == 1 {
				return
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatal("the shop did not return to its steady state within 60s")
}

func TestRunEvictOneCheckoutPodHolds(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	decoys, err := sandbox.SnapshotDecoys(ctx, s.Client())
	if err != nil {
		t.Fatal(err)
	}
	before := podUIDs(ctx, t, s.Client())

	code, out, rec := runExp(ctx, t, s, experimentYAML("evict-one", evictOne, "  safety: {minHealthy: 2}\n"), "--seed", "11")
	if code != ExitHeld || rec.Verdict != journal.Held {
		t.Fatalf("exit %d, verdict %s, reasons %v\n%s", code, rec.Verdict, rec.Reasons, out)
	}
	if len(rec.Injections) != 1 || len(rec.Injections[0].Outcomes) != 1 || rec.Injections[0].Outcomes[0].Status != "evicted" {
		t.Fatalf("want exactly one eviction, got %+v", rec.Injections)
	}
	victim := rec.Injections[0].Outcomes[0].Pod
	if victim.Namespace != "shop" || victim.Labels["app"] != "checkout" || before[victim.Key()] != victim.UID {
		t.Fatalf("victim %+v is not one of the checkout pods that existed before", victim)
	}
	after := podUIDs(ctx, t, s.Client())
	if after[victim.Key()] == victim.UID {
		t.Errorf("victim %s (uid %s) still exists", victim.Key(), victim.UID)
	}
	// The ReplicaSet replaced it: 3 ready checkout pods again.
	if n, err := readyCheckout(ctx, s.Client()); err != nil || n != 3 {
		t.Errorf("checkout has %d ready pods after the run (%v), want 3", n, err)
	}
	// Nothing else changed: every other pod kept its UID.
	for key, uid := range before {
		if key != victim.Key() && after[key] != uid {
			t.Errorf("pod %s was touched (uid %s -> %s)", key, uid, after[key])
		}
	}
	if err := decoys.Verify(ctx, s.Client()); err != nil {
		t.Error(err)
	}
	// One Event of this run on the victim names the experiment and the run
	// (a stress run of an earlier test may have left one on the same pod:
	// stress does not replace its target).
	evs, err := s.Client().CoreV1().Events("shop").List(ctx, metav1.ListOptions{
		FieldSelector: "reason=ChaosInjected,involvedObject.uid=" + victim.UID, LabelSelector: "chaosnight.dev/run=" + rec.RunID})
	if err != nil || len(evs.Items) != 1 || !strings.Contains(evs.Items[0].Message, "evict-one") || !strings.Contains(evs.Items[0].Message, rec.RunID) {
		t.Errorf("events on the victim: %v, %+v", err, evs)
	}
	// The journal holds every sample: 1 probe evaluated in preflight, about
	// once per second for 5 s of observation, and in recovery.
	perPhase := map[string]int{}
	for _, smp := range rec.Samples {
		perPhase[smp.Phase]++
		if smp.At.IsZero() || smp.Probe != "checkout-error-ratio" {
			t.Errorf("malformed sample %+v", smp)
		}
	}
	if perPhase["preflight"] != 1 || perPhase["observe"] < 4 || perPhase["observe"] > 6 || perPhase["recover"] < 1 {
		t.Errorf("samples per phase %v; want 1 preflight, ~5 observe, >=1 recover", perPhase)
	}
	if !strings.Contains(out, "HELD") || !strings.Contains(out, "--seed 11") {
		t.Errorf("summary lacks the verdict or the replay command:\n%s", out)
	}
}

func TestRunSameSeedReplaysTheSameChoice(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	var picks []string
	for range 2 {
		_, out, rec := runExp(ctx, t, s, experimentYAML("replay", evictOne, "  safety: {minHealthy: 2}\n"), "--dry-run", "--seed", "4242")
		if rec.Verdict != journal.DryRun || len(rec.Targets) != 1 {
			t.Fatalf("verdict %s, targets %v\n%s", rec.Verdict, rec.Targets, out)
		}
		picks = append(picks, rec.Targets[0].Name)
	}
	if picks[0] != picks[1] {
		t.Errorf("the same seed picked %v", picks)
	}
}

func TestRunDryRunChangesNothing(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	before := podUIDs(ctx, t, s.Client())
	code, out, rec := runExp(ctx, t, s, experimentYAML("dry", `    podKill: {method: delete}`, "  safety: {minHealthy: 0}\n"), "--dry-run")
	if code != 0 || rec.Verdict != journal.DryRun {
		t.Fatalf("exit %d, verdict %s %v\n%s", code, rec.Verdict, rec.Reasons, out)
	}
	if len(rec.Targets) != 1 || !strings.Contains(out, rec.Targets[0].Key()) {
		t.Errorf("the plan does not show the target:\n%s", out)
	}
	if !strings.Contains(out, "checkout-error-ratio") {
		t.Errorf("the plan does not show the current probe values:\n%s", out)
	}
	time.Sleep(2 * time.Second) // give a wrongly issued delete time to show
	after := podUIDs(ctx, t, s.Client())
	if !maps.Equal(before, after) {
		t.Errorf("dry run changed pods:\nbefore %v\nafter  %v", before, after)
	}
}

func TestRunStopConditionAborts(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	// The stop condition watches cart's desired replicas; the test scales cart
	// down in the middle of the run, as an operator (or an incident) would.
	stop := `  stopWhen:
    - name: cart-scaled-down
      query: kube_deployment_spec_replicas{namespace="shop",deployment="cart"}
      expect: {below: 2}
  safety: {minHealthy: 2}
`
	exp := strings.Replace(experimentYAML("stop", evictOne, stop), "duration: 5s", "duration: 30s", 1)
	scaled := make(chan time.Time, 1)
	go func() {
		time.Sleep(6 * time.Second)
		scale(ctx, t, s.Client(), "cart", 1)
		scaled <- time.Now()
	}()
	defer scale(context.Background(), t, s.Client(), "cart", 2)
	start := time.Now()
	code, out, rec := runExp(ctx, t, s, exp)
	if code != ExitAborted || rec.Verdict != journal.Aborted {
		t.Fatalf("exit %d, verdict %s %v\n%s", code, rec.Verdict, rec.Reasons, out)
	}
	if !strings.Contains(strings.Join(rec.Reasons, " "), "cart-scaled-down") {
		t.Errorf("reasons do not name the stop condition: %v", rec.Reasons)
	}
	at := <-scaled
	// Within one probe interval (1s) plus one scrape interval (1s), plus the
	// exporter's watch latency and scheduling slack.
	var firedAt time.Time
	for _, smp := range rec.Samples {
		if smp.Probe == "cart-scaled-down" && !smp.OK {
			firedAt = smp.At
			break
		}
	}
	if firedAt.IsZero() || firedAt.Sub(at) > 3*time.Second {
		t.Errorf("stop condition fired %v after the scale-down (run started %v before it); want within ~2s", firedAt.Sub(at), at.Sub(start))
	}
	if !hasPhase(rec, "revert") {
		t.Errorf("no revert phase after the abort: %+v", rec.Phases)
	}
}

func scale(ctx context.Context, t *testing.T, c kubernetes.Interface, name string, n int32) {
	sc, err := c.AppsV1().Deployments("shop").GetScale(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Errorf("get scale %s: %v", name, err)
		return
	}
	sc.Spec.Replicas = n
	if _, err := c.AppsV1().Deployments("shop").UpdateScale(ctx, name, sc, metav1.UpdateOptions{}); err != nil {
		t.Errorf("scale %s to %d: %v", name, n, err)
	}
}

func hasPhase(rec *journal.Record, name string) bool {
	for _, p := range rec.Phases {
		if p.Name == name {
			return true
		}
	}
	return false
}

func TestRunSIGINTAbortsAndReverts(t *testing.T) {
	s := sandbox.Require(t, sb)
	settle(t.Context(), t, s)
	// Run uses the context that SIGINT/SIGTERM cancel; cancelling it here is
	// what the signal does in the binary.
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(4*time.Second, cancel)
	exp := strings.Replace(experimentYAML("sigint", evictOne, "  safety: {minHealthy: 2}\n"), "duration: 5s", "duration: 60s", 1)
	start := time.Now()
	code, out, rec := runExp(ctx, t, s, exp)
	if code != ExitAborted || rec.Verdict != journal.Aborted {
		t.Fatalf("exit %d, verdict %s %v\n%s", code, rec.Verdict, rec.Reasons, out)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("the run took %v after an interrupt at 4s", took)
	}
	if !hasPhase(rec, "revert") || !strings.Contains(strings.Join(rec.Reasons, " "), "interrupted") {
		t.Errorf("phases %+v reasons %v", rec.Phases, rec.Reasons)
	}
}

func TestRunPrometheusDownBeforeIsSkipped(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	before := podUIDs(ctx, t, s.Client())
	if err := s.StopPrometheus(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := s.StartPrometheus(context.Background()); err != nil {
			t.Fatalf("restart prometheus: %v", err)
		}
	}()
	code, out, rec := runExp(ctx, t, s, experimentYAML("prom-down", `    podKill: {method: delete}`, "  safety: {minHealthy: 0}\n"))
	if code != ExitAborted || rec.Verdict != journal.Skipped {
		t.Fatalf("exit %d, verdict %s %v\n%s", code, rec.Verdict, rec.Reasons, out)
	}
	if len(rec.Injections) != 0 {
		t.Errorf("something was injected: %+v", rec.Injections)
	}
	if after := podUIDs(ctx, t, s.Client()); !maps.Equal(before, after) {
		t.Error("pods changed although Prometheus was down")
	}
}

func TestRunPrometheusLostDuringRunAborts(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	defer func() {
		if err := s.StartPrometheus(context.Background()); err != nil {
			t.Fatalf("restart prometheus: %v", err)
		}
	}()
	time.AfterFunc(4*time.Second, func() {
		if err := s.StopPrometheus(); err != nil {
			t.Errorf("stop prometheus: %v", err)
		}
	})
	exp := strings.Replace(experimentYAML("prom-lost", evictOne, "  safety: {minHealthy: 2}\n"), "duration: 5s", "duration: 60s", 1)
	code, out, rec := runExp(ctx, t, s, exp)
	if code != ExitAborted || rec.Verdict != journal.Aborted {
		t.Fatalf("exit %d, verdict %s %v\n%s", code, rec.Verdict, rec.Reasons, out)
	}
	if !strings.Contains(strings.Join(rec.Reasons, " "), "could not be verified") || !hasPhase(rec, "revert") {
		t.Errorf("reasons %v phases %+v", rec.Reasons, rec.Phases)
	}
}

// TestRunBinarySIGINT sends a real SIGINT to a real chaosnight process in
// the middle of a run: it must abort, revert and exit 2.
func TestRunBinarySIGINT(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	dir := t.TempDir()
	bin := filepath.Join(dir, "chaosnight")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "../../cmd/chaosnight")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	file := filepath.Join(dir, "exp.yaml")
	exp := strings.Replace(experimentYAML("binary-sigint", evictOne, "  safety: {minHealthy: 2}\n"), "duration: 5s", "duration: 60s", 1)
	if err := os.WriteFile(file, []byte(exp), 0o600); err != nil {
		t.Fatal(err)
	}
	jpath := filepath.Join(dir, "journal.json")
	var out bytes.Buffer
	cmd := exec.Command(bin, "run", file, "--kubeconfig", s.Kubeconfig, "--prometheus-url", s.PrometheusURL, "--journal", jpath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the injection happened (the journal shows the observe phase).
	deadline := time.Now().Add(20 * time.Second)
	for {
		if rec, err := journal.Read(jpath); err == nil && hasPhase(rec, "observe") {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("the run never reached observe:\n%s", out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		// An *exec.ExitError by design: the exit code is checked below.
		t.Logf("chaosnight exited after SIGINT: %v", err)
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("chaosnight did not exit within 20s of SIGINT:\n%s", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code != ExitAborted {
		t.Errorf("exit code %d after SIGINT, want %d\n%s", code, ExitAborted, out.String())
	}
	rec, err := journal.Read(jpath)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Verdict != journal.Aborted || !hasPhase(rec, "revert") {
		t.Errorf("verdict %s, phases %+v", rec.Verdict, rec.Phases)
	}
}

func cli(ctx context.Context, t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	code := RunContext(ctx, Streams{In: strings.NewReader(""), Out: &out, Err: &out}, BuildInfo{Version: "test"}, args)
	return code, out.String()
}

func TestKillSwitch(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	settle(ctx, t, s)
	ensureNamespace(ctx, t, s.Client(), killswitch.DefaultNamespace) // where the one switch lives
	kc := []string{"--kubeconfig", s.Kubeconfig, "--namespace", "default"}
	resume := func() {
		if code, out := cli(context.Background(), t, append([]string{"resume"}, kc...)...); code != 0 {
			t.Errorf("resume: exit %d: %s", code, out)
		}
	}
	defer resume()

	t.Run("pause blocks new runs", func(t *testing.T) {
		if code, out := cli(ctx, t, append([]string{"pause", "--reason", "incident INC-1"}, kc...)...); code != 0 {
			t.Fatalf("pause: exit %d: %s", code, out)
		}
		if code, out := cli(ctx, t, append([]string{"status"}, kc...)...); code != 0 || !strings.Contains(out, "ENGAGED") || !strings.Contains(out, "incident INC-1") {
			t.Errorf("status: exit %d: %s", code, out)
		}
		before := podUIDs(ctx, t, s.Client())
		code, out, rec := runExp(ctx, t, s, experimentYAML("paused", evictOne, "  safety: {minHealthy: 2}\n"), "--namespace", "default")
		if code != ExitAborted || (rec.Verdict != journal.Skipped && rec.Verdict != journal.Aborted) {
			t.Fatalf("exit %d, verdict %s %v\n%s", code, rec.Verdict, rec.Reasons, out)
		}
		if !strings.Contains(strings.Join(rec.Reasons, " "), "incident INC-1") {
			t.Errorf("reasons do not say why: %v", rec.Reasons)
		}
		if after := podUIDs(ctx, t, s.Client()); !maps.Equal(before, after) {
			t.Error("pods changed while the kill switch was engaged")
		}
		resume()
	})

	t.Run("pause mid-run aborts and reverts within 2s", func(t *testing.T) {
		settle(ctx, t, s)
		var pausedAt time.Time
		time.AfterFunc(4*time.Second, func() {
			pausedAt = time.Now()
			if code, out := cli(context.Background(), t, append([]string{"pause", "--reason", "stop now"}, kc...)...); code != 0 {
				t.Errorf("pause: exit %d: %s", code, out)
			}
		})
		exp := strings.Replace(experimentYAML("pause-mid-run", evictOne, "  safety: {minHealthy: 2}\n"), "duration: 5s", "duration: 60s", 1)
		code, out, rec := runExp(ctx, t, s, exp, "--namespace", "default")
		if code != ExitAborted || rec.Verdict != journal.Aborted {
			t.Fatalf("exit %d, verdict %s %v\n%s", code, rec.Verdict, rec.Reasons, out)
		}
		var revertEnded time.Time
		for _, p := range rec.Phases {
			if p.Name == "revert" {
				revertEnded = p.Ended
			}
		}
		if revertEnded.IsZero() || revertEnded.Sub(pausedAt) > 2*time.Second {
			t.Errorf("reverted %v after the pause, want within 2s (phases %+v)", revertEnded.Sub(pausedAt), rec.Phases)
		}
		if !strings.Contains(strings.Join(rec.Reasons, " "), "kill switch engaged") {
			t.Errorf("reasons %v", rec.Reasons)
		}
	})
}

// TestServePlaysANight runs `chaosnight serve` itself (in-process) with a
// clock offset so that a night opens seconds after start, and checks that
// it plays the experiment for real, journals it, records the window's
// progress in the runner state, serves /runs, and stops cleanly.
func TestServePlaysANight(t *testing.T) {
	s := sandbox.Require(t, sb)
	settle(t.Context(), t, s)
	dir := t.TempDir()
	writeFile(t, dir, "experiments/evict.yaml", strings.Replace(experimentYAML("serve-evict", evictOne, "  safety: {minHealthy: 2}\n"), "duration: 5s", "duration: 3s", 1))
	cfg := writeFile(t, dir, "chaosnight.yaml", `experiments: experiments
dryRun: false
journal: {directory: `+filepath.Join(dir, "journals")+`}
nights:
  - name: test-night
    opens: "*/2 * * * *"
    lasts: 50s
    timezone: UTC
    experiments: {names: [serve-evict]}
`)
	now := time.Now()
	offset := now.Truncate(2*time.Minute).Add(2*time.Minute).Sub(now) - 3*time.Second
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan int, 1)
	var out bytes.Buffer
	go func() {
		done <- RunContext(ctx, Streams{In: strings.NewReader(""), Out: &out, Err: &out}, BuildInfo{Version: "test"},
			[]string{"serve", "--config", cfg, "--kubeconfig", s.Kubeconfig, "--namespace", "default",
				"--prometheus-url", s.PrometheusURL, "--listen", "127.0.0.1:0", "--leader-elect=false",
				"--clock-offset", offset.String()})
	}()
	var rec *journal.Record
	deadline := time.Now().Add(45 * time.Second)
	for rec == nil || rec.Verdict == journal.Running {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no finished journal within 45s:\n%s", out.String())
		}
		time.Sleep(300 * time.Millisecond)
		files, _ := filepath.Glob(filepath.Join(dir, "journals", "*.json"))
		if len(files) == 1 {
			rec, _ = journal.Read(files[0])
		}
	}
	if rec.Verdict != journal.Held || len(rec.Injections) != 1 || rec.Injections[0].Outcomes[0].Status != "evicted" {
		t.Errorf("verdict %s %v, injections %+v", rec.Verdict, rec.Reasons, rec.Injections)
	}
	cm, err := s.Client().CoreV1().ConfigMaps("default").Get(ctx, "chaosnight-state", metav1.GetOptions{})
	if err != nil || !strings.Contains(fmt.Sprint(cm.Data), "serve-evict") {
		t.Errorf("runner state: %v %v", err, cm)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("serve exited %d after SIGTERM-like cancel:\n%s", code, out.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop within 20s")
	}
	_ = s.Client().CoreV1().ConfigMaps("default").Delete(context.Background(), "chaosnight-state", metav1.DeleteOptions{})
}

// TestRunNodeStressRevertsOnSIGINT: a node-scope stress puts an
// unprivileged helper pod on the target's node; an interrupt aborts the run
// and the revert deletes it.
func TestRunNodeStressRevertsOnSIGINT(t *testing.T) {
	s := sandbox.Require(t, sb)
	settle(t.Context(), t, s)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stressAction := `    stress:
      scope: node
      cpu: {workers: 1, load: 20}`
	exp := strings.Replace(experimentYAML("node-stress-sigint", stressAction, "  safety: {minHealthy: 2}\n"), "duration: 5s", "duration: 60s", 1)
	optInNodes(t, s) // node-scope stress only touches opted-in nodes
	dir := t.TempDir()
	jpath := filepath.Join(dir, "journal.json")
	var helperSeen atomic.Bool
	go func() {
		for ctx.Err() == nil {
			time.Sleep(300 * time.Millisecond)
			rec, err := journal.Read(jpath)
			if err != nil || !hasPhase(rec, "observe") {
				continue
			}
			pods, err := s.Client().CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "chaosnight.dev/run=" + rec.RunID})
			if err == nil && len(pods.Items) == 1 {
				helperSeen.Store(true)
				cancel() // what SIGINT does in the binary
				return
			}
		}
	}()
	code, out, rec := runExp(ctx, t, s, exp, "--journal", jpath, "--stress-image", "registry.invalid/chaosnight:test")
	if !helperSeen.Load() {
		t.Fatalf("no helper pod appeared (exit %d, verdict %s %v)\n%s", code, rec.Verdict, rec.Reasons, out)
	}
	if code != ExitAborted || rec.Verdict != journal.Aborted || !hasPhase(rec, "revert") {
		t.Errorf("exit %d, verdict %s %v, phases %+v", code, rec.Verdict, rec.Reasons, rec.Phases)
	}
	// The journal and the summary name what else runs on the stressed node.
	if len(rec.Injections) == 0 || len(rec.Injections[0].Collateral) != 1 || rec.Injections[0].Collateral[0].Node != rec.Targets[0].Node ||
		!strings.Contains(out, "collateral (pods of other workloads that share a stressed node):\n    "+rec.Targets[0].Node+": ") {
		t.Errorf("the collateral of node %v is missing from the journal %+v or the summary:\n%s", rec.Targets, rec.Injections, out)
	}
	pods, err := s.Client().CoreV1().Pods("shop").List(context.Background(), metav1.ListOptions{LabelSelector: "chaosnight.dev/run=" + rec.RunID})
	if err != nil || len(pods.Items) != 0 {
		t.Errorf("helper pods left after the revert: %v %d", err, len(pods.Items))
	}
}
