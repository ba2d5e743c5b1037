package stress_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/stress"
	"github.com/chaosnight/chaosnight/pkg/stressor"
	"github.com/chaosnight/chaosnight/pkg/stressor/stresscmd"
	"github.com/chaosnight/chaosnight/pkg/target"
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

// A node disk fill that would leave the node filesystem under the
// kubelet's hard eviction threshold fails, with the stressor's own reason
// and the setting that allows it, and its helper pod is deleted. kwok
// would report the helper running, so its node here is one kwok does not
// manage, and the test plays the kubelet: it runs the helper's exact
// command line through the real stress command, its --disk-path pointed
// at a tmpfs standing for the node's disk, and reports the exit as the
// kubelet does.
func TestNodeDiskFillUnderTheEvictionThresholdFails(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const ns, node = "stress-node-pressure", "chaosnight-test-disk-node"
	e.namespace(t, ns, true)
	if _, err := e.admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name: node, Labels: map[string]string{inject.OptInLabel: "true", "kubernetes.io/hostname": node},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.admin.CoreV1().Nodes().Delete(context.Background(), node, metav1.DeleteOptions{}) })
	spec := restrictedSpec("db")
	spec.NodeName, spec.NodeSelector = node, nil
	pod, err := e.admin.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "db-0", Namespace: ns, Labels: map[string]string{"app": "db"}}, Spec: spec}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// No kubelet: nothing on this node ends by itself, so every pod of the
	// namespace is removed at once when the test ends.
	t.Cleanup(func() {
		_ = e.admin.CoreV1().Pods(ns).DeleteCollection(context.Background(), metav1.DeleteOptions{GracePeriodSeconds: ptr(int64(0))}, metav1.ListOptions{})
	})
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	if pod, err = e.admin.CoreV1().Pods(ns).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	disk := t.TempDir()
	if err := unix.Mount("tmpfs", disk, "tmpfs", 0, "size=64m,mode=0777"); err != nil {
		t.Logf("no tmpfs (%v): the node's disk is a plain directory", err)
	} else {
		t.Cleanup(func() { _ = unix.Unmount(disk, 0) })
	}

	run := inject.Run{ID: "it-node-pressure", Experiment: "node-disk"}
	injector := &stress.Injector{Client: e.client, Image: testImage, Duration: time.Minute, StartTimeout: 20 * time.Second,
		Spec: experiment.Stress{Scope: "node", Disk: &experiment.DiskStress{Fill: "95%", Path: "/scratch"}}}
	kubelet := make(chan error, 1)
	go func() {
		kubelet <- func() error {
			var h *corev1.Pod
			for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				list, err := e.admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: stress.RunLabel + "=" + run.ID})
				if err != nil {
					return err
				}
				if len(list.Items) == 1 {
					h = &list.Items[0]
					break
				}
				if time.Now().After(deadline) {
					return fmt.Errorf("no helper pod was created")
				}
			}
			c := h.Spec.Containers[0]
			args := slices.Clone(c.Args)
			if argValue(args, "--eviction-threshold") != "10%" || argValue(args, "--disk-path") != c.VolumeMounts[0].MountPath {
				return fmt.Errorf("args %q: want --eviction-threshold 10%% and the helper's emptyDir as --disk-path", args)
			}
			args[slices.Index(args, "--disk-path")+1] = disk
			var logs bytes.Buffer
			code := stresscmd.Main(ctx, "chaosnight-stress", stresscmd.Streams{Out: &logs, Err: &logs}, stresscmd.ProcessDeps(), args)
			h.Status = corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: c.Name, Image: testImage, ImageID: testImage,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: "Error", Message: logs.String()}}}}}
			_, err := e.admin.CoreV1().Pods(ns).UpdateStatus(ctx, h, metav1.UpdateOptions{})
			return err
		}()
	}()
	g := &inject.Guard{Client: e.client, Policy: inject.Policy{RequireOptIn: true}}
	inj, err := g.Inject(ctx, inject.Request{Run: run, Action: "node disk fill", Targets: []target.Pod{target.FromPod(pod)}, Injector: injector})
	if err != nil {
		t.Fatalf("inject: %v (%s)", err, outcomeSummary(inj))
	}
	if err := <-kubelet; err != nil {
		t.Fatal(err)
	}
	if len(inj.Outcomes) != 1 {
		t.Fatalf("outcomes %s", outcomeSummary(inj))
	}
	o := inj.Outcomes[0]
	for _, want := range []string{
		"the stress exited at once with code 3: error: invalid stress: --disk-fill 95% would leave ",
		"available on the node filesystem (",
		"under the kubelet's hard eviction threshold of 10% (nodefs.available); set stress.disk.allowNodePressure: true to allow it; it was deleted",
	} {
		if o.Status != inject.StatusFailed || !strings.Contains(o.Detail, want) {
			t.Errorf("outcome %s (%s), want failed with …%s…", o.Status, o.Detail, want)
		}
	}
	if h := e.helpers(t, ns, run.ID); len(h) != 0 {
		t.Errorf("%d helpers left after the refused fill", len(h))
	}
	if left, err := os.ReadDir(disk); err != nil || len(left) != 0 {
		t.Errorf("the refused fill wrote to the disk: %v %v", left, err)
	}
	// The collateral of the stressed node is known: nothing else runs there.
	if len(inj.Collateral) != 1 || inj.Collateral[0].Node != node || len(inj.Collateral[0].Pods) != 0 || inj.Collateral[0].Error != "" {
		t.Errorf("collateral %+v", inj.Collateral)
	}
}

// A stress container that starts late (an image pull, a slow node) ends
// at the instant the journal recorded, not --duration after its own
// start, and one that starts after that instant runs no load at all. kwok
// runs no containers: the test plays the kubelet and runs the very
// command line the injector wrote into the ephemeral container, late.
func TestLateStartEndsByTheJournalDeadline(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const ns = "stress-late-start"
	e.namespace(t, ns, true)
	e.podAnnotated(t, ns, "slow-0", "slow", sandbox.NodeName(0), manualStatus)
	e.waitReady(t, ns, "app=slow", 1)
	targets := e.selectPods(t, experiment.Target{Namespaces: []string{ns}, Selector: "app=slow", Pick: experiment.Pick{All: true}}, 1)
	const duration = 2 * time.Second
	injector := &stress.Injector{Client: e.client, Image: testImage, Duration: duration,
		Spec: experiment.Stress{CPU: &experiment.CPUStress{Workers: 1, Load: 10}}}
	g := &inject.Guard{Client: e.client, Policy: inject.Policy{RequireOptIn: true}}
	injected := time.Now()
	inj, err := g.Inject(ctx, inject.Request{Run: inject.Run{ID: "it-late"}, Action: "stress cpu", Targets: targets, Injector: injector, MinHealthy: 0})
	if err != nil || len(inj.Outcomes) != 1 || inj.Outcomes[0].Status != inject.StatusStressed {
		t.Fatalf("inject: %v (%s)", err, outcomeSummary(inj))
	}
	st, err := stress.DecodeState(inj.State)
	if err != nil {
		t.Fatal(err)
	}
	journal := deadlineOf(t, inj.Outcomes[0])
	p, err := e.admin.CoreV1().Pods(ns).Get(ctx, "slow-0", metav1.GetOptions{})
	if err != nil || len(p.Spec.EphemeralContainers) != 1 {
		t.Fatalf("pod %v: %v", p, err)
	}
	ec := p.Spec.EphemeralContainers[0]
	until := argValue(ec.Args, "--until")
	if until != journal || st.Deadline.UTC().Format(time.RFC3339) != journal {
		t.Fatalf("--until %s, journal %s, state %s: want one instant", until, journal, st.Deadline.UTC().Format(time.RFC3339))
	}

	// The kubelet starts the container 1.5 s late.
	time.Sleep(time.Until(injected.Add(1500 * time.Millisecond)))
	args := append(slices.Clone(ec.Args), "-o", "json")
	var out, logs bytes.Buffer
	code := stresscmd.Main(ctx, "chaosnight-stress", stresscmd.Streams{Out: &out, Err: &logs}, stresscmd.ProcessDeps(), args)
	ended := time.Now()
	var rep stressor.Report
	if code != 0 || json.Unmarshal(out.Bytes(), &rep) != nil {
		t.Fatalf("exit %d, report %q, log %s", code, out.String(), logs.String())
	}
	// Planned from its start to the instant: less than its --duration,
	// which would have taken it past the journal's deadline.
	if rep.Ended != stressor.EndDeadline || rep.CPU == nil || rep.PlannedSeconds >= duration.Seconds() || ended.Before(st.Deadline) {
		t.Errorf("report %+v ended at %s: want the load until %s, planned under %s", rep, ended.Format(time.RFC3339Nano), journal, duration)
	}
	if limit := st.Deadline.Add(stresscmd.WatchdogGrace); ended.After(limit) {
		t.Errorf("ended at %s, past the journal's %s", ended.Format(time.RFC3339Nano), journal)
	}

	// Started again after the instant (a restart, a very late pull): at
	// once, without load.
	out.Reset()
	code = stresscmd.Main(ctx, "chaosnight-stress", stresscmd.Streams{Out: &out, Err: &logs}, stresscmd.ProcessDeps(), args)
	var past stressor.Report
	if err := json.Unmarshal(out.Bytes(), &past); code != 0 || err != nil || past.CPU != nil || !strings.Contains(past.Cause, "had passed before the start; no load was run") {
		t.Errorf("a start past the deadline: exit %d, report %+v (%v)", code, past, err)
	}

	// The kubelet reports the container ended: revert has nothing to stop.
	p.Status.EphemeralContainerStatuses = []corev1.ContainerStatus{{Name: ec.Name, Image: testImage, ImageID: testImage,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}}}
	if _, err := e.admin.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := injector.Revert(ctx, inj); err != nil {
		t.Errorf("revert: %v", err)
	}
}
