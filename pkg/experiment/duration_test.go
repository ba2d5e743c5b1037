package experiment

import (
	"encoding/json"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{"30s", 30 * time.Second, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"0", 0, ""},
		{"-5m", -5 * time.Minute, ""},
		{"5 minutes", 0, `invalid duration "5 minutes" (use a Go duration such as 30s, 5m, 1h30m)`},
		{"1d", 0, `invalid duration "1d" (use a Go duration such as 30s, 5m, 1h30m)`},
		{"", 0, `invalid duration "" (use a Go duration such as 30s, 5m, 1h30m)`},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if got != tt.want || gotErr != tt.wantErr {
			t.Errorf("ParseDuration(%q) = %v, %q; want %v, %q", tt.in, got, gotErr, tt.want, tt.wantErr)
		}
	}
}

func TestDurationString(t *testing.T) {
	tests := []struct {
		d    Duration
		want string
	}{
		{NewDuration(5 * time.Minute), "5m"},
		{NewDuration(time.Hour), "1h"},
		{NewDuration(90 * time.Minute), "1h30m"},
		{NewDuration(1500 * time.Millisecond), "1.5s"},
		{NewDuration(0), "0s"},
		{Duration{Duration: 5 * time.Minute, Raw: "300s"}, "300s"},         // as written
		{Duration{Raw: "5 minutes"}, "5 minutes"},                          // bad text is quoted back
		{Duration{Duration: time.Minute, Raw: "5m"}, "1m"},                 // changed since loading
		{Duration{Duration: 2 * time.Hour, Raw: "soon"}, "2h"},             // changed since loading
		{Duration{Duration: 2*time.Hour + time.Second, Raw: ""}, "2h0m1s"}, // nothing to trim
	}
	for _, tt := range tests {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestDurationYAML(t *testing.T) {
	var v struct {
		A Duration  `yaml:"a"`
		B Duration  `yaml:"b"`
		C *Duration `yaml:"c"`
		D Duration  `yaml:"d,omitempty"`
		E Duration  `yaml:"e"`
	}
	if err := yaml.Unmarshal([]byte("a: 5m\nb: 5 minutes\nc: 0s\ne: ~\n"), &v); err != nil {
		t.Fatalf("a bad duration must not fail decoding: %v", err)
	}
	if v.A != (Duration{5 * time.Minute, "5m"}) || v.B != (Duration{0, "5 minutes"}) || *v.C != (Duration{0, "0s"}) || v.E.set() {
		t.Errorf("decoded %+v", v)
	}
	if v.B.syntaxError() == nil || v.A.syntaxError() != nil {
		t.Errorf("syntaxError: bad %v, good %v", v.B.syntaxError(), v.A.syntaxError())
	}
	out, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := "a: 5m\nb: 5 minutes\nc: 0s\ne: 0s\n"; string(out) != want {
		t.Errorf("marshalled\n%s\nwant\n%s", out, want)
	}
	if err := yaml.Unmarshal([]byte("a: [5m]\n"), &v); err == nil {
		t.Error("a list is not a duration")
	}
}

func TestDurationJSON(t *testing.T) {
	var v struct {
		A Duration  `json:"a"`
		B Duration  `json:"b"`
		C *Duration `json:"c"`
	}
	if err := json.Unmarshal([]byte(`{"a":"1h30m","b":"later","c":null}`), &v); err != nil {
		t.Fatal(err)
	}
	if v.A != (Duration{90 * time.Minute, "1h30m"}) || v.B.Raw != "later" || v.C != nil {
		t.Errorf("decoded %+v", v)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":"1h30m","b":"later","c":null}`; string(out) != want {
		t.Errorf("got %s, want %s", out, want)
	}
	if err := json.Unmarshal([]byte(`{"a":30}`), &v); err == nil {
		t.Error("a number is not a duration")
	}
}
