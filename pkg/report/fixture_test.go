package report

import (
	"fmt"
	"math"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/inject/podkill"
	"github.com/chaosnight/chaosnight/pkg/inject/stress"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/probe"
	"github.com/chaosnight/chaosnight/pkg/target"
)

func f64(v float64) *float64 { return &v }

func dur(d time.Duration) experiment.Duration { return experiment.Duration{Duration: d} }

// fixtureStart is the fixed start of the first fixture run.
func fixtureStart() time.Time { return time.Date(2026, 11, 20, 2, 0, 0, 0, time.UTC) }

func pod(ns, name, uid, node string) target.Pod {
	return target.Pod{Namespace: ns, Name: name, UID: uid, Node: node, Phase: "Running", Ready: true,
		Owner: &target.Owner{Kind: "ReplicaSet", Name: name[:len(name)-6], UID: "rs-" + uid}}
}

// samples evaluates values every 5s from start: value i at start+5s*i, in
// the phase given by phaseAt, checked against ok.
func samples(name string, role probe.Role, start time.Time, values []float64, phaseAt func(time.Time) string, why func(float64) string) []journal.Sample {
	var out []journal.Sample
	for i, v := range values {
		at := start.Add(time.Duration(i) * 5 * time.Second)
		reason := why(v)
		out = append(out, journal.Sample{Phase: phaseAt(at), Result: probe.Result{
			Probe: name, Role: role, At: at, OK: reason == "", Value: v, Series: 1, Reason: reason,
			Samples: []probe.Sample{{Labels: map[string]string{"service": "checkout"}, Value: v}},
		}})
	}
	return out
}

// phases builds consecutive phases from durations; a negative duration
// leaves the phase open.
func phases(start time.Time, spec ...any) []journal.Phase {
	var out []journal.Phase
	t := start
	for i := 0; i < len(spec); i += 2 {
		p := journal.Phase{Name: spec[i].(string), Started: t}
		if d := spec[i+1].(time.Duration); d >= 0 {
			t = t.Add(d)
			p.Ended = t
		}
		out = append(out, p)
	}
	return out
}

func phaseFinder(ps []journal.Phase) func(time.Time) string {
	return func(at time.Time) string {
		name := ""
		for _, p := range ps {
			if !at.Before(p.Started) {
				name = p.Name
			}
		}
		return name
	}
}

// fixtures are three runs with fixed times: one held (pod kill, two probes
// and a stop condition), one deviated (a single replica deleted), one
// aborted by its stop condition (CPU stress).
func fixtures() []*journal.Record {
	start := fixtureStart()

	// 1. held
	heldExp := experiment.Experiment{
		APIVersion: experiment.APIVersion, Kind: experiment.Kind,
		Metadata: experiment.Metadata{Name: "checkout-pod-kill"},
		Spec: experiment.Spec{
			Description: "Checkout keeps serving while one of its pods is evicted every 10s.",
			Hypothesis: experiment.Hypothesis{Probes: []experiment.Probe{
				{Name: "checkout-error-ratio", Query: `sum(rate(http_requests_total{service="checkout",code=~"5.."}[1m])) / sum(rate(http_requests_total{service="checkout"}[1m]))`, Expect: experiment.Expect{Below: f64(0.01)}},
				{Name: "checkout-ready-pods", Query: `sum(kube_deployment_status_replicas_ready{deployment="checkout"})`, Expect: experiment.Expect{AtLeast: f64(2)}},
			}},
			StopWhen:      []experiment.Probe{{Name: "checkout-p99-latency", Query: `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{service="checkout"}[1m])))`, Expect: experiment.Expect{Above: f64(2)}}},
			Target:        experiment.Target{Namespaces: []string{"shop"}},
			Action:        experiment.NewAction(podkill.Fault{}, &podkill.Spec{Method: "evict", Every: dur(10 * time.Second)}),
			Duration:      dur(30 * time.Second),
			ProbeInterval: dur(5 * time.Second),
			Recovery:      dur(time.Minute),
		},
	}
	hp := phases(start, journal.PhasePreflight, 2*time.Second, journal.PhaseSelect, time.Second,
		journal.PhaseInject, time.Second, journal.PhaseObserve, 30*time.Second, journal.PhaseRevert, time.Second, journal.PhaseRecover, 5*time.Second)
	a := pod("shop", "checkout-6d677d7756-gc4w2", "ff18aefb-1", "kwok-node-1")
	b := pod("shop", "checkout-6d677d7756-hfqn6", "6e019458-2", "kwok-node-2")
	injAt := start.Add(3 * time.Second)
	held := &journal.Record{
		SchemaVersion: journal.SchemaVersion, RunID: "20261120-020000-aaaaaa", Experiment: heldExp,
		File: "experiments/checkout-pod-kill.yaml", Seed: 42, Started: start, Ended: start.Add(40 * time.Second),
		Verdict: journal.Held, Reasons: []string{
			"round 3 touched nothing: shop/checkout-6d677d7756-gc4w2: protected by PodDisruptionBudget shop/checkout: 0 disruptions allowed (it needs 2 healthy pods and has 2)",
			"the hypothesis held for 30s of injection and the system recovered"},
		Phases: hp, Targets: []target.Pod{a, b},
		Injections: []inject.Injection{
			{Run: inject.Run{ID: "20261120-020000-aaaaaa", Experiment: "checkout-pod-kill"}, Kind: "podKill", At: injAt,
				Outcomes: []inject.Outcome{{Pod: a, Status: inject.StatusEvicted, At: injAt}}},
			{Run: inject.Run{ID: "20261120-020000-aaaaaa", Experiment: "checkout-pod-kill"}, Kind: "podKill", At: injAt.Add(10 * time.Second),
				Outcomes: []inject.Outcome{{Pod: b, Status: inject.StatusEvicted, At: injAt.Add(10 * time.Second)}}},
			{Run: inject.Run{ID: "20261120-020000-aaaaaa", Experiment: "checkout-pod-kill"}, Kind: "podKill", At: injAt.Add(20 * time.Second),
				Outcomes: []inject.Outcome{{Pod: a, Status: inject.StatusProtected, Detail: "protected by PodDisruptionBudget shop/checkout: 0 disruptions allowed (it needs 2 healthy pods and has 2)", At: injAt.Add(20 * time.Second)}}},
		},
		Rounds: []journal.Round{
			{Round: 1, At: injAt, Targets: 1, Touched: 1},
			{Round: 2, At: injAt.Add(10 * time.Second), Targets: 1, Touched: 1},
			{Round: 3, At: injAt.Add(20 * time.Second), Targets: 1, Touched: 0,
				Note: "round 3 touched nothing: shop/checkout-6d677d7756-gc4w2: protected by PodDisruptionBudget shop/checkout: 0 disruptions allowed (it needs 2 healthy pods and has 2)"},
		},
		Replay: "chaosnight run experiments/checkout-pod-kill.yaml --seed 42",
	}
	never := func(float64) string { return "" }
	held.Samples = append(held.Samples, samples("checkout-error-ratio", probe.RoleHypothesis, start, []float64{0, 0.001, 0.002, 0.004, 0.003, 0.001, 0.002, 0, 0}, phaseFinder(hp), never)...)
	held.Samples = append(held.Samples, samples("checkout-ready-pods", probe.RoleHypothesis, start, []float64{3, 3, 2, 3, 2, 3, 2, 3, 3}, phaseFinder(hp), never)...)
	held.Samples = append(held.Samples, samples("checkout-p99-latency", probe.RoleStop, start.Add(4*time.Second), []float64{0.12, 0.4, 0.35, 0.5, 0.3, 0.2, 0.15}, phaseFinder(hp), never)...)

	// 2. deviated
	start2 := start.Add(10 * time.Minute)
	devExp := experiment.Experiment{
		APIVersion: experiment.APIVersion, Kind: experiment.Kind,
		Metadata: experiment.Metadata{Name: "recommendations-single-replica"},
		Spec: experiment.Spec{
			Description: "Losing the single recommendations pod does not hurt its clients.",
			Hypothesis: experiment.Hypothesis{Probes: []experiment.Probe{
				{Name: "recommendations-error-ratio", Query: `sum(rate(http_requests_total{service="recommendations",code=~"5.."}[1m])) / sum(rate(http_requests_total{service="recommendations"}[1m]))`, Expect: experiment.Expect{Below: f64(0.01)}},
			}},
			Target:        experiment.Target{Namespaces: []string{"shop"}},
			Action:        experiment.NewAction(podkill.Fault{}, &podkill.Spec{Method: "delete"}),
			Duration:      dur(20 * time.Second),
			ProbeInterval: dur(5 * time.Second),
			Recovery:      dur(time.Minute),
		},
	}
	dp := phases(start2, journal.PhasePreflight, 2*time.Second, journal.PhaseSelect, time.Second,
		journal.PhaseInject, time.Second, journal.PhaseObserve, 6*time.Second, journal.PhaseRevert, time.Second, journal.PhaseRecover, 24*time.Second)
	dp[3].Note = "hypothesis violated"
	r := pod("shop", "recommendations-7c54676bd7-dhqpk", "4fa27636-3", "kwok-node-0")
	dev := &journal.Record{
		SchemaVersion: journal.SchemaVersion, RunID: "20261120-021000-bbbbbb", Experiment: devExp,
		File: "experiments/recommendations-single-replica.yaml", Seed: 4695030076791832035, Started: start2, Ended: start2.Add(35 * time.Second),
		Verdict: journal.Deviated,
		Reasons: []string{"the hypothesis was violated after 2s of injection: recommendations-error-ratio = 0.110714: expected below 0.01"},
		Phases:  dp, Targets: []target.Pod{r},
		Injections: []inject.Injection{{Run: inject.Run{ID: "20261120-021000-bbbbbb", Experiment: "recommendations-single-replica"}, Kind: "podKill",
			At: start2.Add(3 * time.Second), Outcomes: []inject.Outcome{{Pod: r, Status: inject.StatusKilled, At: start2.Add(3 * time.Second)}}}},
		Rounds: []journal.Round{{Round: 1, At: start2.Add(3 * time.Second), Targets: 1, Touched: 1}},
		Replay: "chaosnight run experiments/recommendations-single-replica.yaml --seed 4695030076791832035",
	}
	over := func(limit float64) func(float64) string {
		return func(v float64) string {
			if v < limit {
				return ""
			}
			return fmt.Sprintf(`recommendations-error-ratio = %s {service="recommendations"}: expected below %s`, formatValue(v), formatValue(limit))
		}
	}
	dev.Samples = samples("recommendations-error-ratio", probe.RoleHypothesis, start2, []float64{0, 0.110714, 0.2536, 0.31, 0.2, 0.05, 0.004, 0}, phaseFinder(dp), over(0.01))
	// A sample that could not be evaluated: drawn nowhere, counted as bad.
	dev.Samples = append(dev.Samples, journal.Sample{Phase: journal.PhaseRecover, Result: probe.Result{
		Probe: "recommendations-error-ratio", Role: probe.RoleHypothesis, At: start2.Add(34 * time.Second), Value: math.NaN(),
		Err: "Prometheus unreachable: connection refused"}})

	// 3. aborted by the stop condition
	start3 := start.Add(24 * time.Hour)
	abExp := experiment.Experiment{
		APIVersion: experiment.APIVersion, Kind: experiment.Kind,
		Metadata: experiment.Metadata{Name: "checkout-cpu-stress"},
		Spec: experiment.Spec{
			Hypothesis: experiment.Hypothesis{Probes: []experiment.Probe{
				{Name: "checkout-latency-p95", Query: `histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{service="checkout"}[1m])))`, Expect: experiment.Expect{Between: []float64{0, 0.5}}},
				{Name: "checkout-replicas", Query: `sum(kube_deployment_spec_replicas{deployment="checkout"})`, Expect: experiment.Expect{Equals: f64(3)}},
			}},
			StopWhen: []experiment.Probe{{Name: "checkout-availability", Query: `avg_over_time(up{job="checkout"}[1m])`, Expect: experiment.Expect{Below: f64(0.9)}},
				{Name: "orders-backlog", Query: `sum(orders_queue_depth)`, Expect: experiment.Expect{AtLeast: f64(1000)}}},
			Target:        experiment.Target{Namespaces: []string{"shop"}},
			Action:        experiment.NewAction(stress.Fault{}, &stress.Spec{Scope: stress.ScopePod, CPU: &stress.CPUStress{Workers: 2, Load: 90}}),
			Duration:      dur(time.Minute),
			ProbeInterval: dur(5 * time.Second),
			Recovery:      dur(time.Minute),
		},
	}
	ap := phases(start3, journal.PhasePreflight, 2*time.Second, journal.PhaseSelect, time.Second,
		journal.PhaseInject, 2*time.Second, journal.PhaseObserve, 15*time.Second, journal.PhaseRevert, 2*time.Second, journal.PhaseRecover, 10*time.Second)
	ap[3].Note = "stop condition checkout-availability"
	c := pod("shop", "checkout-6d677d7756-7zn8x", "5bae7532-4", "kwok-node-0")
	ab := &journal.Record{
		SchemaVersion: journal.SchemaVersion, RunID: "20261121-020000-cccccc", Experiment: abExp,
		File: "experiments/checkout-cpu-stress.yaml", Seed: 7, Started: start3, Ended: start3.Add(32 * time.Second),
		Verdict: journal.Aborted,
		Reasons: []string{"stop condition checkout-availability fired after 15s: checkout-availability = 0.85: expected below 0.9 (it fires when met)", "everything was reverted"},
		Phases:  ap, Targets: []target.Pod{c},
		Injections: []inject.Injection{{Run: inject.Run{ID: "20261121-020000-cccccc", Experiment: "checkout-cpu-stress"}, Kind: "stress",
			At: start3.Add(3 * time.Second), Outcomes: []inject.Outcome{{Pod: c, Status: inject.StatusStressed, At: start3.Add(4 * time.Second)}},
			State: map[string]string{"container": "chaosnight-stress-1"}}},
		Rounds: []journal.Round{{Round: 1, At: start3.Add(3 * time.Second), Targets: 1, Touched: 1}},
		Replay: "chaosnight run experiments/checkout-cpu-stress.yaml --seed 7",
	}
	ab.Samples = append(ab.Samples, samples("checkout-latency-p95", probe.RoleHypothesis, start3, []float64{0.1, 0.12, 0.3, 0.45, 0.38, 0.2, 0.11}, phaseFinder(ap), never)...)
	ab.Samples = append(ab.Samples, samples("checkout-replicas", probe.RoleHypothesis, start3, []float64{3, 3, 3, 3, 3, 3, 3}, phaseFinder(ap), never)...)
	ab.Samples = append(ab.Samples, samples("checkout-availability", probe.RoleStop, start3.Add(5*time.Second), []float64{1, 0.97, 0.85}, phaseFinder(ap),
		func(v float64) string {
			if v >= 0.9 {
				return ""
			}
			return "checkout-availability = " + formatValue(v) + ": expected below 0.9 (it fires when met)"
		})...)
	// orders-backlog has no samples: an empty chart, a skipped test case.

	return []*journal.Record{held, dev, ab, partialFixture(start.Add(48 * time.Hour))}
}

// partialFixture is a pod-scope memory stress that reached 1 of its 3
// targets, deviated, and whose revert was refused (no pods/exec right):
// the stress keeps running until its deadline.
func partialFixture(start time.Time) *journal.Record {
	exp := experiment.Experiment{
		APIVersion: experiment.APIVersion, Kind: experiment.Kind,
		Metadata: experiment.Metadata{Name: "cart-memory-stress"},
		Spec: experiment.Spec{
			Description: "Cart keeps its latency while its pods hold 256Mi more.",
			Hypothesis: experiment.Hypothesis{Probes: []experiment.Probe{
				{Name: "cart-latency-p95", Query: `histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket{service="cart"}[1m])))`, Expect: experiment.Expect{Below: f64(0.3)}},
			}},
			Target:        experiment.Target{Namespaces: []string{"shop"}, Selector: "app=cart", Pick: experiment.Pick{All: true}},
			Action:        experiment.NewAction(stress.Fault{}, &stress.Spec{Scope: stress.ScopePod, Memory: &stress.MemoryStress{Size: "256Mi"}}),
			Duration:      dur(time.Minute),
			ProbeInterval: dur(5 * time.Second),
			Recovery:      dur(time.Minute),
		},
	}
	ps := phases(start, journal.PhasePreflight, 2*time.Second, journal.PhaseSelect, time.Second,
		journal.PhaseInject, 2*time.Second, journal.PhaseObserve, 10*time.Second, journal.PhaseRevert, 25*time.Second, journal.PhaseRecover, 10*time.Second)
	ps[2].Note = "2 failed, 1 stressed; injected 1 of 3: shop/cart-5f8c9d7b4-kq2zp: the pod is Pending, not Running: its ephemeral container would only start once it runs; shop/cart-5f8c9d7b4-x7m4t: refused by Pod Security admission"
	ps[3].Note = "hypothesis violated"
	ps[4].Note = "revert failed"
	runID := "20261122-020000-dddddd"
	deadline := start.Add(2*time.Minute + 30*time.Second)
	p1 := pod("shop", "cart-5f8c9d7b4-9rd2w", "0c3d5a11-5", "kwok-node-1")
	p2 := pod("shop", "cart-5f8c9d7b4-kq2zp", "77aa0e42-6", "kwok-node-2")
	p3 := pod("shop", "cart-5f8c9d7b4-x7m4t", "a1b2c3d4-7", "kwok-node-0")
	at := start.Add(3 * time.Second)
	note := "injected 1 of 3: shop/cart-5f8c9d7b4-kq2zp: the pod is Pending, not Running: its ephemeral container would only start once it runs; shop/cart-5f8c9d7b4-x7m4t: refused by Pod Security admission"
	rec := &journal.Record{
		SchemaVersion: journal.SchemaVersion, RunID: runID, Experiment: exp,
		File: "experiments/cart-memory-stress.yaml", Seed: 99, Started: start, Ended: start.Add(50 * time.Second),
		Verdict: journal.Deviated,
		Reasons: []string{
			note,
			"the hypothesis was violated after 10s of injection: cart-latency-p95 = 0.41: expected below 0.3",
			"revert of stress failed: 1 stress(es) could not be stopped early and run until " + deadline.Format(time.RFC3339) +
				": ephemeral container chaosnight-stress-" + runID + " of pod shop/cart-5f8c9d7b4-9rd2w: exec chaosnight-stress stop: pods \"cart-5f8c9d7b4-9rd2w\" is forbidden",
		},
		Phases: ps, Targets: []target.Pod{p1, p2, p3},
		Injections: []inject.Injection{{Run: inject.Run{ID: runID, Experiment: "cart-memory-stress"}, Kind: "stress", At: at,
			Outcomes: []inject.Outcome{
				{Pod: p1, Status: inject.StatusStressed, Detail: "ephemeral container chaosnight-stress-" + runID + ": 256Mi of memory for 1m30s (ends by itself by " + deadline.Format(time.RFC3339) + ")", At: at},
				{Pod: p2, Status: inject.StatusFailed, Detail: "the pod is Pending, not Running: its ephemeral container would only start once it runs", At: at},
				{Pod: p3, Status: inject.StatusFailed, Detail: "refused by Pod Security admission", At: at},
			},
			State: map[string]string{"scope": "pod", "deadline": deadline.Format(time.RFC3339), "container": "chaosnight-stress-" + runID,
				"pod:shop/cart-5f8c9d7b4-9rd2w": "0c3d5a11-5"}}},
		Rounds: []journal.Round{{Round: 1, At: at, Targets: 3, Touched: 1, Note: note}},
		Leftovers: []journal.Leftover{{Injection: "stress", What: "ephemeral container chaosnight-stress-" + runID + " of pod shop/cart-5f8c9d7b4-9rd2w",
			Until: deadline, Error: `exec chaosnight-stress stop: pods "cart-5f8c9d7b4-9rd2w" is forbidden`}},
		Replay: "chaosnight run experiments/cart-memory-stress.yaml --seed 99",
	}
	over := func(v float64) string {
		if v < 0.3 {
			return ""
		}
		return "cart-latency-p95 = " + formatValue(v) + ": expected below 0.3"
	}
	rec.Samples = samples("cart-latency-p95", probe.RoleHypothesis, start, []float64{0.12, 0.15, 0.41, 0.44, 0.38, 0.2, 0.14, 0.12, 0.11, 0.1}, phaseFinder(ps), over)
	return rec
}
