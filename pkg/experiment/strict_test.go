package experiment

import (
	"testing"
)

// settings is a small settings file shape for DecodeStrict's tests.
type settings struct {
	Name    string   `yaml:"name"`
	Every   Duration `yaml:"every"`
	Retries int      `yaml:"retries"`
	Items   []struct {
		Key string `yaml:"key"`
	} `yaml:"items"`
}

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name    string
		data    string
		decoded bool
		want    string // every problem, one per line
	}{
		{"valid", "name: a\nevery: 5m\nitems:\n  - key: x\n", true, ""},
		{"empty", "", true, ""},
		{"comment only", "# nothing\n", true, ""},
		{"unknown field with a suggestion", "name: a\nretires: 3\n", true,
			`f.yaml:2: retires: unknown field (allowed: name, every, retries, items); did you mean "retries"?`},
		{"wrong scalar and shape", "retries: many\nitems: {key: x}\n", true,
			"f.yaml:1: retries: invalid value \"many\" (expected an integer)\nf.yaml:2: items: expected a list, got a mapping"},
		{"nested path and line", "items:\n  - key: x\n  - kee: y\n", true,
			`f.yaml:3: items[1].kee: unknown field (allowed: key); did you mean "key"?`},
		{"duplicate key", "name: a\nname: b\n", true,
			"f.yaml:2: name: duplicate key (first set at line 1)"},
		{"syntax error", "name: [a\n", false,
			"f.yaml:2: invalid YAML: did not find expected ',' or ']'"},
		{"not a mapping", "- a\n- b\n", false,
			"f.yaml:1: expected a mapping of settings, got a list"},
		{"second document", "name: a\n---\nname: b\n", true,
			`f.yaml:3: a second YAML document (this file holds one document; merge the two or remove the "---")`},
		{"empty second document is fine", "name: a\n---\n", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s settings
			f := DecodeStrict("f.yaml", []byte(tt.data), &s)
			if f.Decoded() != tt.decoded {
				t.Errorf("Decoded() = %v, want %v", f.Decoded(), tt.decoded)
			}
			got := ""
			if err := f.Err(); err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("problems\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestFindings(t *testing.T) {
	var s settings
	f := DecodeStrict("f.yaml", []byte("name: a\nevery: [5m]\nitems:\n  - key: x\n"), &s)
	if !f.Written("name") || f.Written("retries") {
		t.Error("Written is wrong")
	}
	if f.Line("items[0].key") != 4 || f.Line("retries") != 1 || f.Line("items[0].missing") != 4 {
		t.Errorf("lines: %d %d %d", f.Line("items[0].key"), f.Line("retries"), f.Line("items[0].missing"))
	}
	f.Add("every", "required") // repeats the decoding problem: dropped
	f.Add("retries", "must be at least %d", 1)
	want := "f.yaml:1: retries: must be at least 1\nf.yaml:2: every: expected a duration such as 30s, got a list"
	if err := f.Err(); err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}

	g := NewFindings("")
	if g.Err() != nil || g.Problems() != nil || !g.Decoded() || g.Line("x") != 0 {
		t.Error("empty findings are not empty")
	}
	g.Add("b[10]", "second")
	g.Add("b[2]", "first")
	if got := g.Err().Error(); got != "b[2]: first\nb[10]: second" {
		t.Errorf("Go-built problems: %q", got)
	}

	bad := DecodeStrict("f.yaml", []byte("name: a\n"), s) // not a pointer
	if bad.Decoded() || bad.Err() == nil {
		t.Error("decoding into a non-pointer must fail")
	}
}

func TestExportedHelpers(t *testing.T) {
	if QuoteValue("a") != `"a"` || Suggest("shufled", []string{"listed", "shuffled"}) != "shuffled" || FormatDuration(90*60e9) != "1h30m" {
		t.Error("exported helpers disagree with the unexported ones")
	}
}
