package killswitch_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/util/retry"

	"github.com/chaosnight/chaosnight/pkg/killswitch"
)

// Set meets other writers as conflicts (retried by retry.RetryOnConflict)
// or, when both create the switch, as an AlreadyExists (written over with
// an update); a conflict that never ends is returned, typed, after
// retry.DefaultRetry's attempts rather than retried for ever.
func TestSetRaces(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, killswitch.DefaultName, errors.New("the object has been modified"))
	released := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: killswitch.DefaultName, Namespace: "chaosnight"}, Data: map[string]string{"engaged": "false"}}
	tests := []struct {
		name string
		// setup installs reactors; the counters say what Set did.
		setup       func(c *fake.Clientset, gets, updates *atomic.Int32)
		wantErr     bool
		wantUpdates int32
	}{
		{
			name: "conflicts until the last attempt",
			setup: func(c *fake.Clientset, _, updates *atomic.Int32) {
				c.PrependReactor("update", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
					if updates.Load() < int32(retry.DefaultRetry.Steps) {
						return true, nil, conflict
					}
					return false, nil, nil
				})
			},
			wantUpdates: int32(retry.DefaultRetry.Steps),
		},
		{
			name: "conflicts for ever",
			setup: func(c *fake.Clientset, _, _ *atomic.Int32) {
				c.PrependReactor("update", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, conflict
				})
			},
			wantErr:     true,
			wantUpdates: int32(retry.DefaultRetry.Steps),
		},
		{
			name: "created by someone else between the read and the create",
			setup: func(c *fake.Clientset, gets, _ *atomic.Int32) {
				c.PrependReactor("get", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
					if gets.Load() == 1 {
						return true, nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, killswitch.DefaultName)
					}
					return false, nil, nil
				})
			},
			wantUpdates: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			client := fake.NewClientset(released.DeepCopy())
			var gets, updates atomic.Int32
			// Counters first in the chain, so that they see every call.
			tt.setup(client, &gets, &updates)
			client.PrependReactor("get", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
				gets.Add(1)
				return false, nil, nil
			})
			client.PrependReactor("update", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
				updates.Add(1)
				return false, nil, nil
			})
			sw := &killswitch.Switch{Client: client, Namespace: "chaosnight"}
			err := sw.Set(ctx, killswitch.State{Engaged: true, Reason: "INC-10"})
			if n := updates.Load(); n != tt.wantUpdates {
				t.Errorf("%d updates, want %d", n, tt.wantUpdates)
			}
			if tt.wantErr {
				var status *apierrors.StatusError
				if !errors.As(err, &status) || !apierrors.IsConflict(status) {
					t.Fatalf("err = %v, want the API server's Conflict", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			st, err := sw.Get(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !st.Engaged || st.Reason != "INC-10" {
				t.Errorf("state %+v, want engaged INC-10", st)
			}
		})
	}
}
