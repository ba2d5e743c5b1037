package experiment

import (
	"errors"
	"fmt"
	"testing"
)

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{"exp.yaml", 14, "spec.target.selectr", "unknown field"}, "exp.yaml:14: spec.target.selectr: unknown field"},
		{Problem{"exp.yaml", 0, "spec.duration", "required"}, "exp.yaml: spec.duration: required"},
		{Problem{"exp.yaml", 3, "", "invalid YAML: x"}, "exp.yaml:3: invalid YAML: x"},
		{Problem{"exp.yaml", 0, "", "does not exist"}, "exp.yaml: does not exist"},
		{Problem{"", 0, "metadata.name", "required"}, "metadata.name: required"},
		{Problem{"", 7, "kind", "required"}, "line 7: kind: required"},
	}
	for _, tt := range tests {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%#v: got %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestProblemsError(t *testing.T) {
	ps := Problems{
		{"b.yaml", 1, "kind", "x"},
		{"a.yaml", 10, "spec.hypothesis.probes[10].name", "y"},
		{"a.yaml", 10, "spec.hypothesis.probes[2].name", "z"},
		{"a.yaml", 2, "metadata.name", "w"},
	}
	err := fmt.Errorf("loading: %w", ps.errOrNil())
	var got Problems
	if !errors.As(err, &got) {
		t.Fatal("errors.As does not find Problems")
	}
	want := "a.yaml:2: metadata.name: w\n" +
		"a.yaml:10: spec.hypothesis.probes[2].name: z\n" +
		"a.yaml:10: spec.hypothesis.probes[10].name: y\n" +
		"b.yaml:1: kind: x"
	if got.Error() != want {
		t.Errorf("got\n%s\nwant\n%s", got.Error(), want)
	}
	if Problems(nil).errOrNil() != nil {
		t.Error("no problems must be a nil error")
	}
}

func TestComparePaths(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"p[2]", "p[10]", -1},
		{"p[10]", "p[2]", 1},
		{"p[2].a", "p[2].b", -1},
		{"a", "a.b", -1},
		{"x", "x", 0},
		{"p[02]", "p[2]", -1},
	}
	for _, tt := range tests {
		if got := comparePaths(tt.a, tt.b); got != tt.want {
			t.Errorf("comparePaths(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
