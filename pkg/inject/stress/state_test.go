package stress

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaosnight/chaosnight/pkg/inject"
)

func TestStateRoundTripThroughTheJournal(t *testing.T) {
	deadline := time.Date(2026, 3, 1, 22, 5, 0, 0, time.UTC)
	tests := []struct {
		name string
		st   State
	}{
		{"pod scope", State{Scope: "pod", Deadline: deadline, Container: "chaosnight-stress-r1",
			Pods: []StatePod{{"shop", "checkout-a", "uid-a"}, {"shop", "checkout-b", "uid-b"}}}},
		{"node scope", State{Scope: "node", Deadline: deadline,
			Helpers: []StateHelper{{"shop", "chaosnight-stress-r1-0a0b0c0d", "node-1", "uid-h1"}, {"web", "chaosnight-stress-r1-1a1b1c1d", "node-2", "uid-h2"}}}},
		{"nothing created", State{Scope: "pod", Deadline: deadline, Container: "chaosnight-stress-r1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Through JSON, as the journal stores an Injection.
			b, err := json.Marshal(inject.Injection{Kind: Kind, State: tt.st.Encode()})
			if err != nil {
				t.Fatal(err)
			}
			var back inject.Injection
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			got, err := DecodeState(back.State)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.st) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tt.st)
			}
		})
	}
}

func TestStateIsReadableInTheJournal(t *testing.T) {
	st := State{Scope: "node", Deadline: time.Date(2026, 3, 1, 22, 5, 0, 0, time.UTC),
		Helpers: []StateHelper{{"shop", "chaosnight-stress-r1-0a0b0c0d", "node-1", "uid-h1"}}}
	want := map[string]string{
		"scope":    "node",
		"deadline": "2026-03-01T22:05:00Z",
		"helper:shop/chaosnight-stress-r1-0a0b0c0d": "node-1 uid-h1",
	}
	if got := st.Encode(); !reflect.DeepEqual(got, want) {
		t.Errorf("Encode = %v, want %v", got, want)
	}
}

func TestDecodeStateRejectsDamage(t *testing.T) {
	tests := []struct {
		name  string
		state map[string]string
		err   string
	}{
		{"bad deadline", map[string]string{"scope": "pod", "deadline": "tomorrow"}, `deadline "tomorrow" is not an RFC 3339 time`},
		{"pod without namespace", map[string]string{"scope": "pod", "container": "c", "pod:checkout": "uid"}, `bad pod entry "pod:checkout"`},
		{"helper without uid", map[string]string{"scope": "node", "helper:shop/h": "node-1"}, `bad helper entry "helper:shop/h"="node-1"`},
		{"pods without container", map[string]string{"scope": "pod", "pod:shop/a": "uid"}, "pod entries without a container"},
		{"no scope", map[string]string{"pod:shop/a": "uid"}, "no scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeState(tt.state)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("err = %v, want it to contain %q", err, tt.err)
			}
		})
	}
	// An injection that never got as far as the injector has no state:
	// nothing to revert, not an error.
	if st, err := DecodeState(nil); err != nil || st.Scope != "" {
		t.Errorf("DecodeState(nil) = %+v, %v", st, err)
	}
}

func TestNotStoppedErrorNamesEveryStressAndTheDeadline(t *testing.T) {
	cause := errors.New("exec: forbidden")
	err := error(&NotStoppedError{Deadline: time.Date(2026, 3, 1, 22, 5, 0, 0, time.UTC), Items: []NotStopped{
		{What: "ephemeral container c of pod shop/a", Err: cause},
		{What: "ephemeral container c of pod shop/b", Err: errors.New("timeout")},
	}})
	want := "2 stress(es) could not be stopped early and run until 2026-03-01T22:05:00Z: ephemeral container c of pod shop/a: exec: forbidden; ephemeral container c of pod shop/b: timeout"
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
	if !errors.Is(err, cause) {
		t.Error("the causes must be reachable with errors.Is")
	}
}

func TestOrphanReason(t *testing.T) {
	now := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)
	pod := func(ann map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Annotations: ann}}
	}
	future := now.Add(time.Minute).Format(time.RFC3339)
	past := now.Add(-time.Second).Format(time.RFC3339)
	const ref = "chaosnight/chaosnight-run-r1"
	tests := []struct {
		name    string
		pod     *corev1.Pod
		lease   inject.RunLease
		orphan  bool
		reason  string
		keptErr string
	}{
		{"deadline passed", pod(map[string]string{DeadlineAnnotation: past, LeaseAnnotation: ref}), inject.RunLease{Found: true, Expiry: now.Add(time.Hour)}, true, "its deadline " + past + " has passed", ""},
		{"deadline now", pod(map[string]string{DeadlineAnnotation: now.Format(time.RFC3339)}), inject.RunLease{}, true, "has passed", ""},
		{"no deadline", pod(nil), inject.RunLease{}, true, "no chaosnight.dev/deadline annotation", ""},
		{"bad deadline", pod(map[string]string{DeadlineAnnotation: "soon"}), inject.RunLease{}, true, `unreadable chaosnight.dev/deadline "soon"`, ""},
		{"live run", pod(map[string]string{DeadlineAnnotation: future, LeaseAnnotation: ref}), inject.RunLease{Found: true, Expiry: now.Add(time.Second)}, false, "", ""},
		{"lease missing", pod(map[string]string{DeadlineAnnotation: future, LeaseAnnotation: ref}), inject.RunLease{}, true, "its run is gone (lease " + ref + " does not exist)", ""},
		{"lease expired", pod(map[string]string{DeadlineAnnotation: future, LeaseAnnotation: ref}), inject.RunLease{Found: true, Expiry: now}, true, "expired at 2026-03-01T22:00:00Z", ""},
		{"lease unreadable", pod(map[string]string{DeadlineAnnotation: future, LeaseAnnotation: ref}), inject.RunLease{Err: errors.New("forbidden")}, false, "", "cannot read run lease " + ref + ": forbidden"},
		{"no lease, deadline ahead", pod(map[string]string{DeadlineAnnotation: future}), inject.RunLease{}, false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, orphan, err := orphanReason(tt.pod, tt.lease, now)
			if orphan != tt.orphan || !strings.Contains(reason, tt.reason) {
				t.Errorf("orphan=%v reason=%q, want %v %q", orphan, reason, tt.orphan, tt.reason)
			}
			if (err == nil) != (tt.keptErr == "") || (err != nil && err.Error() != tt.keptErr) {
				t.Errorf("err = %v, want %q", err, tt.keptErr)
			}
		})
	}
}

func TestLeaseExpiry(t *testing.T) {
	at := time.Date(2026, 3, 1, 22, 0, 0, 0, time.UTC)
	mt := metav1.NewMicroTime(at)
	secs := int32(30)
	tests := []struct {
		name  string
		lease coordinationv1.Lease
		want  time.Time
	}{
		{"renewed", coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{RenewTime: &mt, LeaseDurationSeconds: &secs}}, at.Add(30 * time.Second)},
		{"acquired only, default duration", coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{AcquireTime: &mt}}, at.Add(DefaultLeaseDuration)},
		{"bare", coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(at)}}, at.Add(DefaultLeaseDuration)},
	}
	for _, tt := range tests {
		if got := leaseExpiry(&tt.lease); !got.Equal(tt.want) {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}
