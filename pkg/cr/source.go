package cr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/chaosnight/chaosnight/pkg/crd"
	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/schedule"
)

// DefaultSyncTimeout bounds the first LIST of the resources at start.
const DefaultSyncTimeout = 30 * time.Second

// SourceConfig configures a Source.
type SourceConfig struct {
	Client dynamic.Interface
	// Namespaces are watched; empty: every namespace (one watch each
	// kind).
	Namespaces []string
	Kinds      *experiment.Kinds
	// Status writes Valid conditions and the schedule's status; nil
	// writes nothing (a read-only look, as `chaosnight schedule` takes).
	Status *StatusWriter
	// OnExperimentDeleted is called from the watch when an Experiment is
	// deleted: serve aborts and reverts its run in flight, if any.
	OnExperimentDeleted func(experiment.ObjectRef)
	SyncTimeout         time.Duration
	Log                 *slog.Logger
}

// Source watches Experiment and ChaosNight objects and turns them into
// the runner's experiments and nights.
type Source struct {
	cfg       SourceConfig
	exps      []cache.SharedIndexInformer
	nights    []cache.SharedIndexInformer
	mu        sync.Mutex
	expByName map[string]experiment.ObjectRef // valid experiments of the last snapshot
	nightObj  map[string]*unstructured.Unstructured
	windows   map[string]crd.LastWindow // nights' last windows seen by this runner
}

// UnavailableError says the resources cannot be read: the CRDs are not
// installed, or the account may not list them.
type UnavailableError struct {
	Resource string
	Err      error
}

func (e *UnavailableError) Error() string {
	hint := ""
	switch {
	case apierrors.IsNotFound(e.Err):
		hint = " (the CRD is not installed: kubectl apply -f charts/chaosnight/crds/, or set customResources.enabled: false)"
	case apierrors.IsForbidden(e.Err):
		hint = " (the runner's account may not list them: the chart grants get/list/watch when customResources.enabled)"
	}
	return fmt.Sprintf("custom resources %s cannot be read: %v%s", e.Resource, e.Err, hint)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// NewSource returns a Source; Start begins the watches.
func NewSource(cfg SourceConfig) *Source {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = DefaultSyncTimeout
	}
	return &Source{cfg: cfg, windows: map[string]crd.LastWindow{}}
}

func (s *Source) namespaces() []string {
	if len(s.cfg.Namespaces) == 0 {
		return []string{metav1.NamespaceAll}
	}
	return s.cfg.Namespaces
}

// Start checks that the resources can be listed (a clear error if not),
// starts the watches and waits until they have listed everything once.
// They run until ctx ends.
func (s *Source) Start(ctx context.Context) error {
	for _, gvr := range []schema.GroupVersionResource{ExperimentGVR, NightGVR} {
		for _, ns := range s.namespaces() {
			lctx, cancel := context.WithTimeout(ctx, s.cfg.SyncTimeout)
			_, err := s.cfg.Client.Resource(gvr).Namespace(ns).List(lctx, metav1.ListOptions{Limit: 1})
			cancel()
			if err != nil {
				return &UnavailableError{Resource: gvr.GroupResource().String() + inNamespace(ns), Err: err}
			}
		}
	}
	var synced []cache.InformerSynced
	for _, ns := range s.namespaces() {
		f := dynamicinformer.NewFilteredDynamicSharedInformerFactory(s.cfg.Client, 0, ns, nil)
		ei := f.ForResource(ExperimentGVR).Informer()
		if _, err := ei.AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: s.experimentDeleted}); err != nil {
			return fmt.Errorf("watching experiments: %w", err)
		}
		ni := f.ForResource(NightGVR).Informer()
		s.exps = append(s.exps, ei)
		s.nights = append(s.nights, ni)
		synced = append(synced, ei.HasSynced, ni.HasSynced)
		f.Start(ctx.Done())
	}
	sctx, cancel := context.WithTimeout(ctx, s.cfg.SyncTimeout)
	defer cancel()
	if !cache.WaitForCacheSync(sctx.Done(), synced...) {
		return &UnavailableError{Resource: "chaosnight.dev", Err: errors.New("the first list did not complete in time")}
	}
	return nil
}

func inNamespace(ns string) string {
	if ns == "" {
		return " (every namespace)"
	}
	return " in namespace " + ns
}

func (s *Source) experimentDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok || s.cfg.OnExperimentDeleted == nil {
		return
	}
	s.cfg.Log.Info("experiment deleted", "experiment", Describe(crd.ExperimentKind, u.GetNamespace(), u.GetName()))
	s.cfg.OnExperimentDeleted(Ref(u))
}

// objects lists what the watches hold, sorted by namespace and name.
func objects(infs []cache.SharedIndexInformer) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, inf := range infs {
		for _, o := range inf.GetStore().List() {
			if u, ok := o.(*unstructured.Unstructured); ok {
				out = append(out, u)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].GetNamespace() != out[j].GetNamespace() {
			return out[i].GetNamespace() < out[j].GetNamespace()
		}
		return out[i].GetName() < out[j].GetName()
	})
	return out
}

// Taken are the names the files already use (name → file): an object of
// the same name is refused, the file wins (it is the operator's own).
type Taken struct {
	Experiments map[string]string
	Nights      map[string]string
}

// Snapshot is the valid experiments and nights of the cluster.
type Snapshot struct {
	Experiments []experiment.Experiment
	Nights      []schedule.Night
	// Invalid counts the objects refused (each has Valid=False).
	Invalid int
	// Fingerprint changes when a valid object's spec or labels change,
	// or an object comes, goes or changes validity.
	Fingerprint string
}

// Snapshot validates every object the watches hold, writes each one's
// Valid condition where it changed, and returns the valid ones. An invalid
// object is left out and never stops the others.
func (s *Source) Snapshot(ctx context.Context, now time.Time, taken Taken) Snapshot {
	var snap Snapshot
	h := sha256.New()
	expByName := map[string]experiment.ObjectRef{}
	exps, problems := s.experiments(taken)
	for i, u := range exps.objs {
		s.setValid(ctx, ExperimentGVR, u, problems[i])
		if len(problems[i]) > 0 {
			snap.Invalid++
			continue
		}
		e := exps.decoded[i]
		snap.Experiments = append(snap.Experiments, e)
		expByName[e.Metadata.Name] = *e.Source.Object
		fmt.Fprintf(h, "e\x00%s\x00%s\x00%d\x00%v\n", u.GetNamespace(), u.GetUID(), u.GetGeneration(), u.GetLabels())
	}
	nightObj := map[string]*unstructured.Unstructured{}
	nights, nproblems := s.nightsOf(now, taken)
	for i, u := range nights.objs {
		s.setValid(ctx, NightGVR, u, nproblems[i])
		if len(nproblems[i]) > 0 {
			snap.Invalid++
			continue
		}
		snap.Nights = append(snap.Nights, nights.decoded[i])
		nightObj[u.GetName()] = u
		fmt.Fprintf(h, "n\x00%s\x00%s\x00%d\n", u.GetNamespace(), u.GetUID(), u.GetGeneration())
	}
	snap.Fingerprint = hex.EncodeToString(h.Sum(nil))
	s.mu.Lock()
	s.expByName, s.nightObj = expByName, nightObj
	s.mu.Unlock()
	return snap
}

type decodedSet[T any] struct {
	objs    []*unstructured.Unstructured
	decoded []T
}

// experiments decodes every Experiment; names used twice (by a file, or
// by objects in two namespaces) are problems of every object using them:
// the runner names experiments in plans, state and journals by name.
func (s *Source) experiments(taken Taken) (decodedSet[experiment.Experiment], []experiment.Problems) {
	set := decodedSet[experiment.Experiment]{objs: objects(s.exps)}
	problems := make([]experiment.Problems, len(set.objs))
	for i, u := range set.objs {
		e, ps := DecodeExperiment(s.cfg.Kinds, u)
		set.decoded = append(set.decoded, e)
		problems[i] = ps
	}
	duplicates(set.objs, taken.Experiments, crd.ExperimentKind, problems)
	return set, problems
}

func (s *Source) nightsOf(now time.Time, taken Taken) (decodedSet[schedule.Night], []experiment.Problems) {
	set := decodedSet[schedule.Night]{objs: objects(s.nights)}
	problems := make([]experiment.Problems, len(set.objs))
	for i, u := range set.objs {
		n, ps := DecodeNight(u, now)
		set.decoded = append(set.decoded, n)
		problems[i] = ps
	}
	duplicates(set.objs, taken.Nights, crd.ChaosNightKind, problems)
	return set, problems
}

func duplicates(objs []*unstructured.Unstructured, files map[string]string, kind string, problems []experiment.Problems) {
	byName := map[string][]int{}
	for i, u := range objs {
		byName[u.GetName()] = append(byName[u.GetName()], i)
	}
	for name, idx := range byName {
		if file, ok := files[name]; ok {
			for _, i := range idx {
				problems[i] = append(problems[i], experiment.Problem{Field: "metadata.name",
					Message: fmt.Sprintf("%s is also the name of the one in %s, which wins: names are unique across the runner's files and namespaces", experiment.QuoteValue(name), file)})
			}
			continue
		}
		if len(idx) < 2 {
			continue
		}
		for _, i := range idx {
			var others []string
			for _, j := range idx {
				if j != i {
					others = append(others, Describe(kind, objs[j].GetNamespace(), name))
				}
			}
			problems[i] = append(problems[i], experiment.Problem{Field: "metadata.name",
				Message: fmt.Sprintf("%s is also the name of %v: names are unique across the namespaces the runner watches; neither is played", experiment.QuoteValue(name), others)})
		}
	}
}

func (s *Source) setValid(ctx context.Context, gvr schema.GroupVersionResource, u *unstructured.Unstructured, ps experiment.Problems) {
	if len(ps) > 0 {
		s.cfg.Log.Warn("invalid custom resource: not played", "object", Describe(u.GetKind(), u.GetNamespace(), u.GetName()), "problems", Message(ps))
	}
	if s.cfg.Status == nil {
		return
	}
	if err := s.cfg.Status.SetValid(ctx, gvr, u, ps); err != nil && !apierrors.IsNotFound(err) {
		s.cfg.Log.Warn("cannot write the Valid condition", "error", err)
	}
}

// ExperimentRef returns the object a valid experiment of the last
// snapshot was read from.
func (s *Source) ExperimentRef(name string) (experiment.ObjectRef, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref, ok := s.expByName[name]
	return ref, ok
}

// Publish writes the schedule's view into the status: every Experiment's
// nextRun (the next opening of a night that selects it) and every
// ChaosNight's nextOpens, where they changed.
func (s *Source) Publish(ctx context.Context, nights []schedule.Night, exps []experiment.Experiment, now time.Time) {
	if s.cfg.Status == nil {
		return
	}
	next := map[string]time.Time{}
	for _, n := range nights {
		w, err := n.Next(now)
		if err != nil {
			continue
		}
		next[n.Name] = w.Opens
	}
	for _, u := range objects(s.exps) {
		e, ok := findByRef(exps, u)
		if !ok {
			continue
		}
		var first *time.Time
		for _, n := range nights {
			if t, ok := next[n.Name]; ok && n.Selects(e) && (first == nil || t.Before(*first)) {
				first = &t
			}
		}
		if err := s.cfg.Status.SetNextRun(ctx, u, first); err != nil && !apierrors.IsNotFound(err) {
			s.cfg.Log.Warn("cannot write nextRun", "error", err)
		}
	}
	s.mu.Lock()
	objs := s.nightObj
	s.mu.Unlock()
	for name, u := range objs {
		t, ok := next[name]
		have, _, _ := unstructured.NestedString(u.Object, "status", "nextOpens")
		var want *time.Time
		if ok {
			want = &t
		}
		if have == formatTime(want) {
			continue
		}
		s.writeNight(ctx, u, want)
	}
}

func findByRef(exps []experiment.Experiment, u *unstructured.Unstructured) (experiment.Experiment, bool) {
	for _, e := range exps {
		if o := e.Source.Object; o != nil && o.UID == string(u.GetUID()) {
			return e, true
		}
	}
	return experiment.Experiment{}, false
}

// Window records a night's window as the runner saw it open, play and
// close; a ChaosNight's status.lastWindow says it.
func (s *Source) Window(ctx context.Context, night string, w crd.LastWindow) {
	s.mu.Lock()
	u, ok := s.nightObj[night]
	if ok {
		s.windows[night] = w
	}
	s.mu.Unlock()
	if !ok || s.cfg.Status == nil {
		return
	}
	var nextOpens *time.Time
	if t, err := time.Parse(time.RFC3339, stringAt(u, "status", "nextOpens")); err == nil {
		nextOpens = &t
	}
	s.writeNight(ctx, u, nextOpens)
}

// writeNight applies the whole part of a night's status the schedule owns
// (server-side apply drops what a manager stops sending): nextOpens and
// the last window, this runner's or else the one the status holds (a
// runner that restarted has not seen it).
func (s *Source) writeNight(ctx context.Context, u *unstructured.Unstructured, nextOpens *time.Time) {
	s.mu.Lock()
	lw, seen := s.windows[u.GetName()]
	s.mu.Unlock()
	st := crd.ChaosNightStatus{}
	if nextOpens != nil {
		st.NextOpens = ptr(metav1.NewTime(*nextOpens))
	}
	if seen {
		st.LastWindow = &lw
	} else if raw, ok, _ := unstructured.NestedMap(u.Object, "status", "lastWindow"); ok {
		var have crd.LastWindow
		if runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &have) == nil {
			st.LastWindow = &have
		}
	}
	if err := s.cfg.Status.SetNight(ctx, Ref(u), st); err != nil && !apierrors.IsNotFound(err) {
		s.cfg.Log.Warn("cannot write a night's status", "error", err)
	}
}

func stringAt(u *unstructured.Unstructured, fields ...string) string {
	v, _, _ := unstructured.NestedString(u.Object, fields...)
	return v
}
