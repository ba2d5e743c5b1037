package schedule

// Gate is the gate section of chaosnight.yaml: what must be quiet before
// each injection (docs/gate.md). Declared here for the strict decoding of
// the file; the CLI reads the values through viper and validates the
// selector (pkg/gate.ParseSelector).
type Gate struct {
	// Alerts: skip while an alert matching AlertSelector fires (default true).
	Alerts *bool `yaml:"alerts,omitempty"`
	// AlertSelector: PromQL label matchers on ALERTS{alertstate="firing"}
	// (default severity="critical"; empty: every firing alert).
	AlertSelector *string `yaml:"alertSelector,omitempty"`
	// Rollouts: skip while a workload of the targets rolls out (default true).
	Rollouts *bool `yaml:"rollouts,omitempty"`
}
