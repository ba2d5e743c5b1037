package experiment

import (
	"errors"
	"math"
	"strconv"
	"strings"
)

// MinBaselineSamples is the fewest points a baseline window must hold at
// the probe interval: a median of fewer is noise, not a baseline.
const MinBaselineSamples = 5

// BaselineCoverage is the share of the window's points a series must have
// for its baseline to count: a series with gaps (a scrape target that came
// and went) has an unknown baseline.
const BaselineCoverage = 0.8

// Margin is how far a value may move from its baseline: a fraction of the
// baseline median (Relative, "20%" is 0.2) or an amount in the query's
// unit.
type Margin struct {
	Value    float64
	Relative bool
}

// errMargin is the one way a margin can be wrong, in words a user can act on.
var errMargin = errors.New(`use a percentage of the baseline such as "20%", or an amount in the query's unit such as 0.05`)

// ParseMargin reads "20%", "0.5%" or "0.05". Negative and non-finite
// margins are refused.
func ParseMargin(s string) (Margin, error) {
	t := strings.TrimSpace(s)
	pct, relative := strings.CutSuffix(t, "%")
	x, err := strconv.ParseFloat(strings.TrimSpace(pct), 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) || t == "" {
		return Margin{}, errMargin
	}
	if x < 0 {
		return Margin{}, errors.New("must not be negative")
	}
	if relative {
		return Margin{Value: x / 100, Relative: true}, nil
	}
	return Margin{Value: x}, nil
}

// Amount is the margin around median in the query's unit.
func (m Margin) Amount(median float64) float64 {
	if m.Relative {
		return math.Abs(median) * m.Value
	}
	return m.Value
}

// String writes the margin as it is written in a file.
func (m Margin) String() string {
	if m.Relative {
		return strconv.FormatFloat(m.Value*100, 'g', -1, 64) + "%"
	}
	return strconv.FormatFloat(m.Value, 'g', -1, 64)
}
