package probe

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

// Meets reports whether v satisfies the tolerance e.
//
// The comparators are: below (v < x), atMost (v <= x), above (v > x),
// atLeast (v >= x), between (lo <= v <= hi, both ends inclusive) and equals
// (v == x). Equals is an exact float64 comparison: PromQL results such as
// counts and replica numbers are integral and exact, while a ratio should be
// compared with between rather than equals.
//
// NaN, +Inf and -Inf never meet anything: a value that is not a finite
// number says the measurement is broken (a division by zero, an empty rate),
// and reading it as "within bounds" would call an unknown state healthy.
//
// Validation guarantees exactly one comparator is set. Meets is defensive
// anyway: when several are set all of them must hold, and when none is set
// (or between does not have exactly two bounds) nothing meets it.
func Meets(e experiment.Expect, v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return false
	}
	set := false
	if e.Below != nil {
		set = true
		if !(v < *e.Below) {
			return false
		}
	}
	if e.AtMost != nil {
		set = true
		if !(v <= *e.AtMost) {
			return false
		}
	}
	if e.Above != nil {
		set = true
		if !(v > *e.Above) {
			return false
		}
	}
	if e.AtLeast != nil {
		set = true
		if !(v >= *e.AtLeast) {
			return false
		}
	}
	if e.Between != nil {
		set = true
		if len(e.Between) != 2 || !(e.Between[0] <= v && v <= e.Between[1]) {
			return false
		}
	}
	if e.Equals != nil {
		set = true
		if !(v == *e.Equals) {
			return false
		}
	}
	return set
}

// ExpectString renders e for people: "below 0.01", "at most 5",
// "above 0", "at least 2", "between 0.5 and 2", "equal to 1". Several
// comparators (which validation rejects) are joined with " and "; none gives
// "no expectation".
func ExpectString(e experiment.Expect) string {
	var parts []string
	if e.Below != nil {
		parts = append(parts, "below "+FormatValue(*e.Below))
	}
	if e.AtMost != nil {
		parts = append(parts, "at most "+FormatValue(*e.AtMost))
	}
	if e.Above != nil {
		parts = append(parts, "above "+FormatValue(*e.Above))
	}
	if e.AtLeast != nil {
		parts = append(parts, "at least "+FormatValue(*e.AtLeast))
	}
	if e.Between != nil {
		if len(e.Between) == 2 {
			parts = append(parts, "between "+FormatValue(e.Between[0])+" and "+FormatValue(e.Between[1]))
		} else {
			vals := make([]string, len(e.Between))
			for i, b := range e.Between {
				vals[i] = FormatValue(b)
			}
			parts = append(parts, "between ["+strings.Join(vals, ", ")+"]")
		}
	}
	if e.Equals != nil {
		parts = append(parts, "equal to "+FormatValue(*e.Equals))
	}
	if e.Baseline != nil {
		parts = append(parts, fmt.Sprintf("within %s of the baseline median over %s", BaselineMargins(*e.Baseline), e.Baseline.Window))
	}
	if len(parts) == 0 {
		return "no expectation"
	}
	return strings.Join(parts, " and ")
}

// FormatValue renders a sample value for people: plain decimals in the
// usual range (0.034, 3, 1500000) instead of Go's exponent form for
// anything above a million, and Prometheus' spelling of the special values
// (NaN, +Inf, -Inf).
func FormatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	}
	// Whole numbers (replicas, bytes) print exactly; fractions with six
	// significant digits: enough to compare with any threshold a person
	// writes, short enough to read (0.110714, not 0.1107142857142857).
	if v != math.Trunc(v) {
		v, _ = strconv.ParseFloat(strconv.FormatFloat(v, 'g', 6, 64), 64)
	}
	if a := math.Abs(v); v == 0 || (a >= 1e-4 && a < 1e15) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// checkExpect rejects a tolerance that cannot be evaluated. Validation at
// load time should make this unreachable; Evaluate still refuses to guess,
// because a stop condition that silently never fires is a safety hole.
func checkExpect(e experiment.Expect) error {
	n := 0
	var errs []error
	num := func(name string, x *float64) {
		if x == nil {
			return
		}
		n++
		if math.IsNaN(*x) {
			errs = append(errs, fmt.Errorf("%s is NaN", name))
		}
	}
	num("below", e.Below)
	num("atMost", e.AtMost)
	num("above", e.Above)
	num("atLeast", e.AtLeast)
	num("equals", e.Equals)
	if e.Between != nil {
		n++
		switch {
		case len(e.Between) != 2:
			errs = append(errs, fmt.Errorf("between needs exactly two bounds [lo, hi], got %d", len(e.Between)))
		case math.IsNaN(e.Between[0]) || math.IsNaN(e.Between[1]):
			errs = append(errs, errors.New("between has a NaN bound"))
		case e.Between[0] > e.Between[1]:
			errs = append(errs, fmt.Errorf("between lower bound %s is above upper bound %s",
				FormatValue(e.Between[0]), FormatValue(e.Between[1])))
		}
	}
	switch {
	case n == 0:
		errs = append(errs, errors.New("no comparator set (one of below, atMost, above, atLeast, between, equals)"))
	case n > 1:
		errs = append(errs, fmt.Errorf("%d comparators set (%s); exactly one is allowed", n, ExpectString(e)))
	}
	return errors.Join(errs...)
}
