package killswitch_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/chaosnight/chaosnight/pkg/killswitch"
)

// A watch whose resourceVersion is too old (410 Gone: RetryWatcher ends
// rather than skip events) is replaced by a new one, from the version a
// fresh read gives; with an hour's poll only that second watch can see the
// pause.
func TestAbortRewatchesAfterGone(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: killswitch.DefaultName, Namespace: "chaosnight", ResourceVersion: "5"}, Data: map[string]string{"engaged": "false"}}
	client := fake.NewClientset(cm.DeepCopy())
	var (
		mu      sync.Mutex
		fromRVs []string
	)
	client.PrependWatchReactor("configmaps", func(a k8stesting.Action) (bool, watch.Interface, error) {
		mu.Lock()
		defer mu.Unlock()
		fromRVs = append(fromRVs, a.(k8stesting.WatchActionImpl).WatchRestrictions.ResourceVersion)
		w := watch.NewFakeWithChanSize(1, false)
		if len(fromRVs) == 1 {
			w.Error(&metav1.Status{Status: metav1.StatusFailure, Code: http.StatusGone, Reason: metav1.StatusReasonExpired, Message: "too old resource version"})
			return true, w, nil
		}
		paused := cm.DeepCopy()
		paused.ResourceVersion, paused.Data = "6", map[string]string{"engaged": "true", "reason": "INC-11"}
		w.Modify(paused)
		return true, w, nil
	})
	sw := &killswitch.Switch{Client: client, Namespace: "chaosnight"}
	ctx, stop := sw.Abort(context.Background(), time.Hour, nil)
	defer stop()
	cause := aborted(t, ctx)
	if !errors.Is(cause, killswitch.ErrEngaged) || cause.Error() != "kill switch engaged: paused: INC-11" {
		t.Errorf("cause %v", cause)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(fromRVs) != 2 || fromRVs[0] != "5" || fromRVs[1] != "5" {
		t.Errorf("watches from resourceVersions %q, want [5 5] (the read's, then the fresh read's)", fromRVs)
	}
}
