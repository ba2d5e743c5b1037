package experiment

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// durationHint is appended to every duration syntax error, so the same
// advice appears whether the text came from a file, a flag or Go code.
const durationHint = "use a Go duration such as 30s, 5m, 1h30m"

// ParseDuration parses a Go duration string such as "30s", "5m" or
// "1h30m". It is time.ParseDuration with an error that tells the user what
// to write instead: Prometheus-style "1d" or prose like "5 minutes" are
// refused rather than guessed at.
func ParseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		// time's own message ("time: unknown unit ...") quotes the input a
		// second time and names no fix, so it is replaced, not wrapped.
		return 0, fmt.Errorf("invalid duration %q (%s)", s, durationHint)
	}
	return d, nil
}

// NewDuration builds a Duration from a time.Duration, for experiments
// written in Go.
func NewDuration(d time.Duration) Duration {
	return Duration{Duration: d}
}

// set reports whether the duration was written at all: a zero value that
// was never given text is "unset" and takes its default, while an explicit
// "0s" is kept so that validation can refuse it where zero is meaningless.
func (d Duration) set() bool {
	return d.Duration != 0 || d.Raw != ""
}

// syntaxError returns the parse error of Raw, if Raw was written and is not
// a valid duration.
func (d Duration) syntaxError() error {
	if d.Raw == "" {
		return nil
	}
	_, err := ParseDuration(d.Raw)
	return err
}

// IsZero reports whether the duration is unset; yaml.v3 and encoding/json
// (omitzero) use it to leave unset durations out when marshalling.
func (d Duration) IsZero() bool {
	return !d.set()
}

// String returns the duration as it was written when that text still
// describes the value (so "5m" stays "5m" and a bad value is quoted back as
// the user wrote it), and otherwise a compact Go duration ("1h30m", not
// "1h30m0s").
func (d Duration) String() string {
	if d.Raw != "" {
		v, err := ParseDuration(d.Raw)
		if (err == nil && v == d.Duration) || (err != nil && d.Duration == 0) {
			return d.Raw
		}
	}
	return formatDuration(d.Duration)
}

// formatDuration is time.Duration.String without the trailing zero units
// that make "5m0s" look less like what people write.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// UnmarshalYAML keeps the text as written and parses it. A value that does
// not parse is not an error here: decoding goes on, and Validate reports it
// with its field path and line among every other problem of the file.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.ScalarNode {
		// A TypeError lets yaml.v3 carry on with the rest of the document;
		// the strict decoder has already reported this with its path.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: expected a duration such as 30s", n.Line)}}
	}
	*d = Duration{}
	if n.Tag == "!!null" {
		return nil
	}
	d.Raw = n.Value
	d.Duration, _ = ParseDuration(n.Value) // bad text is reported by Validate
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) {
	return d.String(), nil
}

// UnmarshalJSON accepts a duration string (or null); like UnmarshalYAML it
// keeps bad text for Validate to report.
func (d *Duration) UnmarshalJSON(data []byte) error {
	*d = Duration{}
	if string(data) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"30s\": %w", err)
	}
	d.Raw = s
	d.Duration, _ = ParseDuration(s) // bad text is reported by Validate
	return nil
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.String())
}
