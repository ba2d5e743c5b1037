package cr_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/chaosnight/chaosnight/pkg/cr"
	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/faults"
)

// object reads a YAML document as the API server stores it (kubectl
// converts YAML to JSON), with the metadata the server adds.
func object(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatal(err)
	}
	u.SetNamespace("shop")
	u.SetUID("uid-1")
	u.SetGeneration(4)
	u.SetResourceVersion("123")
	ann := u.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann["kubectl.kubernetes.io/last-applied-configuration"] = "{...}"
	u.SetAnnotations(ann)
	return u
}

// TestDecodeExperimentIsTheFileLoader: every example file decodes from its
// object form to the same experiment as from the file.
func TestDecodeExperimentIsTheFileLoader(t *testing.T) {
	kinds := faults.Must().Formats()
	files, _ := filepath.Glob(filepath.Join("..", "..", "experiments", "*.yaml"))
	if len(files) < 5 {
		t.Fatalf("examples: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			want, err := experiment.Load(kinds, f, data)
			if err != nil {
				t.Fatal(err)
			}
			got, problems := cr.DecodeExperiment(kinds, object(t, string(data)))
			if len(problems) > 0 {
				t.Fatalf("problems: %v", problems)
			}
			wantRef := experiment.ObjectRef{Namespace: "shop", Name: want[0].Metadata.Name, UID: "uid-1", Generation: 4}
			if got.Source.Object == nil || *got.Source.Object != wantRef || got.Source.File != "experiment/"+want[0].Metadata.Name+" -n shop" {
				t.Errorf("source %+v %+v", got.Source, got.Source.Object)
			}
			got.Source, want[0].Source = experiment.Source{}, experiment.Source{}
			if !reflect.DeepEqual(got, want[0]) {
				t.Errorf("object form differs from the file:\n%+v\n%+v", got, want[0])
			}
		})
	}
}

func TestDecodeProblemsAreLocated(t *testing.T) {
	kinds := faults.Must().Formats()
	for _, tc := range []struct {
		name, doc string
		night     bool
		want      string
	}{
		{name: "invalid PromQL", doc: `apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata: {name: bad}
spec:
  hypothesis:
    probes: [{name: p, query: "sum(rate(x[1m]", expect: {below: 1}}]
  target: {namespaces: [shop], selector: app=checkout, pick: {count: 1}}
  action: {podKill: {method: evict}}
  duration: 5s
`, want: "spec.hypothesis.probes[0].query: invalid PromQL: "},
		{name: "invalid selector", doc: `apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata: {name: bad}
spec:
  hypothesis:
    probes: [{name: p, query: "up", expect: {below: 1}}]
  target: {namespaces: [shop], selector: "app=(", pick: {count: 1}}
  action: {podKill: {method: evict}}
  duration: 5s
`, want: "spec.target.selector: "},
		{name: "night cron", night: true, doc: `apiVersion: chaosnight.dev/v1alpha1
kind: ChaosNight
metadata: {name: friday}
spec: {opens: "61 22 * * *", lasts: 2h, timezone: Europe/Paris, experiments: {names: [a]}}
`, want: "spec.opens: "},
		{name: "night zone", night: true, doc: `apiVersion: chaosnight.dev/v1alpha1
kind: ChaosNight
metadata: {name: friday}
spec: {opens: "0 22 * * 5", lasts: 2h, timezone: Europe/Pariss, experiments: {names: [a]}}
`, want: "spec.timezone: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var problems experiment.Problems
			if tc.night {
				_, problems = cr.DecodeNight(object(t, tc.doc), time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
			} else {
				_, problems = cr.DecodeExperiment(kinds, object(t, tc.doc))
			}
			msg := cr.Message(problems)
			if len(problems) == 0 || !strings.HasPrefix(msg, tc.want) {
				t.Errorf("message %q, want it to start with %q", msg, tc.want)
			}
			for _, p := range problems {
				if p.File != "" || p.Line != 0 {
					t.Errorf("a problem of an object has a file or line: %+v", p)
				}
			}
		})
	}
}

func TestDecodeNight(t *testing.T) {
	n, problems := cr.DecodeNight(object(t, `apiVersion: chaosnight.dev/v1alpha1
kind: ChaosNight
metadata: {name: friday}
spec: {opens: "0 22 * * 5", lasts: 2h, timezone: Europe/Paris, experiments: {selector: team=payments}, cooldown: 5m}
`), time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	if n.Name != "friday" || n.Lasts.Duration != 2*time.Hour || n.Cooldown.Duration != 5*time.Minute || n.Experiments.Selector != "team=payments" {
		t.Errorf("night %+v", n)
	}
}
