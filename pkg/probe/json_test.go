package probe

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func TestResultJSONRoundTripsNonFiniteValues(t *testing.T) {
	for _, v := range []float64{0.034, 0, -2, nan, posInf, negInf} {
		in := Result{
			Probe: "p", Role: RoleStop, At: at, Value: v, Series: 2, Reason: "r",
			Samples: []Sample{{Labels: map[string]string{"a": "b"}, Value: v}, {Value: 1}},
		}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("Marshal(value %v): %v", v, err)
		}
		var out Result
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("Unmarshal(%s): %v", b, err)
		}
		if !sameFloat(out.Value, v) || !sameFloat(out.Samples[0].Value, v) || out.Samples[1].Value != 1 {
			t.Errorf("value %v came back as %v / %v / %v from %s", v, out.Value, out.Samples[0].Value, out.Samples[1].Value, b)
		}
		if out.Probe != "p" || out.Role != RoleStop || !out.At.Equal(at) || out.Series != 2 || out.Reason != "r" || out.Samples[0].Labels["a"] != "b" {
			t.Errorf("fields lost in round trip: %+v from %s", out, b)
		}
	}
}

func TestResultJSONShape(t *testing.T) {
	b, err := json.Marshal(Result{Probe: "p", Role: RoleHypothesis, Value: math.NaN(), Samples: []Sample{{Value: 0.5}}})
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	for _, want := range []string{`"value":"NaN"`, `"samples":[{"value":0.5}]`, `"probe":"p"`, `"role":"hypothesis"`, `"ok":false`, `"series":0`} {
		if !strings.Contains(got, want) {
			t.Errorf("JSON %s lacks %s", got, want)
		}
	}
	if strings.Count(got, `"value"`) != 2 {
		t.Errorf("JSON %s: want exactly one value key per object", got)
	}
}

func TestSampleJSONRejectsUnknownStrings(t *testing.T) {
	var s Sample
	err := json.Unmarshal([]byte(`{"value":"lots"}`), &s)
	if err == nil || !strings.Contains(err.Error(), `"lots" is neither a number nor NaN`) {
		t.Fatalf("Unmarshal = %v, want a clear error", err)
	}
}
