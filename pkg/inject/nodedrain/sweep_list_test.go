package nodedrain_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/chaosnight/chaosnight/pkg/inject/nodedrain"
)

// TestSweepListRestartsOnExpiredContinue pages the node LIST one node a
// page and answers the first continue token with 410 Gone, as an API
// server does when paging outlives etcd compaction: the sweep restarts
// from the first page and judges every node once.
func TestSweepListRestartsOnExpiredContinue(t *testing.T) {
	past := t0.Add(-time.Second).Format(time.RFC3339)
	cs := fake.NewClientset(
		node("a", cordonedBy("r1", past, "")),
		node("b", cordonedBy("r2", past, "")),
		node("c", cordonedBy("r3", past, "")),
	)
	var continues []string
	expired := false
	cs.PrependReactor("list", "nodes", func(a k8stesting.Action) (bool, runtime.Object, error) {
		opts := a.(interface{ GetListOptions() metav1.ListOptions }).GetListOptions()
		continues = append(continues, opts.Continue)
		if opts.Continue != "" && !expired {
			expired = true
			return true, nil, apierrors.NewResourceExpired("The provided continue parameter is too old")
		}
		obj, err := cs.Tracker().List(corev1.SchemeGroupVersion.WithResource("nodes"), corev1.SchemeGroupVersion.WithKind("Node"), "")
		if err != nil {
			return true, nil, err
		}
		all := obj.(*corev1.NodeList).Items
		slices.SortFunc(all, func(x, y corev1.Node) int { return strings.Compare(x.Name, y.Name) })
		start := 0
		if opts.Continue != "" {
			start, _ = strconv.Atoi(opts.Continue)
		}
		page := &corev1.NodeList{Items: all[start : start+1]}
		if start+1 < len(all) {
			page.Continue = strconv.Itoa(start + 1)
		}
		return true, page, nil
	})
	rep, err := nodedrain.Sweep(context.Background(), cs, nodedrain.SweepConfig{Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range rep.Uncordoned {
		names = append(names, s.Name)
	}
	if want := []string{"a", "b", "c"}; !slices.Equal(names, want) {
		t.Errorf("uncordoned %v, want %v once each", names, want)
	}
	if want := []string{"", "1", "", "1", "2"}; !slices.Equal(continues, want) {
		t.Errorf("continue tokens sent %q, want %q (a restart from the first page after the 410)", continues, want)
	}
}
