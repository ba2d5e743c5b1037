package exporter

import (
	"math"
	"testing"
	"time"
)

func TestNoiseFactor(t *testing.T) {
	n := DefaultNoise()
	t0 := time.Unix(1_800_000_000, 0) // a multiple of the 10-minute period
	if t0.UnixNano()%int64(n.DriftPeriod) != 0 {
		t.Fatal("t0 is not at the start of a drift period")
	}
	// Deterministic: the same instant and service give the same factor.
	if a, b := n.Factor("shop/checkout", t0.Add(1234*time.Millisecond)), n.Factor("shop/checkout", t0.Add(1234*time.Millisecond)); a != b {
		t.Errorf("factor not deterministic: %v, %v", a, b)
	}
	// The drift alone: a sine of amplitude 0.15 over the period.
	drift := Noise{Drift: 0.15, DriftPeriod: 10 * time.Minute}
	for _, c := range []struct {
		at   time.Duration
		want float64
	}{{0, 1}, {150 * time.Second, 1.15}, {300 * time.Second, 1}, {450 * time.Second, 0.85}} {
		if got := drift.Factor("x", t0.Add(c.at)); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("drift at +%s: %v, want %v", c.at, got, c.want)
		}
	}
	// The jitter alone: within ±5 %, constant within a step, different
	// across services and steps, about centred over many steps.
	jit := Noise{Jitter: 0.05, JitterStep: time.Second, Seed: 1}
	if a, b := jit.Factor("x", t0.Add(100*time.Millisecond)), jit.Factor("x", t0.Add(900*time.Millisecond)); a != b {
		t.Errorf("jitter changed within a step: %v, %v", a, b)
	}
	sum, differs := 0.0, 0
	const steps = 10000
	for i := range steps {
		at := t0.Add(time.Duration(i) * time.Second)
		f := jit.Factor("shop/checkout", at)
		if f < 0.95 || f >= 1.05 {
			t.Fatalf("jitter %v out of ±5%%", f)
		}
		sum += f
		if f != jit.Factor("shop/cart", at) {
			differs++
		}
	}
	if mean := sum / steps; math.Abs(mean-1) > 0.002 {
		t.Errorf("mean jitter factor %v, want about 1", mean)
	}
	if differs < steps*99/100 {
		t.Errorf("checkout and cart drew the same jitter %d times of %d", steps-differs, steps)
	}
	// Another seed, other draws.
	other := Noise{Jitter: 0.05, JitterStep: time.Second, Seed: 2}
	if jit.Factor("x", t0) == other.Factor("x", t0) && jit.Factor("x", t0.Add(time.Second)) == other.Factor("x", t0.Add(time.Second)) {
		t.Error("the seed changes nothing")
	}
	if f := (Noise{}).Factor("x", t0.Add(77*time.Second)); f != 1 {
		t.Errorf("the zero Noise gives %v, want 1 (the flat model)", f)
	}
}

func TestNoiseValidate(t *testing.T) {
	for _, c := range []struct {
		n  Noise
		ok bool
	}{
		{DefaultNoise(), true},
		{Noise{}, true},
		{Noise{Drift: 0.6, DriftPeriod: time.Minute, Jitter: 0.4, JitterStep: time.Second}, false},
		{Noise{Drift: -0.1, DriftPeriod: time.Minute}, false},
		{Noise{Drift: 0.1}, false},
		{Noise{Jitter: 0.1}, false},
	} {
		if err := c.n.Validate(); (err == nil) != c.ok {
			t.Errorf("%+v: %v", c.n, err)
		}
	}
}
