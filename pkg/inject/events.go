// events.go holds the Event writing: one Kubernetes Event, through
// pkg/k8sevent, on every pod an injection actually touched.

package inject

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/chaosnight/chaosnight/pkg/k8sevent"
)

// Labels and annotations put on the Events the Guard writes, so that
// `kubectl get events -l chaosnight.dev/run=<id>` finds a run's victims.
const (
	RunLabel             = "chaosnight.dev/run"
	ExperimentAnnotation = "chaosnight.dev/experiment"
)

// ReasonInjected is the reason of the Event written on every victim.
const ReasonInjected = "ChaosInjected"

// eventTimeout bounds the Event writes after an injection.
const eventTimeout = 10 * time.Second

// events writes one Event on every pod that was actually touched. A failed
// Event is logged, never fatal: the fault has already happened and the
// Injection records it.
func (g *Guard) events(ctx context.Context, run Run, action string, outcomes []Outcome, log *slog.Logger) {
	var touched []Outcome
	for _, o := range outcomes {
		if Touched(o.Status) {
			touched = append(touched, o)
		}
	}
	component := orDefault(g.Component, DefaultComponent)
	// The pods are already touched: record it even if the caller's context
	// was cancelled meanwhile (SIGTERM, window end), within a bound.
	g.forEach(len(touched), func(k int) {
		o := touched[k]
		if err := k8sevent.Create(ctx, g.Client, g.event(run, action, component, o), eventTimeout); err != nil {
			log.Warn("cannot record the event", "pod", o.Pod.Key(), "err", err)
		}
	})
}

func (g *Guard) event(run Run, action, component string, o Outcome) *corev1.Event {
	at := o.At
	if at.IsZero() {
		at = g.now()
	}
	spec := k8sevent.Spec{
		Object: corev1.ObjectReference{
			Kind: "Pod", APIVersion: "v1", Namespace: o.Pod.Namespace, Name: o.Pod.Name, UID: types.UID(o.Pod.UID),
		},
		// Like client-go's recorder: unique enough, and readable.
		Name:        fmt.Sprintf("%s.%x", o.Pod.Name, at.UnixNano()),
		Annotations: map[string]string{ExperimentAnnotation: run.Experiment, RunLabel: run.ID},
		// Warning, not Normal: an SRE looking at a pod that vanished during
		// an incident filters on warnings, and must see it was chaos.
		Type:      corev1.EventTypeWarning,
		Reason:    ReasonInjected,
		Action:    action,
		Message:   fmt.Sprintf("chaosnight experiment %q, run %s: %s (%s)", run.Experiment, run.ID, action, o.Status),
		Component: component,
		At:        at,
	}
	if len(validation.IsValidLabelValue(run.ID)) == 0 {
		spec.Labels = map[string]string{RunLabel: run.ID}
	}
	return k8sevent.New(spec)
}
