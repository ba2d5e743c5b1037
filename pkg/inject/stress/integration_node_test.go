package stress_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/stress"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// deadlineOf returns the instant an outcome says the stress ends by.
func deadlineOf(t *testing.T, o inject.Outcome) string {
	t.Helper()
	_, after, ok := strings.Cut(o.Detail, "(ends by itself by ")
	if !ok {
		t.Fatalf("%s: detail %q names no deadline", o.Pod.Key(), o.Detail)
	}
	return strings.TrimSuffix(after, ")")
}

// argValue returns the value after flag in args, or "".
func argValue(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// podsOnNode returns the keys of the pods bound to node that still run or
// are about to (what the collateral counts), without stress helpers.
func (e env) podsOnNode(t *testing.T, node string) map[string]bool {
	t.Helper()
	list, err := e.admin.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range list.Items {
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.Labels[stress.HelperLabel] == "" {
			out[p.Namespace+"/"+p.Name] = true
		}
	}
	return out
}

// Node-scope stress only touches opted-in nodes (chaosnight.dev/enabled=
// true), also in dry run, where the refusal names the rule; the plan, the
// dry run and the injection list the collateral of every node that is
// stressed: the pods of other namespaces and workloads on it, exactly as
// the API server lists them. The deadline is one instant: the outcome's,
// the helper's annotation and the stressor's --until.
func TestNodeScopeOptInAndCollateral(t *testing.T) {
	e := setup(t)
	e.settledNamespaces(t) // the pods on the nodes stay put during the test
	ctx := context.Background()
	const ns, other = "stress-node-optin", "stress-node-neighbours"
	e.namespace(t, ns, true)
	e.namespace(t, other, false)
	targets := e.nodeTargets(t, ns) // web-a, web-b on node 0, web-c on node 1; bystander on node 2
	e.pod(t, other, "neighbour", "neighbour", sandbox.NodeName(0))
	e.pod(t, other, "far", "far", sandbox.NodeName(1))
	cache := restrictedSpec("cache")
	cache.NodeSelector = map[string]string{"kubernetes.io/hostname": sandbox.NodeName(0)}
	e.deploymentWith(t, other, "cache", 1, cache)
	e.waitReady(t, other, "app in (neighbour, far)", 2)
	e.nodeOptIn(t, sandbox.NodeName(1), false)

	onNode0 := e.podsOnNode(t, sandbox.NodeName(0))
	wantRefusal := "nodeOptIn: node " + sandbox.NodeName(1) + " is not opted in (label chaosnight.dev/enabled=true is missing)"
	checkCollateral := func(t *testing.T, inj inject.Injection) {
		t.Helper()
		if len(inj.Collateral) != 1 || inj.Collateral[0].Node != sandbox.NodeName(0) || inj.Collateral[0].Error != "" {
			t.Fatalf("collateral %+v, want node %s only (node %s is refused, node %s has no target)", inj.Collateral, sandbox.NodeName(0), sandbox.NodeName(1), sandbox.NodeName(2))
		}
		got := map[string]bool{}
		workloads := map[string]string{}
		for _, p := range inj.Collateral[0].Pods {
			got[p.Key()] = true
			workloads[p.Key()] = p.Workload
		}
		now := e.podsOnNode(t, sandbox.NodeName(0))
		for k := range onNode0 {
			isTarget := k == ns+"/web-a" || k == ns+"/web-b"
			switch {
			case isTarget && got[k]:
				t.Errorf("target %s listed as collateral", k)
			case !isTarget && now[k] && !got[k]:
				t.Errorf("%s is on %s but not in the collateral", k, sandbox.NodeName(0))
			}
		}
		for k := range got {
			if !onNode0[k] && !now[k] {
				t.Errorf("%s is in the collateral but not on %s", k, sandbox.NodeName(0))
			}
		}
		if !got[other+"/neighbour"] || got[other+"/far"] {
			t.Errorf("collateral %v: want %s/neighbour, not %s/far (its node is not stressed)", got, other, other)
		}
		var cachePod string
		for k := range got {
			if strings.HasPrefix(k, other+"/cache-") {
				cachePod = k
			}
		}
		if cachePod == "" || !strings.HasPrefix(workloads[cachePod], "ReplicaSet cache-") {
			t.Errorf("the cache Deployment's pod is not listed with its workload: %v", workloads)
		}
	}
	injector := &stress.Injector{Client: e.client, Image: testImage, Spec: cpuAndMemory("node"), Duration: 2 * time.Minute}

	t.Run("dry run", func(t *testing.T) {
		g := &inject.Guard{Client: e.client, Policy: inject.Policy{RequireOptIn: true, DryRun: true}}
		inj, err := g.Inject(ctx, inject.Request{Run: inject.Run{ID: "it-optin-dry"}, Action: "node-scope stress", Targets: targets, Injector: injector, MinHealthy: 0})
		if err != nil {
			t.Fatalf("inject: %v (%s)", err, outcomeSummary(inj))
		}
		for _, o := range inj.Outcomes {
			switch {
			case o.Pod.Node == sandbox.NodeName(1) && (o.Status != inject.StatusRefused || o.Detail != wantRefusal):
				t.Errorf("%s: %s (%s), want refused: %s", o.Pod.Key(), o.Status, o.Detail, wantRefusal)
			case o.Pod.Node == sandbox.NodeName(0) && o.Status != inject.StatusDryRun:
				t.Errorf("%s: %s (%s), want dry-run", o.Pod.Key(), o.Status, o.Detail)
			}
		}
		checkCollateral(t, inj)
		if h := e.helpers(t, ns, "it-optin-dry"); len(h) != 0 {
			t.Errorf("a dry run created %d helpers", len(h))
		}
	})

	t.Run("injection", func(t *testing.T) {
		run := inject.Run{ID: "it-optin", Experiment: "nodes-opt-in"}
		g := &inject.Guard{Client: e.client, Policy: inject.Policy{RequireOptIn: true}}
		inj, err := g.Inject(ctx, inject.Request{Run: run, Action: "node-scope stress", Targets: targets, Injector: injector, MinHealthy: 0})
		if err != nil {
			t.Fatalf("inject: %v (%s)", err, outcomeSummary(inj))
		}
		t.Cleanup(func() {
			if err := injector.Revert(context.Background(), inj); err != nil {
				t.Errorf("revert: %v", err)
			}
		})
		st, err := stress.DecodeState(inj.State)
		if err != nil {
			t.Fatal(err)
		}
		deadline := st.Deadline.UTC().Format(time.RFC3339)
		for _, o := range inj.Outcomes {
			switch {
			case o.Pod.Node == sandbox.NodeName(1) && (o.Status != inject.StatusRefused || o.Detail != wantRefusal):
				t.Errorf("%s: %s (%s), want refused: %s", o.Pod.Key(), o.Status, o.Detail, wantRefusal)
			case o.Pod.Node == sandbox.NodeName(0) && o.Status != inject.StatusStressed:
				t.Errorf("%s: %s (%s), want stressed", o.Pod.Key(), o.Status, o.Detail)
			case o.Status == inject.StatusStressed && deadlineOf(t, o) != deadline:
				t.Errorf("%s: the outcome says %s, the state %s", o.Pod.Key(), deadlineOf(t, o), deadline)
			}
		}
		checkCollateral(t, inj)
		// The journal carries the collateral.
		b, _ := json.Marshal(inj)
		var journaled inject.Injection
		if err := json.Unmarshal(b, &journaled); err != nil || !jsonEqual(journaled.Collateral, inj.Collateral) {
			t.Errorf("the journaled collateral %+v differs (%v)", journaled.Collateral, err)
		}
		helpers := e.helpers(t, ns, run.ID)
		if len(helpers) != 1 || helpers[0].Spec.NodeName != sandbox.NodeName(0) {
			t.Fatalf("helpers %d, want one, on %s only", len(helpers), sandbox.NodeName(0))
		}
		h := helpers[0]
		args := h.Spec.Containers[0].Args
		if h.Annotations[stress.DeadlineAnnotation] != deadline || argValue(args, "--until") != deadline {
			t.Errorf("helper annotation %s, --until %s, journal %s: want one instant", h.Annotations[stress.DeadlineAnnotation], argValue(args, "--until"), deadline)
		}
		// Counted from the pod's start, after its creation: the kubelet's
		// backstop cannot outlive the instant for a pod started at once.
		if a := h.Spec.ActiveDeadlineSeconds; a == nil || h.CreationTimestamp.Add(time.Duration(*a)*time.Second).After(st.Deadline) {
			t.Errorf("activeDeadlineSeconds %v from %s reaches past %s", a, h.CreationTimestamp, deadline)
		}
	})
}
