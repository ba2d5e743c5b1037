package cli

import "testing"

func TestResourceName(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	existing := "kill-two"
	writeFile(t, dir, "experiments/"+existing, "")
	for _, tc := range []struct {
		arg, name string
		ok        bool
	}{
		{"experiment/kill-one", "kill-one", true},
		{"experiments/kill-one", "kill-one", true},
		{"cnexp/kill-one", "kill-one", true},
		{"experiment.chaosnight.dev/kill-one", "kill-one", true},
		{"experiments.chaosnight.dev/kill-one", "kill-one", true},
		{"experiments/kill-one.yaml", "", false}, // a file: the examples' own directory
		{"experiments/kill-one.yml", "", false},
		{"./experiments/kill-one.yaml", "", false},
		{"kill-one.yaml", "", false},
		{"pod/kill-one", "", false},
		{"experiments/" + existing, "", false}, // a file with no extension that exists
	} {
		name, ok := resourceName(tc.arg)
		if name != tc.name || ok != tc.ok {
			t.Errorf("resourceName(%q) = %q, %v; want %q, %v", tc.arg, name, ok, tc.name, tc.ok)
		}
	}
}
