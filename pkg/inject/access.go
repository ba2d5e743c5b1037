package inject

import "strings"

// Access is one permission an injection needs, in the terms of a
// SelfSubjectAccessReview: what `chaosnight doctor` asks the API server
// before a night, so that a missing verb is found then and not mid-run.
type Access struct {
	Verb        string `json:"verb"`
	Group       string `json:"group,omitempty"` // "" is the core group
	Resource    string `json:"resource"`
	Subresource string `json:"subresource,omitempty"`
	// Namespace is where the right is needed; "" for cluster-scoped
	// resources (namespaces, nodes).
	Namespace string `json:"namespace,omitempty"`
	// Name limits the right to one object (the kill switch's ConfigMap).
	Name string `json:"name,omitempty"`
	// Why says what the code does with it, for the fix line.
	Why string `json:"why"`
}

// String is the permission as RBAC spells it: "create pods/eviction",
// "get replicasets.apps", "get configmaps/chaosnight-kill-switch" for a
// named object.
func (a Access) String() string {
	res := a.Resource
	if a.Group != "" {
		res += "." + a.Group
	}
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	if a.Name != "" {
		res += " " + a.Name
	}
	return a.Verb + " " + res
}

// Rule is the permission as a kubectl command would grant it: the
// --verb and --resource of `kubectl create role`.
func (a Access) Rule() string {
	res := a.Resource
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	if a.Group != "" {
		res += "." + a.Group
	}
	s := "--verb=" + a.Verb + " --resource=" + res
	if a.Name != "" {
		s += " --resource-name=" + a.Name
	}
	return s
}

// ownerResources are the controller kinds whose selector the Guard reads
// for minHealthy (see ownerSelector); other kinds need no read.
var ownerResources = map[string][2]string{
	"ReplicaSet":            {"apps", "replicasets"},
	"StatefulSet":           {"apps", "statefulsets"},
	"DaemonSet":             {"apps", "daemonsets"},
	"Job":                   {"batch", "jobs"},
	"ReplicationController": {"", "replicationcontrollers"},
}

// GuardAccess is what the target selection and the Guard call in a target
// namespace: list the candidates, get each victim fresh, get the owner of
// each kind in ownerKinds (the controllers of the targets) for minHealthy,
// write the ChaosInjected Event, and, with the opt-in rule, get the
// namespace itself (cluster-scoped).
func GuardAccess(namespace string, requireOptIn bool, ownerKinds []string) []Access {
	out := []Access{
		{Verb: "list", Resource: "pods", Namespace: namespace, Why: "select the targets and count each owner's ready pods (minHealthy)"},
		{Verb: "get", Resource: "pods", Namespace: namespace, Why: "re-read each target right before it is touched"},
	}
	seen := map[string]bool{}
	for _, kind := range ownerKinds {
		gr, ok := ownerResources[kind]
		if !ok || seen[kind] {
			continue
		}
		seen[kind] = true
		out = append(out, Access{Verb: "get", Group: gr[0], Resource: gr[1], Namespace: namespace, Why: "read the targets' " + kind + " for minHealthy"})
	}
	out = append(out, Access{Verb: "create", Resource: "events", Namespace: namespace, Why: "write the ChaosInjected Event on every pod touched"})
	if requireOptIn {
		out = append(out, Access{Verb: "get", Resource: "namespaces", Name: namespace, Why: "read the namespace's " + OptInLabel + " label (safety.requireOptIn)"})
	}
	return out
}

// Accesses are the permissions of one experiment, in the order asked.
type Accesses []Access

// Strings lists them as String does, for messages.
func (as Accesses) Strings() string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.String()
	}
	return strings.Join(parts, ", ")
}
