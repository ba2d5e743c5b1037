package exporter

import (
	"math"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// The numbers docs/sandbox.md promises for the seeded checkout service
// (50 rps, needs 2 ready pods, 40 ms median, 0.1 % base errors).
func TestRatesForCheckout(t *testing.T) {
	checkout := Service{RPS: 50, MinReady: 2, LatencyMS: 40, BaseErrors: 0.001}
	for _, c := range []struct {
		ready      int
		errorRatio float64
		served     float64
	}{
		{3, 0.001, 50},
		{2, 0.001, 50},
		{1, 0.5 + 0.5*0.001, 25},
		{0, 1, 0},
	} {
		r := RatesFor(checkout, c.ready)
		if !near(r.ErrorRatio(), c.errorRatio) {
			t.Errorf("ready=%d: error ratio %v, want %v", c.ready, r.ErrorRatio(), c.errorRatio)
		}
		if !near(r.OK+r.ServerError, c.served) {
			t.Errorf("ready=%d: served %v rps, want %v", c.ready, r.OK+r.ServerError, c.served)
		}
		if !near(r.OK+r.ServerError+r.Unavailable, 50) {
			t.Errorf("ready=%d: total %v rps, want 50 whatever the state", c.ready, r.OK+r.ServerError+r.Unavailable)
		}
		sum := 0.0
		for _, v := range r.Latency {
			sum += v
		}
		if !near(sum, 50) {
			t.Errorf("ready=%d: histogram observes %v rps, want 50", c.ready, sum)
		}
	}
}

// The example hypothesis over the whole shop (checkout 50, cart 30,
// frontend 100 rps) holds at full strength and with one checkout pod of
// three missing, and fails with 1 or 0 ready.
func TestShopErrorRatio(t *testing.T) {
	checkout := Service{RPS: 50, MinReady: 2, LatencyMS: 40, BaseErrors: 0.001}
	cart := Service{RPS: 30, MinReady: 1, LatencyMS: 15, BaseErrors: 0.001}
	frontend := Service{RPS: 100, MinReady: 1, LatencyMS: 25, BaseErrors: 0.001}
	shop := func(checkoutReady int) float64 {
		var errs, total float64
		for _, r := range []Rates{RatesFor(checkout, checkoutReady), RatesFor(cart, 2), RatesFor(frontend, 2)} {
			errs += r.ServerError + r.Unavailable
			total += r.OK + r.ServerError + r.Unavailable
		}
		return errs / total
	}
	for ready, want := range map[int]float64{3: 0.001, 2: 0.001, 1: 25.155 / 180, 0: 50.13 / 180} {
		got := shop(ready)
		if math.Abs(got-want) > 1e-6 {
			t.Errorf("checkout ready=%d: shop error ratio %v, want %v", ready, got, want)
		}
		if held := got < 0.01; held != (ready >= 2) {
			t.Errorf("checkout ready=%d: hypothesis '< 0.01' held=%v", ready, held)
		}
	}
}

func TestLatencyWorsensWhenShortOfPods(t *testing.T) {
	s := Service{RPS: 100, MinReady: 2, LatencyMS: 40}
	mean := func(r Rates) float64 {
		return r.LatencySum / (r.OK + r.ServerError + r.Unavailable)
	}
	full, short, none := RatesFor(s, 2), RatesFor(s, 1), RatesFor(s, 0)
	// Shape: 0.5×1 + 0.4×2 + 0.09×4 + 0.01×10 = 1.76 medians on average.
	if !near(mean(full), 0.040*1.76) {
		t.Errorf("mean latency at full strength %v, want %v", mean(full), 0.040*1.76)
	}
	// Half served at twice the latency, half waiting for the 1 s timeout.
	if want := 0.5*0.080*1.76 + 0.5*1.0; !near(mean(short), want) {
		t.Errorf("mean latency with 1 of 2 pods %v, want %v", mean(short), want)
	}
	if !near(mean(none), 1.0) {
		t.Errorf("mean latency with no pod %v, want the 1 s gateway timeout", mean(none))
	}
	// Bucket placement: 50 % at 40 ms lands in le=0.05.
	if !near(full.Latency[3], 50) {
		t.Errorf("le=0.05 bucket gets %v rps, want 50", full.Latency[3])
	}
}

func TestCountersIntegrateExactly(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	c := newCounters(t0)
	r := RatesFor(Service{RPS: 10, MinReady: 1, LatencyMS: 20}, 1)
	c.advance(t0.Add(1500*time.Millisecond), r)
	c.advance(t0.Add(1500*time.Millisecond), r) // no time passed: no traffic
	if !near(c.ok+c.serverError+c.unavailable, 15) {
		t.Errorf("after 1.5 s at 10 rps: %v requests, want 15", c.ok+c.serverError+c.unavailable)
	}
	c.advance(t0, r) // a clock going backwards must not subtract
	if !near(c.ok+c.serverError+c.unavailable, 15) {
		t.Errorf("clock going backwards changed the counters")
	}
}

func TestServiceFromDeployment(t *testing.T) {
	dep := func(a map[string]string) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "x", Annotations: a}}
	}
	if _, ok, err := ServiceFromDeployment(dep(nil)); ok || err != nil {
		t.Errorf("no annotation: ok=%v err=%v, want not opted in", ok, err)
	}
	s, ok, err := ServiceFromDeployment(dep(map[string]string{AnnotationRPS: "12.5"}))
	if !ok || err != nil || s != (Service{RPS: 12.5, MinReady: 1, LatencyMS: 20, BaseErrors: 0.001}) {
		t.Errorf("defaults: %+v ok=%v err=%v", s, ok, err)
	}
	for _, bad := range []map[string]string{
		{AnnotationRPS: "many"},
		{AnnotationRPS: "-1"},
		{AnnotationRPS: "1", AnnotationMinReady: "0"},
		{AnnotationRPS: "1", AnnotationLatency: "0"},
		{AnnotationRPS: "1", AnnotationBaseErrors: "1.5"},
	} {
		_, ok, err := ServiceFromDeployment(dep(bad))
		if ok || err == nil || !strings.Contains(err.Error(), "sandbox.chaosnight.dev/") {
			t.Errorf("%v: ok=%v err=%v, want an error naming the annotation", bad, ok, err)
		}
	}
}
