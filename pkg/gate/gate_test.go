package gate

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/probe"
	"github.com/chaosnight/chaosnight/pkg/target"
)

func TestParseSelector(t *testing.T) {
	tests := []struct {
		in        string
		wantQuery string
		wantErr   string
	}{
		{in: `severity="critical"`, wantQuery: `ALERTS{alertstate="firing",severity="critical"}`},
		{in: ``, wantQuery: `ALERTS{alertstate="firing"}`},
		{in: ` {severity=~"critical|page", team!="dev",} `, wantQuery: `ALERTS{alertstate="firing",severity=~"critical|page",team!="dev"}`},
		{in: "namespace!~`kube-.*`", wantQuery: `ALERTS{alertstate="firing",namespace!~"kube-.*"}`},
		{in: `summary="say \"hi\""`, wantQuery: `ALERTS{alertstate="firing",summary="say \"hi\""}`},
		{in: `severity=critical`, wantErr: "at offset 9: a value in double quotes must follow severity="},
		{in: `severity="critical`, wantErr: "the value of severity is not a closed, valid string"},
		{in: `severity "critical"`, wantErr: "an operator (=, !=, =~, !~) must follow the label severity"},
		{in: `severity="critical" team="a"`, wantErr: "a comma must separate two matchers"},
		{in: `1abc="x"`, wantErr: "at offset 0: a label name must start here"},
		{in: `alertstate="pending"`, wantErr: "alertstate cannot be matched"},
		{in: `team=~"(a"`, wantErr: "the regular expression of team is invalid"},
		{in: `{severity="critical"`, wantErr: "an opening { without its closing }"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			ms, err := ParseSelector(tc.in)
			if tc.wantErr != "" {
				var se *SelectorError
				if !errors.As(err, &se) {
					t.Fatalf("error %v, want a *SelectorError", err)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %q, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := alertsQuery(ms); got != tc.wantQuery {
				t.Errorf("query %s, want %s", got, tc.wantQuery)
			}
		})
	}
}

type fakeQuerier struct {
	samples []probe.Sample
	err     error
	queries []string
}

func (q *fakeQuerier) Query(_ context.Context, query string, _ time.Time) ([]probe.Sample, error) {
	q.queries = append(q.queries, query)
	return q.samples, q.err
}

func alertSample(name string, labels ...string) probe.Sample {
	l := map[string]string{"__name__": "ALERTS", "alertname": name, "alertstate": "firing", "severity": "critical"}
	for i := 0; i+1 < len(labels); i += 2 {
		l[labels[i]] = labels[i+1]
	}
	return probe.Sample{Labels: l, Value: 1}
}

func TestAlertCheck(t *testing.T) {
	detect := []experiment.Detection{{Alert: "ShopHighErrorRate", Labels: map[string]string{"namespace": "shop"}}}
	tests := []struct {
		name        string
		q           *fakeQuerier
		wantOpen    bool
		wantReasons []string
		wantFiring  int
	}{
		{name: "no alert firing: open", q: &fakeQuerier{}, wantOpen: true},
		{name: "a critical alert: closed, named with its namespace",
			q:           &fakeQuerier{samples: []probe.Sample{alertSample("KubePodCrashLooping", "namespace", "shop", "pod", "a"), alertSample("KubePodCrashLooping", "namespace", "shop", "pod", "b")}},
			wantReasons: []string{"gate: alert KubePodCrashLooping firing in shop"}, wantFiring: 2},
		{name: "an alert without namespace",
			q:           &fakeQuerier{samples: []probe.Sample{alertSample("EtcdNoLeader")}},
			wantReasons: []string{"gate: alert EtcdNoLeader firing"}, wantFiring: 1},
		{name: "the alert spec.detect expects: open",
			q:        &fakeQuerier{samples: []probe.Sample{alertSample("ShopHighErrorRate", "namespace", "shop", "service", "checkout")}},
			wantOpen: true, wantFiring: 1},
		{name: "the expected alert's name in another namespace: closed",
			q:           &fakeQuerier{samples: []probe.Sample{alertSample("ShopHighErrorRate", "namespace", "pay")}},
			wantReasons: []string{"gate: alert ShopHighErrorRate firing in pay"}, wantFiring: 1},
		{name: "Prometheus unreachable: closed, never read as quiet",
			q:           &fakeQuerier{err: errors.New("dial tcp 127.0.0.1:9: connect: connection refused")},
			wantReasons: []string{"gate: cannot read the firing alerts from Prometheus, so nothing is injected: dial tcp 127.0.0.1:9: connect: connection refused"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := &Gate{Config: Config{Alerts: true, AlertSelector: DefaultAlertSelector}, Prom: tc.q}
			c := g.Check(t.Context(), Request{Round: 1, Detect: detect})
			if c.Open != tc.wantOpen || strings.Join(c.Reasons, "|") != strings.Join(tc.wantReasons, "|") {
				t.Errorf("open %v reasons %q, want %v %q", c.Open, c.Reasons, tc.wantOpen, tc.wantReasons)
			}
			if c.Alerts == nil || c.Alerts.Query != `ALERTS{alertstate="firing",severity="critical"}` || len(c.Alerts.Firing) != tc.wantFiring {
				t.Fatalf("alert check %+v, want the query and %d firing", c.Alerts, tc.wantFiring)
			}
			if tc.q.err != nil && c.Alerts.Error == "" {
				t.Error("the journal must keep Prometheus's error")
			}
			if c.Rollouts != nil {
				t.Error("rollout check off, but recorded")
			}
		})
	}
}

func TestReasonsAreCapped(t *testing.T) {
	var samples []probe.Sample
	for _, ns := range []string{"a", "b", "c", "d", "e", "f", "g"} {
		samples = append(samples, alertSample("Down", "namespace", ns))
	}
	g := &Gate{Config: Config{Alerts: true}, Prom: &fakeQuerier{samples: samples}}
	c := g.Check(t.Context(), Request{Round: 1})
	if len(c.Reasons) != maxReasons+1 || c.Reasons[maxReasons] != "gate: and 2 more (the journal's gate check lists them)" {
		t.Fatalf("reasons %q", c.Reasons)
	}
	if len(c.Alerts.Firing) != 7 {
		t.Errorf("the journal keeps every alert, got %d", len(c.Alerts.Firing))
	}
}

func i32(n int32) *int32 { return &n }

func progressing(reason string) []appsv1.DeploymentCondition {
	return []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Reason: reason}}
}

func TestDeploymentRollout(t *testing.T) {
	dep := func(mut func(*appsv1.Deployment)) *appsv1.Deployment {
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Generation: 4},
			Spec:       appsv1.DeploymentSpec{Replicas: i32(3)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 4, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3,
				Conditions: progressing(reasonNewRSAvailable)},
		}
		mut(d)
		return d
	}
	tests := []struct {
		name    string
		d       *appsv1.Deployment
		rolling bool
		detail  string
	}{
		{"complete", dep(func(*appsv1.Deployment) {}), false, "rollout complete (3 of 3 replicas updated)"},
		{"generation not observed", dep(func(d *appsv1.Deployment) { d.Generation = 5 }), true,
			"is rolling out (generation 5 not yet observed by the deployment controller, which saw 4)"},
		{"updated short of desired", dep(func(d *appsv1.Deployment) {
			d.Status.UpdatedReplicas, d.Status.Replicas = 1, 4
			d.Status.Conditions = progressing("ReplicaSetUpdated")
		}), true, "is rolling out (1 of 3 replicas updated)"},
		{"paused after a template change", dep(func(d *appsv1.Deployment) {
			d.Spec.Paused = true
			d.Status.UpdatedReplicas = 0
			d.Status.Conditions = progressing(reasonPaused)
		}), true, "is paused mid-rollout (0 of 3 replicas updated)"},
		{"paused, nothing to roll out", dep(func(d *appsv1.Deployment) {
			d.Spec.Paused = true
			d.Status.Conditions = progressing(reasonPaused)
		}), false, "rollout complete (3 of 3 replicas updated)"},
		{"old replicas still running", dep(func(d *appsv1.Deployment) {
			d.Status.Replicas = 4
			d.Status.Conditions = progressing("ReplicaSetUpdated")
		}), true, "is rolling out (3 of 3 replicas updated, 1 old still running)"},
		{"new replicas not yet available", dep(func(d *appsv1.Deployment) {
			d.Status.AvailableReplicas = 1
			d.Status.Conditions = progressing("ReplicaSetUpdated")
		}), true, "is rolling out (3 of 3 replicas updated, 1 available)"},
		{"a pod killed after the rollout completed: not a rollout", dep(func(d *appsv1.Deployment) {
			d.Status.AvailableReplicas, d.Status.ReadyReplicas = 2, 2
		}), false, "rollout complete (3 of 3 replicas updated)"},
		{"the killed pod's replacement not yet created: not a rollout", dep(func(d *appsv1.Deployment) {
			d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.AvailableReplicas, d.Status.ReadyReplicas = 2, 2, 2, 2
		}), false, "rollout complete (2 of 3 replicas running: a replacement or a scale, not a rollout)"},
		{"scaled up after the rollout completed: not a rollout", dep(func(d *appsv1.Deployment) {
			d.Spec.Replicas = i32(5)
		}), false, "rollout complete (3 of 5 replicas running: a replacement or a scale, not a rollout)"},
		{"missing replicas without a progress deadline: closed", dep(func(d *appsv1.Deployment) {
			d.Status.Replicas, d.Status.UpdatedReplicas = 2, 2
			d.Status.Conditions = nil
		}), true, "is rolling out (2 of 3 replicas updated)"},
		{"stuck past its progress deadline", dep(func(d *appsv1.Deployment) {
			d.Status.UpdatedReplicas = 1
			d.Status.Conditions = progressing(reasonDeadlineExceeded)
		}), true, "has a stuck rollout (progress deadline exceeded, 1 of 3 replicas updated)"},
		{"no progress deadline: availability not read", dep(func(d *appsv1.Deployment) {
			d.Status.AvailableReplicas = 0
			d.Status.Conditions = nil
		}), false, "rollout complete (3 of 3 replicas updated)"},
		{"replicas unset means 1", dep(func(d *appsv1.Deployment) {
			d.Spec.Replicas = nil
			d.Status.Replicas, d.Status.UpdatedReplicas = 1, 1
		}), false, "rollout complete (1 of 1 replicas updated)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rolling, detail := DeploymentRollout(tc.d)
			if rolling != tc.rolling || detail != tc.detail {
				t.Errorf("got %v %q, want %v %q", rolling, detail, tc.rolling, tc.detail)
			}
		})
	}
}

func TestStatefulSetRollout(t *testing.T) {
	sts := func(mut func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
		s := &appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Generation: 2},
			Spec:       appsv1.StatefulSetSpec{Replicas: i32(3), UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}},
			Status:     appsv1.StatefulSetStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, CurrentRevision: "r2", UpdateRevision: "r2"},
		}
		mut(s)
		return s
	}
	tests := []struct {
		name    string
		s       *appsv1.StatefulSet
		rolling bool
		detail  string
	}{
		{"complete", sts(func(*appsv1.StatefulSet) {}), false, "rollout complete (3 of 3 replicas updated)"},
		{"generation not observed", sts(func(s *appsv1.StatefulSet) { s.Generation = 3 }), true,
			"is rolling out (generation 3 not yet observed by the statefulset controller, which saw 2)"},
		{"revision not current", sts(func(s *appsv1.StatefulSet) { s.Status.UpdateRevision, s.Status.UpdatedReplicas = "r3", 1 }), true,
			"is rolling out (1 of 3 replicas updated, 3 ready)"},
		{"held at a partition", sts(func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: i32(2)}
			s.Status.UpdateRevision, s.Status.UpdatedReplicas = "r3", 1
		}), false, "staged rollout held at partition 2 (1 of 3 replicas updated)"},
		{"OnDelete", sts(func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
			s.Status.UpdateRevision = "r3"
		}), false, "no rollout to follow (updateStrategy OnDelete)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rolling, detail := StatefulSetRollout(tc.s)
			if rolling != tc.rolling || detail != tc.detail {
				t.Errorf("got %v %q, want %v %q", rolling, detail, tc.rolling, tc.detail)
			}
		})
	}
}

func TestDaemonSetRollout(t *testing.T) {
	ds := func(mut func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
		d := &appsv1.DaemonSet{
			ObjectMeta: metav1.ObjectMeta{Generation: 2},
			Spec:       appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType}},
			Status:     appsv1.DaemonSetStatus{ObservedGeneration: 2, DesiredNumberScheduled: 4, UpdatedNumberScheduled: 4, NumberAvailable: 4},
		}
		mut(d)
		return d
	}
	tests := []struct {
		name    string
		d       *appsv1.DaemonSet
		rolling bool
		detail  string
	}{
		{"complete", ds(func(*appsv1.DaemonSet) {}), false, "rollout complete (4 of 4 pods updated)"},
		{"generation not observed", ds(func(d *appsv1.DaemonSet) { d.Generation = 3 }), true,
			"is rolling out (generation 3 not yet observed by the daemonset controller, which saw 2)"},
		{"updated short", ds(func(d *appsv1.DaemonSet) { d.Status.UpdatedNumberScheduled = 1 }), true, "is rolling out (1 of 4 pods updated)"},
		{"a pod unavailable only: not a rollout", ds(func(d *appsv1.DaemonSet) { d.Status.NumberAvailable = 3 }), false, "rollout complete (4 of 4 pods updated)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rolling, detail := DaemonSetRollout(tc.d)
			if rolling != tc.rolling || detail != tc.detail {
				t.Errorf("got %v %q, want %v %q", rolling, detail, tc.rolling, tc.detail)
			}
		})
	}
}

// TestRolloutCheckFollowsOwners resolves the targets' ReplicaSets to their
// Deployment (read once for two ReplicaSets), reads StatefulSets, ignores
// Jobs and bare pods, and closes on what it cannot read.
func TestRolloutCheckFollowsOwners(t *testing.T) {
	ctrl := true
	rs := func(name, dep string) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: dep, Controller: &ctrl}}}}
	}
	rolling := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout", Generation: 2},
		Spec:   appsv1.DeploymentSpec{Replicas: i32(3)},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 4, UpdatedReplicas: 1, Conditions: progressing("ReplicaSetUpdated")}}
	done := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db", Generation: 1},
		Spec:   appsv1.StatefulSetSpec{Replicas: i32(1)},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, UpdatedReplicas: 1, CurrentRevision: "a", UpdateRevision: "a"}}
	client := fake.NewClientset(rs("checkout-old", "checkout"), rs("checkout-new", "checkout"), rolling, done)
	client.PrependReactor("get", "daemonsets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "daemonsets"}, "agent", errors.New("RBAC: access denied"))
	})
	pod := func(name, kind, owner string) target.Pod {
		p := target.Pod{Namespace: "shop", Name: name}
		if kind != "" {
			p.Owner = &target.Owner{Kind: kind, Name: owner}
		}
		return p
	}
	g := &Gate{Config: Config{Rollouts: true}, Client: client}
	c := g.Check(t.Context(), Request{Round: 1, Targets: []target.Pod{
		pod("checkout-old-1", "ReplicaSet", "checkout-old"), pod("checkout-new-1", "ReplicaSet", "checkout-new"),
		pod("db-0", "StatefulSet", "db"), pod("job-x", "Job", "x"), pod("solo", "", ""), pod("agent-1", "DaemonSet", "agent"),
	}})
	if c.Open {
		t.Fatal("open, want closed")
	}
	want := []string{
		"gate: deployment shop/checkout is rolling out (1 of 3 replicas updated)",
		"gate: cannot read the daemonset shop/agent, so nothing of it is touched: daemonsets.apps \"agent\" is forbidden: RBAC: access denied",
	}
	if strings.Join(c.Reasons, "\n") != strings.Join(want, "\n") {
		t.Errorf("reasons\n%s\nwant\n%s", strings.Join(c.Reasons, "\n"), strings.Join(want, "\n"))
	}
	var got []string
	for _, w := range c.Rollouts.Workloads {
		got = append(got, w.Kind+" "+w.Name+": "+w.Detail)
	}
	wantW := []string{"Deployment checkout: is rolling out (1 of 3 replicas updated)", "StatefulSet db: rollout complete (1 of 1 replicas updated)",
		"Job x: no rollout: owned by a Job", "DaemonSet agent: "}
	if strings.Join(got, "\n") != strings.Join(wantW, "\n") {
		t.Errorf("workloads\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantW, "\n"))
	}
}

// TestRolloutCheckByDeploymentName: a ReplicaSet's pod whose names say its
// Deployment (DEPLOYMENT-HASH, pod-template-hash=HASH) costs one GET of the
// Deployment, accepted only when its selector matches the pod; otherwise
// the ReplicaSet is read and its controller followed, as before.
func TestRolloutCheckByDeploymentName(t *testing.T) {
	ctrl := true
	dep := func(name string, match map[string]string, rolling bool) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, Generation: 1},
			Spec:   appsv1.DeploymentSpec{Replicas: i32(3), Selector: &metav1.LabelSelector{MatchLabels: match}},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3, Conditions: progressing("NewReplicaSetAvailable")}}
		if rolling {
			d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.Conditions = 4, 1, progressing("ReplicaSetUpdated")
		}
		return d
	}
	rs := func(name, owner string) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: owner, Controller: &ctrl}}}}
	}
	pod := func(name, rsName, hash string, lbls map[string]string) target.Pod {
		l := map[string]string{"pod-template-hash": hash}
		for k, v := range lbls {
			l[k] = v
		}
		return target.Pod{Namespace: "shop", Name: name, Labels: l, Owner: &target.Owner{Kind: "ReplicaSet", Name: rsName}}
	}
	client := fake.NewClientset(
		dep("checkout", map[string]string{"app": "checkout"}, true), rs("checkout-7d9f", "checkout"), rs("checkout-5c4b", "checkout"),
		// "cart-abc" looks like cart's, but cart selects other pods: its
		// real controller is "basket".
		dep("cart", map[string]string{"app": "cart"}, false), dep("basket", map[string]string{"app": "basket"}, true), rs("cart-abc", "basket"),
	)
	g := &Gate{Config: Config{Rollouts: true}, Client: client}
	c := g.Check(t.Context(), Request{Round: 1, Targets: []target.Pod{
		pod("checkout-7d9f-1", "checkout-7d9f", "7d9f", map[string]string{"app": "checkout"}),
		pod("checkout-5c4b-1", "checkout-5c4b", "5c4b", map[string]string{"app": "checkout"}), // the same Deployment: read once
		pod("cart-abc-1", "cart-abc", "abc", map[string]string{"app": "basket"}),
	}})
	var got []string
	for _, w := range c.Rollouts.Workloads {
		got = append(got, fmt.Sprintf("%s %s rolling=%v", w.Kind, w.Name, w.RollingOut))
	}
	if want := []string{"Deployment checkout rolling=true", "Deployment basket rolling=true"}; !slices.Equal(got, want) {
		t.Errorf("workloads %v, want %v", got, want)
	}
	gets := map[string][]string{}
	for _, a := range client.Actions() {
		if a.GetVerb() == "get" {
			gets[a.GetResource().Resource] = append(gets[a.GetResource().Resource], a.(k8stesting.GetAction).GetName())
		}
	}
	// checkout: one Deployment GET for two ReplicaSets, no ReplicaSet GET;
	// cart-abc: cart's selector does not match, so the ReplicaSet is read
	// and basket followed.
	if !slices.Equal(gets["deployments"], []string{"checkout", "cart", "basket"}) || !slices.Equal(gets["replicasets"], []string{"cart-abc"}) {
		t.Errorf("GETs %v", gets)
	}
}
