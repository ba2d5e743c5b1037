package podkill

import (
	"flag"
	"testing"

	"github.com/chaosnight/chaosnight/pkg/experiment/schemagen"
)

var update = flag.Bool("update", false, "rewrite schema.json from the types")

// TestSchemaIsGenerated keeps schema.json, embedded as the kind's schema,
// equal to what Spec generates.
func TestSchemaIsGenerated(t *testing.T) {
	got := schemagen.Kind(t, &Spec{}, "PodKill", "github.com/chaosnight/chaosnight/pkg/inject/podkill", ".", func(d schemagen.Defs) {
		d.Def("PodKill").Description = "Delete or evict the targets."
		m := d.Prop("PodKill", "method")
		m.Enum, m.Default = []any{MethodEvict, MethodDelete}, MethodEvict
	})
	schemagen.Golden(t, "schema.json", got, *update)
}
