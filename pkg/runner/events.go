package runner

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/engine"
	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/k8sevent"
)

// Events writes a Kubernetes Event for every run start and verdict on one
// object — the runner's own Pod when it runs in the cluster, else its
// leader Lease — so `kubectl describe` and event exporters show the night.
type Events struct {
	Client    kubernetes.Interface
	Object    corev1.ObjectReference
	Component string
	Log       *slog.Logger
	Now       func() time.Time
}

// RunStarted implements Notifier.
func (e *Events) RunStarted(ctx context.Context, exp *experiment.Experiment, runID, night string) {
	e.emit(ctx, corev1.EventTypeNormal, "ExperimentStarted",
		fmt.Sprintf("night %s: experiment %q started, run %s", night, exp.Metadata.Name, runID))
}

// RunEnded implements Notifier.
func (e *Events) RunEnded(ctx context.Context, rec *journal.Record, _ string) {
	typ := corev1.EventTypeNormal
	// The exit code a `run` would have: a failed revert warns whatever
	// the verdict.
	if engine.ExitCodeOf(rec) != 0 {
		typ = corev1.EventTypeWarning
	}
	msg := fmt.Sprintf("experiment %q, run %s: %s", rec.Experiment.Metadata.Name, rec.RunID, rec.Verdict)
	if rec.RevertFailed() {
		msg += fmt.Sprintf(" (revert failed: %d thing(s) still in effect, see the journal)", len(rec.Leftovers))
	}
	if len(rec.Reasons) > 0 {
		msg += ": " + strings.Join(rec.Reasons, "; ")
	}
	e.emit(ctx, typ, "Experiment"+rec.Verdict.Word(), msg)
}

func (e *Events) emit(ctx context.Context, typ, reason, msg string) {
	now := time.Now()
	if e.Now != nil {
		now = e.Now()
	}
	// k8sevent caps the message at the API server's 1 KiB, on a
	// character boundary.
	ev := k8sevent.New(k8sevent.Spec{Object: e.Object, Type: typ, Reason: reason, Message: msg, Component: e.Component, At: now})
	if err := k8sevent.Create(ctx, e.Client, ev, VerdictWriteTimeout); err != nil && e.Log != nil {
		e.Log.Warn("cannot write an event", "reason", reason, "error", err)
	}
}
