package probe

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// encoding/json refuses NaN and ±Inf, yet they are ordinary probe values
// (Result.Value is NaN for an empty result; a broken ratio is NaN). Without
// these methods one such value would make a whole run record fail to
// encode. Like the Prometheus HTTP API, non-finite values are written as the
// strings "NaN", "+Inf" and "-Inf"; finite values stay JSON numbers so that
// jq and dashboards read them directly.

// jsonFloat is a float64 that survives a JSON round trip whatever its value.
type jsonFloat float64

// MarshalJSON writes finite values as numbers and the others as strings.
func (f jsonFloat) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return []byte(strconv.Quote(FormatValue(v))), nil
	}
	return json.Marshal(v)
}

// UnmarshalJSON accepts a number or one of "NaN", "+Inf", "Inf", "-Inf".
func (f *jsonFloat) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		switch s {
		case "NaN":
			*f = jsonFloat(math.NaN())
		case "+Inf", "Inf":
			*f = jsonFloat(math.Inf(1))
		case "-Inf":
			*f = jsonFloat(math.Inf(-1))
		default:
			return fmt.Errorf("probe value %q is neither a number nor NaN, +Inf or -Inf", s)
		}
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = jsonFloat(v)
	return nil
}

// MarshalJSON encodes s with a NaN-safe value.
func (s Sample) MarshalJSON() ([]byte, error) {
	type plain Sample // no methods: no recursion
	return json.Marshal(struct {
		plain
		Value jsonFloat `json:"value"` // shadows plain.Value
	}{plain(s), jsonFloat(s.Value)})
}

// UnmarshalJSON decodes what MarshalJSON writes.
func (s *Sample) UnmarshalJSON(b []byte) error {
	type plain Sample
	var aux struct {
		plain
		Value jsonFloat `json:"value"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*s = Sample(aux.plain)
	s.Value = float64(aux.Value)
	return nil
}

// MarshalJSON encodes r with NaN-safe values.
func (r Result) MarshalJSON() ([]byte, error) {
	type plain Result
	return json.Marshal(struct {
		plain
		Value jsonFloat `json:"value"`
	}{plain(r), jsonFloat(r.Value)})
}

// UnmarshalJSON decodes what MarshalJSON writes.
func (r *Result) UnmarshalJSON(b []byte) error {
	type plain Result
	var aux struct {
		plain
		Value jsonFloat `json:"value"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*r = Result(aux.plain)
	r.Value = float64(aux.Value)
	return nil
}
