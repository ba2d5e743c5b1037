package stress_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/stress"
)

// withCacheVolume is the restricted sandbox spec with an emptyDir named
// cache, mounted by the workload at /cache (the seeded pods have none).
func withCacheVolume(app, volume string) corev1.PodSpec {
	spec := restrictedSpec(app)
	spec.Volumes = append(spec.Volumes, corev1.Volume{Name: volume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	for i := range spec.Containers {
		spec.Containers[i].VolumeMounts = append(spec.Containers[i].VolumeMounts, corev1.VolumeMount{Name: volume, MountPath: "/cache"})
	}
	return spec
}

// deploymentWith creates a Deployment app=<app> with spec and waits for
// its pods.
func (e env) deploymentWith(t *testing.T, ns, app string, replicas int32, spec corev1.PodSpec) {
	t.Helper()
	sel := map[string]string{"app": app}
	if _, err := e.admin.AppsV1().Deployments(ns).Create(context.Background(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: app, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel}, Spec: spec},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e.waitReady(t, ns, "app="+app, int(replicas))
}

func diskFill(scope, volume string) stress.Spec {
	return stress.Spec{Scope: scope, Disk: &stress.DiskStress{Fill: "90%", Volume: volume, IO: &stress.DiskIO{Workers: 2}}}
}

// The ephemeral container mounts exactly the named volume, of exactly the
// targets, at the fixed path the stressor writes under; the rest of its
// security context is unchanged (read-only root: it writes to the volume).
func TestPodScopeDiskMountsExactlyTheNamedVolume(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const ns = "stress-disk"
	e.namespace(t, ns, true)
	e.deploymentWith(t, ns, "cache-api", 3, withCacheVolume("cache-api", "cache"))
	// A look-alike with the same volume that the selector does not match.
	e.deploymentWith(t, ns, "cache-other", 1, withCacheVolume("cache-other", "cache"))

	tg := experiment.Target{Namespaces: []string{ns}, Selector: "app=cache-api", Pick: experiment.Pick{Count: ptr(2)}}
	targets := e.selectPods(t, tg, 3)
	if len(targets) != 2 {
		t.Fatalf("picked %d pods", len(targets))
	}
	before := e.snapshot(t, ns)
	run := inject.Run{ID: "it-disk-1", Experiment: "cache-disk-fill"}
	injector := &stress.Injector{
		Client: e.client, Exec: stress.RemoteExec{Config: e.s.RESTConfig, Client: e.client},
		Image: testImage, Spec: diskFill("pod", "cache"), Duration: 5 * time.Minute,
		StartTimeout: 20 * time.Second,
	}
	g := &inject.Guard{Client: e.client, Policy: inject.Policy{RequireOptIn: true}}
	inj, err := g.Inject(ctx, inject.Request{Run: run, Action: "pod-scope disk stress", Targets: targets, Injector: injector, MinHealthy: 1, MaxTargets: 3})
	if err != nil {
		t.Fatalf("inject: %v (%s)", err, outcomeSummary(inj))
	}
	const container = "chaosnight-stress-it-disk-1"
	isTarget := map[string]bool{}
	for _, o := range inj.Outcomes {
		isTarget[o.Pod.UID] = true
		want := "ephemeral container " + container + ": disk filled to 90% used in volume cache, 2 disk I/O worker(s) in volume cache for 5m0s"
		if o.Status != inject.StatusStressed || !strings.HasPrefix(o.Detail, want) {
			t.Errorf("outcome %s: %s (%s), want stressed (%s…)", o.Pod.Key(), o.Status, o.Detail, want)
		}
	}
	st, err := stress.DecodeState(inj.State)
	if err != nil {
		t.Fatal(err)
	}
	wantArgs := []string{"--disk-fill", "90%", "--disk-io", "2", "--disk-path", "/chaosnight/disk", "--duration", "5m0s", "--until", st.Deadline.UTC().Format(time.RFC3339)}
	wantMounts := []corev1.VolumeMount{{Name: "cache", MountPath: "/chaosnight/disk"}}
	after := e.snapshot(t, ns)
	for uid, b := range before {
		a, ok := after[uid]
		switch {
		case !ok:
			t.Errorf("pod %s disappeared", b.key)
			continue
		case !isTarget[uid]:
			if a.rv != b.rv || len(a.pod.Spec.EphemeralContainers) != 0 {
				t.Errorf("pod %s is not a target but changed", b.key)
			}
			continue
		}
		if len(a.pod.Spec.EphemeralContainers) != 1 {
			t.Errorf("target %s has %d ephemeral containers, want 1", a.key, len(a.pod.Spec.EphemeralContainers))
			continue
		}
		ec := a.pod.Spec.EphemeralContainers[0]
		if !slices.Equal(ec.Args, wantArgs) || !jsonEqual(ec.VolumeMounts, wantMounts) {
			t.Errorf("target %s: args %q mounts %+v, want %q %+v", a.key, ec.Args, ec.VolumeMounts, wantArgs, wantMounts)
		}
		if !jsonEqual(ec.SecurityContext, &wantSecurityContext) {
			t.Errorf("target %s: security context %+v", a.key, ec.SecurityContext)
		}
		if !jsonEqual(a.pod.Spec.Volumes, b.pod.Spec.Volumes) || !jsonEqual(a.pod.Spec.Containers, b.pod.Spec.Containers) {
			t.Errorf("target %s: its own volumes or containers changed", a.key)
		}
	}

	// Revert stops the stressor, which removes what it wrote.
	rec := recordExecs(t, e.s)
	e.routeAll(t, ns, container)
	if err := injector.Revert(ctx, inj); err != nil {
		t.Fatalf("revert: %v", err)
	}
	if got := rec.lines(t); len(got) != 2 {
		t.Errorf("execs %q, want one stop per target", got)
	}
}

// A target without the named volume (or with a volume the stress must not
// write to) is refused with a reason and left untouched; the run goes on
// with the others.
func TestPodScopeDiskRefusesAPodWithoutTheVolume(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const ns = "stress-disk-missing"
	e.namespace(t, ns, true)
	e.deploymentWith(t, ns, "web", 1, withCacheVolume("web", "cache"))
	e.deploymentWith(t, ns, "plain", 1, restrictedSpec("plain"))
	cm := withCacheVolume("cfg", "cache")
	cm.Volumes[0].VolumeSource = corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Optional: ptr(true)}}
	e.deploymentWith(t, ns, "cfg", 1, cm)

	tg := experiment.Target{Namespaces: []string{ns}, Selector: "app in (web, plain, cfg)", Pick: experiment.Pick{All: true}}
	targets := e.selectPods(t, tg, 1)
	if len(targets) != 3 {
		t.Fatalf("picked %d pods", len(targets))
	}
	before := e.snapshot(t, ns)
	injector := &stress.Injector{Client: e.client, Image: testImage, Spec: diskFill("pod", "cache"), Duration: time.Minute}
	inj, err := injector.Inject(ctx, inject.Run{ID: "it-disk-2", Experiment: "x"}, targets)
	if err != nil {
		t.Fatalf("inject: %v", err)
	}
	after := e.snapshot(t, ns)
	for _, o := range inj.Outcomes {
		app := after[o.Pod.UID].pod.Labels["app"]
		switch app {
		case "web":
			if o.Status != inject.StatusStressed {
				t.Errorf("%s: %s (%s), want stressed", o.Pod.Key(), o.Status, o.Detail)
			}
		case "plain":
			if o.Status != inject.StatusFailed || !strings.HasPrefix(o.Detail, "the pod has no volume cache to fill (it has kube-api-access-") {
				t.Errorf("%s: %s (%s), want failed for the missing volume", o.Pod.Key(), o.Status, o.Detail)
			}
		case "cfg":
			if o.Status != inject.StatusFailed || !strings.Contains(o.Detail, "volume cache of the pod is not an emptyDir") {
				t.Errorf("%s: %s (%s), want failed for a configMap volume", o.Pod.Key(), o.Status, o.Detail)
			}
		default:
			t.Errorf("unexpected target %s", o.Pod.Key())
		}
		if app != "web" && after[o.Pod.UID].rv != before[o.Pod.UID].rv {
			t.Errorf("%s was refused but changed", o.Pod.Key())
		}
	}
	st, err := stress.DecodeState(inj.State)
	if err != nil || len(st.Pods) != 1 {
		t.Errorf("state %+v (%v), want only the stressed pod", st, err)
	}
}

// Node scope: the helper pods write to an emptyDir of their own at the
// path, and revert deletes them (with the emptyDir and what is in it).
func TestNodeScopeDiskHelpersGetAnEmptyDirAndRevertDeletesThem(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const ns = "stress-disk-node"
	e.namespace(t, ns, true)
	targets := e.nodeTargets(t, ns)
	run := inject.Run{ID: "it-disk-node", Experiment: "nodes-disk"}
	spec := stress.Spec{Scope: "node", Disk: &stress.DiskStress{Fill: "1Gi", Path: "/scratch"}}
	injector := &stress.Injector{Client: e.client, Image: testImage, Spec: spec, Duration: 2 * time.Minute}
	g := &inject.Guard{Client: e.client, Policy: inject.Policy{RequireOptIn: true}}
	inj, err := g.Inject(ctx, inject.Request{Run: run, Action: "node-scope disk stress", Targets: targets, Injector: injector, MinHealthy: 0})
	if err != nil {
		t.Fatalf("inject: %v (%s)", err, outcomeSummary(inj))
	}
	helpers := e.helpers(t, ns, run.ID)
	if len(helpers) != 2 {
		t.Fatalf("%d helpers, want 2", len(helpers))
	}
	st, err := stress.DecodeState(inj.State)
	if err != nil {
		t.Fatal(err)
	}
	// A node disk stress keeps the node filesystem above the kubelet's
	// eviction threshold unless the experiment allows node pressure.
	wantArgs := []string{"--disk-fill", "1Gi", "--disk-path", "/scratch", "--duration", "2m0s", "--until", st.Deadline.UTC().Format(time.RFC3339), "--eviction-threshold", "10%"}
	for _, h := range helpers {
		c := h.Spec.Containers[0]
		vols := h.Spec.Volumes
		if len(vols) != 1 || vols[0].EmptyDir == nil || vols[0].Name != "chaosnight-disk" ||
			!jsonEqual(c.VolumeMounts, []corev1.VolumeMount{{Name: "chaosnight-disk", MountPath: "/scratch"}}) {
			t.Errorf("%s: volumes %+v mounts %+v, want one emptyDir at /scratch", h.Name, vols, c.VolumeMounts)
		}
		if !slices.Equal(c.Args, wantArgs) || !jsonEqual(c.SecurityContext, &wantSecurityContext) {
			t.Errorf("%s: args %q security %+v", h.Name, c.Args, c.SecurityContext)
		}
	}
	if err := injector.Revert(context.Background(), inj); err != nil {
		t.Fatalf("revert: %v", err)
	}
	if h := e.helpers(t, ns, run.ID); len(h) != 0 {
		t.Errorf("%d helpers left after revert", len(h))
	}
}
