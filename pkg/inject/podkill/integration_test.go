package podkill_test

// Integration tests against the real sandbox control plane (kube-apiserver,
// controllers, kwok): selection, the Guard and pod kills, with the safety
// invariants of the design checked by UID. One sandbox serves the package;
// tests run one after the other and each leaves the seeded workload fully
// available again.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/podkill"
	"github.com/chaosnight/chaosnight/pkg/target"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// sb is the package's shared sandbox (nil when unavailable outside CI).
var sb *sandbox.Sandbox

func TestMain(m *testing.M) {
	os.Exit(sandbox.RunTests(m, sandbox.Config{SeedWorkload: true}, func(s *sandbox.Sandbox) { sb = s }))
}

// env is what every integration test needs.
type env struct {
	admin  kubernetes.Interface // the sandbox's own client, for assertions
	client kubernetes.Interface // chaosnight's client: protobuf, 100 qps
}

func setup(t *testing.T) env {
	t.Helper()
	s := sandbox.Require(t, sb)
	cs, err := target.NewClientset(s.RESTConfig, 100, 200)
	if err != nil {
		t.Fatal(err)
	}
	e := env{admin: s.Client(), client: cs}
	e.waitSeeded(t) // a previous test's victims are replaced
	t.Cleanup(func() { e.waitSeeded(t) })
	return e
}

func (e env) waitSeeded(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := sandbox.WaitWorkloadReady(ctx, e.admin); err != nil {
		t.Fatalf("seeded workload: %v", err)
	}
}

// podRecord is a pod as seen at one moment.
type podRecord struct {
	key, rv    string
	ready      bool
	terminated bool // deletionTimestamp set
}

// snapshot returns every pod in the cluster by UID.
func (e env) snapshot(t *testing.T) map[string]podRecord {
	t.Helper()
	list, err := e.admin.CoreV1().Pods(metav1.NamespaceAll).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]podRecord, len(list.Items))
	for i := range list.Items {
		p := &list.Items[i]
		out[string(p.UID)] = podRecord{key: p.Namespace + "/" + p.Name, rv: p.ResourceVersion, ready: target.IsReady(p), terminated: p.DeletionTimestamp != nil}
	}
	return out
}

// readyCount counts the Ready, non-terminating pods of ns with selector.
func (e env) readyCount(ctx context.Context, ns, selector string) (int, error) {
	list, err := e.admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return 0, err
	}
	n := 0
	for i := range list.Items {
		if target.IsReady(&list.Items[i]) && list.Items[i].DeletionTimestamp == nil {
			n++
		}
	}
	return n, nil
}

// watchFloor polls the ready count of ns/selector every 20 ms until the
// test ends and fails the test if it ever drops below floor.
func (e env) watchFloor(t *testing.T, ns, selector string, floor int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var lowest atomic.Int64
	lowest.Store(1 << 30)
	var polls atomic.Int64
	wg.Go(func() {
		for ctx.Err() == nil {
			if n, err := e.readyCount(ctx, ns, selector); err == nil {
				polls.Add(1)
				if int64(n) < lowest.Load() {
					lowest.Store(int64(n))
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if polls.Load() == 0 {
			t.Errorf("floor watcher of %s %s never read the pods", ns, selector)
		}
		if l := lowest.Load(); l < int64(floor) {
			t.Errorf("%s %s dropped to %d ready pods, below the floor %d", ns, selector, l, floor)
		}
	})
}

// selectPods runs the whole selection: server-side LIST, filters, pick.
func (e env) selectPods(t *testing.T, tg experiment.Target, seed int64) ([]target.Pod, target.Stats) {
	t.Helper()
	pods, st, err := (&target.Selector{Client: e.client}).List(context.Background(), tg)
	if err != nil {
		t.Fatal(err)
	}
	el, _ := target.Eligible(pods, tg, time.Now())
	return target.Pick(el, tg.Pick, tg.OnePerOwner, target.NewRand(seed)), st
}

func (e env) guard(p inject.Policy) *inject.Guard {
	return &inject.Guard{Client: e.client, Policy: p}
}

func outcomeSummary(inj inject.Injection) string {
	var parts []string
	for _, o := range inj.Outcomes {
		parts = append(parts, fmt.Sprintf("%s=%s (%s)", o.Pod.Key(), o.Status, o.Detail))
	}
	return strings.Join(parts, "; ")
}

func checkout() experiment.Target {
	return experiment.Target{Namespaces: []string{sandbox.ShopNamespace}, Selector: "app=checkout", Pick: experiment.Pick{Count: ptr(1)}}
}

func ptr[T any](v T) *T { return &v }

// recordingTransport records the Content-Type of every response.
type recordingTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	seen []string
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err == nil {
		r.mu.Lock()
		r.seen = append(r.seen, req.Method+" "+req.URL.Path+" -> "+resp.Header.Get("Content-Type"))
		r.mu.Unlock()
	}
	return resp, err
}

func TestSelectionIsServerSide(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	cfg := rest.CopyConfig(sb.RESTConfig)
	rec := &recordingTransport{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { rec.next = rt; return rec })
	cs, err := target.NewClientset(cfg, 100, 200)
	if err != nil {
		t.Fatal(err)
	}
	all, err := e.admin.CoreV1().Pods(sandbox.ShopNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// shop also holds cart, frontend and the look-alikes checkout-canary
	// (app=checkout-canary) and checkout-db-0 (app=checkout-db).
	var want []string
	for _, p := range all.Items {
		if p.Labels["app"] == "checkout" && p.Status.Phase == corev1.PodRunning {
			want = append(want, p.Name)
		}
	}
	if len(want) != 3 || len(all.Items) <= len(want) {
		t.Fatalf("seeded shop: %d pods, %d checkout pods: not the fixture this test expects", len(all.Items), len(want))
	}

	sel := &target.Selector{Client: cs, PageSize: 1}
	pods, st, err := sel.List(ctx, checkout())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pods {
		got = append(got, p.Name)
		if p.Namespace != sandbox.ShopNamespace || p.Labels["app"] != "checkout" || p.Phase != "Running" || p.Owner == nil || p.Owner.Kind != "ReplicaSet" {
			t.Errorf("selected %+v", p)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("selected %v, want %v", got, want)
	}
	// The server returned exactly the matching pods: none of the
	// namespace's other pods crossed the wire. One per page, plus possibly
	// an empty last page: the server hands out a continue token whenever
	// more keys follow in etcd, whether or not they match the selectors.
	if st.PodsSeen != 3 || st.Requests < 3 || st.Requests > 4 || st.Namespaces != 1 {
		t.Errorf("stats = %+v, want 3 pods seen in 3 pages (4 requests at most)", st)
	}
	rec.mu.Lock()
	for _, s := range rec.seen {
		if !strings.HasSuffix(s, "-> "+runtime.ContentTypeProtobuf) {
			t.Errorf("response not protobuf: %s", s)
		}
	}
	rec.mu.Unlock()

	// The user's field selector is combined with status.phase=Running, server-side.
	node := pods[0].Node
	onNode, st, err := sel.List(ctx, experiment.Target{Namespaces: []string{sandbox.ShopNamespace}, Selector: "app=checkout", FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range all.Items {
		if p.Labels["app"] == "checkout" && p.Spec.NodeName == node {
			n++
		}
	}
	if len(onNode) != n || st.PodsSeen != n {
		t.Errorf("on node %s: selected %d, server sent %d, want %d", node, len(onNode), st.PodsSeen, n)
	}
	for _, p := range onNode {
		if p.Node != node {
			t.Errorf("pod %s on node %s, want %s", p.Key(), p.Node, node)
		}
	}
}

func TestEvictOneCheckoutPodIsReplaced(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.watchFloor(t, sandbox.ShopNamespace, "app=checkout", 2)
	before := e.snapshot(t)
	targets, _ := e.selectPods(t, checkout(), 1)
	if len(targets) != 1 {
		t.Fatalf("picked %d pods", len(targets))
	}
	victim := targets[0]
	g := e.guard(inject.Policy{RequireOptIn: true})
	inj, err := g.Inject(ctx, inject.Request{
		Run: inject.Run{ID: "it-evict", Experiment: "checkout-survives-pod-loss"}, Action: "evict",
		Targets: targets, MinHealthy: 2, MaxTargets: 3,
		Injector: &podkill.Injector{Client: e.client, Method: "evict", GracePeriod: ptr(time.Duration(0))},
	})
	if err != nil {
		t.Fatalf("inject: %v (%s)", err, outcomeSummary(inj))
	}
	if len(inj.Outcomes) != 1 || inj.Outcomes[0].Status != inject.StatusEvicted {
		t.Fatalf("outcomes: %s", outcomeSummary(inj))
	}
	// The victim goes away (by UID), and the ReplicaSet brings a new pod.
	sandbox.WaitFor(t, 30*time.Second, "victim gone", func() error {
		p, err := e.admin.CoreV1().Pods(victim.Namespace).Get(ctx, victim.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && string(p.UID) != victim.UID) {
			return nil
		}
		return fmt.Errorf("still there: %v", err)
	})
	sandbox.WaitFor(t, 60*time.Second, "replacement ready", func() error {
		list, err := e.admin.CoreV1().Pods(sandbox.ShopNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app=checkout"})
		if err != nil {
			return err
		}
		fresh := 0
		for i := range list.Items {
			p := &list.Items[i]
			if _, old := before[string(p.UID)]; !old && target.IsReady(p) && p.DeletionTimestamp == nil {
				fresh++
			}
		}
		if fresh != 1 {
			return fmt.Errorf("%d new ready checkout pods", fresh)
		}
		return nil
	})
	// Everything else in the cluster is the same pod as before.
	after := e.snapshot(t)
	for uid, r := range before {
		if uid == victim.UID {
			continue
		}
		if _, ok := after[uid]; !ok {
			t.Errorf("pod %s (uid %s) disappeared but was not a target", r.key, uid)
		}
	}
	// One Event, on the victim, naming experiment, run and action.
	evs, err := e.admin.CoreV1().Events(sandbox.ShopNamespace).List(ctx, metav1.ListOptions{LabelSelector: inject.RunLabel + "=it-evict"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs.Items) != 1 {
		t.Fatalf("%d events for the run, want 1", len(evs.Items))
	}
	ev := evs.Items[0]
	if string(ev.InvolvedObject.UID) != victim.UID || ev.Reason != inject.ReasonInjected || ev.Type != corev1.EventTypeWarning ||
		!strings.Contains(ev.Message, `"checkout-survives-pod-loss"`) || !strings.Contains(ev.Message, "it-evict") || !strings.Contains(ev.Message, "evict") {
		t.Errorf("event = %s %s on %s: %q", ev.Type, ev.Reason, ev.InvolvedObject.UID, ev.Message)
	}
}

func TestEvictionRespectsPodDisruptionBudget(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	// A workload whose budget allows no disruption at all: 2 replicas,
	// minAvailable 2. (shop/checkout allows one, and kwok replaces an
	// evicted pod within milliseconds, so there the budget opens again
	// almost at once; this one never does.)
	const ns, app = "pdb-guarded", "ledger"
	e.newWorkload(t, ns, app, 2, 2)
	e.watchFloor(t, ns, "app="+app, 2)
	targets, _ := e.selectPods(t, experiment.Target{Namespaces: []string{ns}, Selector: "app=" + app, Pick: experiment.Pick{All: true}}, 1)
	if len(targets) != 2 {
		t.Fatalf("picked %d pods, want 2", len(targets))
	}
	before := e.snapshot(t)
	// Through the guard with its own minHealthy out of the way
	// (MinHealthy 0): the budget alone decides.
	start := time.Now()
	inj, err := e.guard(inject.Policy{RequireOptIn: true}).Inject(ctx, inject.Request{
		Run: inject.Run{ID: "it-pdb", Experiment: "pdb"}, Action: "evict", Targets: targets,
		Injector: &podkill.Injector{Client: e.client, Method: "evict", GracePeriod: ptr(time.Duration(0))},
	})
	if err != nil {
		t.Fatalf("inject: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s: a refused eviction must not be retried", d)
	}
	for _, o := range inj.Outcomes {
		if o.Status != inject.StatusProtected || o.Detail != "protected by PodDisruptionBudget "+ns+"/ledger: 0 disruptions allowed (it needs 2 healthy pods and has 2)" {
			t.Errorf("outcome %s: %s (%s), want protected by the ledger budget", o.Pod.Key(), o.Status, o.Detail)
		}
	}
	// Nothing else happened: same pods, same resourceVersions, no Event.
	after := e.snapshot(t)
	for _, p := range targets {
		if b, a := before[p.UID], after[p.UID]; a.key == "" || a.terminated || a.rv != b.rv {
			t.Errorf("protected pod %s changed: before %+v, after %+v", p.Key(), b, a)
		}
	}
	evs, err := e.admin.CoreV1().Events(ns).List(ctx, metav1.ListOptions{LabelSelector: inject.RunLabel + "=it-pdb"})
	if err != nil || len(evs.Items) != 0 {
		t.Errorf("%d events (%v), want none: nothing was touched", len(evs.Items), err)
	}
}

// newWorkload creates an opted-in namespace with a Deployment app=<app>
// and, when pdbMinAvailable > 0, a PodDisruptionBudget named like it, waits
// until the budget has seen every replica, and deletes the namespace when
// the test ends.
func (e env) newWorkload(t *testing.T, ns, app string, replicas int32, pdbMinAvailable int) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: ns, Labels: map[string]string{inject.OptInLabel: "true"},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Wait for the namespace to be gone, so that the next test's
	// cluster-wide snapshots do not see its pods terminating.
	t.Cleanup(func() {
		ctx := context.Background()
		if err := e.admin.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
			t.Errorf("delete namespace %s: %v", ns, err)
			return
		}
		sandbox.WaitFor(t, 60*time.Second, "namespace "+ns+" deleted", func() error {
			if _, err := e.admin.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Errorf("still there (%v)", err)
			}
			return nil
		})
	})
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
	if _, err := e.admin.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas, Selector: sel,
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel.MatchLabels}, Spec: sandbox.PodSpec(app)},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if pdbMinAvailable > 0 {
		minAvailable := intstr.FromInt(pdbMinAvailable)
		if _, err := e.admin.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
			Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &minAvailable, Selector: sel},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	sandbox.WaitFor(t, 60*time.Second, ns+"/"+app+" ready", func() error {
		if n, err := e.readyCount(ctx, ns, "app="+app); err != nil || n != int(replicas) {
			return fmt.Errorf("%d ready pods (%v)", n, err)
		}
		if pdbMinAvailable == 0 {
			return nil
		}
		pdb, err := e.admin.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, app, metav1.GetOptions{})
		if err != nil || pdb.Status.ObservedGeneration < pdb.Generation || pdb.Status.CurrentHealthy != replicas {
			return fmt.Errorf("budget not computed yet (%v)", err)
		}
		return nil
	})
}

func TestDeleteKillsExactlyTheTargets(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	tg := experiment.Target{Namespaces: []string{sandbox.ShopNamespace}, Selector: "app=frontend", Pick: experiment.Pick{All: true}}
	targets, _ := e.selectPods(t, tg, 3)
	if len(targets) != 2 {
		t.Fatalf("picked %d frontend pods, want 2", len(targets))
	}
	before := e.snapshot(t)
	k := &podkill.Injector{Client: e.client, Method: "delete", GracePeriod: ptr(2 * time.Second)}
	inj, err := k.Inject(ctx, inject.Run{ID: "it-delete"}, targets)
	if err != nil {
		t.Fatal(err)
	}
	isTarget := map[string]bool{}
	for _, o := range inj.Outcomes {
		if o.Status != inject.StatusKilled || o.Detail != "deleted (grace period 2s)" {
			t.Errorf("outcome %s: %s (%s)", o.Pod.Key(), o.Status, o.Detail)
		}
		isTarget[o.Pod.UID] = true
	}
	sandbox.WaitFor(t, 30*time.Second, "targets gone", func() error {
		now := e.snapshot(t)
		for uid := range isTarget {
			if r, ok := now[uid]; ok && !r.terminated {
				return fmt.Errorf("%s neither gone nor terminating", r.key)
			}
		}
		return nil
	})
	after := e.snapshot(t)
	for uid, r := range before {
		if isTarget[uid] {
			continue
		}
		if a, ok := after[uid]; !ok || a.terminated {
			t.Errorf("pod %s (uid %s) was not a target but is gone or terminating", r.key, uid)
		}
	}
}

func TestGuardNeverTouchesDecoys(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	decoys, err := sandbox.SnapshotDecoys(ctx, e.admin)
	if err != nil {
		t.Fatal(err)
	}
	e.watchFloor(t, sandbox.ShopNamespace, "app=checkout", 2)
	// A wide experiment: the blast radius names a namespace that is not
	// opted in and kube-system (opted in there on purpose: the deny list
	// must win). Only shop/checkout pods may ever be touched.
	tg := experiment.Target{
		Namespaces: []string{sandbox.ShopNamespace, sandbox.StagingNamespace, "kube-system"},
		Selector:   "app=checkout",
		Pick:       experiment.Pick{Count: ptr(4)},
	}
	allowed := func(p target.Pod) bool {
		return p.Namespace == sandbox.ShopNamespace && p.Labels["app"] == "checkout" && p.Owner != nil && p.Owner.Kind == "ReplicaSet" &&
			strings.HasPrefix(p.Owner.Name, "checkout-")
	}
	g := e.guard(inject.Policy{RequireOptIn: true})
	killed, refused := 0, map[string]int{}
	for seed := range int64(20) {
		targets, _ := e.selectPods(t, tg, seed)
		inj, err := g.Inject(ctx, inject.Request{
			Run: inject.Run{ID: fmt.Sprintf("it-decoys-%d", seed), Experiment: "decoys"}, Action: "evict",
			Targets: targets, MinHealthy: 2, MaxTargets: 3,
			Injector: &podkill.Injector{Client: e.client, GracePeriod: ptr(time.Duration(0))},
		})
		if err != nil && !isRefused(err) {
			t.Fatalf("seed %d: %v", seed, err)
		}
		for _, o := range inj.Outcomes {
			if inject.Touched(o.Status) || o.Status == inject.StatusProtected {
				if !allowed(o.Pod) {
					t.Errorf("seed %d: decoy %s (uid %s) reached the API: %s", seed, o.Pod.Key(), o.Pod.UID, o.Status)
				}
				if inject.Touched(o.Status) {
					killed++
				}
			}
			if o.Status == inject.StatusRefused {
				rule, _, _ := strings.Cut(o.Detail, ":")
				refused[rule]++
				if allowed(o.Pod) && rule != inject.RuleMinHealthy {
					t.Errorf("seed %d: %s refused by %s", seed, o.Pod.Key(), o.Detail)
				}
			}
		}
		if n, err := e.readyCount(ctx, sandbox.ShopNamespace, "app=checkout"); err != nil || n < 2 {
			t.Fatalf("seed %d: %d ready checkout pods (%v), minHealthy 2 crossed", seed, n, err)
		}
		e.waitSeeded(t)
	}
	if err := decoys.Verify(ctx, e.admin); err != nil {
		t.Error(err)
	}
	// The test proves something only if both sides happened.
	if killed < 10 || refused[inject.RuleOptIn] == 0 || refused[inject.RuleDenyNamespace] == 0 {
		t.Errorf("over 20 seeds: %d kills, refusals %v: the decoys were not really exercised", killed, refused)
	}
	t.Logf("20 seeds: %d kills, refusals by rule %v", killed, refused)
}

func isRefused(err error) bool {
	var re *inject.RefusedError
	return errors.As(err, &re)
}

func TestMinHealthyIsNeverCrossed(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	// cart: 2 replicas and no PodDisruptionBudget, so only the guard's
	// minHealthy stands between the experiment and an outage.
	e.watchFloor(t, sandbox.ShopNamespace, "app=cart", 1)
	tg := experiment.Target{Namespaces: []string{sandbox.ShopNamespace}, Selector: "app=cart", Pick: experiment.Pick{All: true}}
	g := e.guard(inject.Policy{RequireOptIn: true})
	kill := func(run string) inject.Injection {
		targets, _ := e.selectPods(t, tg, 1)
		inj, err := g.Inject(ctx, inject.Request{
			Run: inject.Run{ID: run, Experiment: "cart"}, Action: "delete", Targets: targets, MinHealthy: 1,
			Injector: &podkill.Injector{Client: e.client, Method: "delete", GracePeriod: ptr(time.Duration(0))},
		})
		if err != nil && !isRefused(err) {
			t.Fatal(err)
		}
		return inj
	}
	inj := kill("it-min-1")
	var statuses []string
	for _, o := range inj.Outcomes {
		statuses = append(statuses, o.Status)
		if o.Status == inject.StatusRefused && !strings.HasPrefix(o.Detail, "minHealthy: ReplicaSet shop/cart-") {
			t.Errorf("refusal %q", o.Detail)
		}
		if o.Status == inject.StatusRefused && !strings.HasSuffix(o.Detail, "has 2 ready pods, minHealthy 1 (1 pod already admitted in this injection)") {
			t.Errorf("refusal %q", o.Detail)
		}
	}
	slices.Sort(statuses)
	if !slices.Equal(statuses, []string{inject.StatusKilled, inject.StatusRefused}) {
		t.Fatalf("outcomes: %s", outcomeSummary(inj))
	}
	// At once again, while the replacement may not be ready: the guard's
	// fresh read must still keep one ready cart pod. Repeat a few times.
	for i := range 5 {
		inj := kill(fmt.Sprintf("it-min-%d", i+2))
		if n, err := e.readyCount(ctx, sandbox.ShopNamespace, "app=cart"); err != nil || n < 1 {
			t.Fatalf("round %d: %d ready cart pods (%v) after %s", i, n, err, outcomeSummary(inj))
		}
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	before := e.snapshot(t)
	tg := experiment.Target{Namespaces: []string{sandbox.ShopNamespace, sandbox.StagingNamespace}, Selector: "tier=backend", Pick: experiment.Pick{All: true}}
	targets, _ := e.selectPods(t, tg, 5)
	g := e.guard(inject.Policy{RequireOptIn: true, DryRun: true})
	for _, method := range []string{"evict", "delete"} {
		inj, err := g.Inject(ctx, inject.Request{
			Run: inject.Run{ID: "it-dry-" + method, Experiment: "dry"}, Action: method, Targets: targets, MinHealthy: 1, MaxTargets: 10,
			Injector: &podkill.Injector{Client: e.client, Method: method},
		})
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		dry := 0
		for _, o := range inj.Outcomes {
			switch o.Status {
			case inject.StatusDryRun:
				dry++
			case inject.StatusRefused:
			default:
				t.Errorf("%s: outcome %s %s in a dry run", method, o.Pod.Key(), o.Status)
			}
		}
		if dry == 0 {
			t.Errorf("%s: nothing would have been injected: %s", method, outcomeSummary(inj))
		}
	}
	after := e.snapshot(t)
	if len(after) != len(before) {
		t.Errorf("%d pods before, %d after", len(before), len(after))
	}
	for uid, b := range before {
		if a, ok := after[uid]; !ok || a.rv != b.rv {
			t.Errorf("pod %s (uid %s) changed during a dry run: %+v -> %+v", b.key, uid, b, a)
		}
	}
	evAfter, err := e.admin.CoreV1().Events(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: inject.RunLabel})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evAfter.Items {
		if strings.HasPrefix(ev.Labels[inject.RunLabel], "it-dry-") {
			t.Errorf("event %s written during a dry run", ev.Name)
		}
	}
}
