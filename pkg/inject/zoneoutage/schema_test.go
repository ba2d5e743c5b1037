package zoneoutage

import (
	"flag"
	"testing"

	"github.com/chaosnight/chaosnight/pkg/experiment/schemagen"
	"github.com/chaosnight/chaosnight/pkg/inject/nodedrain"
)

var update = flag.Bool("update", false, "rewrite schema.json from the types")

// TestSchemaIsGenerated keeps schema.json, embedded as the kind's schema,
// equal to what Spec generates.
func TestSchemaIsGenerated(t *testing.T) {
	got := schemagen.Kind(t, &Spec{}, "ZoneOutage", "github.com/chaosnight/chaosnight/pkg/inject/zoneoutage", ".", func(d schemagen.Defs) {
		d.Def("ZoneOutage").Description = "Lose an availability zone: cordon every node of one " + nodedrain.ZoneLabel +
			" (opted in with chaosnight.dev/enabled=true, Ready, schedulable) and evict the targets on them through the Eviction API; revert uncordons them."
		z := d.Prop("ZoneOutage", "zone")
		z.MaxLength = schemagen.U(63)
		z.Pattern = `^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$` // a label value
		d.Prop("ZoneNodes", "selector").MinLength = schemagen.U(1)
	})
	schemagen.Golden(t, "schema.json", got, *update)
}
