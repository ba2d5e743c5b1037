package experiment_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	. "github.com/chaosnight/chaosnight/pkg/experiment"

	"go.yaml.in/yaml/v3"
)

// FuzzLoad feeds arbitrary bytes to Load. Whatever the input, Load must not
// panic, must either return experiments or Problems (never silence for a
// file that holds a document), must return only experiments that Validate
// accepts, and those must survive a trip through yaml.Marshal unchanged.
func FuzzLoad(f *testing.F) {
	seeds, err := filepath.Glob("testdata/*/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		exps, err := Load(kinds, "fuzz.yaml", data)
		if err != nil {
			var ps Problems
			if !errors.As(err, &ps) || len(ps) == 0 {
				t.Fatalf("error is %T %v, want non-empty Problems", err, err)
			}
			for _, p := range ps {
				if p.File != "fuzz.yaml" || p.Message == "" {
					t.Fatalf("malformed problem %#v", p)
				}
			}
		} else if len(exps) == 0 && hasDocument(data) {
			t.Fatalf("a document, yet neither experiments nor problems")
		}
		for i := range exps {
			e := &exps[i]
			if ps := Validate(e); ps != nil {
				t.Fatalf("Load returned an experiment that Validate refuses:\n%v", ps)
			}
			out, err := yaml.Marshal(e)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			again, err := Load(kinds, "again.yaml", out)
			if err != nil {
				t.Fatalf("a loaded experiment does not load again once marshalled: %v\n%s", err, out)
			}
			if len(again) != 1 {
				t.Fatalf("marshalled one experiment, loaded %d", len(again))
			}
			want, got := normalized(*e), normalized(again[0])
			if !reflect.DeepEqual(want, got) {
				t.Fatalf("round trip changed the experiment\n was: %#v\n now: %#v\nyaml:\n%s", want, got, out)
			}
		}
	})
}

// hasDocument reports whether data holds at least one non-empty YAML
// document, read as far as it parses.
func hasDocument(data []byte) bool {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if err != nil {
			return !errors.Is(err, io.EOF)
		}
		if len(n.Content) > 0 && !IsNull(n.Content[0]) {
			return true
		}
	}
}

// normalized drops what a marshal round trip legitimately changes: where
// the experiment came from, the spelling of durations, and empty versus
// absent maps and lists.
func normalized(e Experiment) Experiment {
	e.Source = Source{}
	s := &e.Spec
	for _, d := range []*Duration{&s.Duration, &s.ProbeInterval, &s.Recovery, &s.Target.MinAge} {
		d.Raw = ""
	}
	// Durations inside an action's spec lose their spelling too; the
	// action is compared as JSON, where only the parsed value counts.
	if b, err := json.Marshal(s.Action); err == nil {
		s.Action = Action{Kind: s.Action.Kind, Spec: json.RawMessage(b)}
	}
	if len(e.Metadata.Labels) == 0 {
		e.Metadata.Labels = nil
	}
	if len(e.Metadata.Annotations) == 0 {
		e.Metadata.Annotations = nil
	}
	if len(s.StopWhen) == 0 {
		s.StopWhen = nil
	}
	return e
}
