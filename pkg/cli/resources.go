package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	"github.com/chaosnight/chaosnight/pkg/cr"
	"github.com/chaosnight/chaosnight/pkg/crd"
	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/runner"
)

// Keys of the custom-resource source (docs/kubernetes-native.md).
const (
	keyCREnabled    = "customResources.enabled"
	keyCRNamespaces = "customResources.namespaces"
	keyExternalURL  = "externalURL"
)

// resourcePrefixes are the ways kubectl users name an Experiment.
var resourcePrefixes = []string{"experiment/", "experiments/", "cnexp/", "experiment.chaosnight.dev/", "experiments.chaosnight.dev/"}

// resourceName returns NAME when arg names an Experiment object
// (experiment/NAME), as kubectl spells it. A file wins: `run
// experiments/kill.yaml` (the examples' own directory) is the file, and so
// is any path that exists or ends in .yaml or .yml (an Experiment's name
// is a DNS label: it holds no dot).
func resourceName(arg string) (string, bool) {
	if ext := strings.ToLower(filepath.Ext(arg)); ext == ".yaml" || ext == ".yml" {
		return "", false
	}
	if _, err := os.Stat(arg); err == nil {
		return "", false
	}
	for _, p := range resourcePrefixes {
		if name, ok := strings.CutPrefix(arg, p); ok {
			return name, true
		}
	}
	return "", false
}

// crSource is the cluster source of serve: the watches, the status
// writer, and the runner to abort when an Experiment in flight is
// deleted (set once the runner exists; the watch may fire before).
type crSource struct {
	src    *cr.Source
	status *cr.StatusWriter
	log    *slog.Logger
	runner atomic.Pointer[runner.Runner]
}

// startResources starts the watches of serve's custom-resource source
// when customResources.enabled; nil when it is not.
func (g *globals) startResources(ctx context.Context, conn *connection) (*crSource, error) {
	if !g.v.GetBool(keyCREnabled) {
		return nil, nil
	}
	dc, err := dynamic.NewForConfig(conn.rest)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	s := &crSource{status: &cr.StatusWriter{Client: dc, ExternalURL: g.v.GetString(keyExternalURL)}, log: g.log}
	s.src = cr.NewSource(cr.SourceConfig{
		Client: dc, Namespaces: g.stringList(keyCRNamespaces), Kinds: g.faults.Formats(), Status: s.status, Log: g.log,
		OnExperimentDeleted: func(ref experiment.ObjectRef) {
			if r := s.runner.Load(); r != nil {
				r.AbortExperiment(ref, &DeletedError{Ref: ref})
			}
		},
	})
	if err := s.src.Start(ctx); err != nil {
		return nil, err
	}
	g.log.Info("watching custom resources", "namespaces", g.stringList(keyCRNamespaces))
	return s, nil
}

// DeletedError is the cause of a run aborted because its Experiment was
// deleted.
type DeletedError struct{ Ref experiment.ObjectRef }

func (e *DeletedError) Error() string {
	return cr.Describe(crd.ExperimentKind, e.Ref.Namespace, e.Ref.Name) + " was deleted"
}

// merge adds the cluster's valid experiments and nights to the files'
// setup; a name the files use wins over an object's.
func (s *crSource) merge(ctx context.Context, setup runner.Setup, now time.Time) runner.Setup {
	taken := cr.Taken{Experiments: map[string]string{}, Nights: map[string]string{}}
	for _, e := range setup.Experiments {
		taken.Experiments[e.Metadata.Name] = e.Source.File
	}
	for _, n := range setup.Nights {
		taken.Nights[n.Name] = "the configuration file"
	}
	snap := s.src.Snapshot(ctx, now, taken)
	setup.Experiments = append(setup.Experiments, snap.Experiments...)
	setup.Nights = append(setup.Nights, snap.Nights...)
	setup.Fingerprint += "+" + snap.Fingerprint
	s.src.Publish(ctx, setup.Nights, setup.Experiments, now)
	return setup
}

// RunStarted implements runner.Notifier: Running=True on the object.
func (s *crSource) RunStarted(ctx context.Context, e *experiment.Experiment, runID, night string) {
	if e.Source.Object == nil {
		return
	}
	if err := s.status.RunStarted(ctx, *e.Source.Object, runID, night); err != nil && !apierrors.IsNotFound(err) {
		s.log.Warn("cannot record the run in the experiment's status", "error", err)
	}
}

// RunEnded implements runner.Notifier: the verdict into the status.
func (s *crSource) RunEnded(ctx context.Context, rec *journal.Record, journalPath string) {
	if rec.Experiment.Source.Object == nil {
		return
	}
	if err := s.status.RunEnded(ctx, *rec.Experiment.Source.Object, rec, journalPath); err != nil && !apierrors.IsNotFound(err) {
		s.log.Warn("cannot record the verdict in the experiment's status", "error", err)
	}
}

// WindowChanged implements runner.WindowNotifier: a ChaosNight's
// lastWindow.
func (s *crSource) WindowChanged(ctx context.Context, w runner.WindowReport) {
	lw := crd.LastWindow{Opened: ptrTime(w.Opens), Played: &w.Played, Planned: w.Planned}
	if w.Closed {
		lw.Closed = ptrTime(w.Closes)
	}
	s.src.Window(ctx, w.Night, lw)
}

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}

// notifiers fans a runner's notifications out (Events and status).
type notifiers []runner.Notifier

func (ns notifiers) RunStarted(ctx context.Context, e *experiment.Experiment, runID, night string) {
	for _, n := range ns {
		n.RunStarted(ctx, e, runID, night)
	}
}

func (ns notifiers) RunEnded(ctx context.Context, rec *journal.Record, journalPath string) {
	for _, n := range ns {
		n.RunEnded(ctx, rec, journalPath)
	}
}

func (ns notifiers) WindowChanged(ctx context.Context, w runner.WindowReport) {
	for _, n := range ns {
		if wn, ok := n.(runner.WindowNotifier); ok {
			wn.WindowChanged(ctx, w)
		}
	}
}

// ResourceError says an Experiment object cannot be run: missing,
// unreadable or invalid.
type ResourceError struct {
	Object   string
	Problems experiment.Problems
	Err      error
}

func (e *ResourceError) Error() string {
	if len(e.Problems) > 0 {
		return fmt.Sprintf("%s is not a valid experiment (%d problem(s))", e.Object, len(e.Problems))
	}
	return fmt.Sprintf("%s: %v", e.Object, e.Err)
}

func (e *ResourceError) Unwrap() error { return e.Err }

// loadResource reads and validates one Experiment object for `run
// experiment/NAME`; an invalid one also gets Valid=False (best effort:
// the user may not be allowed to write status).
func (g *globals) loadResource(ctx context.Context, dc dynamic.Interface, status *cr.StatusWriter, ns, name string) (*experiment.Experiment, *unstructured.Unstructured, error) {
	what := cr.Describe(crd.ExperimentKind, ns, name)
	u, err := dc.Resource(cr.ExperimentGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, &ResourceError{Object: what, Err: err}
	}
	exp, problems := cr.DecodeExperiment(g.faults.Formats(), u)
	if err := status.SetValid(ctx, cr.ExperimentGVR, u, problems); err != nil {
		g.log.Warn("cannot write the Valid condition", "error", err)
	}
	if len(problems) > 0 {
		return nil, u, &ResourceError{Object: what, Problems: problems}
	}
	return &exp, u, nil
}

// abortOnDeletion returns a context that ends, with a *DeletedError as
// its cause, when the object is deleted (or replaced by another of the
// same name): the run then aborts and reverts, as serve's does.
func abortOnDeletion(ctx context.Context, dc dynamic.Interface, u *unstructured.Unstructured) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	ref := cr.Ref(u)
	go func() {
		res := dc.Resource(cr.ExperimentGVR).Namespace(ref.Namespace)
		rv := u.GetResourceVersion()
		for ctx.Err() == nil {
			if rv == "" {
				// After an expired watch, the object as it is now: a
				// deletion in the gap must not be missed.
				cur, err := res.Get(ctx, ref.Name, metav1.GetOptions{})
				switch {
				case apierrors.IsNotFound(err) || (err == nil && string(cur.GetUID()) != ref.UID):
					cancel(&DeletedError{Ref: ref})
					return
				case err != nil:
					sleepCtx(ctx, time.Second)
					continue
				}
				rv = cur.GetResourceVersion()
			}
			w, err := res.Watch(ctx, metav1.ListOptions{
				FieldSelector: fields.OneTermEqualSelector("metadata.name", ref.Name).String(), ResourceVersion: rv,
			})
			if err != nil {
				rv = ""
				sleepCtx(ctx, time.Second)
				continue
			}
			for ev := range w.ResultChan() {
				obj, ok := ev.Object.(*unstructured.Unstructured)
				switch {
				case ev.Type == watch.Error || !ok:
					rv = ""
				case ev.Type == watch.Deleted || string(obj.GetUID()) != ref.UID:
					cancel(&DeletedError{Ref: ref})
				default:
					rv = obj.GetResourceVersion()
				}
			}
			w.Stop()
		}
	}()
	return ctx, func() { cancel(errors.New("run ended")) }
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// runResource is the Experiment object `run experiment/NAME` plays: its
// run is recorded in the object's status, like serve's.
type runResource struct {
	client dynamic.Interface
	status *cr.StatusWriter
	obj    *unstructured.Unstructured
	exp    *experiment.Experiment
}

// openResource reads the Experiment NAME of the namespace (-n, else the
// context's) and validates it; problems go to stderr, exit code 3.
func (g *globals) openResource(ctx context.Context, streams Streams, conn *connection, name string) (*runResource, error) {
	dc, err := dynamic.NewForConfig(conn.rest)
	if err != nil {
		return nil, withExitCode(ExitInvalid, fmt.Errorf("kubernetes client: %w", err))
	}
	status := &cr.StatusWriter{Client: dc, ExternalURL: g.v.GetString(keyExternalURL)}
	exp, obj, err := g.loadResource(ctx, dc, status, conn.namespace, name)
	if err != nil {
		var re *ResourceError
		if errors.As(err, &re) {
			for _, p := range re.Problems {
				fmt.Fprintf(streams.Err, "%s: %s\n", re.Object, p.String())
			}
		}
		return nil, withExitCode(ExitInvalid, err)
	}
	return &runResource{client: dc, status: status, obj: obj, exp: exp}, nil
}

// watch ends ctx when the object is deleted (abortOnDeletion); a nil
// runResource (a file) watches nothing.
func (r *runResource) watch(ctx context.Context) (context.Context, context.CancelFunc) {
	if r == nil {
		return ctx, func() {}
	}
	return abortOnDeletion(ctx, r.client, r.obj)
}

// started and ended record the run in the object's status (nothing for a
// file). The status is a report: a user who may not write it still runs
// the experiment (a warning says so).
func (r *runResource) started(ctx context.Context, g *globals, runID string) {
	if r == nil {
		return
	}
	if err := r.status.RunStarted(ctx, *r.exp.Source.Object, runID, ""); err != nil {
		g.log.Warn("the run is not recorded in the experiment's status", "error", err)
	}
}

func (r *runResource) ended(ctx context.Context, g *globals, rec *journal.Record, journalPath string) {
	if r == nil {
		return
	}
	if err := r.status.RunEnded(context.WithoutCancel(ctx), *r.exp.Source.Object, rec, journalPath); err != nil && !apierrors.IsNotFound(err) {
		g.log.Warn("the verdict is not recorded in the experiment's status", "error", err)
	}
}
