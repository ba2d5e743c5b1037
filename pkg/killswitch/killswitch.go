// Package killswitch is the one object that stops every chaosnight
// injection: a ConfigMap in one configured namespace (killSwitch.namespace,
// default DefaultNamespace), read by every runner and every `run` whatever
// their kubeconfig context. `chaosnight pause` sets it, `chaosnight resume`
// clears it; the guard refuses new injections while it is engaged and Abort
// cancels runs in flight, which then revert.
//
// Unknown is never "go": a ConfigMap with data whose engaged key is missing
// or holds anything but "true" or "false" counts as engaged (Get reports
// why in State.Unclear), and a switch that cannot be read refuses new
// injections and, once unreadable for longer than Switch.MaxUnreadable,
// aborts runs in flight. A missing ConfigMap, or one with no data at all
// (the chart's placeholder), is a switch that was never pulled: released.
package killswitch

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"
)

// DefaultName is the ConfigMap's name.
const DefaultName = "chaosnight-kill-switch"

// DefaultNamespace is where the switch lives unless killSwitch.namespace
// says otherwise (the chart sets it to its release namespace).
const DefaultNamespace = "chaosnight"

// DefaultMaxUnreadable is how long a run in flight goes on while the switch
// cannot be read. A run is watched by its probes and every new injection
// re-reads the switch (and is refused while it cannot), so one failed read
// (an API server restarting, a dropped connection) must not abort it; but a
// pause made while the switch cannot be read must not go unseen for long.
const DefaultMaxUnreadable = 30 * time.Second

// Keys of the ConfigMap's data.
const (
	keyEngaged = "engaged"
	keyReason  = "reason"
	keyBy      = "by"
	keySince   = "since"
)

// ErrEngaged is the cause of a context cancelled by the kill switch,
// engaged or unclear (errors.Is also holds for ErrUnreadable's causes).
var ErrEngaged = errors.New("kill switch engaged")

// ErrUnreadable is the cause of a context cancelled because the switch
// could not be read for longer than Switch.MaxUnreadable. It wraps
// ErrEngaged: an unreadable switch counts as engaged.
var ErrUnreadable = fmt.Errorf("%w: it cannot be read", ErrEngaged)

// State is the kill switch's state.
type State struct {
	Engaged bool      `json:"engaged"`
	Reason  string    `json:"reason,omitempty"`
	By      string    `json:"by,omitempty"`
	Since   time.Time `json:"since,omitempty"`
	// Unclear says why the switch counts as engaged although nobody engaged
	// it in so many words: the ConfigMap has no engaged key, or a value that
	// is not exactly "true" or "false" ("yes", "1", garbage). Empty when the
	// switch was understood.
	Unclear string `json:"unclear,omitempty"`
}

// Switch reads and sets the kill switch.
type Switch struct {
	Client    kubernetes.Interface
	Namespace string
	Name      string // default DefaultName
	// MaxUnreadable is how long Abort lets a run go on while the switch
	// cannot be read before it cancels it (cause ErrUnreadable); default
	// DefaultMaxUnreadable.
	MaxUnreadable time.Duration
}

func (s *Switch) maxUnreadable() time.Duration {
	if s.MaxUnreadable > 0 {
		return s.MaxUnreadable
	}
	return DefaultMaxUnreadable
}

// Ref names the switch for messages: "configmap/NAME in namespace NS".
func (s *Switch) Ref() string {
	return fmt.Sprintf("configmap/%s in namespace %s", s.name(), s.Namespace)
}

func (s *Switch) name() string {
	if s.Name == "" {
		return DefaultName
	}
	return s.Name
}

// Get reads the state. A missing ConfigMap means "not engaged" (it was
// never pulled); a ConfigMap that is not understood is engaged, with
// State.Unclear saying why. Any other error is returned, and callers must
// treat it as engaged: "do not inject".
func (s *Switch) Get(ctx context.Context) (State, error) {
	cm, err := s.Client.CoreV1().ConfigMaps(s.Namespace).Get(ctx, s.name(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return State{}, nil
	}
	if err != nil {
		return State{}, fmt.Errorf("reading the kill switch %s: %w", s.Ref(), err)
	}
	return StateOf(cm), nil
}

// Engaged implements inject.KillSwitch.
func (s *Switch) Engaged(ctx context.Context) (bool, string, error) {
	st, err := s.Get(ctx)
	if err != nil {
		return false, "", err
	}
	return st.Engaged, Describe(st), nil
}

// Describe renders an engaged state for refusals, logs and status:
// "paused by alice at 2026-11-23T22:00:00Z: incident INC-7", or why an
// unclear switch counts as engaged.
func Describe(st State) string {
	if st.Unclear != "" {
		return "counted as engaged because its value is not understood: " + st.Unclear
	}
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
// when it does not exist. Two people pulling the switch at once (or a pause
// racing a resume) meet as a conflict, or as an AlreadyExists when both
// create it: Set reads again and retries (retry.RetryOnConflict), so the
// last writer wins and nobody gets a spurious error.
func (s *Switch) Set(ctx context.Context, st State) error {
	data := map[string]string{keyEngaged: strconv.FormatBool(st.Engaged), keyReason: st.Reason, keyBy: st.By}
	if !st.Since.IsZero() {
		data[keySince] = st.Since.UTC().Format(time.RFC3339)
	}
	cms := s.Client.CoreV1().ConfigMaps(s.Namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cm, err := cms.Get(ctx, s.name(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			_, err = cms.Create(ctx, &corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Name: s.name(), Namespace: s.Namespace,
					Labels: map[string]string{"app.kubernetes.io/managed-by": "chaosnight"}},
				Data: data,
			}, metav1.CreateOptions{})
			if !apierrors.IsAlreadyExists(err) {
				return err
			}
			// Created by someone else since the Get: write over theirs
			// (an update, which is where a conflict is retried).
			cm, err = cms.Get(ctx, s.name(), metav1.GetOptions{})
		}
		if err != nil {
			return err
		}
		cm.Data = data
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("setting the kill switch %s: %w", s.Ref(), err)
	}
	return nil
}

// Abort returns a context that is cancelled, with cause ErrEngaged, as soon
// as the switch is seen engaged, so a run in flight aborts and reverts.
// It watches the ConfigMap (a watch on that one name: RBAC can allow it by
// resourceNames), so a pause is seen within a round trip; it also reads it
// every safetyPoll while the watch holds (a watch can stall without an
// error), and every interval when the watch cannot be had (no watch right,
// an API server refusing it or a proxy ending it at once), as before.
// onChange, when set, gets every state seen. A switch that is engaged or
// unclear cancels at once. A read error does not cancel at once (a
// flapping API server should not abort runs that are already being watched
// by their probes, and the guard refuses every new injection while the
// switch cannot be read), but a switch that stays unreadable for longer
// than MaxUnreadable cancels with cause ErrUnreadable: a pause must not go
// unseen for long.
func (s *Switch) Abort(ctx context.Context, interval time.Duration, onChange func(State)) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go s.follow(ctx, cancel, interval, onChange)
	return ctx, func() { cancel(context.Canceled) }
}

// safetyPoll is how often Abort reads the switch while its watch holds.
const safetyPoll = 10 * time.Second

// fromNow is the resourceVersion given to the RetryWatcher when the switch
// has none to start from (it does not exist, or could not be read).
// RetryWatcher refuses to start without one, and the runner may not list
// to get one (the chart grants get and watch on the switch by name), so
// switchWatcher turns it into an unset resourceVersion: the API server then
// first sends the switch as it is, if it exists, and RetryWatcher goes on
// from the versions its events and bookmarks bring.
const fromNow = "chaosnight-from-now"

// switchWatcher opens the watches RetryWatcher asks for, on the switch's
// name only. It records when the latest was opened, so that follow can
// tell a watch that holds from one reopened over and over (an API server
// that keeps refusing it, a proxy that cannot stream: RetryWatcher retries
// those every second, silently) and poll at interval meanwhile.
type switchWatcher struct {
	s      *Switch
	opened atomic.Int64 // UnixNano of the latest open
}

func (w *switchWatcher) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	w.opened.Store(time.Now().UnixNano())
	if opts.ResourceVersion == fromNow {
		opts.ResourceVersion = ""
	}
	opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", w.s.name()).String()
	return w.s.Client.CoreV1().ConfigMaps(w.s.Namespace).Watch(ctx, opts)
}

// watchHolds is how long a watch must have stayed open before follow
// trusts it and reads only every safetyPoll: longer than RetryWatcher's
// one second between reopens.
const watchHolds = 3 * time.Second

func (w *switchWatcher) holds() bool {
	return time.Since(time.Unix(0, w.opened.Load())) >= watchHolds
}

// follower is the state of Abort's loop, shared by its steps (read, one
// watch round, one event), so that each step is a small named function
// instead of closures inside one long loop.
type follower struct {
	s        *Switch
	ctx      context.Context
	cancel   context.CancelCauseFunc
	interval time.Duration
	onChange func(State)

	// last is the latest state handed to onChange (nil before the first).
	last *State
	// unreadableSince is when the reads started failing (zero while the
	// switch can be read); readFailed is whether the last read failed, so
	// that the next one comes at interval, not at the watch's safetyPoll.
	unreadableSince time.Time
	readFailed      bool
	// rv is the resourceVersion of the latest read: a new watch starts
	// there ("" after a failed read or a missing ConfigMap: from now).
	rv string
	// watching turns false for good once the API server refuses the
	// watch (forbidden, unauthorized): from then on the loop only polls.
	watching bool
}

// follow is Abort's loop: it returns when ctx ends or the switch engages.
func (s *Switch) follow(ctx context.Context, cancel context.CancelCauseFunc, interval time.Duration, onChange func(State)) {
	f := &follower{s: s, ctx: ctx, cancel: cancel, interval: interval, onChange: onChange, watching: true}
	if f.read() {
		return
	}
	// RetryWatcher logs through klog, to stderr by default: an error line
	// for every forbidden watch, which is the documented fallback, not an
	// error. chaosnight says what matters in its own words.
	wctx := klog.NewContext(ctx, logr.Discard())
	var started time.Time // of the latest RetryWatcher
	for ctx.Err() == nil {
		if !started.IsZero() {
			// A RetryWatcher that ended (a resourceVersion too old) is
			// replaced from a fresh read, at most once a second.
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(started.Add(time.Second))):
			}
			if f.read() {
				return
			}
		}
		started = time.Now()
		f.watchRound(wctx)
		if f.last != nil && f.last.Engaged {
			return
		}
	}
}

// seen handles a state: onChange when it differs from the last one, and
// the cancel when it is engaged. It reports whether the switch is engaged.
func (f *follower) seen(st State) bool {
	if f.last == nil || *f.last != st {
		if f.onChange != nil {
			f.onChange(st)
		}
		f.last = &st
	}
	if st.Engaged {
		f.cancel(fmt.Errorf("%w: %s", ErrEngaged, Describe(st)))
	}
	return st.Engaged
}

// read is the poll. A missing ConfigMap is released (see StateOf). It
// reports whether the loop must end: the switch is engaged, or it has been
// unreadable too long (see unreadable).
func (f *follower) read() bool {
	cm, err := f.s.Client.CoreV1().ConfigMaps(f.s.Namespace).Get(f.ctx, f.s.name(), metav1.GetOptions{})
	f.readFailed = err != nil && !apierrors.IsNotFound(err)
	switch {
	case apierrors.IsNotFound(err):
		f.unreadableSince, f.rv = time.Time{}, ""
		return f.seen(State{})
	case err != nil:
		f.rv = ""
		return f.unreadable(err)
	}
	f.unreadableSince, f.rv = time.Time{}, cm.ResourceVersion
	return f.seen(StateOf(cm))
}

// unreadable counts a failed read. It cancels only once the switch has
// been unreadable for longer than maxUnreadable (a single API hiccup does
// not abort a run), and then reports true: unknown is never "go".
func (f *follower) unreadable(err error) bool {
	if f.ctx.Err() != nil {
		return false
	}
	now := time.Now()
	if f.unreadableSince.IsZero() {
		f.unreadableSince = now
	}
	d := now.Sub(f.unreadableSince)
	if d < f.s.maxUnreadable() {
		return false
	}
	f.cancel(fmt.Errorf("%w for %s (more than %s): %s: %v", ErrUnreadable, d.Round(time.Second), f.s.maxUnreadable(), f.s.Ref(), err))
	return true
}

// switchWatch is one watch round's watcher; events is nil when there is
// none (the watch was refused for good), and then the round only polls.
type switchWatch struct {
	events <-chan watch.Event
	rw     *watchtools.RetryWatcher
	sw     *switchWatcher
}

func (w *switchWatch) stop() {
	if w.rw != nil {
		w.rw.Stop()
	}
}

// startWatch opens a RetryWatcher from the latest read's resourceVersion,
// unless the watch was refused for good.
func (f *follower) startWatch(wctx context.Context) *switchWatch {
	w := &switchWatch{}
	if !f.watching {
		return w
	}
	w.sw = &switchWatcher{s: f.s}
	w.sw.opened.Store(time.Now().UnixNano()) // not trusted before its first open
	from := f.rv
	if from == "" || from == "0" {
		from = fromNow
	}
	// The error is only for an empty or "0" resourceVersion, never given;
	// without a watcher the round polls.
	if rw, err := watchtools.NewRetryWatcherWithContext(wctx, from, w.sw); err == nil {
		w.rw, w.events = rw, rw.ResultChan()
	}
	return w
}

// pollAfter is the next poll's delay: at interval when there is no watch,
// it does not hold or the last read failed (to see the switch come back,
// or stay unreadable, promptly), else the watch's safety poll.
func (f *follower) pollAfter(w *switchWatch) time.Duration {
	if w.events != nil && w.sw.holds() && !f.readFailed {
		return safetyPoll
	}
	return f.interval
}

// watchRound follows the switch through one RetryWatcher, polling beside
// it, until ctx ends, the switch engages or is unreadable too long, or the
// watcher ends while watching is still allowed (follow then starts a new
// one from a fresh read). A watcher that ends after a refusal leaves the
// round polling for good.
func (f *follower) watchRound(wctx context.Context) {
	w := f.startWatch(wctx)
	defer w.stop()
	timer := time.NewTimer(f.pollAfter(w))
	defer timer.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case ev, ok := <-w.events:
			if !ok {
				// RetryWatcher gave up (after the error event that
				// handleEvent saw): start a new one, or poll for good if
				// refused.
				w.events = nil
				if f.watching {
					return
				}
				timer.Reset(f.interval)
				continue
			}
			if f.handleEvent(ev) {
				return
			}
		case <-timer.C:
			if f.read() {
				return
			}
			timer.Reset(f.pollAfter(w))
		}
	}
}

// handleEvent handles one watch event; it reports whether the switch
// engaged.
func (f *follower) handleEvent(ev watch.Event) bool {
	switch ev.Type {
	case watch.Added, watch.Modified:
		// The name check matters only where the field selector is not
		// applied (a fake clientset).
		if cm, ok := ev.Object.(*corev1.ConfigMap); ok && cm.Name == f.s.name() {
			f.unreadableSince, f.readFailed = time.Time{}, false
			return f.seen(StateOf(cm))
		}
	case watch.Deleted:
		if cm, ok := ev.Object.(*corev1.ConfigMap); ok && cm.Name == f.s.name() {
			f.seen(State{})
		}
	case watch.Error:
		// RetryWatcher retries what can be retried and ends after the
		// others: a refusal (poll for good), a resourceVersion too old
		// (start again from a read).
		if err := apierrors.FromObject(ev.Object); apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
			f.watching = false
		}
	}
	return false
}

// StateOf reads the state from the switch's ConfigMap. Only "true" and
// "false" (surrounding spaces aside: a value written from a file ends with
// a newline) are understood; anything else, or no engaged key at all, is
// engaged with Unclear saying why: a switch someone meant to pull with
// "yes" or "on" must stop chaos, not be ignored.
//
// A ConfigMap with no data at all is released, like a missing one: it is
// the placeholder the Helm chart creates (so that uninstalling removes it)
// and must not pause a fresh install; nobody has written anything in it.
func StateOf(cm *corev1.ConfigMap) State {
	if len(cm.Data) == 0 && len(cm.BinaryData) == 0 {
		return State{}
	}
	st := State{Reason: cm.Data[keyReason], By: cm.Data[keyBy]}
	if t, err := time.Parse(time.RFC3339, cm.Data[keySince]); err == nil {
		st.Since = t
	}
	where := fmt.Sprintf("configmap/%s in namespace %s", cm.Name, cm.Namespace)
	v, ok := cm.Data[keyEngaged]
	switch strings.TrimSpace(v) {
	case "true":
		st.Engaged = true
	case "false":
	default:
		st.Engaged = true
		if !ok {
			st.Unclear = fmt.Sprintf("%s has no %q key (set it to true or false, or use chaosnight pause / resume)", where, keyEngaged)
		} else {
			st.Unclear = fmt.Sprintf("%s has %s=%q (only true or false is understood; use chaosnight pause / resume)", where, keyEngaged, v)
		}
	}
	return st
}
