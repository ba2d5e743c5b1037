package stress

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// A helper pod whose run Lease this runner may not read (another
// install's, in a namespace its rights do not reach) is kept until its
// deadline, and that is not an error; a Lease that cannot be read for
// another reason still is one, and the pod is kept too.
func TestSweepForeignLease(t *testing.T) {
	now := time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
	helper := func(name, lease, deadline string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop",
			Labels:      map[string]string{HelperLabel: HelperValue, RunLabel: "r", ManagedByLabel: ManagedByValue},
			Annotations: map[string]string{LeaseAnnotation: lease, DeadlineAnnotation: deadline}}}
	}
	tests := []struct {
		name      string
		leaseErr  error
		deadline  string
		wantErr   bool
		wantKept  int
		wantSwept int
	}{
		{"forbidden: another install's, kept quietly", apierrors.NewForbidden(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "l", nil), "2026-12-07T22:05:00Z", false, 1, 0},
		{"forbidden, deadline passed: swept", apierrors.NewForbidden(schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}, "l", nil), "2026-12-07T21:59:00Z", false, 0, 1},
		{"unreadable otherwise: kept, and said", apierrors.NewServiceUnavailable("etcd"), "2026-12-07T22:05:00Z", true, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset(helper("h", "other-ns/chaosnight-run-x", tt.deadline))
			c.PrependReactor("get", "leases", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, tt.leaseErr })
			rep, err := Sweep(context.Background(), c, SweepConfig{Namespaces: []string{"shop"}, Now: func() time.Time { return now }})
			if (err != nil) != tt.wantErr || rep.Kept != tt.wantKept || len(rep.Deleted) != tt.wantSwept {
				t.Errorf("report %+v, err %v; want kept %d, swept %d, error %v", rep, err, tt.wantKept, tt.wantSwept, tt.wantErr)
			}
		})
	}
}
