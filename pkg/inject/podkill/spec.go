package podkill

import "github.com/chaosnight/chaosnight/pkg/experiment"

// Pod kill methods.
const (
	MethodEvict  = "evict"
	MethodDelete = "delete"
)

// Spec is the body of a podKill action: delete or evict the targets.
type Spec struct {
	// Method is "evict" (default: the Eviction API, so PodDisruptionBudgets
	// hold) or "delete".
	Method string `yaml:"method,omitempty" json:"method,omitempty"`
	// GracePeriod overrides the pod's termination grace period (optional).
	GracePeriod *experiment.Duration `yaml:"gracePeriod,omitempty" json:"gracePeriod,omitempty"`
	// Every repeats the kill (with a fresh selection) at this period during
	// Duration; zero means kill once.
	Every experiment.Duration `yaml:"every,omitempty" json:"every,omitempty"`
}
