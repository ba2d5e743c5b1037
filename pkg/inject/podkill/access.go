package podkill

import (
	"github.com/chaosnight/chaosnight/pkg/inject"
)

// Access is what Inject calls in a target namespace for method (default
// evict): create on pods/eviction, or delete on pods.
func Access(method, namespace string) []inject.Access {
	if method == MethodDelete {
		return []inject.Access{{Verb: "delete", Resource: "pods", Namespace: namespace, Why: "kill the targets (method: delete)"}}
	}
	return []inject.Access{{Verb: "create", Resource: "pods", Subresource: "eviction", Namespace: namespace, Why: "evict the targets (method: evict)"}}
}
