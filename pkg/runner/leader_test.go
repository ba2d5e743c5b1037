package runner

import (
	"context"
	"log/slog"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

func leaseFor(holder string, renewed time.Time) *coordinationv1.Lease {
	d := int32(15)
	rt := metav1.NewMicroTime(renewed)
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: DefaultLeaseName, Namespace: "chaosnight"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &d, RenewTime: &rt, AcquireTime: &rt},
	}
}

func lockOf(cfg LeaderConfig) *resourcelock.LeaseLock {
	return &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: DefaultLeaseName, Namespace: cfg.Namespace},
		Client:     cfg.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: cfg.Identity},
	}
}

func getLease(t *testing.T, cfg LeaderConfig) *coordinationv1.Lease {
	t.Helper()
	l, err := cfg.Client.CoordinationV1().Leases("chaosnight").Get(context.Background(), DefaultLeaseName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// release gives up only a Lease this replica holds.
func TestReleaseOnlyOwnLease(t *testing.T) {
	tests := []struct {
		name, holder string
		wantHolder   string
	}{
		{name: "held by this replica", holder: "runner-a", wantHolder: ""},
		{name: "held by another", holder: "runner-b", wantHolder: "runner-b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := LeaderConfig{Client: fake.NewClientset(leaseFor(tt.holder, time.Now())), Namespace: "chaosnight",
				Identity: "runner-a", RenewDeadline: time.Second}
			if err := release(cfg, lockOf(cfg)); err != nil {
				t.Fatal(err)
			}
			l := getLease(t, cfg)
			if got := *l.Spec.HolderIdentity; got != tt.wantHolder {
				t.Errorf("holder after release %q, want %q", got, tt.wantHolder)
			}
			if tt.wantHolder == "" && *l.Spec.LeaseDurationSeconds != 1 {
				t.Errorf("released lease lasts %ds, want 1", *l.Spec.LeaseDurationSeconds)
			}
		})
	}
	// No Lease at all: nothing to release.
	cfg := LeaderConfig{Client: fake.NewClientset(), Namespace: "chaosnight", Identity: "runner-a", RenewDeadline: time.Second}
	if err := release(cfg, lockOf(cfg)); err != nil {
		t.Errorf("release without a lease: %v", err)
	}
}

// hold renews a Lease that still names this replica until done, and stops
// touching it once another replica holds it.
func TestHoldRenewsOnlyOwnLease(t *testing.T) {
	old := time.Now().Add(-time.Hour)
	tests := []struct {
		name, holder string
		wantRenewed  bool
	}{
		{name: "still ours", holder: "runner-a", wantRenewed: true},
		{name: "taken by another", holder: "runner-b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := LeaderConfig{Client: fake.NewClientset(leaseFor(tt.holder, old)), Namespace: "chaosnight",
				Identity: "runner-a", RetryPeriod: 5 * time.Millisecond, Log: slog.New(slog.DiscardHandler)}
			done := make(chan struct{})
			stopped := make(chan struct{})
			go func() { hold(cfg, lockOf(cfg), done); close(stopped) }()
			// Long enough for many periods; hold returns as soon as done closes.
			deadline := time.Now().Add(2 * time.Second)
			for time.Now().Before(deadline) {
				if getLease(t, cfg).Spec.RenewTime.After(old) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			close(done)
			<-stopped
			l := getLease(t, cfg)
			if renewed := l.Spec.RenewTime.After(old); renewed != tt.wantRenewed {
				t.Errorf("renewed %v, want %v (holder %q)", renewed, tt.wantRenewed, *l.Spec.HolderIdentity)
			}
			if *l.Spec.HolderIdentity != tt.holder {
				t.Errorf("holder %q, want %q unchanged", *l.Spec.HolderIdentity, tt.holder)
			}
		})
	}
}
