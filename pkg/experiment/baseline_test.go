package experiment

import (
	"math"
	"testing"
)

func TestParseMargin(t *testing.T) {
	tests := []struct {
		in      string
		want    Margin
		wantErr bool
		amount  float64 // Amount(median -2)
	}{
		{in: "20%", want: Margin{Value: 0.2, Relative: true}, amount: 0.4},
		{in: " 0.5% ", want: Margin{Value: 0.005, Relative: true}, amount: 0.01},
		{in: "0.05", want: Margin{Value: 0.05}, amount: 0.05},
		{in: "0", want: Margin{}, amount: 0},
		{in: "-5%", wantErr: true},
		{in: "%", wantErr: true},
		{in: "", wantErr: true},
		{in: "NaN", wantErr: true},
		{in: "Inf%", wantErr: true},
		{in: "twenty", wantErr: true},
	}
	for _, tt := range tests {
		got, err := ParseMargin(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseMargin(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		if got != tt.want {
			t.Errorf("ParseMargin(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if a := got.Amount(-2); math.Abs(a-tt.amount) > 1e-12 {
			t.Errorf("ParseMargin(%q).Amount(-2) = %g, want %g", tt.in, a, tt.amount)
		}
		if again, err := ParseMargin(got.String()); err != nil || again != got {
			t.Errorf("ParseMargin(%q).String() = %q does not read back: %+v %v", tt.in, got.String(), again, err)
		}
	}
}
