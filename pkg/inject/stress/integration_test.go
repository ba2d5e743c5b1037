package stress_test

// Integration tests against the real sandbox control plane: the API server
// admits (or refuses) the ephemeral containers and helper pods, Pod
// Security admission judges them, RBAC is enforced, and an exec issued
// through pods/exec reaches kwok's kubelet server, which runs a recording
// script in place of `chaosnight-stress stop` (kwok runs no containers: the
// stress process itself is tested in pkg/stressor). One sandbox serves the
// package; every test works in namespaces of its own and checks the seeded
// decoys.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/stress"
	"github.com/chaosnight/chaosnight/pkg/target"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// sb is the package's shared sandbox (nil when unavailable outside CI).
var sb *sandbox.Sandbox

func TestMain(m *testing.M) {
	// stop_test.go runs this binary as a fake stress process: no sandbox.
	if os.Getenv("CHAOSNIGHT_STRESS_FAKE_PROCESS") == "1" {
		os.Exit(m.Run())
	}
	os.Exit(sandbox.RunTests(m, sandbox.Config{SeedWorkload: true}, func(s *sandbox.Sandbox) { sb = s }))
}

const testImage = "ghcr.io/chaosnight/chaosnight:v0.0.0-test"

// env is what every integration test needs.
type env struct {
	s      *sandbox.Sandbox
	admin  kubernetes.Interface // the sandbox's own client, for assertions
	client kubernetes.Interface // chaosnight's client: protobuf, 100 qps
	decoys sandbox.DecoySnapshot
}

// setup returns the environment and checks, when the test ends, that no
// seeded decoy was touched.
func setup(t *testing.T) env {
	t.Helper()
	s := sandbox.Require(t, sb)
	cs, err := target.NewClientset(s.RESTConfig, 100, 200)
	if err != nil {
		t.Fatal(err)
	}
	e := env{s: s, admin: s.Client(), client: cs}
	e.decoys, err = sandbox.SnapshotDecoys(context.Background(), e.admin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.decoys.Verify(context.Background(), e.admin); err != nil {
			t.Error(err)
		}
	})
	// Node-scope stress needs opted-in nodes: every sandbox node is,
	// unless a test says otherwise for its own duration (nodeOptIn).
	for i := range 3 {
		e.labelNode(t, sandbox.NodeName(i), "true")
	}
	return e
}

// labelNode sets the node opt-in label to value ("" removes it).
func (e env) labelNode(t *testing.T, node, value string) {
	t.Helper()
	v := "null"
	if value != "" {
		v = `"` + value + `"`
	}
	patch := []byte(`{"metadata":{"labels":{"` + inject.OptInLabel + `":` + v + `}}}`)
	if _, err := e.admin.CoreV1().Nodes().Patch(context.Background(), node, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// nodeOptIn opts node in or out until the test ends.
func (e env) nodeOptIn(t *testing.T, node string, in bool) {
	t.Helper()
	if in {
		e.labelNode(t, node, "true")
		return
	}
	e.labelNode(t, node, "")
	t.Cleanup(func() { e.labelNode(t, node, "true") })
}

// namespace creates an opted-in namespace, enforcing the restricted Pod
// Security level when restricted is set, and deletes it when the test ends
// without waiting for the namespace controller to finish (each test has
// namespaces of its own; the one test that looks at the whole cluster waits
// for them, see settledNamespaces).
func (e env) namespace(t *testing.T, name string, restricted bool) {
	t.Helper()
	ctx := context.Background()
	labels := map[string]string{inject.OptInLabel: "true"}
	if restricted {
		labels["pod-security.kubernetes.io/enforce"] = "restricted"
		labels["pod-security.kubernetes.io/enforce-version"] = "latest"
	}
	if _, err := e.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.admin.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})
}

// settledNamespaces waits until no namespace is being deleted: the pods of
// earlier tests' namespaces are then gone, and a cluster-wide snapshot
// holds only pods that stay unless this test deletes them.
func (e env) settledNamespaces(t *testing.T) {
	t.Helper()
	sandbox.WaitFor(t, 90*time.Second, "earlier tests' namespaces deleted", func() error {
		list, err := e.admin.CoreV1().Namespaces().List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		var terminating []string
		for _, n := range list.Items {
			if n.DeletionTimestamp != nil {
				terminating = append(terminating, n.Name)
			}
		}
		if len(terminating) > 0 {
			return fmt.Errorf("still terminating: %v", terminating)
		}
		return nil
	})
}

// restrictedSpec is the sandbox pod spec made to meet the restricted
// level, so that a restricted namespace admits it (and, later, changes to
// it: an ephemeral container update re-evaluates the whole pod).
func restrictedSpec(app string) corev1.PodSpec {
	spec := sandbox.PodSpec(app)
	spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr(true),
		RunAsUser:      ptr(int64(1000)),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	for i := range spec.Containers {
		spec.Containers[i].SecurityContext = &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}
	}
	return spec
}

// deployment creates a Deployment app=<app> and waits for its pods.
func (e env) deployment(t *testing.T, ns, app string, replicas int32) {
	t.Helper()
	ctx := context.Background()
	sel := map[string]string{"app": app}
	if _, err := e.admin.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel}, Spec: restrictedSpec(app)},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitReady(t, ns, "app="+app, int(replicas))
}

// pod creates a bare pod pinned to node.
func (e env) pod(t *testing.T, ns, name, app, node string) {
	t.Helper()
	spec := restrictedSpec(app)
	spec.NodeName = node
	if _, err := e.admin.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": app}},
		Spec:       spec,
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func (e env) waitReady(t *testing.T, ns, selector string, n int) {
	t.Helper()
	sandbox.WaitFor(t, 60*time.Second, fmt.Sprintf("%d ready pods %s in %s", n, selector, ns), func() error {
		list, err := e.admin.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		ready := 0
		for i := range list.Items {
			if target.IsReady(&list.Items[i]) && list.Items[i].DeletionTimestamp == nil {
				ready++
			}
		}
		if ready != n {
			return fmt.Errorf("%d ready", ready)
		}
		return nil
	})
}

// selectPods runs the whole selection: server-side LIST, filters, pick.
func (e env) selectPods(t *testing.T, tg experiment.Target, seed int64) []target.Pod {
	t.Helper()
	pods, _, err := (&target.Selector{Client: e.client}).List(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	el, _ := target.Eligible(pods, tg, time.Now())
	return target.Pick(el, tg.Pick, tg.OnePerOwner, target.NewRand(seed))
}

// podRecord is a pod as seen at one moment.
type podRecord struct {
	key, rv string
	pod     corev1.Pod
}

// snapshot returns the pods of the namespaces by UID.
func (e env) snapshot(t *testing.T, namespaces ...string) map[string]podRecord {
	t.Helper()
	out := map[string]podRecord{}
	for _, ns := range namespaces {
		list, err := e.admin.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range list.Items {
			out[string(p.UID)] = podRecord{key: p.Namespace + "/" + p.Name, rv: p.ResourceVersion, pod: p}
		}
	}
	return out
}

func outcomeSummary(inj inject.Injection) string {
	var parts []string
	for _, o := range inj.Outcomes {
		parts = append(parts, fmt.Sprintf("%s=%s (%s)", o.Pod.Key(), o.Status, o.Detail))
	}
	return strings.Join(parts, "; ")
}

func ptr[T any](v T) *T { return &v }

// execRecorder stands in for `chaosnight-stress` in the sandbox's exec bin dir:
// every exec kwok runs for a routed container appends
// "NAMESPACE/POD CONTAINER ARGS" to a file.
type execRecorder struct {
	path string
}

func recordExecs(t *testing.T, s *sandbox.Sandbox) execRecorder {
	t.Helper()
	r := execRecorder{path: filepath.Join(t.TempDir(), "execs")}
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s/%%s %%s %%s\\n' \"$%s\" \"$%s\" \"$%s\" \"$*\" >> %s\necho 'stopped pid 1: chaosnight-stress'\n",
		sandbox.EnvExecNamespace, sandbox.EnvExecPod, sandbox.EnvExecContainer, r.path)
	bin := filepath.Join(s.ExecBinDir(), "chaosnight-stress")
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(bin) })
	return r
}

func (r execRecorder) lines(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(r.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	slices.Sort(lines)
	return lines
}

// routeAll routes execs into every container (regular and the stress
// container) of every pod of ns to the recorder, so that an exec aimed at
// the wrong pod or container would be recorded, not merely refused.
func (e env) routeAll(t *testing.T, ns, extraContainer string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := e.admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list.Items {
		var cs []string
		for _, c := range p.Spec.Containers {
			cs = append(cs, c.Name)
		}
		if err := e.s.RouteExec(ctx, ns, p.Name, append(cs, extraContainer)...); err != nil {
			t.Fatal(err)
		}
	}
}

func cpuAndMemory(scope string) stress.Spec {
	return stress.Spec{Scope: scope, CPU: &stress.CPUStress{Workers: 2, Load: 80}, Memory: &stress.MemoryStress{Size: "256Mi"}}
}

var wantSecurityContext = corev1.SecurityContext{
	RunAsNonRoot:             ptr(true),
	RunAsUser:                ptr(int64(65532)),
	RunAsGroup:               ptr(int64(65532)),
	AllowPrivilegeEscalation: ptr(false),
	Privileged:               ptr(false),
	Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	ReadOnlyRootFilesystem:   ptr(true),
	SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
}

func jsonEqual(a, b any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// The sandbox API server enforces Pod Security: without this, "a restricted
// namespace admits the stress" would prove nothing.
func TestPodSecurityAdmissionIsEnforced(t *testing.T) {
	e := setup(t)
	const ns = "stress-psa"
	e.namespace(t, ns, true)
	privileged := restrictedSpec("bad")
	privileged.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr(true)}
	_, err := e.admin.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "privileged", Namespace: ns}, Spec: privileged,
	}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `violates PodSecurity "restricted:latest"`) {
		t.Fatalf("privileged pod in a restricted namespace: %v, want refused by PodSecurity", err)
	}
}

func TestPodScopeStressesExactlyTheTargetsAndRevertStopsThem(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const ns = "stress-pod"
	e.namespace(t, ns, true)
	e.deployment(t, ns, "api", 3)
	// Look-alikes that no selector for app=api matches.
	e.pod(t, ns, "api-canary", "api-canary", sandbox.NodeName(0))
	e.waitReady(t, ns, "app=api-canary", 1)

	tg := experiment.Target{Namespaces: []string{ns}, Selector: "app=api", Pick: experiment.Pick{Count: ptr(2)}}
	targets := e.selectPods(t, tg, 7)
	if len(targets) != 2 {
		t.Fatalf("picked %d pods", len(targets))
	}
	before := e.snapshot(t, ns)
	run := inject.Run{ID: "it-pod-1", Experiment: "api-under-stress"}
	injector := &stress.Injector{
		Client: e.client, Exec: stress.RemoteExec{Config: e.s.RESTConfig, Client: e.client},
		Image: testImage, Spec: cpuAndMemory("pod"), Duration: 5 * time.Minute,
		StartTimeout: 20 * time.Second, // the sandbox reports ephemeral containers running, as a kubelet does
	}
	start := time.Now()
	g := &inject.Guard{Client: e.client, Policy: inject.Policy{RequireOptIn: true}}
	inj, err := g.Inject(ctx, inject.Request{Run: run, Action: "pod-scope stress", Targets: targets, Injector: injector, MinHealthy: 1, MaxTargets: 3})
	if err != nil {
		t.Fatalf("inject: %v (%s)", err, outcomeSummary(inj))
	}
	const container = "chaosnight-stress-it-pod-1"
	isTarget := map[string]bool{}
	for _, o := range inj.Outcomes {
		isTarget[o.Pod.UID] = true
		if o.Status != inject.StatusStressed || !strings.HasPrefix(o.Detail, "ephemeral container "+container+": 2 CPU workers at 80%, 256Mi of memory for 5m0s; "+
			"CPU: asks for 1600m; the pod has no CPU limit (a container without one), so the effective load is 1600m where the node has it free (ends by itself by ") {
			t.Errorf("outcome %s: %s (%s)", o.Pod.Key(), o.Status, o.Detail)
		}
	}
	st, err := stress.DecodeState(inj.State)
	if err != nil {
		t.Fatal(err)
	}
	if st.Scope != "pod" || st.Container != container || len(st.Pods) != 2 ||
		st.Deadline.Before(start.Add(5*time.Minute)) || st.Deadline.After(time.Now().Add(5*time.Minute+time.Second)) {
		t.Errorf("state %+v", st)
	}

	// Exactly the targets hold the container, by UID, with the exact
	// command and security context; nothing else in the namespace changed.
	wantArgs := []string{"--cpu-workers", "2", "--cpu-load", "80", "--memory", "256Mi", "--duration", "5m0s", "--until", st.Deadline.UTC().Format(time.RFC3339)}
	after := e.snapshot(t, ns)
	for uid, b := range before {
		a, ok := after[uid]
		if !ok {
			t.Errorf("pod %s disappeared", b.key)
			continue
		}
		if !isTarget[uid] {
			if a.rv != b.rv || len(a.pod.Spec.EphemeralContainers) != 0 {
				t.Errorf("pod %s is not a target but changed", b.key)
			}
			continue
		}
		ecs := a.pod.Spec.EphemeralContainers
		if len(ecs) != 1 {
			t.Errorf("target %s has %d ephemeral containers, want 1", a.key, len(ecs))
			continue
		}
		ec := ecs[0]
		if ec.Name != container || ec.Image != testImage || ec.ImagePullPolicy != corev1.PullIfNotPresent ||
			!slices.Equal(ec.Command, []string{"chaosnight-stress"}) || !slices.Equal(ec.Args, wantArgs) || ec.TargetContainerName != "" {
			t.Errorf("target %s: ephemeral container %s %s %s %q %q target %q", a.key, ec.Name, ec.Image, ec.ImagePullPolicy, ec.Command, ec.Args, ec.TargetContainerName)
		}
		if !jsonEqual(ec.SecurityContext, &wantSecurityContext) {
			t.Errorf("target %s: security context %+v", a.key, ec.SecurityContext)
		}
		if len(ec.Resources.Limits)+len(ec.Resources.Requests) > 0 || len(ec.Ports) > 0 || len(ec.VolumeMounts) > 0 {
			t.Errorf("target %s: the stress container asks for more than it needs: %+v", a.key, ec)
		}
	}
	// One Warning Event per target, by the guard.
	evs, err := e.admin.CoreV1().Events(ns).List(ctx, metav1.ListOptions{LabelSelector: inject.RunLabel + "=" + run.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs.Items) != 2 {
		t.Errorf("%d events, want 2", len(evs.Items))
	}
	for _, ev := range evs.Items {
		if !isTarget[string(ev.InvolvedObject.UID)] {
			t.Errorf("event on %s, not a target", ev.InvolvedObject.Name)
		}
	}

	// Revert: exactly `chaosnight-stress stop` in exactly the stress
	// container of exactly the targets.
	rec := recordExecs(t, e.s)
	e.routeAll(t, ns, container)
	if err := injector.Revert(ctx, inj); err != nil {
		t.Fatalf("revert: %v", err)
	}
	var want []string
	for _, p := range st.Pods {
		want = append(want, ns+"/"+p.Name+" "+container+" stop")
	}
	slices.Sort(want)
	if got := rec.lines(t); !slices.Equal(got, want) {
		t.Errorf("execs:\n got %q\nwant %q", got, want)
	}
	// Idempotent, and from the journal alone: a fresh injector with the
	// Injection decoded from JSON stops them again (stop finds nothing to
	// stop in a real container and succeeds).
	b, err := json.Marshal(inj)
	if err != nil {
		t.Fatal(err)
	}
	var fromJournal inject.Injection
	if err := json.Unmarshal(b, &fromJournal); err != nil {
		t.Fatal(err)
	}
	fresh := &stress.Injector{Client: e.client, Exec: stress.RemoteExec{Config: e.s.RESTConfig, Client: e.client}}
	if err := fresh.Revert(ctx, fromJournal); err != nil {
		t.Fatalf("second revert: %v", err)
	}
	if got := rec.lines(t); len(got) != 4 {
		t.Errorf("%d execs after two reverts, want 4: %q", len(got), got)
	}
}

// serviceAccount creates a ServiceAccount with exactly rules in ns and
// returns chaosnight's client configuration for it.
func (e env) serviceAccount(t *testing.T, ns, name string, rules []rbacv1.PolicyRule) (*rest.Config, kubernetes.Interface) {
	t.Helper()
	cfg, err := e.s.ServiceAccountWithRole(context.Background(), ns, name, rules)
	if err != nil {
		t.Fatal(err)
	}
	client, err := target.NewClientset(cfg, 100, 200)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, client
}

// Pod scope needs exactly what docs/stress.md lists: get pods and update
// pods/ephemeralcontainers to inject, create pods/exec to stop early.
// Without the exec permission (or with a kubelet that refuses), Revert
// names the pods that stay stressed and until when.
func TestPodScopeRBAC(t *testing.T) {
	injectRules := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get"}},
		{APIGroups: []string{""}, Resources: []string{"pods/ephemeralcontainers"}, Verbs: []string{"update"}},
	}
	exec := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/exec"}, Verbs: []string{"create"}}
	tests := []struct {
		name  string
		rules []rbacv1.PolicyRule
		stops bool
	}{
		{"inject and stop", append(slices.Clone(injectRules), exec), true},
		{"inject only", injectRules, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t)
			ctx := context.Background()
			ns := fmt.Sprintf("stress-pod-rbac-%d", i)
			e.namespace(t, ns, true)
			e.deployment(t, ns, "api", 2)
			cfg, saClient := e.serviceAccount(t, ns, "injector", tt.rules)
			targets := e.selectPods(t, experiment.Target{Namespaces: []string{ns}, Selector: "app=api", Pick: experiment.Pick{All: true}}, 1)
			runID := fmt.Sprintf("it-rbac-%d", i)
			container := "chaosnight-stress-" + runID
			injector := &stress.Injector{
				Client: saClient, Exec: stress.RemoteExec{Config: cfg, Client: saClient},
				Image: testImage, Spec: stress.Spec{Memory: &stress.MemoryStress{Size: "64Mi"}}, Duration: time.Minute,
				ExecTimeout: 5 * time.Second,
			}
			// The role may take a moment to reach the authorizer.
			var inj injectResult
			sandbox.WaitFor(t, 10*time.Second, "injection as the service account", func() error {
				var err error
				inj.Injection, err = injector.Inject(ctx, inject.Run{ID: runID}, targets)
				if err != nil {
					return err
				}
				for _, o := range inj.Outcomes {
					if o.Status != inject.StatusStressed {
						return fmt.Errorf("%s", outcomeSummary(inj.Injection))
					}
				}
				return nil
			})
			rec := recordExecs(t, e.s)
			e.routeAll(t, ns, container)
			st, _ := stress.DecodeState(inj.State)
			err := injector.Revert(ctx, inj.Injection)
			if tt.stops {
				if err != nil {
					t.Fatalf("revert: %v", err)
				}
				if got := rec.lines(t); len(got) != 2 {
					t.Errorf("execs %q, want one per target", got)
				}
				return
			}
			var nse *stress.NotStoppedError
			if !errors.As(err, &nse) {
				t.Fatalf("revert: %v, want a NotStoppedError", err)
			}
			if !nse.Deadline.Equal(st.Deadline) || len(nse.Items) != 2 {
				t.Errorf("error %+v", nse)
			}
			for _, p := range st.Pods {
				if !strings.Contains(err.Error(), "ephemeral container "+container+" of pod "+ns+"/"+p.Name+": exec chaosnight-stress stop: ") {
					t.Errorf("the error does not name %s: %v", p.Name, err)
				}
			}
			if !strings.Contains(err.Error(), "forbidden") || !strings.Contains(err.Error(), "run until "+st.Deadline.Format(time.RFC3339)) {
				t.Errorf("error: %v", err)
			}
			if got := rec.lines(t); len(got) != 0 {
				t.Errorf("a forbidden exec ran: %q", got)
			}
		})
	}
}

// injectResult lets a closure assign an Injection.
type injectResult struct{ inject.Injection }

// A pod replaced under the same name (as a StatefulSet does) is never
// modified in its predecessor's place.
func TestPodScopeNeverTouchesAReplacement(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const ns = "stress-pod-replaced"
	e.namespace(t, ns, false)
	e.pod(t, ns, "db-0", "db", sandbox.NodeName(1))
	e.waitReady(t, ns, "app=db", 1)
	old := e.selectPods(t, experiment.Target{Namespaces: []string{ns}, Selector: "app=db", Pick: experiment.Pick{All: true}}, 1)
	if err := e.admin.CoreV1().Pods(ns).Delete(ctx, "db-0", metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}); err != nil {
		t.Fatal(err)
	}
	sandbox.WaitFor(t, 30*time.Second, "db-0 gone", func() error {
		if _, err := e.admin.CoreV1().Pods(ns).Get(ctx, "db-0", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
	e.pod(t, ns, "db-0", "db", sandbox.NodeName(1))
	e.waitReady(t, ns, "app=db", 1)
	for _, scope := range []string{"pod", "node"} {
		injector := &stress.Injector{Client: e.client, Image: testImage, Spec: stress.Spec{Scope: scope, CPU: &stress.CPUStress{}}, Duration: time.Minute}
		inj, err := injector.Inject(ctx, inject.Run{ID: "it-replaced-" + scope}, old)
		if err != nil {
			t.Fatal(err)
		}
		if len(inj.Outcomes) != 1 || inj.Outcomes[0].Status != inject.StatusGone || !strings.Contains(inj.Outcomes[0].Detail, "replaced") {
			t.Errorf("%s: %s", scope, outcomeSummary(inj))
		}
		if st, _ := stress.DecodeState(inj.State); len(st.Pods)+len(st.Helpers) != 0 {
			t.Errorf("%s: state %+v lists something created", scope, st)
		}
	}
	now, err := e.admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(now.Items) != 1 || len(now.Items[0].Spec.EphemeralContainers) != 0 {
		t.Errorf("the namespace holds %d pods; the replacement was changed or a helper created", len(now.Items))
	}
}

// helpers lists the stress helper pods of a run in ns.
func (e env) helpers(t *testing.T, ns, runID string) []corev1.Pod {
	t.Helper()
	list, err := e.admin.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: stress.HelperLabel + "=stress," + stress.RunLabel + "=" + runID})
	if err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func (e env) waitNoHelpers(t *testing.T, ns, runID string) {
	t.Helper()
	sandbox.WaitFor(t, 30*time.Second, "helpers of "+runID+" gone", func() error {
		if h := e.helpers(t, ns, runID); len(h) > 0 {
			return fmt.Errorf("%d left", len(h))
		}
		return nil
	})
}

// nodeTargets creates bare pods on nodes 0, 0 and 1 (two on one node) and
// selects all three.
func (e env) nodeTargets(t *testing.T, ns string) []target.Pod {
	t.Helper()
	e.pod(t, ns, "web-a", "web", sandbox.NodeName(0))
	e.pod(t, ns, "web-b", "web", sandbox.NodeName(0))
	e.pod(t, ns, "web-c", "web", sandbox.NodeName(1))
	e.pod(t, ns, "bystander", "other", sandbox.NodeName(2))
	e.waitReady(t, ns, "app in (web, other)", 4)
	targets := e.selectPods(t, experiment.Target{Namespaces: []string{ns}, Selector: "app=web", Pick: experiment.Pick{All: true}}, 1)
	if len(targets) != 3 {
		t.Fatalf("picked %d pods", len(targets))
	}
	return targets
}

func TestNodeScopeHelpersLandOnTheTargetsNodesAndRevertDeletesThem(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const ns = "stress-node"
	e.namespace(t, ns, true) // restricted: the helper pod must be admitted
	targets := e.nodeTargets(t, ns)
	before := e.snapshot(t, ns)
	run := inject.Run{ID: "it-node-1", Experiment: "nodes-under-stress"}
	injector := &stress.Injector{
		Client: e.client, Image: testImage, Spec: cpuAndMemory("node"), Duration: 2 * time.Minute,
		Lease: "chaosnight/chaosnight-run-it-node-1",
	}
	g := &inject.Guard{Client: e.client, Policy: inject.Policy{RequireOptIn: true}}
	start := time.Now()
	inj, err := g.Inject(ctx, inject.Request{Run: run, Action: "node-scope stress", Targets: targets, Injector: injector, MinHealthy: 0})
	if err != nil {
		t.Fatalf("inject: %v (%s)", err, outcomeSummary(inj))
	}
	for _, o := range inj.Outcomes {
		if o.Status != inject.StatusStressed || !strings.Contains(o.Detail, "on node "+o.Pod.Node+": 2 CPU workers at 80%, 256Mi of memory for 2m0s") {
			t.Errorf("outcome %s: %s (%s)", o.Pod.Key(), o.Status, o.Detail)
		}
	}
	helpers := e.helpers(t, ns, run.ID)
	byNode := map[string]corev1.Pod{}
	for _, h := range helpers {
		byNode[h.Spec.NodeName] = h
	}
	if len(helpers) != 2 || len(byNode) != 2 || byNode[sandbox.NodeName(0)].Name == "" || byNode[sandbox.NodeName(1)].Name == "" {
		t.Fatalf("%d helpers on nodes %v, want one on each of the targets' two nodes", len(helpers), byNode)
	}
	for node, h := range byNode {
		wantName, _ := stress.HelperName(run.ID, node)
		deadline, err := time.Parse(time.RFC3339, h.Annotations[stress.DeadlineAnnotation])
		// The stressor ends at the very instant of the annotation.
		wantArgs := []string{"--cpu-workers", "2", "--cpu-load", "80", "--memory", "256Mi", "--duration", "2m0s", "--until", h.Annotations[stress.DeadlineAnnotation]}
		if err != nil || deadline.Before(start.Add(2*time.Minute)) || deadline.After(time.Now().Add(2*time.Minute+time.Second)) {
			t.Errorf("%s: deadline %q (%v)", h.Name, h.Annotations[stress.DeadlineAnnotation], err)
		}
		wantTargets := ns + "/web-c"
		if node == sandbox.NodeName(0) {
			wantTargets = ns + "/web-a," + ns + "/web-b"
		}
		spec := h.Spec
		c := spec.Containers[0]
		switch {
		case h.Name != wantName:
			t.Errorf("helper name %s, want %s", h.Name, wantName)
		case h.Labels[stress.ManagedByLabel] != "chaosnight" || h.Annotations[stress.LeaseAnnotation] != injector.Lease ||
			h.Annotations[stress.ExperimentAnnotation] != run.Experiment:
			t.Errorf("%s: labels %v annotations %v", h.Name, h.Labels, h.Annotations)
		case h.Annotations[stress.TargetsAnnotation] != wantTargets:
			t.Errorf("%s: targets %q, want %q", h.Name, h.Annotations[stress.TargetsAnnotation], wantTargets)
		case spec.RestartPolicy != corev1.RestartPolicyNever || spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken ||
			spec.HostNetwork || spec.HostPID || spec.HostIPC || len(spec.Volumes) != 0:
			t.Errorf("%s: spec %+v", h.Name, spec)
		case spec.ActiveDeadlineSeconds == nil || *spec.ActiveDeadlineSeconds < 118 || *spec.ActiveDeadlineSeconds > 120:
			t.Errorf("%s: activeDeadlineSeconds %v, want 120 (the duration, rounded down to the deadline)", h.Name, spec.ActiveDeadlineSeconds)
		case len(spec.Tolerations) != 1 || spec.Tolerations[0].Operator != corev1.TolerationOpExists || spec.Tolerations[0].Key != "":
			t.Errorf("%s: tolerations %+v, want one that tolerates every taint", h.Name, spec.Tolerations)
		case spec.SecurityContext == nil || !*spec.SecurityContext.RunAsNonRoot || *spec.SecurityContext.RunAsUser != 65532 ||
			spec.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
			t.Errorf("%s: pod security context %+v", h.Name, spec.SecurityContext)
		case len(spec.Containers) != 1 || c.Image != testImage || !slices.Equal(c.Command, []string{"chaosnight-stress"}) || !slices.Equal(c.Args, wantArgs):
			t.Errorf("%s: containers %+v", h.Name, spec.Containers)
		case !jsonEqual(c.SecurityContext, &wantSecurityContext):
			t.Errorf("%s: container security context %+v", h.Name, c.SecurityContext)
		}
	}
	// The helpers run on their nodes (kwok reports them running).
	for _, h := range helpers {
		sandbox.WaitFor(t, 30*time.Second, h.Name+" running", func() error {
			p, err := e.admin.CoreV1().Pods(ns).Get(ctx, h.Name, metav1.GetOptions{})
			if err != nil || p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("phase %v (%v)", p.Status.Phase, err)
			}
			return nil
		})
	}

	// Success path: the engine's revert, with a fresh context.
	if err := injector.Revert(context.Background(), inj); err != nil {
		t.Fatalf("revert: %v", err)
	}
	if h := e.helpers(t, ns, run.ID); len(h) != 0 {
		t.Errorf("%d helpers left after revert returned", len(h))
	}
	// Idempotent.
	if err := injector.Revert(context.Background(), inj); err != nil {
		t.Errorf("second revert: %v", err)
	}
	// The targets and the bystander are the same pods as before, unchanged.
	after := e.snapshot(t, ns)
	for uid, b := range before {
		if a, ok := after[uid]; !ok || a.rv != b.rv {
			t.Errorf("pod %s changed or disappeared", b.key)
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d pods before, %d after", len(before), len(after))
	}
}

// The abort path: the run's context is cancelled (SIGINT, a stop
// condition) after the injection; the revert gets a fresh context and
// only the journal's Injection, and deletes the helpers.
func TestNodeScopeRevertAfterAbort(t *testing.T) {
	e := setup(t)
	const ns = "stress-node-abort"
	e.namespace(t, ns, false)
	targets := e.nodeTargets(t, ns)
	runCtx, abort := context.WithCancel(context.Background())
	injector := &stress.Injector{Client: e.client, Image: testImage, Spec: stress.Spec{Scope: "node", CPU: &stress.CPUStress{}}, Duration: time.Hour}
	inj, err := injector.Inject(runCtx, inject.Run{ID: "it-abort"}, targets)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(e.helpers(t, ns, "it-abort")); n != 2 {
		t.Fatalf("%d helpers, want 2 (%s)", n, outcomeSummary(inj))
	}
	abort()
	b, _ := json.Marshal(inj)
	var journaled inject.Injection
	if err := json.Unmarshal(b, &journaled); err != nil {
		t.Fatal(err)
	}
	revertCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := (&stress.Injector{Client: e.client}).Revert(revertCtx, journaled); err != nil {
		t.Fatalf("revert after abort: %v", err)
	}
	e.waitNoHelpers(t, ns, "it-abort")

	// An injection interrupted midway still lists what it created.
	ctx, cancel2 := context.WithCancel(context.Background())
	cancel2()
	inj2, err := injector.Inject(ctx, inject.Run{ID: "it-abort-2"}, targets)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("inject with a cancelled context: %v", err)
	}
	if n := len(e.helpers(t, ns, "it-abort-2")); n != 0 || len(inj2.State) != 0 {
		t.Errorf("a cancelled injection created %d helpers (state %v)", n, inj2.State)
	}
}

// A helper of this run that the state does not list (created, then the
// process died before the journal was written) is deleted by the run label.
func TestNodeScopeRevertFindsUnlistedHelpersByLabel(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const ns = "stress-node-net"
	e.namespace(t, ns, false)
	targets := e.nodeTargets(t, ns)
	injector := &stress.Injector{Client: e.client, Image: testImage, Spec: stress.Spec{Scope: "node", CPU: &stress.CPUStress{}}, Duration: time.Hour}
	inj, err := injector.Inject(ctx, inject.Run{ID: "it-net"}, targets)
	if err != nil {
		t.Fatal(err)
	}
	// Forget one helper in the journal.
	st, _ := stress.DecodeState(inj.State)
	if len(st.Helpers) != 2 {
		t.Fatalf("state %+v", st)
	}
	st.Helpers = st.Helpers[:1]
	inj.State = st.Encode()
	// Another run's helper in the same namespace stays.
	other, err := injector.Inject(ctx, inject.Run{ID: "it-net-other"}, targets[:1])
	if err != nil {
		t.Fatal(err)
	}
	if err := injector.Revert(ctx, inj); err != nil {
		t.Fatal(err)
	}
	if n := len(e.helpers(t, ns, "it-net")); n != 0 {
		t.Errorf("%d helpers of the run left", n)
	}
	if n := len(e.helpers(t, ns, "it-net-other")); n != 1 {
		t.Errorf("the other run has %d helpers, want 1 (it was touched)", n)
	}
	if err := injector.Revert(ctx, other); err != nil {
		t.Fatal(err)
	}
}

func TestRunLeaseLifecycle(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const ns = "stress-lease"
	e.namespace(t, ns, false)
	l := &stress.RunLease{Client: e.client, Namespace: ns, RunID: "it-lease", Holder: "test", Duration: 30 * time.Second, RenewEvery: 100 * time.Millisecond}
	if l.Ref() != ns+"/chaosnight-run-it-lease" {
		t.Errorf("ref %q", l.Ref())
	}
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	first, err := e.admin.CoordinationV1().Leases(ns).Get(ctx, "chaosnight-run-it-lease", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *first.Spec.HolderIdentity != "test" || *first.Spec.LeaseDurationSeconds != 30 || first.Labels[stress.RunLabel] != "it-lease" {
		t.Errorf("lease %+v", first)
	}
	sandbox.WaitFor(t, 5*time.Second, "renewal", func() error {
		l2, err := e.admin.CoordinationV1().Leases(ns).Get(ctx, "chaosnight-run-it-lease", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !l2.Spec.RenewTime.After(first.Spec.RenewTime.Time) {
			return errors.New("not renewed")
		}
		return nil
	})
	// Deleted by someone (a sweep that judged it expired): recreated.
	if err := e.admin.CoordinationV1().Leases(ns).Delete(ctx, "chaosnight-run-it-lease", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	sandbox.WaitFor(t, 5*time.Second, "recreated", func() error {
		_, err := e.admin.CoordinationV1().Leases(ns).Get(ctx, "chaosnight-run-it-lease", metav1.GetOptions{})
		return err
	})
	if err := l.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.CoordinationV1().Leases(ns).Get(ctx, "chaosnight-run-it-lease", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("lease after Stop: %v", err)
	}
	// Renewal stopped with it: nothing recreates it.
	time.Sleep(300 * time.Millisecond)
	if _, err := e.admin.CoordinationV1().Leases(ns).Get(ctx, "chaosnight-run-it-lease", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("lease came back after Stop: %v", err)
	}
	if err := l.Stop(ctx); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

// A Lease owned by the runner's Pod goes with the Pod: the cluster's
// garbage collector (the sandbox runs the real controller-manager) deletes
// it when the runner could not, as after a helm uninstall that removed the
// runner's rights before it stopped.
func TestRunLeaseGoesWithItsOwnerPod(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const ns = "stress-lease-owner"
	e.namespace(t, ns, false)
	e.pod(t, ns, "runner", "runner", sandbox.NodeName(0))
	runner, err := e.admin.CoreV1().Pods(ns).Get(ctx, "runner", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	l := &stress.RunLease{Client: e.client, Namespace: ns, RunID: "serve-runner", RenewEvery: time.Hour,
		Owner: &metav1.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: runner.Name, UID: runner.UID}}
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Stop(ctx) }()
	lease, err := e.admin.CoordinationV1().Leases(ns).Get(ctx, "chaosnight-run-serve-runner", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if o := lease.OwnerReferences; len(o) != 1 || o[0].UID != runner.UID || o[0].Kind != "Pod" {
		t.Fatalf("owner references %+v, want the runner pod", o)
	}
	if err := e.admin.CoreV1().Pods(ns).Delete(ctx, "runner", metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}); err != nil {
		t.Fatal(err)
	}
	sandbox.WaitFor(t, 60*time.Second, "the garbage collector to delete the lease", func() error {
		_, err := e.admin.CoordinationV1().Leases(ns).Get(ctx, "chaosnight-run-serve-runner", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("lease still there (%v)", err)
	})
}

// The orphan sweep at the start of a run: helpers of a killed run (its
// Lease gone, or expired) and helpers past their deadline are deleted; a
// live run's helper is kept; nothing else is touched.
func TestSweepRemovesOrphansAndKeepsLiveRuns(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const ns, leaseNS = "stress-sweep", "stress-sweep-runner"
	e.namespace(t, ns, false)
	e.namespace(t, leaseNS, false)
	targets := e.nodeTargets(t, ns)
	before := e.snapshot(t, ns)

	live := &stress.RunLease{Client: e.client, Namespace: leaseNS, RunID: "it-live", RenewEvery: time.Hour}
	killed := &stress.RunLease{Client: e.client, Namespace: leaseNS, RunID: "it-killed", Duration: time.Second, RenewEvery: time.Hour}
	for _, l := range []*stress.RunLease{live, killed} {
		if err := l.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = l.Stop(context.Background()) })
	}
	inject1 := func(id, lease string, now func() time.Time) {
		t.Helper()
		inj := &stress.Injector{Client: e.client, Image: testImage, Spec: stress.Spec{Scope: "node", CPU: &stress.CPUStress{}},
			Duration: 10 * time.Minute, Lease: lease, Now: now}
		got, err := inj.Inject(ctx, inject.Run{ID: id}, targets[2:]) // web-c, on node 1
		if err != nil || got.Outcomes[0].Status != inject.StatusStressed {
			t.Fatalf("inject %s: %v %s", id, err, outcomeSummary(got))
		}
	}
	inject1("it-live", live.Ref(), nil)
	inject1("it-killed", killed.Ref(), nil)                                        // lease expires in 1 s, never renewed
	inject1("it-vanished", leaseNS+"/chaosnight-run-it-vanished", nil)             // lease never existed (or was deleted)
	inject1("it-late", "", func() time.Time { return time.Now().Add(-time.Hour) }) // deadline long past
	inject1("it-no-lease", "", nil)                                                // no lease: the deadline alone decides
	time.Sleep(1100 * time.Millisecond)

	// A dry run (run --dry-run) reports and touches nothing.
	dry, err := stress.Sweep(ctx, e.client, stress.SweepConfig{Namespaces: []string{ns}, LeaseNamespace: leaseNS, DryRun: true})
	if err != nil || len(dry.Deleted) != 3 || dry.Kept != 2 || len(dry.Leases) != 1 {
		t.Errorf("dry-run sweep: %+v, %v", dry, err)
	}
	for _, id := range []string{"it-live", "it-killed", "it-vanished", "it-late", "it-no-lease"} {
		if h := e.helpers(t, ns, id); len(h) != 1 || h[0].DeletionTimestamp != nil {
			t.Errorf("after a dry-run sweep, run %s has %d helpers (or one is terminating)", id, len(h))
		}
	}
	if _, err := e.admin.CoordinationV1().Leases(leaseNS).Get(ctx, "chaosnight-run-it-killed", metav1.GetOptions{}); err != nil {
		t.Errorf("the dry run deleted the expired lease: %v", err)
	}

	rep, err := stress.Sweep(ctx, e.client, stress.SweepConfig{Namespaces: []string{ns}, LeaseNamespace: leaseNS})
	if err != nil {
		t.Fatal(err)
	}
	swept := map[string]string{}
	for _, d := range rep.Deleted {
		swept[d.Run] = d.Reason
		if d.Namespace != ns || d.Node != sandbox.NodeName(1) {
			t.Errorf("swept %+v", d)
		}
	}
	if len(swept) != 3 || !strings.Contains(swept["it-killed"], "expired at") || !strings.Contains(swept["it-vanished"], "does not exist") ||
		!strings.Contains(swept["it-late"], "has passed") {
		t.Errorf("swept %v", swept)
	}
	if rep.Kept != 2 {
		t.Errorf("kept %d, want 2 (it-live, it-no-lease)", rep.Kept)
	}
	if !slices.Equal(rep.Leases, []string{leaseNS + "/chaosnight-run-it-killed"}) {
		t.Errorf("leases swept %v, want only the expired one", rep.Leases)
	}
	for _, id := range []string{"it-killed", "it-vanished", "it-late"} {
		e.waitNoHelpers(t, ns, id)
	}
	for _, id := range []string{"it-live", "it-no-lease"} {
		if n := len(e.helpers(t, ns, id)); n != 1 {
			t.Errorf("run %s has %d helpers, want 1", id, n)
		}
	}
	if _, err := e.admin.CoordinationV1().Leases(leaseNS).Get(ctx, "chaosnight-run-it-live", metav1.GetOptions{}); err != nil {
		t.Errorf("the live run's lease: %v", err)
	}
	// The workload pods are the same as before, unchanged.
	after := e.snapshot(t, ns)
	for uid, b := range before {
		if a, ok := after[uid]; !ok || a.rv != b.rv {
			t.Errorf("pod %s changed or disappeared", b.key)
		}
	}
	// A second sweep finds nothing more to do.
	rep, err = stress.Sweep(ctx, e.client, stress.SweepConfig{Namespaces: []string{ns}, LeaseNamespace: leaseNS})
	if err != nil || len(rep.Deleted) != 0 || len(rep.Leases) != 0 {
		t.Errorf("second sweep: %+v, %v", rep, err)
	}
}

// Sweep everywhere (no namespaces): the seeded decoys and every
// non-helper pod are untouched; concurrent sweeps do not fail each other.
func TestSweepAllNamespacesTouchesOnlyHelpers(t *testing.T) {
	e := setup(t)
	e.settledNamespaces(t)
	ctx := context.Background()
	const ns = "stress-sweep-all"
	e.namespace(t, ns, false)
	targets := e.nodeTargets(t, ns)
	inj := &stress.Injector{Client: e.client, Image: testImage, Spec: stress.Spec{Scope: "node", CPU: &stress.CPUStress{}},
		Duration: time.Minute, Now: func() time.Time { return time.Now().Add(-time.Hour) }}
	if _, err := inj.Inject(ctx, inject.Run{ID: "it-sweep-all"}, targets); err != nil {
		t.Fatal(err)
	}
	all := e.snapshot(t, metav1.NamespaceAll)
	var wg sync.WaitGroup
	var mu sync.Mutex
	deleted := 0
	for range 3 {
		wg.Go(func() {
			rep, err := stress.Sweep(ctx, e.client, stress.SweepConfig{})
			if err != nil {
				t.Errorf("sweep: %v", err)
			}
			mu.Lock()
			deleted += len(rep.Deleted)
			mu.Unlock()
		})
	}
	wg.Wait()
	if deleted < 2 {
		t.Errorf("%d deletions over three sweeps, want the 2 helpers", deleted)
	}
	e.waitNoHelpers(t, ns, "it-sweep-all")
	after := e.snapshot(t, metav1.NamespaceAll)
	for uid, b := range all {
		if b.pod.Labels[stress.HelperLabel] != "" {
			continue
		}
		if a, ok := after[uid]; !ok || a.pod.DeletionTimestamp != nil {
			t.Errorf("pod %s is not a helper but was deleted", b.key)
		}
	}
}

// clusterRights gives the ServiceAccount ns/sa the cluster-wide rules
// (nodes are cluster-scoped) until the test ends.
func (e env) clusterRights(t *testing.T, ns, sa string, rules []rbacv1.PolicyRule) {
	t.Helper()
	ctx := context.Background()
	name := "chaosnight-test-" + ns + "-" + sa
	if _, err := e.admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = e.admin.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = e.admin.RbacV1().ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
}

// Node scope with StartTimeout: kwok starts the helpers, so the stress is
// confirmed running; a node-scope RBAC of exactly get, list, create and
// delete on pods, and get on nodes (the opt-in label), is enough to inject
// and revert. Without the right to read the nodes, nothing is stressed.
func TestNodeScopeStartConfirmationAndRBAC(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const ns = "stress-node-start"
	e.namespace(t, ns, true)
	targets := e.nodeTargets(t, ns)
	_, saClient := e.serviceAccount(t, ns, "injector", []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"get", "list", "create", "delete"}},
	})
	injector := &stress.Injector{Client: saClient, Image: testImage, Spec: stress.Spec{Scope: "node", CPU: &stress.CPUStress{}},
		Duration: time.Minute, StartTimeout: 20 * time.Second}
	// The pod rights may take a moment to reach the authorizer; the node
	// right is missing throughout.
	sandbox.WaitFor(t, 10*time.Second, "a refusal for the unreadable nodes", func() error {
		refused, err := injector.Inject(ctx, inject.Run{ID: "it-node-start"}, targets)
		if err != nil {
			return err
		}
		for _, o := range refused.Outcomes {
			want := "nodeOptIn: cannot read node " + o.Pod.Node + ", so it is not stressed: "
			if o.Status != inject.StatusRefused || !strings.HasPrefix(o.Detail, want) || !strings.Contains(o.Detail, "forbidden") {
				return fmt.Errorf("%s, want refused: %s…forbidden", outcomeSummary(refused), want)
			}
		}
		return nil
	})
	if n := len(e.helpers(t, ns, "it-node-start")); n != 0 {
		t.Fatalf("%d helpers created on nodes that could not be read", n)
	}
	e.clusterRights(t, ns, "injector", []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"get"}}})
	// Without the right to list pods in every namespace, the collateral is
	// what the targets' namespace shows, and says that the rest is unknown.
	e.pod(t, ns, "neighbour", "neighbour", sandbox.NodeName(0))
	sandbox.WaitFor(t, 10*time.Second, "the collateral as the service account", func() error {
		adm := injector.Admit(ctx, inject.Run{ID: "it-node-start"}, targets)
		if len(adm.Refused) != 0 || len(adm.Collateral) != 2 {
			return fmt.Errorf("admission %+v", adm)
		}
		for _, c := range adm.Collateral {
			wantPods := 0
			if c.Node == sandbox.NodeName(0) {
				wantPods = 1
			}
			if len(c.Pods) != wantPods || (wantPods == 1 && c.Pods[0].Key() != ns+"/neighbour") ||
				c.Error != "only the pods of namespace(s) "+ns+" were looked at; the pods of other namespaces on node "+c.Node+" are unknown (this runner may not list pods in every namespace)" {
				return fmt.Errorf("collateral %+v", c)
			}
		}
		return nil
	})
	var inj injectResult
	sandbox.WaitFor(t, 10*time.Second, "injection as the service account", func() error {
		var err error
		inj.Injection, err = injector.Inject(ctx, inject.Run{ID: "it-node-start"}, targets)
		if err != nil {
			return err
		}
		for _, o := range inj.Outcomes {
			if o.Status != inject.StatusStressed {
				return fmt.Errorf("%s", outcomeSummary(inj.Injection))
			}
		}
		return nil
	})
	for _, h := range e.helpers(t, ns, "it-node-start") {
		if h.Status.Phase != corev1.PodRunning {
			t.Errorf("helper %s is %s after a confirmed start", h.Name, h.Status.Phase)
		}
	}
	if err := injector.Revert(ctx, inj.Injection); err != nil {
		t.Fatal(err)
	}
	if n := len(e.helpers(t, ns, "it-node-start")); n != 0 {
		t.Errorf("%d helpers left", n)
	}
}
