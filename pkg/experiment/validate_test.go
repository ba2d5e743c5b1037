package experiment_test

import (
	"strings"
	"testing"
	"time"

	. "github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject/podkill"
	"github.com/chaosnight/chaosnight/pkg/inject/stress"
)

// goExperiment is a valid experiment built in Go, without defaults applied.
func goExperiment() Experiment {
	return Experiment{
		APIVersion: APIVersion,
		Kind:       Kind,
		Metadata:   Metadata{Name: "built-in-go"},
		Spec: Spec{
			Hypothesis: Hypothesis{Probes: []Probe{{Name: "up", Query: "sum(up)", Expect: Expect{AtLeast: ptr(1.0)}}}},
			Target:     Target{Namespaces: []string{"shop"}, Selector: "app=checkout"},
			Action:     NewAction(podkill.Fault{}, &podkill.Spec{}),
			Duration:   NewDuration(time.Minute),
		},
	}
}

// TestValidateGoBuilt checks Validate on experiments that never were YAML:
// problems have no file and no line, and zero values that have defaults are
// not errors.
func TestValidateGoBuilt(t *testing.T) {
	tests := []struct {
		name   string
		modify func(e *Experiment)
		want   []string
	}{
		{"valid without defaults", func(e *Experiment) {}, nil},
		{"valid with defaults", func(e *Experiment) { ApplyDefaults(e) }, nil},
		{"zero values that have defaults", func(e *Experiment) {
			e.Spec.Action = NewAction(stress.Fault{}, &stress.Spec{CPU: &stress.CPUStress{}})
		}, nil},
		{"empty", func(e *Experiment) { *e = Experiment{} }, []string{
			"apiVersion: required (set it to chaosnight.dev/v1alpha1)",
			"kind: required (set it to Experiment)",
			"metadata.name: required (a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit, such as checkout-pod-kill)",
			"spec.action: no action (set exactly one of the registered fault kinds)",
			"spec.duration: required (use a Go duration such as 30s, 5m, 1h30m)",
			"spec.hypothesis.probes: at least one probe is required (the steady state must be measurable)",
			"spec.target.namespaces: at least one namespace is required (there is no wildcard: the blast radius is always spelled out)",
			"spec.target.selector: required (a label selector in kubectl syntax such as app=checkout; an experiment never targets every pod)",
		}},
		{"negative ints are errors even without a file", func(e *Experiment) {
			e.Spec.Action = NewAction(stress.Fault{}, &stress.Spec{CPU: &stress.CPUStress{Workers: -1, Load: 101}})
			e.Spec.Safety.MaxTargets = -3
		}, []string{
			"spec.action.stress.cpu.load: must be between 1 and 100, got 101",
			"spec.action.stress.cpu.workers: must be between 1 and 64, got -1",
			"spec.safety.maxTargets: must be at least 1, got -3",
		}},
		{"pick count over the default cap", func(e *Experiment) { e.Spec.Target.Pick.Count = ptr(11) }, []string{
			"spec.target.pick.count: 11 is more than the default spec.safety.maxTargets 10 (pick fewer pods or raise maxTargets)",
		}},
		{"probe order by index", func(e *Experiment) {
			for i := 0; i < 11; i++ {
				e.Spec.Hypothesis.Probes = append(e.Spec.Hypothesis.Probes, Probe{Name: "up", Query: "up", Expect: Expect{Below: ptr(1.0)}})
			}
			e.Spec.Hypothesis.Probes[2].Name = ""
		}, []string{
			`spec.hypothesis.probes[1].name: duplicate name "up" (also used by spec.hypothesis.probes[0])`,
			"spec.hypothesis.probes[2].name: required (a DNS-1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit, unique in this list)",
			`spec.hypothesis.probes[3].name: duplicate name "up" (also used by spec.hypothesis.probes[0])`,
			`spec.hypothesis.probes[4].name: duplicate name "up" (also used by spec.hypothesis.probes[0])`,
			`spec.hypothesis.probes[5].name: duplicate name "up" (also used by spec.hypothesis.probes[0])`,
			`spec.hypothesis.probes[6].name: duplicate name "up" (also used by spec.hypothesis.probes[0])`,
			`spec.hypothesis.probes[7].name: duplicate name "up" (also used by spec.hypothesis.probes[0])`,
			`spec.hypothesis.probes[8].name: duplicate name "up" (also used by spec.hypothesis.probes[0])`,
			`spec.hypothesis.probes[9].name: duplicate name "up" (also used by spec.hypothesis.probes[0])`,
			`spec.hypothesis.probes[10].name: duplicate name "up" (also used by spec.hypothesis.probes[0])`,
			`spec.hypothesis.probes[11].name: duplicate name "up" (also used by spec.hypothesis.probes[0])`,
		}},
		{"a whole-second grace period of zero is fine", func(e *Experiment) {
			e.Spec.Action.Spec.(*podkill.Spec).GracePeriod = ptr(NewDuration(0))
		}, nil},
		{"memory bounds are inclusive", func(e *Experiment) {
			e.Spec.Action = NewAction(stress.Fault{}, &stress.Spec{Memory: &stress.MemoryStress{Size: "64Gi"}})
		}, nil},
		{"memory below 1Mi", func(e *Experiment) {
			e.Spec.Action = NewAction(stress.Fault{}, &stress.Spec{Memory: &stress.MemoryStress{Size: "1023Ki"}})
		}, []string{`spec.action.stress.memory.size: must be between 1Mi and 64Gi, got "1023Ki"`}},
		{"disk fill on a volume, io with the default workers", func(e *Experiment) {
			e.Spec.Action = NewAction(stress.Fault{}, &stress.Spec{Disk: &stress.DiskStress{Fill: "90%", Volume: "cache", IO: &stress.DiskIO{}}})
			ApplyDefaults(e)
		}, nil},
		{"disk fill bounds and shapes", func(e *Experiment) {
			e.Spec.Action = NewAction(stress.Fault{}, &stress.Spec{Scope: stress.ScopeNode, Disk: &stress.DiskStress{Fill: "512Ki", Path: "/data/../etc", Volume: "cache", IO: &stress.DiskIO{Workers: 33}}})
		}, []string{
			`spec.action.stress.disk.fill: must be between 1Mi and 16Ti, got "512Ki"`,
			"spec.action.stress.disk.io.workers: must be between 1 and 32, got 33",
			`spec.action.stress.disk.path: must be a clean absolute directory other than /, got "/data/../etc"`,
			"spec.action.stress.disk.path: not with volume (the volume is mounted at /chaosnight/disk and filled there)",
			"spec.action.stress.disk.volume: only with scope pod (scope node writes to an emptyDir of the helper pod, at path)",
		}},
		{"disk fill percentages", func(e *Experiment) {
			e.Spec.Action = NewAction(stress.Fault{}, &stress.Spec{Disk: &stress.DiskStress{Fill: "9.5%"}})
		}, []string{`spec.action.stress.disk.fill: invalid percentage "9.5%" (use a whole number such as "90%")`}},
		{"selector that names every pod", func(e *Experiment) { e.Spec.Target.Selector = "  " }, []string{
			"spec.target.selector: required (a label selector in kubectl syntax such as app=checkout; an experiment never targets every pod)",
		}},
		{"file is kept, line is not", func(e *Experiment) {
			e.Source.File = "loaded.yaml"
			e.Spec.Duration = Duration{Raw: "soon"}
		}, []string{`loaded.yaml: spec.duration: invalid duration "soon" (use a Go duration such as 30s, 5m, 1h30m)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := goExperiment()
			tt.modify(&e)
			var got []string
			for _, p := range Validate(&e) {
				if p.Line != 0 {
					t.Errorf("problem with a line for an experiment built in Go: %v", p)
				}
				got = append(got, p.String())
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
	if ps := Validate(nil); len(ps) != 1 {
		t.Errorf("Validate(nil) = %v", ps)
	}
}

// TestValidateDoesNotModify checks that Validate leaves its argument alone
// (defaults are read, not written).
func TestValidateDoesNotModify(t *testing.T) {
	e := goExperiment()
	before := dump(e)
	_ = Validate(&e) // the problems do not matter here, only that e is not changed
	if after := dump(e); after != before {
		t.Errorf("Validate changed the experiment:\n%s\n%s", before, after)
	}
}

func TestValidatePromQL(t *testing.T) {
	tests := []struct {
		query, wantErr string
	}{
		{`sum(rate(http_requests_total{code=~"5.."}[1m]))`, ""},
		{`limitk(1, up)`, ""}, // experimental functions are accepted
		{`sum(rate(x[5m])`, "1:16: parse error: unclosed left parenthesis"},
		{`up{`, "1:4: parse error: unexpected end of input inside braces"},
		{``, "unknown position: parse error: no expression found in input"},
	}
	for _, tt := range tests {
		err := ValidatePromQL(tt.query)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tt.wantErr {
			t.Errorf("ValidatePromQL(%q) = %q, want %q", tt.query, got, tt.wantErr)
		}
	}
}
