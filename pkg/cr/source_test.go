package cr

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"

	"github.com/chaosnight/chaosnight/pkg/faults"
)

func experimentObject(ns, name, query string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "chaosnight.dev/v1alpha1", "kind": "Experiment",
		"metadata": map[string]any{"name": name, "namespace": ns, "uid": ns + "-" + name, "generation": int64(1)},
		"spec": map[string]any{
			"hypothesis": map[string]any{"probes": []any{map[string]any{"name": "p", "query": query, "expect": map[string]any{"below": int64(1)}}}},
			"target":     map[string]any{"namespaces": []any{"shop"}, "selector": "app=checkout", "pick": map[string]any{"count": int64(1)}},
			"action":     map[string]any{"podKill": map[string]any{"method": "evict"}},
			"duration":   "5s",
		},
	}}
}

// TestSnapshot: the pure logic of a snapshot over the watches' objects
// (the sandbox tests prove the watches and the status writes): invalid
// objects are left out and counted, names used twice across namespaces
// or by a file refuse every object using them, and the fingerprint moves
// when the set does.
func TestSnapshot(t *testing.T) {
	objs := []runtime.Object{
		experimentObject("a", "kill", "up"),
		experimentObject("a", "broken", "sum(up"),
		experimentObject("a", "twice", "up"),
		experimentObject("b", "twice", "up"),
		experimentObject("b", "in-a-file", "up"),
	}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{ExperimentGVR: "ExperimentList", NightGVR: "ChaosNightList"}, objs...)
	s := NewSource(SourceConfig{Client: client, Kinds: faults.Must().Formats(), SyncTimeout: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	taken := Taken{Experiments: map[string]string{"in-a-file": "experiments/x.yaml"}}
	snap := s.Snapshot(ctx, time.Now(), taken)
	var names []string
	for _, e := range snap.Experiments {
		names = append(names, e.Metadata.Name)
	}
	if !slices.Equal(names, []string{"kill"}) || snap.Invalid != 4 {
		t.Errorf("played %v, invalid %d; want [kill], 4", names, snap.Invalid)
	}
	if ref, ok := s.ExperimentRef("kill"); !ok || ref.Namespace != "a" || ref.UID != "a-kill" {
		t.Errorf("ExperimentRef(kill) = %+v %v", ref, ok)
	}

	// The problems each refused object gets (what Valid=False says).
	set, problems := s.experiments(taken)
	byName := map[string]string{}
	for i, u := range set.objs {
		byName[u.GetNamespace()+"/"+u.GetName()] = Message(problems[i])
	}
	for obj, want := range map[string]string{
		"a/broken":    "spec.hypothesis.probes[0].query: invalid PromQL: ",
		"a/twice":     `metadata.name: "twice" is also the name of [experiment/twice -n b]`,
		"b/twice":     `metadata.name: "twice" is also the name of [experiment/twice -n a]`,
		"b/in-a-file": `metadata.name: "in-a-file" is also the name of the one in experiments/x.yaml, which wins`,
		"a/kill":      "",
	} {
		if got := byName[obj]; (want == "") != (got == "") || !strings.HasPrefix(got, want) {
			t.Errorf("%s: %q, want %q...", obj, got, want)
		}
	}

	before := snap.Fingerprint
	if again := s.Snapshot(ctx, time.Now(), taken); again.Fingerprint != before {
		t.Error("the fingerprint changed with nothing changed")
	}
	if other := s.Snapshot(ctx, time.Now(), Taken{}); other.Fingerprint == before || len(other.Experiments) != 2 {
		t.Errorf("freeing a name: %d experiments, fingerprint unchanged %v", len(other.Experiments), other.Fingerprint == before)
	}
}

func TestUnavailableErrorSaysWhatToDo(t *testing.T) {
	gr := schema.GroupResource{Group: "chaosnight.dev", Resource: "experiments"}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{apierrors.NewNotFound(gr, ""), "the CRD is not installed: kubectl apply -f charts/chaosnight/crds/, or set customResources.enabled: false"},
		{apierrors.NewForbidden(gr, "", errors.New("RBAC")), "the runner's account may not list them"},
		{errors.New("connection refused"), "cannot be read: connection refused"},
	} {
		err := error(&UnavailableError{Resource: "experiments.chaosnight.dev", Err: tc.err})
		var ue *UnavailableError
		if !errors.As(fmt.Errorf("serve: %w", err), &ue) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %q, want it to say %q", tc.err, err, tc.want)
		}
	}
}
