package inject

import "testing"

func TestAccessString(t *testing.T) {
	tests := []struct {
		a         Access
		str, rule string
	}{
		{Access{Verb: "create", Resource: "pods", Subresource: "eviction"}, "create pods/eviction", "--verb=create --resource=pods/eviction"},
		{Access{Verb: "get", Group: "apps", Resource: "replicasets"}, "get replicasets.apps", "--verb=get --resource=replicasets.apps"},
		{Access{Verb: "get", Resource: "namespaces", Name: "shop"}, "get namespaces shop", "--verb=get --resource=namespaces --resource-name=shop"},
		{Access{Verb: "update", Resource: "pods", Subresource: "ephemeralcontainers"}, "update pods/ephemeralcontainers", "--verb=update --resource=pods/ephemeralcontainers"},
	}
	for _, tt := range tests {
		if got := tt.a.String(); got != tt.str {
			t.Errorf("String() = %q, want %q", got, tt.str)
		}
		if got := tt.a.Rule(); got != tt.rule {
			t.Errorf("Rule() = %q, want %q", got, tt.rule)
		}
	}
}

func TestGuardAccess(t *testing.T) {
	tests := []struct {
		name   string
		optIn  bool
		owners []string
		want   Accesses
	}{
		{name: "bare pods, no opt-in", want: Accesses{
			{Verb: "list", Resource: "pods"}, {Verb: "get", Resource: "pods"}, {Verb: "create", Resource: "events"}}},
		{name: "owners once each, unknown kinds need nothing, opt-in reads the namespace", optIn: true,
			owners: []string{"ReplicaSet", "StatefulSet", "ReplicaSet", "Job", "ReplicationController", "DaemonSet", "Node"},
			want: Accesses{
				{Verb: "list", Resource: "pods"}, {Verb: "get", Resource: "pods"},
				{Verb: "get", Group: "apps", Resource: "replicasets"}, {Verb: "get", Group: "apps", Resource: "statefulsets"},
				{Verb: "get", Group: "batch", Resource: "jobs"}, {Verb: "get", Resource: "replicationcontrollers"},
				{Verb: "get", Group: "apps", Resource: "daemonsets"},
				{Verb: "create", Resource: "events"}, {Verb: "get", Resource: "namespaces", Name: "shop"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := GuardAccess("shop", tt.optIn, tt.owners)
			if len(got) != len(tt.want) {
				t.Fatalf("got %s, want %s", Accesses(got).Strings(), tt.want.Strings())
			}
			for i, a := range got {
				w := tt.want[i]
				if a.String() != w.String() {
					t.Errorf("%d: %s, want %s", i, a, w)
				}
				wantNS := "shop"
				if a.Resource == "namespaces" {
					wantNS = ""
				}
				if a.Namespace != wantNS || a.Why == "" {
					t.Errorf("%s: namespace %q (want %q), why %q", a, a.Namespace, wantNS, a.Why)
				}
			}
		})
	}
}
