// noise.go gives the demo traffic the variation real traffic has, so that
// a fixed threshold on a rate is brittle and a baseline matters: a slow
// drift shared by every service (a "day" scaled down to minutes) and a
// jitter of its own per service and second. Both are pure functions of the
// instant, the service and a seed: the same clock gives the same traffic,
// and a test can compute what the model did at any instant.

package exporter

import (
	"fmt"
	"hash/fnv"
	"math"
	"time"
)

// Noise shapes the request rate of every modelled service over time: the
// rate at instant t is RPS × Factor(service, t). Only the rate moves; the
// error ratio and the latency (and so every quantile of docs/sandbox.md's
// tables) are those of the model, whatever the noise.
type Noise struct {
	// Drift is the amplitude of the slow drift, a fraction of the rate
	// (0.15: the rate swings between 85 % and 115 %).
	Drift float64
	// DriftPeriod is one "day" of the drift: a sine whose phase is the
	// Unix time modulo the period, the same for every service.
	DriftPeriod time.Duration
	// Jitter is the amplitude of the jitter, a fraction of the rate
	// (0.05: ±5 %), drawn uniformly per service and JitterStep.
	Jitter float64
	// JitterStep is how long one jitter value lasts.
	JitterStep time.Duration
	// Seed changes the jitter's draws.
	Seed uint64
}

// DefaultNoise is the sandbox's noise: ±15 % over a 10-minute "day" and
// ±5 % per second. A baseline over a few minutes sees a few percent of
// drift; a threshold written at the top of the cycle fails at its bottom.
func DefaultNoise() Noise {
	return Noise{Drift: 0.15, DriftPeriod: 10 * time.Minute, Jitter: 0.05, JitterStep: time.Second, Seed: 1}
}

// Validate refuses a noise that could make a rate negative or undefined.
func (n Noise) Validate() error {
	switch {
	case n.Drift < 0 || n.Jitter < 0 || math.IsNaN(n.Drift) || math.IsNaN(n.Jitter):
		return fmt.Errorf("exporter: noise amplitudes must be >= 0 (drift %v, jitter %v)", n.Drift, n.Jitter)
	case n.Drift+n.Jitter >= 1:
		return fmt.Errorf("exporter: noise drift %v + jitter %v must stay below 1, or a rate could reach 0", n.Drift, n.Jitter)
	case n.Drift > 0 && n.DriftPeriod <= 0:
		return fmt.Errorf("exporter: noise drift needs a positive period")
	case n.Jitter > 0 && n.JitterStep <= 0:
		return fmt.Errorf("exporter: noise jitter needs a positive step")
	}
	return nil
}

// Factor is the multiplier of service's request rate at instant t:
// 1 + drift + jitter. The zero Noise gives 1 (the flat model).
func (n Noise) Factor(service string, t time.Time) float64 {
	f := 1.0
	if n.Drift > 0 && n.DriftPeriod > 0 {
		phase := float64(t.UnixNano()%int64(n.DriftPeriod)) / float64(n.DriftPeriod)
		f += n.Drift * math.Sin(2*math.Pi*phase)
	}
	if n.Jitter > 0 && n.JitterStep > 0 {
		f += n.Jitter * draw(n.Seed, service, t.UnixNano()/int64(n.JitterStep))
	}
	return f
}

// draw is a uniform number in [-1, 1) from (seed, service, slot): FNV-1a
// of the three, finished with splitmix64 so that consecutive slots are
// unrelated.
func draw(seed uint64, service string, slot int64) float64 {
	h := fnv.New64a()
	var b [16]byte
	for i := range 8 {
		b[i] = byte(seed >> (8 * i))
		b[8+i] = byte(uint64(slot) >> (8 * i))
	}
	h.Write(b[:])
	h.Write([]byte(service))
	z := h.Sum64() + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	return float64(z>>11)/float64(1<<53)*2 - 1
}
