package realnode

// The in-cluster runner for real (#20): the offline bundle's chart
// installed with Helm's SDK, the bundle's image imported into the real
// node's containerd, two runner
// replicas run by the real kubelet under Pod Security restricted (read-only
// root filesystem, non-root), talking to the API server and to Prometheus
// from their pods, playing a night against the real shop.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"sigs.k8s.io/yaml"

	"github.com/chaosnight/chaosnight/hack/bundle"
	"github.com/chaosnight/chaosnight/hack/image"
	"github.com/chaosnight/chaosnight/pkg/cli"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/runner"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

const (
	runnerNS      = "chaosnight-rn"
	runnerRelease = "chaosnight"
	runnerImage   = "chaosnight.local/chaosnight:rn"
	runnerLease   = "chaosnight-runner"
)

// runnerValues are the chart values of the test's release; API and PROM
// are replaced by the addresses the pods reach (sandbox.PodAPIServer,
// PodPrometheusURL). The night opens every minute for 50 s and plays a
// 30 s CPU stress in one checkout pod (the runner's own image as the
// stressor, in an ephemeral container), then evictions of a checkout pod
// every 4 s for 30 s: long enough to delete the leader while one runs.
const runnerValues = `
replicaCount: 2
image: {repository: chaosnight.local/chaosnight, tag: rn, pullPolicy: Never}
dryRun: false
rbac: {namespaces: [shop]}
prometheus: {url: PROM}
extraEnv:
  - {name: KUBERNETES_SERVICE_HOST, value: "APIHOST"}
  - {name: KUBERNETES_SERVICE_PORT, value: "APIPORT"}
nodeSelector: {chaosnight.io/real-node: "true"}
tolerations:
  - {key: chaosnight.io/real-node, operator: Equal, value: "true", effect: NoSchedule}
podAnnotations: {prometheus.io/scrape: "true", prometheus.io/port: "8080"}
terminationGracePeriodSeconds: 120
stress: {enabled: true}
nights:
  - name: minutely
    opens: "* * * * *"
    lasts: 50s
    timezone: UTC
    experiments: {names: [rn-stress, rn-evict]}
experiments:
  rn-stress: |
    apiVersion: chaosnight.dev/v1alpha1
    kind: Experiment
    metadata:
      name: rn-stress
    spec:
      description: Half a CPU of stress in one checkout pod keeps checkout available.
      hypothesis:
        probes:
          - name: checkout-available
            query: kube_deployment_status_replicas_available{namespace="shop",deployment="checkout"}
            expect: {atLeast: 1}
      target:
        namespaces: [shop]
        selector: app=checkout
        pick: {count: 1}
      action:
        stress:
          scope: pod
          cpu: {workers: 1, load: 50}
      duration: 30s
      probeInterval: 2s
      recovery: 2s
      safety: {maxTargets: 1, minHealthy: 1}
  rn-evict: |
    apiVersion: chaosnight.dev/v1alpha1
    kind: Experiment
    metadata:
      name: rn-evict
    spec:
      description: Evicting one checkout pod every 4 s keeps checkout available.
      hypothesis:
        probes:
          - name: checkout-available
            query: kube_deployment_status_replicas_available{namespace="shop",deployment="checkout"}
            expect: {atLeast: 1}
      target:
        namespaces: [shop]
        selector: app=checkout
        pick: {count: 1}
      action:
        podKill: {method: evict, every: 4s}
      duration: 30s
      probeInterval: 2s
      recovery: 2s
      safety: {maxTargets: 1, minHealthy: 1}
`

// TestChartRunnerOnRealNode installs the offline bundle's chart and image
// on the real node and proves what a user relies on: both replicas Ready,
// exactly one leads (the Lease names one of the two pods), Prometheus
// scrapes the runners through the chart's pod annotations, the leader
// plays the night against the real shop (a stress in an ephemeral
// container, evictions), deleting the leader in the middle of its stress
// reverts the stress and hands over to another replica, which goes on with
// the night without replaying the stress in the same window,
// `chaosnight pause` from outside aborts the next window's run, helm
// upgrade's new experiment is hot-reloaded without a restart, and helm
// uninstall leaves nothing of the runner behind.
func TestChartRunnerOnRealNode(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := t.Context()
	admin := s.Client()
	if err := s.SeedRealShop(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeShop(t) })
	ch := bundleOnNode(ctx, t, s)
	values := podValues(ctx, t, s)

	if _, err := admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: runnerNS, Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted",
	}}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.CoreV1().Namespaces().Delete(context.Background(), runnerNS, metav1.DeleteOptions{}) })
	inst := action.NewInstall(helmConfig(t, s))
	inst.ReleaseName, inst.Namespace = runnerRelease, runnerNS
	if _, err := inst.RunWithContext(ctx, ch, values); err != nil {
		t.Fatalf("helm install: %v", err)
	}
	uninstalled := false
	t.Cleanup(func() {
		if !uninstalled {
			_, _ = action.NewUninstall(helmConfig(t, s)).Run(runnerRelease)
		}
	})

	// Both replicas run on the real node and pass their readiness probe.
	var pods []corev1.Pod
	sandbox.WaitFor(t, 3*time.Minute, "two runner pods Ready on the real node", func() error {
		pods = runnerPods(ctx, t)
		if len(pods) != 2 {
			return fmt.Errorf("%d runner pods: %s", len(pods), describePods(pods))
		}
		for i := range pods {
			if pods[i].Spec.NodeName != sandbox.RealNodeName || podReady(&pods[i]) != nil {
				return fmt.Errorf("not Ready on the real node: %s", describePods(pods))
			}
		}
		return nil
	})
	names := []string{pods[0].Name, pods[1].Name}

	// Exactly one leads: the Lease names one of the two.
	var leader string
	sandbox.WaitFor(t, 60*time.Second, "one replica to hold the Lease", func() error {
		l, err := admin.CoordinationV1().Leases(runnerNS).Get(ctx, runnerLease, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if l.Spec.HolderIdentity == nil || !slices.Contains(names, *l.Spec.HolderIdentity) {
			return fmt.Errorf("Lease held by %v, want one of %v", l.Spec.HolderIdentity, names)
		}
		leader = *l.Spec.HolderIdentity
		return nil
	})
	t.Logf("replicas %v, leader %s", names, leader)

	// Prometheus scrapes both runners through the chart's pod annotations.
	sandbox.WaitFor(t, 60*time.Second, "Prometheus to scrape both runners", func() error {
		res, err := s.Query(ctx, fmt.Sprintf(`up{pod_namespace=%q} == 1`, runnerNS))
		if err != nil {
			return err
		}
		if len(res) != 2 {
			return fmt.Errorf("%d runner targets up: %v", len(res), res)
		}
		return nil
	})

	// The leader plays the night: a CPU stress in a real checkout pod, by
	// an ephemeral container the real kubelet runs.
	var run runner.RunSummary
	sandbox.WaitFor(t, 90*time.Second, "the leader to start rn-stress", func() error {
		var err error
		run, err = inFlight(ctx, podIP(pods, leader), "rn-stress")
		return err
	})
	var target, container string
	sandbox.WaitFor(t, 60*time.Second, "the stress running in a checkout pod", func() error {
		var err error
		target, container, err = runningStress(ctx)
		return err
	})
	t.Logf("leader %s runs %s (%s): %s in %s", leader, run.RunID, run.Experiment, container, target)

	// Delete the leader mid-experiment: it aborts and reverts before it
	// lets go of the Lease (the stress stops long before its own 30 s),
	// another replica takes over (the other one, or the Deployment's
	// replacement of the deleted pod, whichever is first), goes on with
	// the night's next experiment, and does not replay rn-stress.
	windowCloses := run.Started.Truncate(time.Minute).Add(50 * time.Second)
	stressEnds := run.Started.Add(30 * time.Second)
	if time.Until(windowCloses) < 25*time.Second {
		t.Fatalf("rn-stress started at %s, too close to the window's close at %s for the handover to be seen (machine too slow?)", run.Started, windowCloses)
	}
	deleted := time.Now()
	if err := admin.CoreV1().Pods(runnerNS).Delete(ctx, leader, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	st := stressContainerStatus(ctx, t, target, container, 30*time.Second)
	if fin := st.State.Terminated.FinishedAt.Time; !fin.Before(stressEnds) {
		t.Errorf("the stress ended at %s, not before its own end at %s: the deleted leader did not revert it", fin, stressEnds)
	}
	t.Logf("stress reverted %s after the leader's deletion (exit %d)", st.State.Terminated.FinishedAt.Sub(deleted).Round(time.Second), st.State.Terminated.ExitCode)
	var newLeader string
	sandbox.WaitFor(t, 90*time.Second, "another replica to lead", func() error {
		l, err := admin.CoordinationV1().Leases(runnerNS).Get(ctx, runnerLease, metav1.GetOptions{})
		if err != nil {
			return err
		}
		h := ""
		if l.Spec.HolderIdentity != nil {
			h = *l.Spec.HolderIdentity
		}
		if h == "" || h == leader {
			return fmt.Errorf("Lease held by %q", h)
		}
		newLeader = h
		return nil
	})
	t.Logf("%s deleted; %s leads", leader, newLeader)
	// The shared state, which every new leader reads, names rn-stress as
	// played in this window (read before the window closes: the runner
	// forgets a closed window).
	state, err := admin.CoreV1().ConfigMaps(runnerNS).Get(ctx, "chaosnight-state", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if time.Now().Before(windowCloses) {
		var played []string
		for _, v := range state.Data {
			var done []string
			if err := json.Unmarshal([]byte(v), &done); err != nil {
				t.Fatalf("runner state %q: %v", v, err)
			}
			played = append(played, done...)
		}
		if len(state.Data) != 1 || !slices.Contains(played, "rn-stress") {
			t.Errorf("runner state %v, want this window with rn-stress played", state.Data)
		}
	}
	// The deleted leader aborted its run before it let go: its journal went
	// with its emptyDir, its Event stays.
	sandbox.WaitFor(t, 30*time.Second, "the deleted leader's ExperimentAborted Event", func() error {
		evs, err := admin.CoreV1().Events(runnerNS).List(ctx, metav1.ListOptions{FieldSelector: "reason=ExperimentAborted"})
		if err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.InvolvedObject.Name == leader && strings.Contains(e.Message, run.RunID) {
				return nil
			}
		}
		return fmt.Errorf("%d ExperimentAborted Events, none of %s on %s", len(evs.Items), run.RunID, leader)
	})
	// Until the window closes, no replica plays rn-stress again; the new
	// leader goes on with the night's next experiment, rn-evict.
	evicting := false
	for time.Now().Before(windowCloses) {
		for _, p := range runnerPods(ctx, t) {
			if p.Name == leader || p.Status.PodIP == "" {
				continue
			}
			runs, err := recentRuns(ctx, p.Status.PodIP)
			if err != nil {
				continue // a replacement not serving yet
			}
			for _, r := range runs {
				if r.Experiment == "rn-stress" && r.Started.Before(windowCloses) {
					t.Fatalf("%s replayed rn-stress in the same window: %+v", p.Name, r)
				}
				// Played, whatever its verdict: the gate may skip it (an alert
				// the stress raised can still fire), which is the night going on.
				if r.Experiment == "rn-evict" && !evicting && r.Started.Before(windowCloses) {
					evicting = true
					t.Logf("%s went on with rn-evict (%s, verdict %q; evicted a pod: %v)", p.Name, r.RunID, r.Verdict, evictedBy(ctx, t, r.RunID) == nil)
				}
			}
		}
		time.Sleep(time.Second)
	}
	if !evicting {
		t.Errorf("no replica went on with rn-evict in the window after the handover")
	}

	// The next window: the new leader plays rn-stress; `chaosnight pause`
	// from outside (the CLI, with the kill switch in the release
	// namespace) aborts it and reverts the stress.
	sandbox.WaitFor(t, 90*time.Second, "the new leader to start rn-stress in the next window", func() error {
		var err error
		run, err = inFlight(ctx, podIP(runnerPods(ctx, t), newLeader), "rn-stress")
		return err
	})
	sandbox.WaitFor(t, 60*time.Second, "the stress running in a checkout pod", func() error {
		var err error
		target, container, err = runningStress(ctx)
		return err
	})
	if code, out := runCLI(ctx, s, "pause", "--kill-switch-namespace", runnerNS, "--reason", "realnode test"); code != 0 {
		t.Fatalf("chaosnight pause: exit %d\n%s", code, out)
	}
	sandbox.WaitFor(t, 30*time.Second, "the paused run to end aborted", func() error {
		runs, err := recentRuns(ctx, podIP(runnerPods(ctx, t), newLeader))
		if err != nil {
			return err
		}
		for _, r := range runs {
			if r.RunID == run.RunID {
				if r.Ended.IsZero() || r.Verdict != journal.Aborted {
					return fmt.Errorf("run %s: verdict %q, ended %v", r.RunID, r.Verdict, r.Ended)
				}
				return nil
			}
		}
		return fmt.Errorf("run %s not listed", run.RunID)
	})
	if st := stressContainerStatus(ctx, t, target, container, 30*time.Second); !st.State.Terminated.FinishedAt.Time.Before(run.Started.Add(30 * time.Second)) {
		t.Errorf("the paused stress ended at %s, not before its own end", st.State.Terminated.FinishedAt)
	}
	if code, out := runCLI(ctx, s, "resume", "--kill-switch-namespace", runnerNS); code != 0 {
		t.Fatalf("chaosnight resume: exit %d\n%s", code, out)
	}

	// helm upgrade with one more experiment: the runners reload it
	// without a restart (nights and experiments are not in the pods'
	// checksum), and no container was restarted by its liveness probe.
	upValues := podValues(ctx, t, s)
	exps := upValues["experiments"].(map[string]any)
	exps["rn-second"] = strings.Replace(exps["rn-evict"].(string), "name: rn-evict", "name: rn-second", 1)
	// the new experiment is loaded, not scheduled: the night stays as it was
	up := action.NewUpgrade(helmConfig(t, s))
	up.Namespace = runnerNS
	if _, err := up.RunWithContext(ctx, runnerRelease, ch, upValues); err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	sandbox.WaitFor(t, 3*time.Minute, "the leader to reload 3 experiments", func() error {
		return loggedSince(ctx, newLeader, `"msg":"configuration loaded"`, `"experiments":3`)
	})
	for _, p := range runnerPods(ctx, t) {
		if podReady(&p) != nil {
			t.Errorf("runner %s not Ready after the upgrade: %v", p.Name, podReady(&p))
		}
		for _, c := range p.Status.ContainerStatuses {
			if c.RestartCount != 0 {
				t.Errorf("runner %s restarted %d times", p.Name, c.RestartCount)
			}
		}
	}

	// helm uninstall removes every object the runner and the chart made.
	if _, err := action.NewUninstall(helmConfig(t, s)).Run(runnerRelease); err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
	uninstalled = true
	sandbox.WaitFor(t, 3*time.Minute, "nothing of the runner left", func() error {
		left, err := s.Leftovers(ctx, runnerNS, runnerRelease)
		if err != nil {
			return err
		}
		if len(left) > 0 {
			return fmt.Errorf("left: %v", left)
		}
		return nil
	})
}

// runCLI runs the chaosnight CLI in process against the sandbox.
func runCLI(ctx context.Context, s *sandbox.Sandbox, args ...string) (int, string) {
	var out bytes.Buffer
	code := cli.RunContext(ctx, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &out}, cli.BuildInfo{Version: "test"},
		append(args, "--kubeconfig", s.Kubeconfig))
	return code, out.String()
}

// loggedSince checks that the pod's log has a line with every one of
// parts (the runner logs JSON).
func loggedSince(ctx context.Context, pod string, parts ...string) error {
	b, err := sb.Client().CoreV1().Pods(runnerNS).GetLogs(pod, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(b), "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("no log line with %q", parts)
}

// bundleOnNode writes the offline bundle (make bundle: hack/bundle) with
// the runner's image named runnerImage, as an air-gapped user gets it,
// imports the bundle's image archive into the real node's containerd (as
// INSTALL.md's single-node `ctr -n k8s.io images import` does) and loads
// the bundle's chart package: the test installs what the bundle holds,
// with nothing fetched from any network (the sandbox has none).
func bundleOnNode(ctx context.Context, t *testing.T, s *sandbox.Sandbox) *chart.Chart {
	t.Helper()
	dir := t.TempDir()
	cfg, err := image.BuildBinaries(ctx, repoRoot(t), dir, "rn", "realnode-test")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Name = runnerImage
	b, err := bundle.Write(bundle.Options{OutDir: filepath.Join(dir, "dist"), ChartDir: filepath.Join(repoRoot(t), "charts", "chaosnight"), Image: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ImportImageArchive(ctx, filepath.Join(b.Dir, b.ImageArchive)); err != nil {
		t.Fatal(err)
	}
	c, err := loader.Load(filepath.Join(b.Dir, b.Chart))
	if err != nil {
		t.Fatalf("the bundle's chart: %v", err)
	}
	return c
}

// podValues are runnerValues with the addresses the pods reach.
func podValues(ctx context.Context, t *testing.T, s *sandbox.Sandbox) map[string]any {
	t.Helper()
	host, port, err := s.PodAPIServer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	prom, err := s.PodPrometheusURL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.NewReplacer("APIHOST", host, "APIPORT", strconv.Itoa(port), "PROM", prom).Replace(runnerValues)
	out := map[string]any{}
	if err := yaml.Unmarshal([]byte(doc), &out); err != nil {
		t.Fatalf("values: %v\n%s", err, doc)
	}
	return out
}

func helmConfig(t *testing.T, s *sandbox.Sandbox) *action.Configuration {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(false)
	kc, ns := s.Kubeconfig, runnerNS
	flags.KubeConfig, flags.Namespace = &kc, &ns
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, runnerNS, "secret", func(format string, v ...any) { t.Logf("helm: "+format, v...) }); err != nil {
		t.Fatalf("helm: %v", err)
	}
	return cfg
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := sandbox.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// runnerPods are the release's runner pods, not terminating.
func runnerPods(ctx context.Context, t *testing.T) []corev1.Pod {
	t.Helper()
	list, err := sb.Client().CoreV1().Pods(runnerNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=runner"})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func describePods(pods []corev1.Pod) string {
	var b strings.Builder
	for _, p := range pods {
		fmt.Fprintf(&b, "%s on %q: %s", p.Name, p.Spec.NodeName, p.Status.Phase)
		for _, c := range p.Status.ContainerStatuses {
			if w := c.State.Waiting; w != nil {
				fmt.Fprintf(&b, " (%s: %s)", w.Reason, w.Message)
			}
			if x := c.LastTerminationState.Terminated; x != nil {
				fmt.Fprintf(&b, " (last exit %d %s)", x.ExitCode, x.Reason)
			}
		}
		b.WriteString("; ")
	}
	return b.String()
}

func podIP(pods []corev1.Pod, name string) string {
	for _, p := range pods {
		if p.Name == name {
			return p.Status.PodIP
		}
	}
	return ""
}

// recentRuns reads a runner's /runs over the node's bridge (the host
// reaches pod IPs directly).
func recentRuns(ctx context.Context, ip string) ([]runner.RunSummary, error) {
	var runs []runner.RunSummary
	return runs, getJSON(ctx, "http://"+net.JoinHostPort(ip, "8080")+"/runs", &runs)
}

// inFlight is the runner's run of experiment that has started and not
// ended.
func inFlight(ctx context.Context, ip, experiment string) (runner.RunSummary, error) {
	var st runner.Status
	if err := getJSON(ctx, "http://"+net.JoinHostPort(ip, "8080")+"/status", &st); err != nil {
		return runner.RunSummary{}, err
	}
	runs, err := recentRuns(ctx, ip)
	if err != nil {
		return runner.RunSummary{}, err
	}
	for _, r := range runs {
		if r.Experiment == experiment && r.Ended.IsZero() {
			return r, nil
		}
	}
	return runner.RunSummary{}, fmt.Errorf("no %s in flight (status: in flight %q, next %v)", experiment, st.InFlight, st.NextNights)
}

func getJSON(ctx context.Context, url string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, buf.String())
	}
	return json.Unmarshal(buf.Bytes(), v)
}

// runningStress finds the checkout pod whose chaosnight stress container
// runs, and that container.
func runningStress(ctx context.Context) (pod, container string, err error) {
	list, err := sb.Client().CoreV1().Pods(sandbox.ShopNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app=checkout"})
	if err != nil {
		return "", "", err
	}
	for _, p := range list.Items {
		for _, st := range p.Status.EphemeralContainerStatuses {
			if strings.HasPrefix(st.Name, "chaosnight-stress-") && st.State.Running != nil {
				return p.Name, st.Name, nil
			}
		}
	}
	return "", "", errors.New("no running stress container in a checkout pod")
}

// stressContainerStatus waits until the stress container has terminated
// and returns its status.
func stressContainerStatus(ctx context.Context, t *testing.T, pod, container string, timeout time.Duration) corev1.ContainerStatus {
	t.Helper()
	var got corev1.ContainerStatus
	sandbox.WaitFor(t, timeout, "the stress container "+container+" terminated", func() error {
		p, err := sb.Client().CoreV1().Pods(sandbox.ShopNamespace).Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, st := range p.Status.EphemeralContainerStatuses {
			if st.Name == container {
				got = st
				if st.State.Terminated == nil {
					return fmt.Errorf("state %+v", st.State)
				}
				return nil
			}
		}
		return fmt.Errorf("no status of %s", container)
	})
	return got
}

// evictedBy checks that run left a ChaosInjected Event on a shop pod.
func evictedBy(ctx context.Context, t *testing.T, runID string) error {
	t.Helper()
	evs, err := sb.Client().CoreV1().Events(sandbox.ShopNamespace).List(ctx, metav1.ListOptions{
		FieldSelector: "reason=ChaosInjected", LabelSelector: "chaosnight.dev/run=" + runID,
	})
	if err != nil {
		return err
	}
	if len(evs.Items) == 0 {
		return errors.New("no ChaosInjected Event of the run yet")
	}
	return nil
}

// removeShop deletes the real shop and waits until its namespace is gone
// (its pods have left the real node first), so that the next test can
// seed it again: seeding into a namespace still terminating is refused.
func removeShop(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	c := sb.Client().CoreV1().Namespaces()
	if err := c.Delete(ctx, sandbox.ShopNamespace, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Errorf("delete namespace %s: %v", sandbox.ShopNamespace, err)
	}
	sandbox.WaitFor(t, 3*time.Minute, "the shop's namespace gone", func() error {
		_, err := c.Get(ctx, sandbox.ShopNamespace, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return nil
		case err != nil:
			return err
		}
		if p := shopRunningPods(t, sandbox.ShopNamespace, "checkout"); len(p) > 0 {
			return fmt.Errorf("terminating; checkout pods still running: %v", p)
		}
		return errors.New("terminating")
	})
}
