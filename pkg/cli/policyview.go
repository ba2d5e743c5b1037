package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/chaosnight/chaosnight/pkg/journal"
)

// printPolicy shows, under a run's summary (the dry-run plan included), the
// effective limits of its first injection and where each came from, and
// any system namespace the operator lifted from the protection floor: an
// experiment author reading the plan sees what the operator imposed.
func printPolicy(w io.Writer, rec *journal.Record) {
	for _, inj := range rec.Injections {
		if inj.Policy == nil {
			continue
		}
		fmt.Fprintf(w, "  limits: %s\n", inj.Policy.Limits)
		if len(inj.Policy.AllowedSystemNamespaces) > 0 {
			fmt.Fprintf(w, "  lifted from the protection floor by safety.allowSystemNamespaces: %s\n", strings.Join(inj.Policy.AllowedSystemNamespaces, ", "))
		}
		return
	}
}
