package chart_test

// features is what a set of values switches on, from which the runner's
// expected rights follow.
type features struct {
	releaseNS   string
	sa          string
	cluster     bool     // rbac.scope: cluster
	namespaces  []string // rbac.namespaces (scope namespaces)
	dryRun      bool
	leader      bool
	leaseName   string
	optIn       bool
	podKill     bool
	allowDelete bool
	stressPod   bool
	stressNode  bool
	nodeFaults  bool // nodeDrain and zoneOutage
	// gateRollouts: gate.rollouts reads the targets' Deployments.
	gateRollouts bool
	// customResources: serve reads Experiments and ChaosNights, in
	// crNamespaces (customResources.namespaces), or everywhere if empty.
	customResources bool
	crNamespaces    []string
	// listNamespaces: rbac.listNamespaces, the opt-in check in one LIST.
	listNamespaces bool
}

// defaultFeatures are the chart's defaults for a release "chaosnight" in
// namespace "chaosnight".
func defaultFeatures() features {
	return features{
		releaseNS: releaseNamespace, sa: releaseName, dryRun: true,
		leader: true, leaseName: "chaosnight-runner", optIn: true,
		podKill: true, allowDelete: true, gateRollouts: true,
		customResources: true,
	}
}

func (f features) stress() bool { return f.stressPod || f.stressNode }

// targets are the namespaces with injection rights; "" is cluster-wide.
func (f features) targets() []string {
	if f.cluster {
		return []string{""}
	}
	return f.namespaces
}

// expectedGrants is the least privilege of each feature, written down
// independently of the templates: the rendered RBAC must be exactly this.
func expectedGrants(f features) []grant {
	var out []grant
	own := func(group, resource, name string, verbs ...string) {
		for _, v := range verbs {
			out = append(out, grant{Namespace: f.releaseNS, Group: group, Resource: resource, Verb: v, Name: name})
		}
	}
	if f.leader {
		own("coordination.k8s.io", "leases", f.leaseName, "get", "update")
	}
	own("coordination.k8s.io", "leases", "", "list") // the orphan sweep
	runLeases := !f.dryRun || f.stress()
	if runLeases {
		own("coordination.k8s.io", "leases", "", "get", "update", "delete")
	}
	if f.leader || runLeases {
		own("coordination.k8s.io", "leases", "", "create")
	}
	own("", "configmaps", "chaosnight-kill-switch", "get", "watch") // watched during a run: a pause is seen at once
	own("", "configmaps", "chaosnight-state", "get", "update")
	own("", "configmaps", "", "create")
	own("", "events", "", "create")
	if f.optIn {
		out = append(out, grant{Resource: "namespaces", Verb: "get"})
		if f.listNamespaces {
			out = append(out, grant{Resource: "namespaces", Verb: "list"})
		}
	}
	if f.stressNode || f.nodeFaults {
		// The node opt-in label.
		out = append(out, grant{Resource: "nodes", Verb: "get"})
	}
	if f.nodeFaults {
		// The opted-in nodes, cordoned and uncordoned with the run's
		// annotations.
		out = append(out, grant{Resource: "nodes", Verb: "list"}, grant{Resource: "nodes", Verb: "patch"})
	}
	if f.customResources {
		// Read the objects, write only their status: never a spec or
		// metadata (ArgoCD stays Synced).
		where := f.crNamespaces
		if len(where) == 0 {
			where = []string{""}
		}
		for _, ns := range where {
			for _, res := range []string{"experiments", "chaosnights"} {
				for _, v := range []string{"get", "list", "watch"} {
					out = append(out, grant{Namespace: ns, Group: "chaosnight.dev", Resource: res, Verb: v})
				}
				for _, v := range []string{"update", "patch"} {
					out = append(out, grant{Namespace: ns, Group: "chaosnight.dev", Resource: res + "/status", Verb: v})
				}
			}
		}
	}
	for _, ns := range f.targets() {
		in := func(group, resource string, verbs ...string) {
			for _, v := range verbs {
				out = append(out, grant{Namespace: ns, Group: group, Resource: resource, Verb: v})
			}
		}
		in("", "pods", "get", "list")
		if f.stressNode {
			in("", "pods", "create")
		}
		if (f.podKill && f.allowDelete) || f.stressNode {
			in("", "pods", "delete")
		}
		if f.podKill || f.nodeFaults {
			in("", "pods/eviction", "create")
		}
		if f.stressPod {
			in("", "pods/ephemeralcontainers", "update")
			in("", "pods/exec", "create")
		}
		in("apps", "replicasets", "get")
		in("apps", "statefulsets", "get")
		in("apps", "daemonsets", "get")
		in("", "replicationcontrollers", "get")
		in("batch", "jobs", "get")
		if f.gateRollouts {
			in("apps", "deployments", "get")
		}
		in("", "events", "create")
	}
	sortGrants(out)
	return dedupe(out)
}

// matrixCase is one combination of settings the tests render, lint and
// apply.
type matrixCase struct {
	name   string
	values string
	want   features
}

func matrix() []matrixCase {
	f := func(change func(*features)) features {
		out := defaultFeatures()
		change(&out)
		return out
	}
	return []matrixCase{
		{"defaults", ``, defaultFeatures()},
		{"namespaces", `rbac: {namespaces: [shop, shop-staging, shop]}`,
			f(func(x *features) { x.namespaces = []string{"shop", "shop-staging"} })},
		{"cluster", `rbac: {scope: cluster}`,
			f(func(x *features) { x.cluster = true })},
		{"list-namespaces", `rbac: {scope: cluster, listNamespaces: true}`,
			f(func(x *features) { x.cluster = true; x.listNamespaces = true })},
		{"evict-only", `
dryRun: false
rbac: {namespaces: [shop]}
podKill: {allowDelete: false}`,
			f(func(x *features) { x.namespaces = []string{"shop"}; x.allowDelete = false; x.dryRun = false })},
		{"stress-pod", `
rbac: {namespaces: [shop]}
stress: {enabled: true}`,
			f(func(x *features) { x.namespaces = []string{"shop"}; x.stressPod = true })},
		{"stress-node", `
rbac: {namespaces: [shop]}
podKill: {allowDelete: false}
stress: {enabled: true, podScope: false, nodeScope: true}`,
			f(func(x *features) { x.namespaces = []string{"shop"}; x.allowDelete = false; x.stressNode = true })},
		{"stress-only-cluster", `
rbac: {scope: cluster}
podKill: {enabled: false}
stress: {enabled: true, podScope: true, nodeScope: true}`,
			f(func(x *features) {
				x.cluster = true
				x.podKill = false
				x.stressPod = true
				x.stressNode = true
			})},
		{"node-faults-only", `
rbac: {namespaces: [shop]}
podKill: {enabled: false}
nodeFaults: {enabled: true}`,
			f(func(x *features) { x.namespaces = []string{"shop"}; x.podKill = false; x.nodeFaults = true })},
		{"single-no-leader-no-optin", `
replicaCount: 1
leaderElection: {enabled: false}
safety: {requireOptIn: false}
rbac: {namespaces: [shop]}`,
			f(func(x *features) { x.namespaces = []string{"shop"}; x.leader = false; x.optIn = false })},
		{"gate-without-rollouts", `
rbac: {namespaces: [shop]}
gate: {rollouts: false, alertSelector: 'severity=~"critical|page"'}`,
			f(func(x *features) { x.namespaces = []string{"shop"}; x.gateRollouts = false })},
		{"everything-optional", `
replicaCount: 2
rbac:
  namespaces: [shop]
  pausers: [{kind: Group, name: oncall, apiGroup: rbac.authorization.k8s.io}]
leaderElection: {leaseName: night-leader}
serviceAccount: {name: runner, annotations: {example.com/owner: sre}}
persistence: {enabled: true, accessModes: [ReadWriteMany], size: 2Gi, keepOnUninstall: true}
serviceMonitor: {enabled: true, labels: {release: prometheus}}
podMonitor: {enabled: true, interval: 15s}
networkPolicy:
  enabled: true
  ingressFrom: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]
  apiServer: {cidrs: [10.0.0.1/32]}
  prometheus: {to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: monitoring}}}]}
grafanaDashboard: {enabled: true}
prometheus:
  url: https://prometheus.monitoring.svc:9091
  bearerTokenSecret: {name: prometheus-reader}
  ca: {configMap: prometheus-ca}
extraExperimentConfigMaps: [git-experiments]
nights:
  - {name: weeknights, opens: "0 22 * * 1-4", lasts: 6h, timezone: Europe/Paris, skip: {dates: ["2026-12-24"], weekdays: [Fri]}, experiments: {selector: team=payments}, cooldown: 10m, maxPerNight: 4}
`,
			f(func(x *features) { x.namespaces = []string{"shop"}; x.leaseName = "night-leader"; x.sa = "runner" })},
		{"custom-resources-namespaced", `
rbac: {namespaces: [shop]}
customResources: {namespaces: [shop-staging, shop, shop-staging]}`,
			f(func(x *features) { x.namespaces = []string{"shop"}; x.crNamespaces = []string{"shop", "shop-staging"} })},
		{"custom-resources-off", `
rbac: {namespaces: [shop]}
customResources: {enabled: false}`,
			f(func(x *features) { x.namespaces = []string{"shop"}; x.customResources = false })},
		{"prometheus-sa-token", `
replicaCount: 1
rbac: {namespaces: [shop]}
persistence: {enabled: true}
prometheus: {serviceAccountToken: {enabled: true, audience: prometheus}}`,
			f(func(x *features) { x.namespaces = []string{"shop"} })},
	}
}
