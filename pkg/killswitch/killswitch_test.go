package killswitch_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/chaosnight/chaosnight/pkg/killswitch"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// Abort is proven against the sandbox's real API server: its watch, the
// RBAC that allows or refuses it, and the fallback to polling.
var sb *sandbox.Sandbox

func TestMain(m *testing.M) {
	os.Exit(sandbox.RunTests(m, sandbox.Config{}, func(s *sandbox.Sandbox) { sb = s }))
}

// namespace creates a namespace named prefix-<random> (unique, so that
// -count=N does not meet the previous run's namespace still terminating),
// deleted when the test ends, and returns its name.
func namespace(t *testing.T, client kubernetes.Interface, prefix string) string {
	t.Helper()
	ctx := context.Background()
	ns, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
	return ns.Name
}

// states records what onChange saw.
type states struct {
	mu  sync.Mutex
	got []killswitch.State
}

func (s *states) add(st killswitch.State) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, st)
}

func (s *states) first() killswitch.State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got[0]
}

func (s *states) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// aborted waits (at most a minute: this is not a timing check) until ctx
// ends, and returns its cause.
func aborted(t *testing.T, ctx context.Context) error {
	t.Helper()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-time.After(time.Minute):
		t.Fatal("the run was not aborted")
		return nil
	}
}

// With a poll interval of an hour only the watch can see the pause: it
// aborts the run, through a switch that did not exist when Abort started,
// was created released, and changed by an unrelated ConfigMap meanwhile.
func TestAbortSeesAPauseThroughItsWatch(t *testing.T) {
	s := sandbox.Require(t, sb)
	ns := namespace(t, s.Client(), "killswitch-watch")
	sw := &killswitch.Switch{Client: s.Client(), Namespace: ns}
	var seen states
	ctx, stop := sw.Abort(context.Background(), time.Hour, seen.add)
	defer stop()

	seen.waitFor(t, 1)
	if first := seen.first(); first != (killswitch.State{}) {
		t.Errorf("first state %+v, want released (no ConfigMap)", first)
	}
	if err := sw.Set(context.Background(), killswitch.State{}); err != nil {
		t.Fatal(err)
	}
	other := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "not-the-switch", Namespace: ns}, Data: map[string]string{"engaged": "true"}}
	if _, err := s.Client().CoreV1().ConfigMaps(ns).Create(context.Background(), other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if ctx.Err() != nil {
		t.Fatalf("aborted by another ConfigMap or a released switch: %v", context.Cause(ctx))
	}
	since := time.Date(2026, 11, 23, 22, 0, 0, 0, time.UTC)
	if err := sw.Set(context.Background(), killswitch.State{Engaged: true, Reason: "incident INC-7", By: "alice", Since: since}); err != nil {
		t.Fatal(err)
	}
	cause := aborted(t, ctx)
	if !errors.Is(cause, killswitch.ErrEngaged) || cause.Error() != "kill switch engaged: paused by alice at 2026-11-23T22:00:00Z: incident INC-7" {
		t.Errorf("cause %v", cause)
	}
}

func (s *states) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for s.len() < n {
		if time.Now().After(deadline) {
			t.Fatalf("saw %d states, want %d", s.len(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A runner allowed only to get the switch (not to watch it) still aborts:
// Abort falls back to reading it every interval.
func TestAbortPollsWhenItMayNotWatch(t *testing.T) {
	s := sandbox.Require(t, sb)
	ns := namespace(t, s.Client(), "killswitch-poll")
	client := serviceAccount(t, s, ns, "getter", rbacv1.PolicyRule{
		APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{killswitch.DefaultName}, Verbs: []string{"get"}})
	if _, err := client.CoreV1().ConfigMaps(ns).Watch(context.Background(), metav1.ListOptions{FieldSelector: "metadata.name=" + killswitch.DefaultName}); err == nil {
		t.Fatal("the service account may watch: the test would not test the fallback")
	}
	ctx, stop := (&killswitch.Switch{Client: client, Namespace: ns}).Abort(context.Background(), 100*time.Millisecond, nil)
	defer stop()
	if err := (&killswitch.Switch{Client: s.Client(), Namespace: ns}).Set(context.Background(), killswitch.State{Engaged: true}); err != nil {
		t.Fatal(err)
	}
	if cause := aborted(t, ctx); !errors.Is(cause, killswitch.ErrEngaged) {
		t.Errorf("cause %v", cause)
	}
}

// What the chart grants (get and watch on the switch by name) is enough
// for the watch: with an hour's poll, a pause still aborts.
func TestAbortWatchesWithTheChartsRights(t *testing.T) {
	s := sandbox.Require(t, sb)
	ns := namespace(t, s.Client(), "killswitch-rbac")
	client := serviceAccount(t, s, ns, "runner", rbacv1.PolicyRule{
		APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{killswitch.DefaultName}, Verbs: []string{"get", "watch"}})
	ctx, stop := (&killswitch.Switch{Client: client, Namespace: ns}).Abort(context.Background(), time.Hour, nil)
	defer stop()
	time.Sleep(300 * time.Millisecond) // let the watch open
	if err := (&killswitch.Switch{Client: s.Client(), Namespace: ns}).Set(context.Background(), killswitch.State{Engaged: true}); err != nil {
		t.Fatal(err)
	}
	if cause := aborted(t, ctx); !errors.Is(cause, killswitch.ErrEngaged) {
		t.Errorf("cause %v", cause)
	}
}

func serviceAccount(t *testing.T, s *sandbox.Sandbox, ns, name string, rule rbacv1.PolicyRule) kubernetes.Interface {
	t.Helper()
	ctx := context.Background()
	cfg, err := s.ServiceAccountWithRole(ctx, ns, name, []rbacv1.PolicyRule{rule})
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// RBAC takes effect within moments of the binding.
	sandbox.WaitFor(t, 30*time.Second, "the service account's right to get the switch", func() error {
		if _, err := client.CoreV1().ConfigMaps(ns).Get(ctx, killswitch.DefaultName, metav1.GetOptions{}); apierrors.IsForbidden(err) {
			return err
		}
		return nil
	})
	return client
}

// A watch that ends as soon as it opens (a proxy that cannot stream) must
// not be reopened in a tight loop: Abort polls at its interval in between,
// and still sees the pause. A fake clientset stands in for such a server.
func TestAbortPollsWhenTheWatchEndsAtOnce(t *testing.T) {
	client := fake.NewClientset()
	var watches atomic.Int32
	client.PrependWatchReactor("configmaps", func(k8stesting.Action) (bool, watch.Interface, error) {
		watches.Add(1)
		w := watch.NewFake()
		w.Stop()
		return true, w, nil
	})
	sw := &killswitch.Switch{Client: client, Namespace: "ns"}
	ctx, stop := sw.Abort(context.Background(), 50*time.Millisecond, nil)
	defer stop()
	time.Sleep(500 * time.Millisecond)
	if n := watches.Load(); n > 12 {
		t.Errorf("%d watches opened in 500 ms with a 50 ms poll: a tight loop", n)
	}
	if err := sw.Set(context.Background(), killswitch.State{Engaged: true}); err != nil {
		t.Fatal(err)
	}
	if cause := aborted(t, ctx); !errors.Is(cause, killswitch.ErrEngaged) {
		t.Errorf("cause %v", cause)
	}
}

// A switch the runner may not read is engaged: Engaged says so with the
// API server's refusal, and a run in flight aborts once the switch has
// stayed unreadable for MaxUnreadable, with cause ErrUnreadable.
func TestForbiddenSwitchCountsAsEngaged(t *testing.T) {
	s := sandbox.Require(t, sb)
	ns := namespace(t, s.Client(), "killswitch-forbidden")
	// A right on another ConfigMap only: the switch itself is forbidden.
	client := serviceAccountOn(t, s, ns, "blind", rbacv1.PolicyRule{
		APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"something-else"}, Verbs: []string{"get"}})
	sw := &killswitch.Switch{Client: client, Namespace: ns, MaxUnreadable: time.Second}
	_, _, err := sw.Engaged(context.Background())
	if !apierrors.IsForbidden(err) {
		t.Fatalf("Engaged error %v, want the API server's Forbidden", err)
	}
	ctx, stop := sw.Abort(context.Background(), 100*time.Millisecond, nil)
	defer stop()
	cause := aborted(t, ctx)
	if !errors.Is(cause, killswitch.ErrUnreadable) || !errors.Is(cause, killswitch.ErrEngaged) || !strings.Contains(cause.Error(), "forbidden") {
		t.Errorf("cause %v", cause)
	}
}

// A value the API server stores but chaosnight does not understand is
// engaged, for Engaged and for a run in flight (at once, through the watch).
func TestUnclearSwitchCountsAsEngaged(t *testing.T) {
	s := sandbox.Require(t, sb)
	ns := namespace(t, s.Client(), "killswitch-unclear")
	sw := &killswitch.Switch{Client: s.Client(), Namespace: ns}
	ctx, stop := sw.Abort(context.Background(), time.Hour, nil)
	defer stop()
	time.Sleep(300 * time.Millisecond) // let the watch open
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: killswitch.DefaultName, Namespace: ns}, Data: map[string]string{"engaged": "yes", "reason": "INC-8"}}
	if _, err := s.Client().CoreV1().ConfigMaps(ns).Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cause := aborted(t, ctx)
	if !errors.Is(cause, killswitch.ErrEngaged) || !strings.Contains(cause.Error(), `engaged="yes"`) {
		t.Errorf("cause %v", cause)
	}
	engaged, why, err := sw.Engaged(context.Background())
	if err != nil || !engaged || !strings.Contains(why, "not understood") {
		t.Errorf("Engaged = %v, %q, %v; want engaged, not understood", engaged, why, err)
	}
}

// serviceAccountOn is serviceAccount without the wait for a right to get
// the switch (the account may have none): it waits for the binding to take
// effect on the ConfigMap the rule names.
func serviceAccountOn(t *testing.T, s *sandbox.Sandbox, ns, name string, rule rbacv1.PolicyRule) kubernetes.Interface {
	t.Helper()
	ctx := context.Background()
	cfg, err := s.ServiceAccountWithRole(ctx, ns, name, []rbacv1.PolicyRule{rule})
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sandbox.WaitFor(t, 30*time.Second, "the service account's binding", func() error {
		if _, err := client.CoreV1().ConfigMaps(ns).Get(ctx, rule.ResourceNames[0], metav1.GetOptions{}); apierrors.IsForbidden(err) {
			return err
		}
		return nil
	})
	return client
}
