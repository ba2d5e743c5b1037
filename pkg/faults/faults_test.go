package faults_test

import (
	"slices"
	"testing"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/faults"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/nodedrain"
	"github.com/chaosnight/chaosnight/pkg/inject/podkill"
	"github.com/chaosnight/chaosnight/pkg/inject/stress"
	"github.com/chaosnight/chaosnight/pkg/inject/zoneoutage"
)

// TestRegistry checks the program's registry as a whole: every kind once,
// in order, a schema without clashing definitions, each sweep run once,
// and a Lease for every kind that leaves objects behind a crash.
func TestRegistry(t *testing.T) {
	r, err := faults.New()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Formats().Names(), []string{"podKill", "stress", "nodeDrain", "zoneOutage"}; !slices.Equal(got, want) {
		t.Errorf("kinds %v, want %v", got, want)
	}
	if _, err := experiment.JSONSchema(r.Formats()); err != nil {
		t.Errorf("schema: %v", err)
	}
	var sweepers []string
	for _, s := range r.Sweepers() {
		sweepers = append(sweepers, s.(inject.Kind).Name())
	}
	if want := []string{"stress", "nodeDrain"}; !slices.Equal(sweepers, want) {
		t.Errorf("sweepers %v, want %v (zoneOutage's cordons are swept by nodeDrain's sweep)", sweepers, want)
	}
	for _, tt := range []struct {
		kind inject.Kind
		want bool
	}{{podkill.Fault{}, false}, {stress.Fault{}, true}, {nodedrain.Fault{}, true}, {zoneoutage.Fault{}, true}} {
		a := experiment.NewAction(tt.kind, tt.kind.NewSpec())
		if got := r.NeedsLease(a); got != tt.want {
			t.Errorf("NeedsLease(%s) = %v, want %v", tt.kind.Name(), got, tt.want)
		}
	}
	if _, err := r.Of(experiment.Action{Kind: "reboot"}); err == nil {
		t.Error("an unregistered kind was found")
	}
}

// TestRegistryAlone checks a registry without nodeDrain still sweeps
// zoneOutage's cordons, and that one name twice is refused.
func TestRegistryAlone(t *testing.T) {
	r, err := inject.NewRegistry(zoneoutage.Fault{})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r.Sweepers()); n != 1 {
		t.Errorf("%d sweepers, want zoneOutage's own", n)
	}
	if _, err := inject.NewRegistry(podkill.Fault{}, podkill.Fault{}); err == nil {
		t.Error("a kind registered twice was accepted")
	}
}
