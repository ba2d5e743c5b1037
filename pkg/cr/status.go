package cr

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/chaosnight/chaosnight/pkg/crd"
	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/journal"
)

// Field managers of the status. Each writer applies (server-side apply)
// only the fields it owns, so that the validation, the runs and the
// schedule never overwrite each other's conditions (the conditions list
// is a map keyed by type), and a run recorded by `chaosnight run` and one
// recorded by serve own the same fields under the same manager.
const (
	ManagerValidate = "chaosnight-validate" // observedGeneration, Valid
	ManagerRun      = "chaosnight-run"      // lastRun, Running, Held
	ManagerSchedule = "chaosnight-schedule" // nextRun; a night's nextOpens and lastWindow
)

// statusTimeout bounds one status write: status is a report, and a slow
// API server must not hold up a decision of the runner.
const statusTimeout = 10 * time.Second

// StatusWriter writes the status of Experiment and ChaosNight objects,
// through the status subresource only.
type StatusWriter struct {
	Client dynamic.Interface
	// ExternalURL is the runner's page as users reach it; lastRun.reportURL
	// is ExternalURL/runs/ID (empty: no reportURL).
	ExternalURL string
	Now         func() time.Time
}

func (w *StatusWriter) now() time.Time {
	if w.Now != nil {
		return w.Now()
	}
	return time.Now()
}

// apply server-side-applies status as manager. The object's UID is part
// of the patch: the API server refuses it (409) if the object was deleted
// and recreated under the same name since it was read, so a run of the
// old object is never written into the new one.
func (w *StatusWriter) apply(ctx context.Context, gvr schema.GroupVersionResource, kind string, ref experiment.ObjectRef, manager string, status any) error {
	// Through JSON: the status types' tags are the schema's names.
	var st map[string]any
	data, err := json.Marshal(status)
	if err == nil {
		err = json.Unmarshal(data, &st)
	}
	if err != nil {
		return fmt.Errorf("encoding the status of %s: %w", Describe(kind, ref.Namespace, ref.Name), err)
	}
	md := map[string]any{"name": ref.Name, "namespace": ref.Namespace}
	if ref.UID != "" {
		md["uid"] = ref.UID
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": crd.Group + "/" + crd.Version,
		"kind":       kind,
		"metadata":   md,
		"status":     st,
	}}
	ctx, cancel := context.WithTimeout(ctx, statusTimeout)
	defer cancel()
	_, err = w.Client.Resource(gvr).Namespace(ref.Namespace).ApplyStatus(ctx, ref.Name, obj,
		metav1.ApplyOptions{FieldManager: manager, Force: true})
	if err != nil {
		return fmt.Errorf("writing the status of %s: %w", Describe(kind, ref.Namespace, ref.Name), err)
	}
	return nil
}

// validCondition is the Valid condition of problems at generation.
func validCondition(problems experiment.Problems, generation int64, now time.Time) metav1.Condition {
	c := metav1.Condition{Type: crd.ConditionValid, Status: metav1.ConditionTrue, Reason: crd.ReasonValid,
		Message: "the runner accepted the spec", ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(now)}
	if len(problems) > 0 {
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, crd.ReasonInvalid, Message(problems)
	}
	return c
}

// SetValid writes the Valid condition of u (an Experiment or a ChaosNight
// as the watch last saw it) when it differs from what its status says:
// at most one write per change of the spec or of its validity.
func (w *StatusWriter) SetValid(ctx context.Context, gvr schema.GroupVersionResource, u *unstructured.Unstructured, problems experiment.Problems) error {
	want := validCondition(problems, u.GetGeneration(), w.now())
	conds := conditionsOf(u)
	if have := meta.FindStatusCondition(conds, crd.ConditionValid); have != nil {
		if have.Status == want.Status && have.Reason == want.Reason && have.Message == want.Message &&
			have.ObservedGeneration == want.ObservedGeneration && observedGeneration(u) == want.ObservedGeneration {
			return nil
		}
		if have.Status == want.Status {
			want.LastTransitionTime = have.LastTransitionTime // not a transition
		}
	}
	status := validStatus{ObservedGeneration: u.GetGeneration(), Conditions: []metav1.Condition{want}}
	return w.apply(ctx, gvr, u.GetKind(), Ref(u), ManagerValidate, status)
}

// validStatus is the part of either kind's status the validation owns.
type validStatus struct {
	ObservedGeneration int64              `json:"observedGeneration"`
	Conditions         []metav1.Condition `json:"conditions"`
}

// RunStarted records a run in flight: Running=True, Held=Unknown (so that
// `kubectl wait --for=condition=Held` waits for this run, not a stale
// one), lastRun with the run's id.
func (w *StatusWriter) RunStarted(ctx context.Context, ref experiment.ObjectRef, runID, night string) error {
	now := metav1.NewTime(w.now())
	msg := "run " + runID
	if night != "" {
		msg += " (night " + night + ")"
	}
	status := crd.ExperimentStatus{
		Conditions: []metav1.Condition{
			{Type: crd.ConditionRunning, Status: metav1.ConditionTrue, Reason: crd.ReasonRunning, Message: msg, ObservedGeneration: ref.Generation, LastTransitionTime: now},
			{Type: crd.ConditionHeld, Status: metav1.ConditionUnknown, Reason: crd.ReasonRunning, Message: msg + " in flight", ObservedGeneration: ref.Generation, LastTransitionTime: now},
		},
		LastRun: &crd.LastRun{ID: runID, Verdict: string(journal.Running), Started: &now, ReportURL: w.reportURL(runID)},
	}
	return w.apply(ctx, ExperimentGVR, crd.ExperimentKind, ref, ManagerRun, status)
}

// RunEnded records a finished run from its journal: lastRun, Running=False
// and Held, each with the verdict as reason.
func (w *StatusWriter) RunEnded(ctx context.Context, ref experiment.ObjectRef, rec *journal.Record, journalRef string) error {
	now := metav1.NewTime(w.now())
	reason := rec.Verdict.Word()
	msg := strings.Join(rec.Reasons, "; ")
	if msg == "" {
		msg = string(rec.Verdict)
	}
	held := metav1.Condition{Type: crd.ConditionHeld, Status: metav1.ConditionFalse, Reason: reason, Message: msg, ObservedGeneration: ref.Generation, LastTransitionTime: now}
	if rec.Verdict == journal.Held {
		held.Status = metav1.ConditionTrue
	}
	status := crd.ExperimentStatus{
		Conditions: []metav1.Condition{
			{Type: crd.ConditionRunning, Status: metav1.ConditionFalse, Reason: reason, Message: "run " + rec.RunID + " ended: " + string(rec.Verdict), ObservedGeneration: ref.Generation, LastTransitionTime: now},
			held,
		},
		LastRun: LastRunOf(rec, journalRef, w.reportURL(rec.RunID)),
	}
	return w.apply(ctx, ExperimentGVR, crd.ExperimentKind, ref, ManagerRun, status)
}

func (w *StatusWriter) reportURL(runID string) string {
	if w.ExternalURL == "" {
		return ""
	}
	return strings.TrimSuffix(w.ExternalURL, "/") + "/runs/" + runID
}

// LastRunOf is status.lastRun of a journal record: every figure in it is
// the journal's.
func LastRunOf(rec *journal.Record, journalRef, reportURL string) *crd.LastRun {
	lr := &crd.LastRun{ID: rec.RunID, Verdict: string(rec.Verdict), Reasons: rec.Reasons, Journal: journalRef, ReportURL: reportURL,
		TTRSeconds: rec.TimeToRecoverSeconds}
	if !rec.Started.IsZero() {
		lr.Started = ptr(metav1.NewTime(rec.Started))
	}
	if !rec.Ended.IsZero() {
		lr.Finished = ptr(metav1.NewTime(rec.Ended))
	}
	if touched, _, ok := rec.Injected(); ok {
		lr.Targets = &touched
	}
	// The time to detect is the first expected alert's: the monitoring
	// detected the fault when any of them fired.
	for _, d := range rec.Detections {
		if d.TimeToDetectSeconds != nil && (lr.TTDSeconds == nil || *d.TimeToDetectSeconds < *lr.TTDSeconds) {
			lr.TTDSeconds = d.TimeToDetectSeconds
		}
	}
	return lr
}

// SetNextRun writes an Experiment's nextRun when it differs (nil removes
// it: no night selects the experiment).
func (w *StatusWriter) SetNextRun(ctx context.Context, u *unstructured.Unstructured, next *time.Time) error {
	have, _, _ := unstructured.NestedString(u.Object, "status", "nextRun")
	want := formatTime(next)
	if have == want {
		return nil
	}
	status := crd.ExperimentStatus{}
	if next != nil {
		status.NextRun = ptr(metav1.NewTime(*next))
	}
	return w.apply(ctx, ExperimentGVR, crd.ExperimentKind, Ref(u), ManagerSchedule, status)
}

// SetNight writes a ChaosNight's schedule status (nextOpens and the last
// window).
func (w *StatusWriter) SetNight(ctx context.Context, ref experiment.ObjectRef, status crd.ChaosNightStatus) error {
	return w.apply(ctx, NightGVR, crd.ChaosNightKind, ref, ManagerSchedule, status)
}

func formatTime(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Truncate(time.Second).Format(time.RFC3339)
}

// conditionsOf reads status.conditions of an object as the watch saw it.
func conditionsOf(u *unstructured.Unstructured) []metav1.Condition {
	raw, found, err := unstructured.NestedSlice(u.Object, "status", "conditions")
	if !found || err != nil {
		return nil
	}
	var out []metav1.Condition
	for _, item := range raw {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		var c metav1.Condition
		if runtime.DefaultUnstructuredConverter.FromUnstructured(m, &c) == nil {
			out = append(out, c)
		}
	}
	return out
}

func observedGeneration(u *unstructured.Unstructured) int64 {
	g, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	return g
}

func ptr[T any](v T) *T { return &v }
