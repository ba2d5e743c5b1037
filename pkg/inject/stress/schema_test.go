package stress

import (
	"flag"
	"strings"
	"testing"

	"github.com/chaosnight/chaosnight/pkg/experiment/schemagen"
)

var update = flag.Bool("update", false, "rewrite schema.json from the types")

// TestSchemaIsGenerated keeps schema.json, embedded as the kind's schema,
// equal to what Spec generates.
func TestSchemaIsGenerated(t *testing.T) {
	got := schemagen.Kind(t, &Spec{}, "Stress", "github.com/chaosnight/chaosnight/pkg/inject/stress", ".", func(d schemagen.Defs) {
		d.Def("Stress").Description = "Burn CPU, hold memory and/or fill and load a disk in the targets (scope pod) or on their nodes (scope node)."
		// The loader reads "cpu:" with nothing after it as "cpu with
		// every default", so the schema lets these be null too.
		for _, f := range []struct{ def, prop string }{
			{"Stress", "cpu"}, {"Stress", "memory"}, {"Stress", "disk"}, {"DiskStress", "io"},
		} {
			d.Nullable(f.def, f.prop)
		}
		s := d.Prop("Stress", "scope")
		s.Enum, s.Default = []any{ScopePod, ScopeNode}, ScopePod
		d.Def("Stress").AnyOf = schemagen.Required("cpu", "memory", "disk")
		w := d.Prop("CPUStress", "workers")
		w.Minimum, w.Maximum, w.Default = "1", "64", DefaultCPUWorkers
		l := d.Prop("CPUStress", "load")
		l.Minimum, l.Maximum, l.Default = "1", "100", DefaultCPULoad
		d.Prop("MemoryStress", "size").Pattern = schemagen.QuantityPattern
		d.Def("DiskStress").AnyOf = schemagen.Required("fill", "io")
		d.Prop("DiskStress", "fill").Pattern = `^(` + strings.TrimSuffix(strings.TrimPrefix(schemagen.QuantityPattern, "^"), "$") + `|([1-9]|[1-9][0-9])%)$`
		d.Prop("DiskStress", "path").Pattern = `^/.`
		v := d.Prop("DiskStress", "volume")
		v.Pattern, v.MaxLength = schemagen.DNSLabelPattern, schemagen.U(63)
		dw := d.Prop("DiskIO", "workers")
		dw.Minimum, dw.Maximum, dw.Default = "1", "32", DefaultDiskIOWorkers
		for _, x := range []struct{ def, prop, text string }{
			{"Stress", "cpu", "Burn CPU."},
			{"Stress", "memory", "Allocate and hold memory."},
			{"Stress", "disk", "Fill a disk and/or put it under I/O pressure."},
			{"DiskStress", "io", "Sustained write+fsync and read load."},
		} {
			d.Describe(x.def, x.prop, x.text)
		}
	})
	schemagen.Golden(t, "schema.json", got, *update)
}
