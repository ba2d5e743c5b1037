package killswitch_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/chaosnight/chaosnight/pkg/killswitch"
)

// Only "true" and "false" are understood; everything else stops chaos.
func TestStateOf(t *testing.T) {
	tests := []struct {
		name        string
		data        map[string]string
		wantEngaged bool
		wantUnclear string // a part of State.Unclear; "" means understood
	}{
		{"released", map[string]string{"engaged": "false"}, false, ""},
		{"engaged", map[string]string{"engaged": "true", "reason": "INC-7"}, true, ""},
		{"a value written from a file", map[string]string{"engaged": "true\n"}, true, ""},
		{"released from a file", map[string]string{"engaged": " false\n"}, false, ""},
		{"yes", map[string]string{"engaged": "yes"}, true, `engaged="yes" (only true or false is understood`},
		{"1", map[string]string{"engaged": "1"}, true, `engaged="1"`},
		{"True", map[string]string{"engaged": "True"}, true, `engaged="True"`},
		{"empty", map[string]string{"engaged": ""}, true, `engaged=""`},
		{"garbage", map[string]string{"engaged": "ja bitte"}, true, `engaged="ja bitte"`},
		{"no key", map[string]string{"reason": "someone wrote the wrong key"}, true, `has no "engaged" key`},
		{"no data: the chart's placeholder, never written", nil, false, ""},
		{"empty data", map[string]string{}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: killswitch.DefaultName, Namespace: "chaosnight"}, Data: tt.data}
			st := killswitch.StateOf(cm)
			if st.Engaged != tt.wantEngaged {
				t.Errorf("engaged %v, want %v", st.Engaged, tt.wantEngaged)
			}
			switch {
			case tt.wantUnclear == "" && st.Unclear != "":
				t.Errorf("unclear %q, want understood", st.Unclear)
			case tt.wantUnclear != "" && !strings.Contains(st.Unclear, tt.wantUnclear):
				t.Errorf("unclear %q, want it to contain %q", st.Unclear, tt.wantUnclear)
			case tt.wantUnclear != "" && !strings.Contains(st.Unclear, "configmap/chaosnight-kill-switch in namespace chaosnight"):
				t.Errorf("unclear %q does not say which ConfigMap", st.Unclear)
			}
			if d := killswitch.Describe(st); tt.wantUnclear != "" && !strings.Contains(d, "not understood") {
				t.Errorf("Describe = %q, want it to say the value is not understood", d)
			}
		})
	}
}

// Engaged (the guard's and the runner's question) answers an unclear
// switch with engaged and the reason, and a missing one with released.
func TestEngagedOnAnUnclearOrMissingSwitch(t *testing.T) {
	ctx := context.Background()
	unclear := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: killswitch.DefaultName, Namespace: "chaosnight"}, Data: map[string]string{"engaged": "yes"}}
	tests := []struct {
		name        string
		objects     []runtime.Object
		wantEngaged bool
		wantWhy     string
	}{
		{"missing", nil, false, ""},
		{"unclear", []runtime.Object{unclear}, true, `engaged="yes"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sw := &killswitch.Switch{Client: fake.NewClientset(tt.objects...), Namespace: "chaosnight"}
			engaged, why, err := sw.Engaged(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if engaged != tt.wantEngaged || !strings.Contains(why, tt.wantWhy) {
				t.Errorf("Engaged = %v, %q; want %v, containing %q", engaged, why, tt.wantEngaged, tt.wantWhy)
			}
		})
	}
}

// An unclear value aborts a run in flight at once, with the reason.
func TestAbortOnAnUnclearValue(t *testing.T) {
	client := fake.NewClientset()
	sw := &killswitch.Switch{Client: client, Namespace: "chaosnight"}
	ctx, stop := sw.Abort(context.Background(), 20*time.Millisecond, nil)
	defer stop()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: killswitch.DefaultName, Namespace: "chaosnight"}, Data: map[string]string{"engaged": "on"}}
	if _, err := client.CoreV1().ConfigMaps("chaosnight").Create(context.Background(), cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cause := aborted(t, ctx)
	if !errors.Is(cause, killswitch.ErrEngaged) || errors.Is(cause, killswitch.ErrUnreadable) || !strings.Contains(cause.Error(), `engaged="on"`) {
		t.Errorf("cause %v", cause)
	}
}

// A read error does not abort a run at once (a transient API error must
// not flap runs); a switch that stays unreadable longer than MaxUnreadable
// does, with ErrUnreadable; one that comes back in time does not.
func TestAbortOnAnUnreadableSwitch(t *testing.T) {
	tests := []struct {
		name      string
		failReads int32 // reads that fail before the switch can be read again; -1: all
		wantAbort bool
	}{
		{"one failed read", 1, false},
		{"unreadable for good", -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client := fake.NewClientset()
			var reads atomic.Int32
			client.PrependReactor("get", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
				if n := reads.Add(1); tt.failReads < 0 || n <= tt.failReads {
					return true, nil, apierrors.NewServiceUnavailable("the API server is restarting")
				}
				return false, nil, nil
			})
			// No watch: the reads alone decide.
			client.PrependWatchReactor("configmaps", func(k8stesting.Action) (bool, watch.Interface, error) {
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, killswitch.DefaultName, errors.New("no watch"))
			})
			sw := &killswitch.Switch{Client: client, Namespace: "chaosnight", MaxUnreadable: 200 * time.Millisecond}
			ctx, stop := sw.Abort(context.Background(), 10*time.Millisecond, nil)
			defer stop()
			if !tt.wantAbort {
				// Well past MaxUnreadable, counted in reads, not in time.
				for reads.Load() < 60 {
					time.Sleep(10 * time.Millisecond)
				}
				if ctx.Err() != nil {
					t.Fatalf("aborted after one failed read: %v", context.Cause(ctx))
				}
				return
			}
			cause := aborted(t, ctx)
			if !errors.Is(cause, killswitch.ErrUnreadable) || !errors.Is(cause, killswitch.ErrEngaged) || !strings.Contains(cause.Error(), "the API server is restarting") {
				t.Errorf("cause %v", cause)
			}
		})
	}
}

// Set reads again and retries when its write meets a conflict.
func TestSetRetriesOnConflict(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset()
	sw := &killswitch.Switch{Client: client, Namespace: "chaosnight"}
	if err := sw.Set(ctx, killswitch.State{}); err != nil {
		t.Fatal(err)
	}
	var updates atomic.Int32
	client.PrependReactor("update", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		if updates.Add(1) <= 2 {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, killswitch.DefaultName, errors.New("the object has been modified"))
		}
		return false, nil, nil
	})
	if err := sw.Set(ctx, killswitch.State{Engaged: true, Reason: "INC-9"}); err != nil {
		t.Fatalf("Set after two conflicts: %v", err)
	}
	st, err := sw.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Engaged || st.Reason != "INC-9" || updates.Load() != 3 {
		t.Errorf("state %+v after %d updates, want engaged INC-9 after 3", st, updates.Load())
	}
}
