// Package killswitch is the one object that stops every chaosnight
// injection: a ConfigMap in the runner's namespace. `chaosnight pause` sets
// it, `chaosnight resume` clears it; the guard refuses new injections while
// it is engaged and Abort cancels runs in flight, which then revert.
package killswitch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// DefaultName is the ConfigMap's name.
const DefaultName = "chaosnight-kill-switch"

// Keys of the ConfigMap's data.
const (
	keyEngaged = "engaged"
	keyReason  = "reason"
	keyBy      = "by"
	keySince   = "since"
)

// ErrEngaged is the cause of a context cancelled by the kill switch.
var ErrEngaged = errors.New("kill switch engaged")

// State is the kill switch's state.
type State struct {
	Engaged bool      `json:"engaged"`
	Reason  string    `json:"reason,omitempty"`
	By      string    `json:"by,omitempty"`
	Since   time.Time `json:"since,omitempty"`
}

// Switch reads and sets the kill switch.
type Switch struct {
	Client    kubernetes.Interface
	Namespace string
	Name      string // default DefaultName
}

func (s *Switch) name() string {
	if s.Name == "" {
		return DefaultName
	}
	return s.Name
}

// Get reads the state. A missing ConfigMap means "not engaged"; any other
// error is returned, and callers must treat it as "do not inject".
func (s *Switch) Get(ctx context.Context) (State, error) {
	cm, err := s.Client.CoreV1().ConfigMaps(s.Namespace).Get(ctx, s.name(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("reading the kill switch configmap/%s in namespace %s: %w", s.name(), s.Namespace, err)
	}
	return stateOf(cm), nil
}

// Engaged implements inject.KillSwitch.
func (s *Switch) Engaged(ctx context.Context) (bool, string, error) {
	st, err := s.Get(ctx)
	if err != nil {
		return false, "", err
	}
	return st.Engaged, describe(st), nil
}

func describe(st State) string {
	out := "paused"
	if st.By != "" {
		out += " by " + st.By
	}
	if !st.Since.IsZero() {
		out += " at " + st.Since.UTC().Format(time.RFC3339)
	}
	if st.Reason != "" {
		out += ": " + st.Reason
	}
	return out
}

// Set engages (engaged=true) or releases the switch, creating the ConfigMap
// when it does not exist.
func (s *Switch) Set(ctx context.Context, st State) error {
	data := map[string]string{keyEngaged: strconv.FormatBool(st.Engaged), keyReason: st.Reason, keyBy: st.By}
	if !st.Since.IsZero() {
		data[keySince] = st.Since.UTC().Format(time.RFC3339)
	}
	cms := s.Client.CoreV1().ConfigMaps(s.Namespace)
	cm, err := cms.Get(ctx, s.name(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = cms.Create(ctx, &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: s.name(), Namespace: s.Namespace,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "chaosnight"}},
			Data: data,
		}, metav1.CreateOptions{})
	case err == nil:
		cm.Data = data
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("setting the kill switch configmap/%s in namespace %s: %w", s.name(), s.Namespace, err)
	}
	return nil
}

// Abort returns a context that is cancelled, with cause ErrEngaged, as soon
// as the switch is seen engaged, so a run in flight aborts and reverts.
// It watches the ConfigMap (a watch on that one name: RBAC can allow it by
// resourceNames), so a pause is seen within a round trip; it also reads it
// every safetyPoll while the watch is up (a watch can stall without an
// error), and every interval when the watch cannot be had (no watch right,
// an API server refusing it), as before. onChange, when set, gets every
// state seen. A read error does not cancel: the guard refuses new
// injections on errors, and a flapping API server should not abort runs
// that are already being watched by their probes.
func (s *Switch) Abort(ctx context.Context, interval time.Duration, onChange func(State)) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go s.follow(ctx, cancel, interval, onChange)
	return ctx, func() { cancel(context.Canceled) }
}

// safetyPoll is how often Abort reads the switch while its watch is up.
const safetyPoll = 10 * time.Second

// follow is Abort's loop: it returns when ctx ends or the switch engages.
func (s *Switch) follow(ctx context.Context, cancel context.CancelCauseFunc, interval time.Duration, onChange func(State)) {
	var last *State
	// seen handles a state; it reports whether the switch is engaged.
	seen := func(st State) bool {
		if last == nil || *last != st {
			if onChange != nil {
				onChange(st)
			}
			last = &st
		}
		if st.Engaged {
			cancel(fmt.Errorf("%w: %s", ErrEngaged, describe(st)))
		}
		return st.Engaged
	}
	// read is the poll: a read error changes nothing.
	read := func() (rv string, engaged bool) {
		cm, err := s.Client.CoreV1().ConfigMaps(s.Namespace).Get(ctx, s.name(), metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return "", seen(State{})
		case err != nil:
			return "", false
		}
		return cm.ResourceVersion, seen(stateOf(cm))
	}
	rv, engaged := read()
	if engaged {
		return
	}
	watching := true
	for ctx.Err() == nil {
		var events <-chan watch.Event
		var w watch.Interface
		opened := time.Now()
		if watching {
			var err error
			w, err = s.Client.CoreV1().ConfigMaps(s.Namespace).Watch(ctx, metav1.ListOptions{
				FieldSelector:   fields.OneTermEqualSelector("metadata.name", s.name()).String(),
				ResourceVersion: rv,
			})
			switch {
			case apierrors.IsForbidden(err), apierrors.IsMethodNotSupported(err):
				watching = false // for good: poll at interval from now on
			case err != nil:
				// Try again after a poll period (a resourceVersion too old, a
				// transient error): the polls cover the gap.
			default:
				events = w.ResultChan()
			}
		}
		poll := interval
		if events != nil {
			poll = safetyPoll
		}
		timer := time.NewTimer(poll)
	inner:
		for {
			select {
			case <-ctx.Done():
				break inner
			case ev, ok := <-events:
				if !ok {
					if time.Since(opened) < time.Second {
						// Ended at once (a proxy that cannot stream, say):
						// poll at interval before trying again, rather
						// than reopen in a tight loop.
						events = nil
						timer.Reset(interval)
						continue
					}
					break inner // the server ended the watch: reopen it
				}
				switch ev.Type {
				case watch.Added, watch.Modified:
					// The name check matters only where the field selector
					// is not applied (a fake clientset).
					if cm, ok := ev.Object.(*corev1.ConfigMap); ok && cm.Name == s.name() {
						rv = cm.ResourceVersion
						if seen(stateOf(cm)) {
							break inner
						}
					}
				case watch.Deleted:
					if cm, ok := ev.Object.(*corev1.ConfigMap); ok && cm.Name == s.name() {
						rv = ""
						seen(State{})
					}
				case watch.Error:
					rv = "" // e.g. resourceVersion too old: reopen from now
					break inner
				}
			case <-timer.C:
				var engaged bool
				if rv, engaged = read(); engaged {
					break inner
				}
				if events == nil {
					break inner // no watch yet: try to open one again
				}
				timer.Reset(poll)
			}
		}
		timer.Stop()
		if w != nil {
			w.Stop()
		}
		if last != nil && last.Engaged {
			return
		}
	}
}

// stateOf reads the state from the ConfigMap.
func stateOf(cm *corev1.ConfigMap) State {
	engaged, _ := strconv.ParseBool(cm.Data[keyEngaged])
	st := State{Engaged: engaged, Reason: cm.Data[keyReason], By: cm.Data[keyBy]}
	if t, err := time.Parse(time.RFC3339, cm.Data[keySince]); err == nil {
		st.Since = t
	}
	return st
}
