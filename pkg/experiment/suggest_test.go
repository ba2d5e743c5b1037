package experiment

import "testing"

func TestSuggest(t *testing.T) {
	fields := []string{"namespaces", "selector", "fieldSelector", "pick", "minAge", "onePerOwner"}
	tests := []struct{ got, want string }{
		{"selectr", "selector"},
		{"Selector", "selector"},
		{"namespace", "namespaces"},
		{"slector", "selector"},
		{"minage", "minAge"},
		{"pikc", "pick"},
		{"labels", ""},
		{"p", ""},
		{"onePerOwnr", "onePerOwner"},
	}
	for _, tt := range tests {
		if got := suggest(tt.got, fields); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.got, got, tt.want)
		}
	}
}

func TestFieldLines(t *testing.T) {
	l := fieldLines{"": 1, "spec": 5, "spec.target": 9, `metadata.labels["a.b/c"]`: 3, "spec.hypothesis.probes[1]": 12}
	tests := []struct {
		path string
		want int
	}{
		{"spec.target.selector", 9},
		{"spec.hypothesis.probes[1].expect.between", 12},
		{"spec.hypothesis.probes[0].name", 5},
		{`metadata.labels["a.b/c"]`, 3},
		{`metadata.labels["x.y"]`, 1},
		{"kind", 1},
	}
	for _, tt := range tests {
		if got := l.lineOf(tt.path); got != tt.want {
			t.Errorf("lineOf(%q) = %d, want %d", tt.path, got, tt.want)
		}
	}
	if fieldLines(nil).lineOf("spec") != 0 {
		t.Error("nil lines must give 0")
	}
}
