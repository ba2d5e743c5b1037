package chart_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/killswitch"
	"github.com/chaosnight/chaosnight/pkg/schedule"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// nightValues install a runner whose night opens every minute for 55 s and
// plays one short eviction experiment on shop/checkout, with hypotheses on
// the sandbox's demo traffic over short rate windows.
const nightValues = `
dryRun: false
rbac:
  namespaces: [shop]
nights:
  - name: every-minute
    opens: "* * * * *"
    lasts: 55s
    timezone: UTC
    experiments: {names: [chart-checkout-evict]}
experiments:
  chart-checkout-evict: |
    apiVersion: chaosnight.dev/v1alpha1
    kind: Experiment
    metadata:
      name: chart-checkout-evict
      labels: {team: payments}
    spec:
      description: Evicting one checkout pod every 4 s keeps checkout's 5xx ratio under 1 %.
      hypothesis:
        probes:
          - name: checkout-error-ratio
            query: |
              sum(rate(http_requests_total{namespace="shop",service="checkout",code=~"5.."}[15s]))
                / sum(rate(http_requests_total{namespace="shop",service="checkout"}[15s]))
            expect: {below: 0.01}
          - name: checkout-available
            query: kube_deployment_status_replicas_available{namespace="shop",deployment="checkout"}
            expect: {atLeast: 2}
      target:
        namespaces: [shop]
        selector: app=checkout
        pick: {count: 1}
      action:
        podKill: {method: evict, every: 4s}
      duration: 10s
      probeInterval: 2s
      recovery: 10s
      stopWhen:
        - name: checkout-gone
          query: sum(kube_deployment_status_replicas_available{namespace="shop",deployment="checkout"})
          expect: {below: 1}
      safety: {maxTargets: 1, minHealthy: 2}
`

// helmConfig is a Helm action configuration against the sandbox, as the
// helm CLI builds it from a kubeconfig (releases stored as Secrets).
func helmConfig(t testing.TB, s *sandbox.Sandbox, ns string) *action.Configuration {
	t.Helper()
	flags := genericclioptions.NewConfigFlags(false)
	kc, n := s.Kubeconfig, ns
	flags.KubeConfig, flags.Namespace = &kc, &n
	cfg := new(action.Configuration)
	if err := cfg.Init(flags, ns, "secret", func(format string, v ...any) { t.Logf("helm: "+format, v...) }); err != nil {
		t.Fatalf("helm: %v", err)
	}
	return cfg
}

// TestNight is the user's path, end to end: helm install the chart,
// check the runner's rights, play a real pod-kill night with `chaosnight
// serve` holding a token of the chart's ServiceAccount (nothing more), pause,
// helm upgrade (the pause survives), helm uninstall (nothing is left).
func TestNight(t *testing.T) {
	s := sandbox.Require(t, sb)
	t.Parallel()
	ctx := t.Context()
	admin := s.Client()
	const ns, name = releaseNamespace, releaseName

	// Build the binary while Helm installs.
	binDir := t.TempDir()
	built := make(chan error, 1)
	go func() { built <- buildChaosnight(ctx, filepath.Join(binDir, "chaosnight")) }()

	ensureNamespace(ctx, t, admin, ns)
	c := loadChart(t)
	inst := action.NewInstall(helmConfig(t, s, ns))
	inst.ReleaseName, inst.Namespace = name, ns
	rel, err := inst.RunWithContext(ctx, c, vals(t, nightValues))
	if err != nil {
		t.Fatalf("helm install: %v", err)
	}
	t.Logf("helm install: release %s revision %d, %s", rel.Name, rel.Version, rel.Info.Status)

	t.Run("rights", func(t *testing.T) {
		f := defaultFeatures()
		f.namespaces = []string{"shop"}
		f.dryRun = false
		checkAccess(ctx, t, admin, f)
		// The list, spelled out.
		for _, tc := range []struct {
			a    access
			want bool
		}{
			{access{Namespace: "shop", Verb: "create", Resource: "pods", Subresource: "eviction"}, true},
			{access{Namespace: "shop", Verb: "delete", Resource: "pods"}, true},
			{access{Namespace: "shop", Verb: "list", Resource: "pods"}, true},
			{access{Namespace: "shop", Verb: "get", Group: "apps", Resource: "replicasets"}, true},
			{access{Namespace: "shop", Verb: "create", Resource: "events"}, true},
			{access{Namespace: ns, Verb: "update", Group: "coordination.k8s.io", Resource: "leases", Name: "chaosnight-runner"}, true},
			{access{Namespace: ns, Verb: "get", Resource: "configmaps", Name: "chaosnight-kill-switch"}, true},
			{access{Namespace: ns, Verb: "watch", Resource: "configmaps", Name: "chaosnight-kill-switch"}, true},
			{access{Namespace: ns, Verb: "watch", Resource: "configmaps", Name: "chaosnight-state"}, false},
			{access{Namespace: ns, Verb: "update", Resource: "configmaps", Name: "chaosnight-state"}, true},
			{access{Verb: "get", Resource: "namespaces", Name: "shop"}, true},
			{access{Namespace: "shop", Verb: "get", Resource: "secrets"}, false},
			{access{Namespace: "shop", Verb: "list", Resource: "secrets"}, false},
			{access{Namespace: ns, Verb: "get", Resource: "secrets"}, false},
			{access{Verb: "list", Resource: "secrets"}, false},
			{access{Namespace: "kube-system", Verb: "delete", Resource: "pods"}, false},
			{access{Namespace: "kube-system", Verb: "create", Resource: "pods", Subresource: "eviction"}, false},
			{access{Namespace: "kube-system", Verb: "list", Resource: "pods"}, false},
			{access{Namespace: "shop-staging", Verb: "delete", Resource: "pods"}, false},
			{access{Namespace: "shop-staging", Verb: "create", Resource: "pods", Subresource: "eviction"}, false},
			{access{Namespace: "shop", Verb: "create", Resource: "pods"}, false},
			{access{Namespace: "shop", Verb: "create", Resource: "pods", Subresource: "exec"}, false},
			{access{Namespace: ns, Verb: "update", Resource: "configmaps", Name: "chaosnight-kill-switch"}, false},
			{access{Namespace: "shop", Verb: "create", Group: "coordination.k8s.io", Resource: "leases"}, false},
			{access{Verb: "list", Resource: "namespaces"}, false},
		} {
			got, err := allowedFor(ctx, admin, ns, name, tc.a)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("%s: allowed=%v, want %v", tc.a, got, tc.want)
			}
		}
	})

	t.Run("night", func(t *testing.T) {
		if err := <-built; err != nil {
			t.Fatal(err)
		}
		playNight(ctx, t, s, nightRun{bin: filepath.Join(binDir, "chaosnight"), ns: ns, name: name, status: "evicted", victims: "checkout-"})
	})

	t.Run("upgrade keeps the pause", func(t *testing.T) {
		ks := &killswitch.Switch{Client: admin, Namespace: ns}
		since := time.Now().Truncate(time.Second)
		if err := ks.Set(ctx, killswitch.State{Engaged: true, Reason: "chart test", By: "test", Since: since}); err != nil {
			t.Fatal(err)
		}
		up := action.NewUpgrade(helmConfig(t, s, ns))
		up.Namespace = ns
		changed := vals(t, nightValues)
		changed["dryRun"] = true
		changed["nights"] = []any{map[string]any{"name": "weekly", "opens": "@weekly", "lasts": "1h", "timezone": "Europe/Paris", "experiments": map[string]any{"selector": "team=payments"}}}
		rel, err := up.RunWithContext(ctx, name, c, changed)
		if err != nil {
			t.Fatalf("helm upgrade: %v", err)
		}
		if rel.Version != 2 {
			t.Errorf("revision %d after upgrade", rel.Version)
		}
		st, err := ks.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Engaged || st.Reason != "chart test" || !st.Since.Equal(since) {
			t.Errorf("after helm upgrade the kill switch is %+v: an upgrade must not release a pause", st)
		}
		cm, err := admin.CoreV1().ConfigMaps(ns).Get(ctx, name+"-config", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(cm.Data["chaosnight.yaml"], "weekly") || !strings.Contains(cm.Data["chaosnight.yaml"], "dryRun: true") {
			t.Errorf("the configuration was not upgraded:\n%s", cm.Data["chaosnight.yaml"])
		}
	})

	t.Run("uninstall leaves nothing", func(t *testing.T) {
		un := action.NewUninstall(helmConfig(t, s, ns))
		if _, err := un.Run(name); err != nil {
			t.Fatalf("helm uninstall: %v", err)
		}
		waitNoLeftovers(ctx, t, s, ns, name)
	})
}

// stressNightValues install a second runner, in its own namespace, with
// node-scope stress only (no pod kills): its night stresses the node of one
// cart pod with a helper pod, which only these values' rights allow.
const stressNightValues = `
dryRun: false
rbac:
  namespaces: [shop]
podKill: {enabled: false}
stress: {enabled: true, podScope: false, nodeScope: true, startTimeout: 20s}
nights:
  - name: every-minute
    opens: "* * * * *"
    lasts: 55s
    timezone: UTC
    experiments: {selector: chart-test=stress}
experiments:
  chart-cart-node-stress: |
    apiVersion: chaosnight.dev/v1alpha1
    kind: Experiment
    metadata:
      name: chart-cart-node-stress
      labels: {chart-test: stress}
    spec:
      description: A little CPU stress on the node of one cart pod keeps cart's 5xx ratio under 1 %.
      hypothesis:
        probes:
          - name: cart-error-ratio
            query: |
              sum(rate(http_requests_total{namespace="shop",service="cart",code=~"5.."}[15s]))
                / sum(rate(http_requests_total{namespace="shop",service="cart"}[15s]))
            expect: {below: 0.01}
      target:
        namespaces: [shop]
        selector: app=cart
        pick: {count: 1}
      action:
        stress: {scope: node, cpu: {workers: 1, load: 10}}
      duration: 8s
      probeInterval: 2s
      recovery: 10s
      safety: {maxTargets: 1, minHealthy: 1}
`

// TestStressNight plays a node-scope stress night under exactly the rights
// the chart gives with stress.nodeScope (helper pods created and deleted in
// the target namespace, run Leases), next to TestNight's pod-kill runner,
// then uninstalls it.
func TestStressNight(t *testing.T) {
	s := sandbox.Require(t, sb)
	t.Parallel()
	ctx := t.Context()
	admin := s.Client()
	const ns, name = "chaosnight-stress", "chaosnight-stress"

	binDir := t.TempDir()
	built := make(chan error, 1)
	go func() { built <- buildChaosnight(ctx, filepath.Join(binDir, "chaosnight")) }()

	ensureNamespace(ctx, t, admin, ns)
	// Node-scope stress only touches opted-in nodes.
	for i := range 3 {
		node := sandbox.NodeName(i)
		optIn := []byte(`{"metadata":{"labels":{"chaosnight.dev/enabled":"true"}}}`)
		if _, err := admin.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, optIn, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			optOut := []byte(`{"metadata":{"labels":{"chaosnight.dev/enabled":null}}}`)
			_, _ = admin.CoreV1().Nodes().Patch(context.Background(), node, types.MergePatchType, optOut, metav1.PatchOptions{})
		})
	}
	inst := action.NewInstall(helmConfig(t, s, ns))
	inst.ReleaseName, inst.Namespace = name, ns
	if _, err := inst.RunWithContext(ctx, loadChart(t), vals(t, stressNightValues)); err != nil {
		t.Fatalf("helm install: %v", err)
	}
	f := defaultFeatures()
	f.releaseNS, f.sa, f.namespaces, f.dryRun = ns, name, []string{"shop"}, false
	f.podKill, f.allowDelete, f.stressNode = false, false, true
	checkAccess(ctx, t, admin, f)

	if err := <-built; err != nil {
		t.Fatal(err)
	}
	playNight(ctx, t, s, nightRun{bin: filepath.Join(binDir, "chaosnight"), ns: ns, name: name, status: "stressed", victims: "cart-"})
	helpers, err := admin.CoreV1().Pods("shop").List(ctx, metav1.ListOptions{LabelSelector: "chaosnight.dev/helper=stress"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range helpers.Items {
		if p.DeletionTimestamp == nil {
			t.Errorf("helper pod %s left after the night", p.Name)
		}
	}

	if _, err := action.NewUninstall(helmConfig(t, s, ns)).Run(name); err != nil {
		t.Fatalf("helm uninstall: %v", err)
	}
	waitNoLeftovers(ctx, t, s, ns, name)
}

// waitNoLeftovers waits until nothing of release name is left (the
// garbage collector removes the pods of the Deployment in the background):
// sandbox.Leftovers lists every object of every kind in ns, and the
// release's labelled objects anywhere else (Events aside).
func waitNoLeftovers(ctx context.Context, t testing.TB, s *sandbox.Sandbox, ns, name string) {
	t.Helper()
	var left []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		var err error
		left, err = s.Leftovers(ctx, ns, name)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("left behind after helm uninstall:\n  %s", strings.Join(left, "\n  "))
	}
}

// buildChaosnight builds ./cmd/chaosnight into path, with the flags of
// `make build` (which `make test` runs first), so the build cache is shared
// and this takes seconds.
func buildChaosnight(ctx context.Context, path string) error {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", path, "./cmd/chaosnight")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

// syncBuffer is a bytes.Buffer safe for a child's output and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// nightRun is one night to play: the binary, the release, and what its
// experiment does to its targets (outcome status, victims' name prefix).
type nightRun struct {
	bin, ns, name   string
	status, victims string
}

// serveFiles are what `chaosnight serve` reads of an installed release,
// as the chart's pod would: a kubeconfig holding a TokenRequest token of
// the chart's ServiceAccount (nothing more), and the configuration and the
// experiments of the release's ConfigMaps.
type serveFiles struct {
	dir, ns                         string
	kubeconfig, config, experiments string
}

// releaseFiles writes the serveFiles of release name in namespace ns.
func releaseFiles(ctx context.Context, t *testing.T, s *sandbox.Sandbox, ns, name string) serveFiles {
	t.Helper()
	admin := s.Client()
	f := serveFiles{dir: t.TempDir(), ns: ns}
	saCfg, err := s.ServiceAccountConfig(ctx, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	f.kubeconfig = filepath.Join(f.dir, "kubeconfig")
	if err := writeKubeconfig(f.kubeconfig, saCfg, ns); err != nil {
		t.Fatal(err)
	}
	cm, err := admin.CoreV1().ConfigMaps(ns).Get(ctx, name+"-config", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.config = filepath.Join(f.dir, "chaosnight.yaml")
	if err := os.WriteFile(f.config, []byte(cm.Data["chaosnight.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	exps, err := admin.CoreV1().ConfigMaps(ns).Get(ctx, name+"-experiments", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.experiments = filepath.Join(f.dir, "experiments")
	expDir := filepath.Join(f.experiments, "values")
	if err := os.MkdirAll(expDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for file, data := range exps.Data {
		if err := os.WriteFile(filepath.Join(expDir, file), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// serveProcess is one `chaosnight serve` child process.
type serveProcess struct {
	name   string
	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{} // closed once it has exited; err is set by then
	err    error
}

// startServe starts `chaosnight serve` on files, live (--dry-run=false),
// with JSON logs and the extra flags (--journal-dir, --identity, ...); env
// is added to a clean environment. It dies with the test process, and the
// test's cleanup kills it if it still runs and logs its output if the test
// failed.
func startServe(t *testing.T, s *sandbox.Sandbox, bin, name string, files serveFiles, env []string, extra ...string) *serveProcess {
	t.Helper()
	args := append([]string{"serve",
		"--config", files.config,
		"--kubeconfig", files.kubeconfig,
		"--namespace", files.ns,
		"--experiments", files.experiments,
		"--prometheus-url", s.PrometheusURL,
		"--dry-run=false",
		"--listen", "127.0.0.1:0",
		"--log-format", "json",
	}, extra...)
	p := &serveProcess{name: name, out: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(append(cleanEnv(), "HOME="+files.dir), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("chaosnight serve (%s) output:\n%s", p.name, p.out.String())
		}
	})
	return p
}

// stop sends SIGTERM and waits for serve to exit 0: the run in flight is
// aborted and reverted, and the leader Lease released, before it exits.
func (p *serveProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
		if p.err != nil {
			t.Errorf("serve (%s) did not exit 0 on SIGTERM: %v", p.name, p.err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("serve (%s) did not stop within 30 s of SIGTERM", p.name)
	}
}

// checkNotForbidden fails the test if the runner was refused anything
// (its rights are exactly the chart's).
func (p *serveProcess) checkNotForbidden(t *testing.T) {
	t.Helper()
	if forbidden := regexp.MustCompile(`(?i)forbidden`).FindAllString(p.out.String(), -1); len(forbidden) > 0 {
		t.Errorf("serve (%s) was refused something under the chart's rights (%d \"forbidden\" in its log)", p.name, len(forbidden))
	}
}

// playNight runs `chaosnight serve` as a child process with exactly the
// chart's rights (a TokenRequest token of its ServiceAccount), the
// installed configuration and experiments, until a journal says held.
func playNight(ctx context.Context, t *testing.T, s *sandbox.Sandbox, run nightRun) {
	admin := s.Client()
	ns, name := run.ns, run.name
	files := releaseFiles(ctx, t, s, ns, name)
	journals := filepath.Join(files.dir, "journals")

	decoys, err := sandbox.SnapshotDecoys(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}

	identity := name + "-test-runner"
	started := time.Now()
	serve := startServe(t, s, run.bin, identity, files, []string{"POD_NAME=" + identity}, "--journal-dir", journals)

	// The window opens at the next minute at the latest (or now, if the
	// runner starts early enough in an open one to fit the experiment).
	rec, err := waitHeld(ctx, journals, serve, 150*time.Second)
	if err != nil {
		t.Fatalf("%v (after %s)", err, time.Since(started).Round(time.Second))
	}
	t.Logf("verdict %s after %s: run %s", rec.Verdict, time.Since(started).Round(time.Second), rec.RunID)
	if rec.DryRun {
		t.Error("the run was a dry run")
	}
	touched := 0
	for _, inj := range rec.Injections {
		for _, o := range inj.Outcomes {
			if o.Status == run.status {
				touched++
			}
			if o.Pod.Namespace != "shop" || !strings.HasPrefix(o.Pod.Name, run.victims) {
				t.Errorf("outcome on %s/%s", o.Pod.Namespace, o.Pod.Name)
			}
		}
	}
	if touched == 0 {
		t.Errorf("no target was %s: %+v", run.status, rec.Injections)
	}

	// The runner holds the leader Lease and wrote its Events, with the
	// chart's rights.
	lease, err := admin.CoordinationV1().Leases(ns).Get(ctx, "chaosnight-runner", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != identity {
		t.Errorf("leader Lease holder = %v, want %s", lease.Spec.HolderIdentity, identity)
	}
	waitEvents(ctx, t, admin, ns, "involvedObject.name="+identity, "ExperimentStarted", "ExperimentHeld")
	victims, err := admin.CoreV1().Events("shop").List(ctx, metav1.ListOptions{LabelSelector: "chaosnight.dev/run=" + rec.RunID})
	if err != nil {
		t.Fatal(err)
	}
	if len(victims.Items) != touched {
		t.Errorf("%d ChaosInjected events in shop, want one per target %s (%d)", len(victims.Items), run.status, touched)
	}

	serve.stop(t)
	serve.checkNotForbidden(t)
	// The chart turns the custom resources on by default: the runner
	// watched them (every namespace, or customResources.namespaces) with
	// the chart's rights, which checkNotForbidden proves sufficient.
	data, err := os.ReadFile(files.config)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := schedule.LoadConfig(files.config, data, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CustomResources.Enabled && !strings.Contains(serve.out.String(), "watching custom resources") {
		t.Errorf("serve (%s) did not watch the custom resources although the chart's configuration enables them", serve.name)
	}
	if err := decoys.Verify(ctx, admin); err != nil {
		t.Errorf("decoys: %v", err)
	}
}

// waitHeld waits for a journal with verdict held in dir. A skip (the
// window opened too late to fit the experiment) waits for the next window;
// any other final verdict fails.
func waitHeld(ctx context.Context, dir string, serve *serveProcess, timeout time.Duration) (*journal.Record, error) {
	deadline := time.After(timeout)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var seen []string
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		slices.Sort(files)
		seen = seen[:0]
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			var rec journal.Record
			if json.Unmarshal(data, &rec) != nil {
				continue // being written
			}
			seen = append(seen, fmt.Sprintf("%s: %s %s", filepath.Base(f), rec.Verdict, strings.Join(rec.Reasons, "; ")))
			switch rec.Verdict {
			case journal.Held:
				return &rec, nil
			case journal.Running, journal.Skipped:
			default:
				return nil, fmt.Errorf("verdict %s: %s", rec.Verdict, strings.Join(rec.Reasons, "; "))
			}
		}
		select {
		case <-serve.exited:
			return nil, fmt.Errorf("serve exited early (%v); journals: %q", serve.err, seen)
		case <-deadline:
			return nil, fmt.Errorf("no held verdict within %s; journals: %q", timeout, seen)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// waitEvents waits until Events with every reason exist in ns.
func waitEvents(ctx context.Context, t testing.TB, c kubernetes.Interface, ns, fieldSelector string, reasons ...string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		evs, err := c.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: fieldSelector})
		if err != nil {
			t.Fatal(err)
		}
		var missing []string
		for _, r := range reasons {
			if !slices.ContainsFunc(evs.Items, func(e corev1.Event) bool { return e.Reason == r }) {
				missing = append(missing, r)
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("no Event %v in %s (%s)", missing, ns, fieldSelector)
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// writeKubeconfig writes a kubeconfig holding cfg's server, CA and token,
// with ns as the context's namespace.
func writeKubeconfig(path string, cfg *rest.Config, ns string) error {
	if cfg.BearerToken == "" {
		return errors.New("no token")
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["sandbox"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["chaosnight"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["chaosnight"] = &clientcmdapi.Context{Cluster: "sandbox", AuthInfo: "chaosnight", Namespace: ns}
	kc.CurrentContext = "chaosnight"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}

// cleanEnv is the environment without anything that would change what
// serve reads (CHAOSNIGHT_* settings, KUBECONFIG).
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "CHAOSNIGHT_") || strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "POD_NAME=") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}
