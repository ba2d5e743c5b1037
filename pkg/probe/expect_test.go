package probe

import (
	"math"
	"strings"
	"testing"

	"github.com/chaosnight/chaosnight/pkg/experiment"
)

func f(v float64) *float64 { return &v }

var (
	nan    = math.NaN()
	posInf = math.Inf(1)
	negInf = math.Inf(-1)
)

func TestMeets(t *testing.T) {
	tests := []struct {
		name   string
		expect experiment.Expect
		value  float64
		want   bool
	}{
		{"below: under", experiment.Expect{Below: f(0.01)}, 0.009, true},
		{"below: at the bound is not below", experiment.Expect{Below: f(0.01)}, 0.01, false},
		{"below: over", experiment.Expect{Below: f(0.01)}, 0.02, false},
		{"below: negative", experiment.Expect{Below: f(0)}, -1, true},
		{"atMost: under", experiment.Expect{AtMost: f(5)}, 4, true},
		{"atMost: at the bound", experiment.Expect{AtMost: f(5)}, 5, true},
		{"atMost: over", experiment.Expect{AtMost: f(5)}, 5.0000001, false},
		{"above: over", experiment.Expect{Above: f(1)}, 1.5, true},
		{"above: at the bound is not above", experiment.Expect{Above: f(1)}, 1, false},
		{"above: under", experiment.Expect{Above: f(1)}, 0, false},
		{"atLeast: over", experiment.Expect{AtLeast: f(2)}, 3, true},
		{"atLeast: at the bound", experiment.Expect{AtLeast: f(2)}, 2, true},
		{"atLeast: under", experiment.Expect{AtLeast: f(2)}, 1.999, false},
		{"between: inside", experiment.Expect{Between: []float64{0.5, 2}}, 1, true},
		{"between: lower bound inclusive", experiment.Expect{Between: []float64{0.5, 2}}, 0.5, true},
		{"between: upper bound inclusive", experiment.Expect{Between: []float64{0.5, 2}}, 2, true},
		{"between: under", experiment.Expect{Between: []float64{0.5, 2}}, 0.4999, false},
		{"between: over", experiment.Expect{Between: []float64{0.5, 2}}, 2.0001, false},
		{"between: single point", experiment.Expect{Between: []float64{3, 3}}, 3, true},
		{"between: one bound is not a range", experiment.Expect{Between: []float64{0.5}}, 0.5, false},
		{"between: empty is not a range", experiment.Expect{Between: []float64{}}, 0, false},
		{"equals: equal", experiment.Expect{Equals: f(3)}, 3, true},
		{"equals: negative zero equals zero", experiment.Expect{Equals: f(0)}, math.Copysign(0, -1), true},
		{"equals: close is not equal", experiment.Expect{Equals: f(3)}, 3.0000000001, false},
		{"equals: next float is not equal", experiment.Expect{Equals: f(0.3)}, math.Nextafter(0.3, 1), false},
		{"NaN never meets below", experiment.Expect{Below: f(1)}, nan, false},
		{"NaN never meets atMost", experiment.Expect{AtMost: f(1)}, nan, false},
		{"NaN never meets above", experiment.Expect{Above: f(1)}, nan, false},
		{"NaN never meets atLeast", experiment.Expect{AtLeast: f(1)}, nan, false},
		{"NaN never meets between", experiment.Expect{Between: []float64{0, 1}}, nan, false},
		{"NaN never meets equals NaN", experiment.Expect{Equals: f(nan)}, nan, false},
		{"+Inf never meets above", experiment.Expect{Above: f(1)}, posInf, false},
		{"+Inf never meets atLeast", experiment.Expect{AtLeast: f(0)}, posInf, false},
		{"+Inf never meets equals +Inf", experiment.Expect{Equals: f(posInf)}, posInf, false},
		{"+Inf never meets an infinite range", experiment.Expect{Between: []float64{negInf, posInf}}, posInf, false},
		{"-Inf never meets below", experiment.Expect{Below: f(0)}, negInf, false},
		{"-Inf never meets atMost", experiment.Expect{AtMost: f(0)}, negInf, false},
		{"finite value meets an infinite bound", experiment.Expect{Below: f(posInf)}, 1e300, true},
		{"no comparator never meets", experiment.Expect{}, 1, false},
		{"two comparators: both hold", experiment.Expect{Above: f(0), Below: f(2)}, 1, true},
		{"two comparators: one fails", experiment.Expect{Above: f(0), Below: f(2)}, 3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Meets(tt.expect, tt.value); got != tt.want {
				t.Errorf("Meets(%s, %v) = %v, want %v", ExpectString(tt.expect), tt.value, got, tt.want)
			}
		})
	}
}

func TestExpectString(t *testing.T) {
	tests := []struct {
		expect experiment.Expect
		want   string
	}{
		{experiment.Expect{Below: f(0.01)}, "below 0.01"},
		{experiment.Expect{AtMost: f(5)}, "at most 5"},
		{experiment.Expect{Above: f(-1.5)}, "above -1.5"},
		{experiment.Expect{AtLeast: f(2)}, "at least 2"},
		{experiment.Expect{Between: []float64{0.5, 2}}, "between 0.5 and 2"},
		{experiment.Expect{Equals: f(1)}, "equal to 1"},
		{experiment.Expect{Below: f(1500000)}, "below 1500000"},
		{experiment.Expect{Below: f(posInf)}, "below +Inf"},
		{experiment.Expect{Between: []float64{1}}, "between [1]"},
		{experiment.Expect{Above: f(0), Below: f(2)}, "below 2 and above 0"},
		{experiment.Expect{}, "no expectation"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := ExpectString(tt.expect); got != tt.want {
				t.Errorf("ExpectString() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"},
		{3, "3"},
		{-2, "-2"},
		{0.034, "0.034"},
		{0.1107142857142857, "0.110714"},
		{268435456, "268435456"},
		{0.0001, "0.0001"},
		{0.00001, "1e-05"},
		{1500000, "1500000"},
		{123456789012345, "123456789012345"},
		{1e20, "1e+20"},
		{nan, "NaN"},
		{posInf, "+Inf"},
		{negInf, "-Inf"},
	}
	for _, tt := range tests {
		if got := FormatValue(tt.v); got != tt.want {
			t.Errorf("FormatValue(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestCheckExpect(t *testing.T) {
	tests := []struct {
		name    string
		expect  experiment.Expect
		wantErr string // substring; empty means valid
	}{
		{"below", experiment.Expect{Below: f(1)}, ""},
		{"between", experiment.Expect{Between: []float64{1, 2}}, ""},
		{"between a single point", experiment.Expect{Between: []float64{2, 2}}, ""},
		{"none", experiment.Expect{}, "no comparator set"},
		{"two", experiment.Expect{Below: f(1), Equals: f(0)}, "2 comparators set (below 1 and equal to 0)"},
		{"between three bounds", experiment.Expect{Between: []float64{1, 2, 3}}, "exactly two bounds [lo, hi], got 3"},
		{"between reversed", experiment.Expect{Between: []float64{2, 1}}, "lower bound 2 is above upper bound 1"},
		{"between NaN", experiment.Expect{Between: []float64{nan, 1}}, "NaN bound"},
		{"NaN threshold", experiment.Expect{Below: f(nan)}, "below is NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkExpect(tt.expect)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("checkExpect() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("checkExpect() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
