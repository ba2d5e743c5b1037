package podkill_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/podkill"
	"github.com/chaosnight/chaosnight/pkg/target"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// With targets in many namespaces the guard counts every owner's ready pods
// from one cluster-wide LIST instead of a GET and a LIST per owner; the
// minHealthy decisions must be the same.
func TestMinHealthyAcrossManyNamespaces(t *testing.T) {
	e := setup(t)
	ctx := t.Context()
	var namespaces []string
	for i := range 6 {
		ns := fmt.Sprintf("many-%d", i)
		namespaces = append(namespaces, ns)
		if _, err := e.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
			Labels: map[string]string{inject.OptInLabel: "true"}}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.admin.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
		replicas := int32(2)
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Spec: appsv1.DeploymentSpec{
				Replicas: &replicas,
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
				Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: sandbox.PodSpec("web")},
			},
		}
		if _, err := e.admin.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tgt := experiment.Target{Namespaces: namespaces, Selector: "app=web"}
	var pods []target.Pod
	sandbox.WaitFor(t, 30*time.Second, "12 ready web pods", func() error {
		var err error
		pods, _, err = (&target.Selector{Client: e.client}).List(ctx, tgt)
		if err != nil {
			return err
		}
		ready := 0
		for _, p := range pods {
			if p.Ready {
				ready++
			}
		}
		if ready != 12 {
			return fmt.Errorf("%d ready", ready)
		}
		return nil
	})
	// Every pod of every namespace is a target: with minHealthy 1, one pod
	// of each two-pod Deployment may go, the other is refused.
	var logs bytes.Buffer
	g := &inject.Guard{Client: e.client, Policy: inject.Policy{RequireOptIn: true, DryRun: true},
		Log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	inj, err := g.Inject(ctx, inject.Request{Run: inject.Run{ID: "many", Experiment: "many"}, Action: "evict",
		Targets: pods, Injector: &podkill.Injector{Client: e.client, Method: "evict"}, MaxTargets: 100, MinHealthy: 1})
	if err != nil {
		t.Fatal(err)
	}
	admitted := map[string]int{}
	for _, o := range inj.Outcomes {
		switch {
		case o.Status == inject.StatusDryRun:
			admitted[o.Pod.Namespace]++
		case o.Status == inject.StatusRefused && strings.HasPrefix(o.Detail, "minHealthy: ReplicaSet "+o.Pod.Namespace+"/web-") &&
			strings.Contains(o.Detail, "has 2 ready pods, minHealthy 1"):
		default:
			t.Errorf("%s: %s %s", o.Pod.Key(), o.Status, o.Detail)
		}
	}
	if strings.Contains(logs.String(), "owner by owner") {
		t.Errorf("the guard fell back to reading owner by owner:\n%s", logs.String())
	}
	for _, ns := range namespaces {
		if admitted[ns] != 1 {
			t.Errorf("namespace %s: %d pods admitted, want 1", ns, admitted[ns])
		}
	}
}
