package experiment_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	. "github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject/podkill"
	"github.com/chaosnight/chaosnight/pkg/inject/stress"

	"go.yaml.in/yaml/v3"
)

func ptr[T any](v T) *T { return &v }

// raw builds the Duration that loading the text s gives.
func raw(s string, d time.Duration) Duration { return Duration{Duration: d, Raw: s} }

// def builds a Duration filled in by ApplyDefaults.
func def(d time.Duration) Duration { return Duration{Duration: d} }

// TestValidFixtures loads each file of testdata/valid and compares every
// field with what the file says plus the documented defaults.
func TestValidFixtures(t *testing.T) {
	tests := []struct {
		file string
		want []Experiment
	}{
		{"design-example.yaml", []Experiment{{
			APIVersion: APIVersion,
			Kind:       Kind,
			Metadata:   Metadata{Name: "checkout-survives-pod-loss", Labels: map[string]string{"team": "payments"}},
			Spec: Spec{
				Description: "Killing one checkout pod every 30 s keeps the 5xx ratio under 1%.",
				Hypothesis: Hypothesis{Probes: []Probe{{
					Name:    "error-ratio",
					Query:   `sum(rate(http_requests_total{namespace="shop",code=~"5.."}[1m])) / sum(rate(http_requests_total{namespace="shop"}[1m]))`,
					Expect:  Expect{Below: ptr(0.01)},
					OnEmpty: OnEmptyFail,
				}}},
				Target: Target{
					Namespaces: []string{"shop"},
					Selector:   "app=checkout",
					Pick:       Pick{Count: ptr(1)},
					MinAge:     raw("5m", 5*time.Minute),
				},
				Action: NewAction(podkill.Fault{}, &podkill.Spec{
					Method:      podkill.MethodEvict,
					GracePeriod: ptr(raw("0s", 0)),
					Every:       raw("30s", 30*time.Second),
				}),
				Duration:      raw("5m", 5*time.Minute),
				ProbeInterval: raw("5s", 5*time.Second),
				Recovery:      raw("2m", 2*time.Minute),
				StopWhen: []Probe{{
					Name:    "checkout-gone",
					Query:   `sum(kube_deployment_status_replicas_available{deployment="checkout"})`,
					Expect:  Expect{Below: ptr(1.0)},
					OnEmpty: OnEmptyFail,
				}},
				Safety: Safety{MinHealthy: ptr(2), MaxTargets: 3},
			},
			Source: Source{File: "design-example.yaml", Line: 2},
		}}},
		{"minimal-podkill.yaml", []Experiment{{
			APIVersion: APIVersion,
			Kind:       Kind,
			Metadata:   Metadata{Name: "minimal"},
			Spec: Spec{
				Hypothesis: Hypothesis{Probes: []Probe{{
					Name: "up", Query: `sum(up{job="checkout"})`, Expect: Expect{AtLeast: ptr(2.0)}, OnEmpty: OnEmptyFail,
				}}},
				Target:        Target{Namespaces: []string{"shop"}, Selector: "app=checkout", Pick: Pick{Count: ptr(1)}},
				Action:        NewAction(podkill.Fault{}, &podkill.Spec{Method: podkill.MethodEvict}),
				Duration:      raw("1m", time.Minute),
				ProbeInterval: def(DefaultProbeInterval),
				Recovery:      def(DefaultRecovery),
				Safety:        Safety{MaxTargets: DefaultMaxTargets, MinHealthy: ptr(DefaultMinHealthy)},
			},
			Source: Source{File: "minimal-podkill.yaml", Line: 2},
		}}},
		{"stress-defaults.yaml", []Experiment{{
			APIVersion: APIVersion,
			Kind:       Kind,
			Metadata: Metadata{
				Name:        "cart-stress",
				Labels:      map[string]string{"team": "cart", "app.kubernetes.io/part-of": "shop"},
				Annotations: map[string]string{"chaosnight.dev/owner": "sre@example.com"},
			},
			Spec: Spec{
				Hypothesis: Hypothesis{Probes: []Probe{
					{Name: "p95", Query: `histogram_quantile(0.95, sum by (le) (rate(latency_bucket[1m])))`, Expect: Expect{AtMost: ptr(0.3)}, OnEmpty: OnEmptyFail},
					{Name: "ready", Query: `sum(kube_deployment_status_replicas_available{deployment="cart"})`, Expect: Expect{Between: []float64{2, 5}}, OnEmpty: OnEmptyFail},
					{Name: "errors", Query: `sum(rate(errors_total[1m]))`, Expect: Expect{Equals: ptr(0.0)}, OnEmpty: OnEmptyPass},
					{Name: "traffic", Query: `sum(rate(requests_total[1m]))`, Expect: Expect{Above: ptr(1.0)}, OnEmpty: OnEmptyFail},
					{Name: "scalar", Query: `vector(1)`, Expect: Expect{AtLeast: ptr(1.0)}, OnEmpty: OnEmptyFail},
				}},
				Target: Target{
					Namespaces:    []string{"shop", "shop-eu"},
					Selector:      "app=cart,tier!=db",
					FieldSelector: "status.phase=Running",
					Pick:          Pick{Percent: ptr(50)},
					OnePerOwner:   true,
				},
				Action: NewAction(stress.Fault{}, &stress.Spec{
					Scope:  stress.ScopePod,
					CPU:    &stress.CPUStress{Workers: stress.DefaultCPUWorkers, Load: stress.DefaultCPULoad},
					Memory: &stress.MemoryStress{Size: "256Mi"},
				}),
				Duration:      raw("2m", 2*time.Minute),
				ProbeInterval: def(DefaultProbeInterval),
				Recovery:      def(DefaultRecovery),
				StopWhen: []Probe{{
					Name: "cart-gone", Query: `sum(kube_deployment_status_replicas_available{deployment="cart"})`, Expect: Expect{Below: ptr(1.0)}, OnEmpty: OnEmptyFail,
				}},
				Safety: Safety{MaxTargets: DefaultMaxTargets, MinHealthy: ptr(DefaultMinHealthy)},
			},
			Source: Source{File: "stress-defaults.yaml", Line: 3},
		}}},
		{"multi-document.yaml", []Experiment{
			{
				APIVersion: APIVersion,
				Kind:       Kind,
				Metadata:   Metadata{Name: "first"},
				Spec: Spec{
					Hypothesis:    Hypothesis{Probes: []Probe{{Name: "up", Query: "up", Expect: Expect{Equals: ptr(1.0)}, OnEmpty: OnEmptyFail}}},
					Target:        Target{Namespaces: []string{"a"}, Selector: "app=a", Pick: Pick{All: true}},
					Action:        NewAction(podkill.Fault{}, &podkill.Spec{Method: podkill.MethodEvict}),
					Duration:      raw("10m", 10*time.Minute),
					ProbeInterval: raw("1m", time.Minute),
					Recovery:      def(DefaultRecovery),
					Safety:        Safety{MaxTargets: DefaultMaxTargets, MinHealthy: ptr(DefaultMinHealthy)},
				},
				// Document 0 is the empty one between the two markers.
				Source: Source{File: "multi-document.yaml", Document: 1, Line: 4},
			},
			{
				APIVersion: APIVersion,
				Kind:       Kind,
				Metadata:   Metadata{Name: "second"},
				Spec: Spec{
					Hypothesis: Hypothesis{Probes: []Probe{{Name: "up", Query: "up", Expect: Expect{Equals: ptr(1.0)}, OnEmpty: OnEmptyFail}}},
					Target:     Target{Namespaces: []string{"b"}, Selector: "app=b", Pick: Pick{Count: ptr(1)}},
					Action: NewAction(podkill.Fault{}, &podkill.Spec{
						Method:      podkill.MethodDelete,
						GracePeriod: ptr(raw("30s", 30*time.Second)),
						Every:       raw("1m", time.Minute),
					}),
					Duration:      raw("1h30m", 90*time.Minute),
					ProbeInterval: def(DefaultProbeInterval),
					Recovery:      raw("90s", 90*time.Second),
					Safety:        Safety{MaxTargets: 1, MinHealthy: ptr(0)},
				},
				Source: Source{File: "multi-document.yaml", Document: 2, Line: 19},
			},
		}},
		{"anchors.yaml", []Experiment{{
			APIVersion: APIVersion,
			Kind:       Kind,
			Metadata:   Metadata{Name: "anchors"},
			Spec: Spec{
				Hypothesis: Hypothesis{Probes: []Probe{
					{Name: "errors", Query: "sum(rate(errors_total[1m]))", Expect: Expect{Below: ptr(0.01)}, OnEmpty: OnEmptyPass},
					{Name: "errors-eu", Query: `sum(rate(errors_total{region="eu"}[1m]))`, Expect: Expect{Below: ptr(0.01)}, OnEmpty: OnEmptyPass},
				}},
				Target:        Target{Namespaces: []string{"shop"}, Selector: "app=checkout", Pick: Pick{Count: ptr(1)}},
				Action:        NewAction(podkill.Fault{}, &podkill.Spec{Method: podkill.MethodEvict, Every: raw("30s", 30*time.Second)}),
				Duration:      raw("5m", 5*time.Minute),
				ProbeInterval: def(DefaultProbeInterval),
				Recovery:      def(DefaultRecovery),
				StopWhen: []Probe{
					{Name: "errors-spike", Query: "sum(rate(errors_total[1m]))", Expect: Expect{Above: ptr(0.5)}, OnEmpty: OnEmptyPass},
				},
				Safety: Safety{MaxTargets: DefaultMaxTargets, MinHealthy: ptr(DefaultMinHealthy)},
			},
			Source: Source{File: "anchors.yaml", Line: 2},
		}}},
		{"node-disk-pressure.yaml", []Experiment{{
			APIVersion: APIVersion,
			Kind:       Kind,
			Metadata:   Metadata{Name: "node-disk-pressure"},
			Spec: Spec{
				Hypothesis: Hypothesis{Probes: []Probe{
					{Name: "errors", Query: "sum(rate(errors_total[1m]))", Expect: Expect{Equals: ptr(0.0)}, OnEmpty: OnEmptyPass},
				}},
				Target: Target{Namespaces: []string{"shop"}, Selector: "app=cart", Pick: Pick{Count: ptr(1)}},
				Action: NewAction(stress.Fault{}, &stress.Spec{
					Scope: stress.ScopeNode,
					Disk:  &stress.DiskStress{Fill: "95%", Path: stress.DiskVolumeMountPath, IO: &stress.DiskIO{Workers: 2}, AllowNodePressure: true},
				}),
				Duration:      raw("2m", 2*time.Minute),
				ProbeInterval: def(DefaultProbeInterval),
				Recovery:      def(DefaultRecovery),
				Safety:        Safety{MaxTargets: DefaultMaxTargets, MinHealthy: ptr(DefaultMinHealthy)},
			},
			Source: Source{File: "node-disk-pressure.yaml", Line: 3},
		}}},
	}
	files, _ := filepath.Glob("testdata/valid/*.yaml")
	if len(files) != len(tests) {
		t.Errorf("%d files in testdata/valid, %d cases: every valid fixture needs its expectation", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata/valid", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Load(kinds, tt.file, data)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d experiments, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], tt.want[i]) {
					t.Errorf("experiment %d\n got: %s\nwant: %s", i, dump(got[i]), dump(tt.want[i]))
				}
				if ps := Validate(&got[i]); ps != nil {
					t.Errorf("Validate refuses a loaded experiment: %v", ps)
				}
			}
		})
	}
}

// TestDefaultsAreIdempotent checks that ApplyDefaults changes nothing the
// second time and does not touch values that were set.
func TestApplyDefaults(t *testing.T) {
	var e Experiment
	e.Spec.Action = NewAction(stress.Fault{}, &stress.Spec{CPU: &stress.CPUStress{Load: 50}})
	e.Spec.Hypothesis.Probes = []Probe{{OnEmpty: OnEmptyPass}, {}}
	e.Spec.Target.Pick.Percent = ptr(10)
	ApplyDefaults(&e)
	first := dump(e)
	ApplyDefaults(&e)
	if again := dump(e); again != first {
		t.Errorf("second ApplyDefaults changed the experiment:\n%s\n%s", first, again)
	}
	s := e.Spec
	st := s.Action.Spec.(*stress.Spec)
	checks := []struct {
		name      string
		got, want any
	}{
		{"probeInterval", s.ProbeInterval.Duration, DefaultProbeInterval},
		{"recovery", s.Recovery.Duration, DefaultRecovery},
		{"onEmpty set", s.Hypothesis.Probes[0].OnEmpty, OnEmptyPass},
		{"onEmpty default", s.Hypothesis.Probes[1].OnEmpty, OnEmptyFail},
		{"pick count not added next to percent", s.Target.Pick.Count == nil, true},
		{"scope", st.Scope, stress.ScopePod},
		{"workers", st.CPU.Workers, stress.DefaultCPUWorkers},
		{"load kept", st.CPU.Load, 50},
		{"maxTargets", s.Safety.MaxTargets, DefaultMaxTargets},
		{"minHealthy", *s.Safety.MinHealthy, DefaultMinHealthy},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	ApplyDefaults(nil) // must not panic
}

func dump(e Experiment) string {
	b, err := yamlMarshalForTest(e)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// TestLoadReturnsProblems checks the error contract: errors.As finds the
// Problems, and valid documents of a bad file still come back.
func TestLoadReturnsProblems(t *testing.T) {
	data, err := os.ReadFile("testdata/invalid/multi-doc-second-bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	exps, err := Load(kinds, "f.yaml", data)
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("error %T is not Problems", err)
	}
	if len(ps) != 2 || ps[0].Line != 31 || ps[0].Field != "spec.target.selectr" {
		t.Errorf("problems: %#v", ps)
	}
	if len(exps) != 1 || exps[0].Metadata.Name != "checkout-pod-kill" {
		t.Errorf("want the one valid experiment back, got %d", len(exps))
	}
}

func yamlMarshalForTest(e Experiment) ([]byte, error) {
	type withSource struct {
		Experiment `yaml:",inline"`
		Source     Source `yaml:"source"`
	}
	return yaml.Marshal(withSource{e, e.Source})
}
