package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chaosnight/chaosnight/pkg/stressor"
)

// `chaosnight stress` is package stresscmd behind cobra (its tests are
// there): the same command line as chaosnight-stress, stop and --help
// included, each problem said once, chaosnight's exit codes.
func TestStressCommandDelegates(t *testing.T) {
	code, out, errOut := run(t, "stress", "--cpu-workers", "1", "--cpu-load", "10", "--duration", "200ms", "-o", "json")
	var rep stressor.Report
	if code != ExitHeld || json.Unmarshal([]byte(out), &rep) != nil || rep.Ended != stressor.EndDeadline || rep.CPU == nil {
		t.Errorf("stress: exit %d, report %q, stderr %q", code, out, errOut)
	}

	code, out, errOut = run(t, "stress", "--memory", "1Mi")
	if want := "error: invalid stress: --duration is required (for example 5m): a stress always ends by itself\n"; code != ExitInvalid || out != "" || errOut != want {
		t.Errorf("no duration: exit %d, stdout %q, stderr %q, want exit 3 and %q", code, out, errOut, want)
	}

	code, out, _ = run(t, "stress", "--help")
	if code != ExitHeld || !strings.HasPrefix(out, "Usage: chaosnight stress --duration D") || !strings.Contains(out, "chaosnight stress stop [--timeout D]") {
		t.Errorf("--help: exit %d, %q", code, out)
	}

	code, out, errOut = run(t, "stress", "stop", "--timeout", "1s")
	if code != ExitHeld || out != "no stress process running\n" {
		t.Errorf("stop: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
