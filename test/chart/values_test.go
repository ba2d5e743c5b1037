package chart_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	promclient "github.com/prometheus/client_golang/prometheus"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/faults"
	"github.com/chaosnight/chaosnight/pkg/metrics"
	"github.com/chaosnight/chaosnight/pkg/schedule"
)

// TestLint runs Helm's linter (the chart, its values schema, every
// template) for the defaults and every case of the matrix; warnings fail.
func TestLint(t *testing.T) {
	t.Parallel()
	for _, mc := range matrix() {
		linter := lint.AllWithKubeVersion(chartDir(t), vals(t, mc.values), releaseNamespace, kubeVersion())
		for _, msg := range linter.Messages {
			if msg.Severity >= support.WarningSev {
				t.Errorf("%s: helm lint: %s", mc.name, msg)
			}
		}
	}
}

// TestDefaults checks what `helm install chaosnight charts/chaosnight`
// gives with no values at all.
func TestDefaults(t *testing.T) {
	t.Parallel()
	rel := render(t, nil)

	dep := typed[appsv1.Deployment](t, rel.find(t, "Deployment", "chaosnight"))
	if got := *dep.Spec.Replicas; got != 2 {
		t.Errorf("replicas = %d, want 2 (leader election)", got)
	}
	pod := dep.Spec.Template.Spec
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the pod must not automount the ServiceAccount token (it is projected into the runner only)")
	}
	sa := typed[corev1.ServiceAccount](t, rel.find(t, "ServiceAccount", "chaosnight"))
	if sa.AutomountServiceAccountToken == nil || *sa.AutomountServiceAccountToken {
		t.Error("the ServiceAccount must set automountServiceAccountToken: false")
	}
	if pod.ServiceAccountName != "chaosnight" {
		t.Errorf("serviceAccountName = %q", pod.ServiceAccountName)
	}
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext not hardened: %+v", psc)
	}
	if psc != nil && (psc.RunAsUser == nil || *psc.RunAsUser == 0) {
		t.Error("the pod must run as a numeric non-root user")
	}
	if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
		t.Fatalf("want exactly one container, got %d (+%d init)", len(pod.Containers), len(pod.InitContainers))
	}
	c := pod.Containers[0]
	if c.Image != "ghcr.io/chaosnight/chaosnight:"+loadChart(t).Metadata.AppVersion {
		t.Errorf("image = %q", c.Image)
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("no container securityContext")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("readOnlyRootFilesystem must be true")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("allowPrivilegeEscalation must be false")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0:
		t.Errorf("capabilities = %+v, want drop ALL and nothing added", sc.Capabilities)
	case sc.Privileged != nil && *sc.Privileged:
		t.Error("privileged")
	}
	wantArgs := []string{"serve", "--config=/etc/chaosnight/config/chaosnight.yaml", "--namespace=chaosnight", "--log-format=json", "--log-level=info"}
	if !slices.Equal(c.Args, wantArgs) || len(c.Command) != 0 {
		t.Errorf("command %q args %q, want the image's entrypoint with %q", c.Command, c.Args, wantArgs)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("liveness probe = %+v, want GET /healthz", c.LivenessProbe)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("readiness probe = %+v, want GET /readyz", c.ReadinessProbe)
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Errorf("resources = %+v, want cpu and memory requests and a memory limit", c.Resources)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			env[e.Name] = e.ValueFrom.FieldRef.FieldPath
		}
	}
	if env["POD_NAME"] != "metadata.name" || env["POD_NAMESPACE"] != "metadata.namespace" {
		t.Errorf("env = %v, want POD_NAME and POD_NAMESPACE from the downward API", env)
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
		if m.SubPath != "" {
			t.Errorf("mount %s uses subPath %q: ConfigMap updates would not reach it", m.MountPath, m.SubPath)
		}
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	for path, cm := range map[string]string{"/etc/chaosnight/config": "chaosnight-config", "/etc/chaosnight/experiments/values": "chaosnight-experiments"} {
		m, ok := mounts[path]
		if !ok {
			t.Errorf("nothing mounted at %s", path)
			continue
		}
		if v := volumes[m.Name]; v.ConfigMap == nil || v.ConfigMap.Name != cm || len(v.ConfigMap.Items) != 0 {
			t.Errorf("%s: want ConfigMap %s mounted as a whole directory, got %+v", path, cm, v.VolumeSource)
		}
	}
	tok, ok := mounts["/var/run/secrets/kubernetes.io/serviceaccount"]
	if !ok {
		t.Fatal("no API token mounted: in-cluster configuration would fail")
	}
	if v := volumes[tok.Name]; v.Projected == nil || len(v.Projected.Sources) == 0 || v.Projected.Sources[0].ServiceAccountToken == nil ||
		v.Projected.Sources[0].ServiceAccountToken.ExpirationSeconds == nil || *v.Projected.Sources[0].ServiceAccountToken.ExpirationSeconds > 3607 {
		t.Errorf("API token volume = %+v, want a projected, short-lived ServiceAccount token", v.VolumeSource)
	}
	for _, v := range pod.Volumes {
		if v.Secret != nil || v.HostPath != nil {
			t.Errorf("volume %s: no Secret or hostPath volume by default", v.Name)
		}
	}
	if dep.Spec.Template.Annotations["checksum/settings"] == "" {
		t.Error("no checksum/settings annotation: a settings change would not roll the runners")
	}

	// Runtime objects exist, empty, so that uninstall removes them.
	for _, name := range []string{"chaosnight-kill-switch", "chaosnight-state"} {
		if d := rel.configData(t, name); len(d) != 0 {
			t.Errorf("ConfigMap %s: the chart must not set its data (an upgrade would overwrite a pause), got %v", name, d)
		}
	}
	lease := rel.find(t, "Lease", "chaosnight-runner")
	if _, has := lease.Object["spec"]; has {
		t.Error("the leader Lease must be created without spec")
	}

	// Service, PDB; nothing optional.
	svc := typed[corev1.Service](t, rel.find(t, "Service", "chaosnight"))
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Type != corev1.ServiceTypeClusterIP {
		t.Errorf("service = %+v", svc.Spec)
	}
	rel.find(t, "PodDisruptionBudget", "chaosnight")
	for _, kind := range []string{"ServiceMonitor", "PodMonitor", "NetworkPolicy", "PersistentVolumeClaim", "Secret"} {
		if objs := rel.kinds(kind); len(objs) != 0 {
			t.Errorf("%s rendered by default", kind)
		}
	}
	if rel.lookup("ConfigMap", "chaosnight-dashboard") != nil {
		t.Error("dashboard rendered by default")
	}

	// Every object carries the standard labels and goes to the release
	// namespace (or is cluster-scoped).
	for _, o := range rel.Objects {
		l := o.GetLabels()
		if l["app.kubernetes.io/name"] != "chaosnight" || l["app.kubernetes.io/instance"] != releaseName || l["app.kubernetes.io/managed-by"] != "Helm" {
			t.Errorf("%s %s: labels %v", o.GetKind(), o.GetName(), l)
		}
		switch o.GetKind() {
		case "ClusterRole", "ClusterRoleBinding":
		default:
			if o.GetNamespace() != releaseNamespace {
				t.Errorf("%s %s in namespace %q", o.GetKind(), o.GetName(), o.GetNamespace())
			}
		}
	}
}

// TestRBACMatrix renders every case and compares the ServiceAccount's
// rights, computed from the rendered Roles and bindings, with the least
// privilege of the features switched on.
func TestRBACMatrix(t *testing.T) {
	t.Parallel()
	for _, mc := range matrix() {
		t.Run(mc.name, func(t *testing.T) {
			t.Parallel()
			rel := render(t, vals(t, mc.values))
			got := rel.grants(t, mc.want.releaseNS, mc.want.sa)
			want := expectedGrants(mc.want)
			if !slices.Equal(got, want) {
				t.Errorf("rights of the runner:\n%s\nwant:\n%s", grantList(got), grantList(want))
			}
			for _, g := range got {
				if g.Resource == "secrets" || g.Resource == "*" || g.Verb == "*" || g.Group == "*" {
					t.Errorf("forbidden grant: %s", g)
				}
				if g.Namespace == "" && g.Resource == "pods" && !mc.want.cluster {
					t.Errorf("cluster-wide pod rights with rbac.scope namespaces: %s", g)
				}
			}
			// No binding to anything the chart does not own.
			for _, o := range append(rel.kinds("RoleBinding"), rel.kinds("ClusterRoleBinding")...) {
				ref := o.Object["roleRef"].(map[string]any)
				if !strings.HasPrefix(ref["name"].(string), releaseName) && !strings.HasPrefix(ref["name"].(string), "cn-") {
					t.Errorf("%s %s binds to %v", o.GetKind(), o.GetName(), ref)
				}
			}
		})
	}
}

// TestMatrixObjects checks the optional objects and settings of the
// matrix cases.
func TestMatrixObjects(t *testing.T) {
	t.Parallel()
	byName := map[string]matrixCase{}
	for _, mc := range matrix() {
		byName[mc.name] = mc
	}
	t.Run("everything-optional", func(t *testing.T) {
		rel := render(t, vals(t, byName["everything-optional"].values))
		for _, want := range []string{"ServiceMonitor chaosnight", "PodMonitor chaosnight", "NetworkPolicy chaosnight", "PersistentVolumeClaim chaosnight-journals", "ConfigMap chaosnight-dashboard", "Role chaosnight-pause", "RoleBinding chaosnight-pause", "Lease night-leader"} {
			kind, name, _ := strings.Cut(want, " ")
			rel.find(t, kind, name)
		}
		pvc := typed[corev1.PersistentVolumeClaim](t, rel.find(t, "PersistentVolumeClaim", "chaosnight-journals"))
		if pvc.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Error("keepOnUninstall: want helm.sh/resource-policy: keep")
		}
		dep := typed[appsv1.Deployment](t, rel.find(t, "Deployment", "chaosnight"))
		if dep.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
			t.Errorf("ReadWriteMany claim: strategy %s, want RollingUpdate", dep.Spec.Strategy.Type)
		}
		pod := dep.Spec.Template.Spec
		var secretVols []string
		for _, v := range pod.Volumes {
			if v.Secret != nil {
				secretVols = append(secretVols, v.Secret.SecretName)
			}
		}
		if !slices.Equal(secretVols, []string{"prometheus-reader"}) {
			t.Errorf("secret volumes = %v, want only the existing prometheus-reader Secret", secretVols)
		}
		cfg := loadRenderedConfig(t, rel)
		if cfg.Prometheus.BearerTokenFile != "/var/run/secrets/chaosnight/prometheus-token/token" || cfg.Prometheus.CAFile != "/etc/chaosnight/prometheus-ca/ca.crt" {
			t.Errorf("prometheus config = %+v", cfg.Prometheus)
		}
		mounted := map[string]bool{}
		for _, m := range pod.Containers[0].VolumeMounts {
			mounted[m.MountPath] = true
		}
		for _, p := range []string{"/var/run/secrets/chaosnight/prometheus-token", "/etc/chaosnight/prometheus-ca", "/etc/chaosnight/experiments/git-experiments", "/var/lib/chaosnight"} {
			if !mounted[p] {
				t.Errorf("nothing mounted at %s", p)
			}
		}
		if len(cfg.Nights) != 1 || cfg.Nights[0].Timezone != "Europe/Paris" || cfg.Nights[0].Skip.Dates[0] != "2026-12-24" {
			t.Errorf("nights = %+v", cfg.Nights)
		}
		dash := rel.configData(t, "chaosnight-dashboard")
		if !json.Valid([]byte(dash["chaosnight.json"])) {
			t.Error("the dashboard is not valid JSON")
		}
		if l := rel.find(t, "ConfigMap", "chaosnight-dashboard").GetLabels(); l["grafana_dashboard"] != "1" {
			t.Errorf("dashboard labels = %v, want the sidecar's grafana_dashboard: \"1\"", l)
		}
	})
	t.Run("prometheus-sa-token", func(t *testing.T) {
		rel := render(t, vals(t, byName["prometheus-sa-token"].values))
		dep := typed[appsv1.Deployment](t, rel.find(t, "Deployment", "chaosnight"))
		if dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("ReadWriteOnce claim: strategy %s, want Recreate", dep.Spec.Strategy.Type)
		}
		if rel.lookup("PodDisruptionBudget", "chaosnight") != nil {
			t.Error("a PodDisruptionBudget for a single replica would block node drains")
		}
		var found bool
		for _, v := range dep.Spec.Template.Spec.Volumes {
			if v.Name == "prometheus-token" {
				found = v.Projected != nil && v.Projected.Sources[0].ServiceAccountToken.Audience == "prometheus"
			}
		}
		if !found {
			t.Error("no projected Prometheus token with audience prometheus")
		}
	})
	t.Run("stress-image", func(t *testing.T) {
		rel := render(t, vals(t, "stress: {enabled: true}\nimage: {digest: \"sha256:"+strings.Repeat("a", 64)+"\"}"))
		cfg := loadRenderedConfig(t, rel)
		want := "ghcr.io/chaosnight/chaosnight@sha256:" + strings.Repeat("a", 64)
		if cfg.Stress.Image != want {
			t.Errorf("stress.image = %q, want the runner's own image %q", cfg.Stress.Image, want)
		}
		if cfg.Stress.StartTimeout.Duration != time.Minute {
			t.Errorf("stress.startTimeout = %s, want 1m", cfg.Stress.StartTimeout.Duration)
		}
	})
}

// TestValuesRefused: values that would be unsafe, or are typos, are refused
// at install time by the schema or the templates, with a useful message.
func TestValuesRefused(t *testing.T) {
	t.Parallel()
	c := loadChart(t)
	cases := []struct{ name, values, want string }{
		{"typo at the top", `dryrun: false`, "dryrun"},
		{"typo deeper", `safety: {requireOptin: false}`, "requireOptin"},
		{"credential in values", `prometheus: {bearerToken: s3cr3t}`, "bearerToken"},
		{"password in values", `prometheus: {password: s3cr3t}`, "password"},
		{"bad scope", `rbac: {scope: everything}`, "scope"},
		{"two replicas without a leader", `leaderElection: {enabled: false}`, "leaderElection.enabled"},
		{"stress without a scope", `stress: {enabled: true, podScope: false}`, "podScope"},
		{"shared claim", `persistence: {enabled: true}`, "ReadWriteMany"},
		{"denied namespace in scope", `rbac: {namespaces: [shop, kube-system]}`, "kube-system"},
		{"two token sources", `prometheus: {bearerTokenFile: /t, bearerTokenSecret: {name: x}}`, "at most one"},
		{"same file twice", `experiments: {a: "x", a.yaml: "y"}`, "a.yaml"},
		{"night without timezone", `nights: [{name: nightly, opens: "@daily", lasts: 1h, experiments: {names: [x]}}]`, "timezone"},
		{"night field typo", `nights: [{name: nightly, opens: "@daily", lasts: 1h, timezone: UTC, experiments: {names: [x]}, coolDown: 1m}]`, "coolDown"},
		{"night with both selections", `nights: [{name: nightly, opens: "@daily", lasts: 1h, timezone: UTC, experiments: {names: [x], selector: a=b}}]`, "experiments"},
		{"bad duration", `journal: {retention: 30d}`, "retention"},
		{"bad namespace", `rbac: {namespaces: [Shop]}`, "Shop"},
		{"no prometheus", `prometheus: {url: ""}`, "url"},
		{"lifting a namespace that is not a system one", `safety: {allowSystemNamespaces: [shop]}`, "allowSystemNamespaces"},
		{"lifting an excluded namespace", `safety: {allowSystemNamespaces: [kube-system], excludeNamespaces: [kube-system]}`, "remove it from one of them"},
		{"the release namespace in scope", `rbac: {namespaces: [shop, chaosnight]}`, "release namespace"},
		{"a negative ceiling", `safety: {maxTargets: -1}`, "maxTargets"},
		{"a negative floor", `safety: {minHealthy: -1}`, "minHealthy"},
	}
	for _, tc := range cases {
		_, err := renderChart(c, releaseName, releaseNamespace, vals(t, tc.values))
		switch {
		case err == nil:
			t.Errorf("%s: %s was accepted", tc.name, tc.values)
		case !strings.Contains(err.Error(), tc.want):
			t.Errorf("%s: the error does not name %q: %v", tc.name, tc.want, err)
		}
	}
}

// loadRenderedConfig decodes the rendered serve configuration with the
// runner's own strict loader (an unknown key is an error).
func loadRenderedConfig(t testing.TB, rel *release) *schedule.Config {
	t.Helper()
	data := rel.configData(t, rel.fullname()+"-config")["chaosnight.yaml"]
	cfg, err := schedule.LoadConfig("chaosnight.yaml", []byte(data), time.Now())
	if err != nil {
		t.Fatalf("the rendered configuration is refused by serve: %v\n%s", err, data)
	}
	return cfg
}

func (r *release) fullname() string {
	if strings.Contains(r.Name, "chaosnight") {
		return r.Name
	}
	return r.Name + "-chaosnight"
}

// TestConfig checks the rendered configuration and experiments with the
// runner's own loaders, and which changes roll the runners.
func TestConfig(t *testing.T) {
	t.Parallel()
	checkout, err := os.ReadFile(filepath.Join(chartDir(t), "..", "..", "experiments", "checkout-pod-kill.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	base := vals(t, `
rbac: {namespaces: [shop]}
nights:
  - {name: weeknights, opens: "0 22 * * 1-4", lasts: 6h, timezone: Europe/Paris, experiments: {selector: team=payments}}
experiments:
  inline:
    apiVersion: chaosnight.dev/v1alpha1
    kind: Experiment
    metadata: {name: inline-evict, labels: {team: payments}}
    spec:
      hypothesis:
        probes: [{name: up, query: 'sum(up)', expect: {atLeast: 1}}]
      target: {namespaces: [shop], selector: app=checkout}
      action: {podKill: {}}
      duration: 1m
`)
	base["experiments"].(map[string]any)["checkout-pod-kill"] = string(checkout)
	rel := render(t, base)
	cfg := loadRenderedConfig(t, rel)
	if !cfg.ServeDryRun() {
		t.Error("dryRun must default to true")
	}
	if cfg.Experiments != "/etc/chaosnight/experiments" || cfg.Journal.Directory != "/var/lib/chaosnight/journals" {
		t.Errorf("paths: experiments %q journal %q", cfg.Experiments, cfg.Journal.Directory)
	}
	if cfg.Listen != ":8080" || cfg.LeaderElection.LeaseName != "chaosnight-runner" || cfg.LeaderElection.Enabled == nil || !*cfg.LeaderElection.Enabled {
		t.Errorf("listen %q, leader election %+v", cfg.Listen, cfg.LeaderElection)
	}
	// The floor is built into the runner: the chart's deny list only adds.
	if cfg.Safety.RequireOptIn == nil || !*cfg.Safety.RequireOptIn || len(cfg.Safety.ExcludeNamespaces) != 0 || len(cfg.Safety.AllowSystemNamespaces) != 0 ||
		cfg.Safety.MaxTargets != 0 || cfg.Safety.MinHealthy != 0 {
		t.Errorf("safety = %+v", cfg.Safety)
	}
	// One kill switch, in the release namespace, whatever context a laptop has.
	if cfg.KillSwitch.Namespace != releaseNamespace {
		t.Errorf("killSwitch.namespace = %q, want the release namespace %q", cfg.KillSwitch.Namespace, releaseNamespace)
	}
	if cfg.Stress.Image != "" {
		t.Errorf("stress.image %q set although stress is off", cfg.Stress.Image)
	}

	files := rel.configData(t, "chaosnight-experiments")
	if len(files) != 2 || files["checkout-pod-kill.yaml"] == "" || files["inline.yaml"] == "" {
		t.Fatalf("experiment files: %v", keys(files))
	}
	dir := t.TempDir()
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	exps, err := experiment.LoadPaths(faults.Must().Formats(), dir)
	if err != nil {
		t.Fatalf("the rendered experiments are refused: %v", err)
	}
	if len(exps) != 2 {
		t.Errorf("%d experiments loaded, want 2", len(exps))
	}

	// Nights and experiments hot-reload: they must not change the pod
	// template. Settings are read at start: they must.
	sum := func(v map[string]any) string {
		d := typed[appsv1.Deployment](t, render(t, v).find(t, "Deployment", "chaosnight"))
		return d.Spec.Template.Annotations["checksum/settings"]
	}
	orig := sum(base)
	changed := vals(t, `
rbac: {namespaces: [shop]}
nights: [{name: other, opens: "@daily", lasts: 1h, timezone: UTC, experiments: {names: [x]}}]
experiments: {other: "x: y"}
`)
	if sum(changed) != orig {
		t.Error("changing nights or experiments changes the pod template: the runners would restart mid-night instead of hot-reloading")
	}
	base["dryRun"] = false
	if sum(base) == orig {
		t.Error("changing dryRun does not change the pod template: the runners would keep the old setting")
	}
}

// TestReleaseNamespace installs into a namespace other than "chaosnight",
// the default of killSwitch.namespace and of every other render: the kill
// switch the runner reads, the rights it has on it, the pausers' rights and
// the pause command NOTES.txt gives must all follow the release namespace,
// and nothing may point at "chaosnight".
func TestReleaseNamespace(t *testing.T) {
	t.Parallel()
	const ns = "chaos-ops"
	for _, tc := range []struct {
		name, values string
		want         features
		pausers      bool
	}{
		{name: "defaults", want: defaultFeatures()},
		{name: "pausers", values: `
dryRun: false
rbac:
  namespaces: [shop]
  pausers: [{kind: Group, name: oncall, apiGroup: rbac.authorization.k8s.io}]`,
			want: features{releaseNS: ns, sa: releaseName, namespaces: []string{"shop"}, leader: true, leaseName: "chaosnight-runner",
				optIn: true, podKill: true, allowDelete: true, gateRollouts: true, customResources: true},
			pausers: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.want.releaseNS = ns
			rel := renderNamed(t, releaseName, ns, vals(t, tc.values))

			if cfg := loadRenderedConfig(t, rel); cfg.KillSwitch.Namespace != ns {
				t.Errorf("killSwitch.namespace = %q, want the release namespace %q", cfg.KillSwitch.Namespace, ns)
			}
			dep := typed[appsv1.Deployment](t, rel.find(t, "Deployment", releaseName))
			args := dep.Spec.Template.Spec.Containers[0].Args
			if !slices.Contains(args, "--namespace="+ns) {
				t.Errorf("runner args %q lack --namespace=%s", args, ns)
			}
			for _, a := range args {
				if name, value, ok := strings.Cut(a, "="); ok && strings.Contains(name, "namespace") && value != ns {
					t.Errorf("runner arg %s: want the release namespace %s", a, ns)
				}
			}

			// Every namespaced object is in the release namespace, or is a
			// Role or RoleBinding in a target namespace.
			ks := rel.find(t, "ConfigMap", "chaosnight-kill-switch")
			if ks.GetNamespace() != ns {
				t.Errorf("the kill-switch ConfigMap is in %q, want %q", ks.GetNamespace(), ns)
			}
			for _, o := range rel.Objects {
				switch o.GetKind() {
				case "ClusterRole", "ClusterRoleBinding":
				case "Role", "RoleBinding":
					if o.GetNamespace() != ns && !slices.Contains(tc.want.namespaces, o.GetNamespace()) {
						t.Errorf("%s %s in namespace %q", o.GetKind(), o.GetName(), o.GetNamespace())
					}
				default:
					if o.GetNamespace() != ns {
						t.Errorf("%s %s in namespace %q, want %q", o.GetKind(), o.GetName(), o.GetNamespace(), ns)
					}
				}
			}

			// The runner reads (and watches) that kill switch, there, and
			// has exactly its least privilege, bound to its ServiceAccount
			// in the release namespace.
			got := rel.grants(t, ns, releaseName)
			if want := expectedGrants(tc.want); !slices.Equal(got, want) {
				t.Errorf("rights of the runner:\n%s\nwant:\n%s", grantList(got), grantList(want))
			}
			for _, verb := range []string{"get", "watch"} {
				g := grant{Namespace: ns, Resource: "configmaps", Verb: verb, Name: "chaosnight-kill-switch"}
				if !slices.Contains(got, g) {
					t.Errorf("the runner cannot %s", g)
				}
			}
			for _, g := range got {
				if g.Namespace == releaseNamespace {
					t.Errorf("grant in the default namespace %q: %s", releaseNamespace, g)
				}
			}

			// The pausers may pull that kill switch, and nothing else.
			if tc.pausers {
				role := typed[rbacv1.Role](t, rel.find(t, "Role", releaseName+"-pause"))
				if role.Namespace != ns || len(role.Rules) != 1 || !slices.Equal(role.Rules[0].ResourceNames, []string{"chaosnight-kill-switch"}) {
					t.Errorf("pause Role in %q: %+v, want the kill-switch ConfigMap in %q only", role.Namespace, role.Rules, ns)
				}
				rb := typed[rbacv1.RoleBinding](t, rel.find(t, "RoleBinding", releaseName+"-pause"))
				if rb.Namespace != ns || rb.RoleRef.Name != releaseName+"-pause" {
					t.Errorf("pause RoleBinding %s/%s refers to %s", rb.Namespace, rb.Name, rb.RoleRef.Name)
				}
			}

			if want := "chaosnight pause --kill-switch-namespace " + ns; !strings.Contains(rel.Notes, want) {
				t.Errorf("NOTES.txt lacks %q:\n%s", want, rel.Notes)
			}
			if strings.Contains(rel.Notes, "--kill-switch-namespace "+releaseNamespace) {
				t.Errorf("NOTES.txt names the default namespace for the kill switch:\n%s", rel.Notes)
			}
		})
	}
}

// TestSetFile: experiments from files with --set-file, as the README says.
func TestSetFile(t *testing.T) {
	t.Parallel()
	root := filepath.Join(chartDir(t), "..", "..")
	opts := values.Options{
		FileValues: []string{
			"experiments.checkout-pod-kill=" + filepath.Join(root, "experiments", "checkout-pod-kill.yaml"),
			"experiments.checkout-cpu-stress=" + filepath.Join(root, "experiments", "checkout-cpu-stress.yaml"),
		},
		Values: []string{"rbac.namespaces={shop}"},
	}
	v, err := opts.MergeValues(getter.Providers{})
	if err != nil {
		t.Fatal(err)
	}
	rel := render(t, v)
	files := rel.configData(t, "chaosnight-experiments")
	for _, name := range []string{"checkout-pod-kill", "checkout-cpu-stress"} {
		want, err := os.ReadFile(filepath.Join(root, "experiments", name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if got := files[name+".yaml"]; strings.TrimSpace(got) != strings.TrimSpace(string(want)) {
			t.Errorf("%s.yaml differs from the file given with --set-file:\n%s", name, got)
		}
		if _, err := experiment.Load(faults.Must().Formats(), name+".yaml", []byte(files[name+".yaml"])); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestNotes checks that NOTES.txt says how to see the next night, how to
// pause, and warns about what will not work.
func TestNotes(t *testing.T) {
	t.Parallel()
	rel := render(t, nil)
	for _, want := range []string{"DRY RUN", "/status", "chaosnight schedule", "chaosnight pause --kill-switch-namespace chaosnight", "chaosnight-kill-switch", "chaosnight resume", "rbac.namespaces is empty", "No nights", "No experiments"} {
		if !strings.Contains(rel.Notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, rel.Notes)
		}
	}
	rel = render(t, vals(t, `
dryRun: false
rbac: {namespaces: [shop]}
nights: [{name: nightly, opens: "@daily", lasts: 1h, timezone: UTC, experiments: {names: [a]}}]
experiments:
  a: |
    apiVersion: chaosnight.dev/v1alpha1
    kind: Experiment
    metadata: {name: a}
    spec: {target: {namespaces: [shop, cart]}}
    ---
    apiVersion: chaosnight.dev/v1alpha1
    kind: Experiment
    metadata: {name: b}
    spec: {target: {namespaces: [kube-system]}}
`))
	for _, want := range []string{"cart (experiment file a)", "kube-system (experiment file a)"} {
		if !strings.Contains(rel.Notes, want) {
			t.Errorf("NOTES.txt does not warn about %q:\n%s", want, rel.Notes)
		}
	}
	for _, unwanted := range []string{"DRY RUN", "shop (experiment", "No nights", "No experiments", "rbac.namespaces is empty"} {
		if strings.Contains(rel.Notes, unwanted) {
			t.Errorf("NOTES.txt says %q:\n%s", unwanted, rel.Notes)
		}
	}
}

// TestDashboard: every metric the dashboard queries is one the runner
// exports.
func TestDashboard(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join(chartDir(t), "dashboards", "chaosnight.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatal(err)
	}
	reg := promclient.NewRegistry()
	m := metrics.New(reg)
	// Touch the vectors so that Gather lists them.
	m.SetWindow("n", true, time.Now())
	m.SetPaused(false)
	m.SetLeader(true)
	m.Runs.WithLabelValues("e", "held").Inc()
	m.Targets.WithLabelValues("e", "pod-kill", "evicted").Inc()
	m.ProbeValue.WithLabelValues("e", "p", "hypothesis").Set(1)
	m.ProbeOK.WithLabelValues("e", "p", "hypothesis").Set(1)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, f := range families {
		known[f.GetName()] = true
	}
	metric := regexp.MustCompile(`\bchaosnight_[a-z_]+`)
	var used []string
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, name := range metric.FindAllString(tg.Expr, -1) {
				used = append(used, name)
				if !known[name] {
					t.Errorf("panel %q queries %s, which the runner does not export", p.Title, name)
				}
			}
		}
	}
	for _, want := range []string{"chaosnight_experiment_runs_total", "chaosnight_probe_value", "chaosnight_night_window_open", "chaosnight_kill_switch_engaged"} {
		if !slices.Contains(used, want) {
			t.Errorf("the dashboard does not show %s", want)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// The operator's safety settings reach the runner's configuration, and
// lifting a system namespace is accepted only when named, with a warning.
func TestSafetySettings(t *testing.T) {
	t.Parallel()
	rel := render(t, vals(t, `
rbac: {namespaces: [shop, kube-system]}
safety: {excludeNamespaces: [payments], allowSystemNamespaces: [kube-system], maxTargets: 3, minHealthy: 2}
`))
	cfg := loadRenderedConfig(t, rel)
	s := cfg.Safety
	if !slices.Equal(s.ExcludeNamespaces, []string{"payments"}) || !slices.Equal(s.AllowSystemNamespaces, []string{"kube-system"}) || s.MaxTargets != 3 || s.MinHealthy != 2 {
		t.Errorf("safety = %+v", s)
	}
	for _, want := range []string{"WARNING: safety.allowSystemNamespaces lifts kube-system", "at most 3 target(s) per injection", "at least 2 ready pod(s)"} {
		if !strings.Contains(rel.Notes, want) {
			t.Errorf("NOTES.txt lacks %q:\n%s", want, rel.Notes)
		}
	}
}
