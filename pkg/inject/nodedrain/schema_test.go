package nodedrain

import (
	"flag"
	"testing"

	"github.com/chaosnight/chaosnight/pkg/experiment/schemagen"
)

var update = flag.Bool("update", false, "rewrite schema.json from the types")

// TestSchemaIsGenerated keeps schema.json, embedded as the kind's schema,
// equal to what Spec generates.
func TestSchemaIsGenerated(t *testing.T) {
	got := schemagen.Kind(t, &Spec{}, "NodeDrain", "github.com/chaosnight/chaosnight/pkg/inject/nodedrain", ".", func(d schemagen.Defs) {
		d.Def("NodeDrain").Description = "Cordon the picked nodes (opted in with chaosnight.dev/enabled=true, Ready, schedulable) and evict the targets on them through the Eviction API; revert uncordons them."
		// pick is the format's own Pick (one definition for both): the
		// kinds' definitions may not redefine the format's.
		delete(d.Defs, "Pick")
		d.Prop("NodeSelection", "selector").MinLength = schemagen.U(1)
	})
	schemagen.Golden(t, "schema.json", got, *update)
}
