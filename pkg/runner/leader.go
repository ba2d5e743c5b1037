package runner

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/chaosnight/chaosnight/pkg/metrics"
)

// LeaderConfig configures leader election on a Lease, so that of several
// replicas only one plays the schedule and injects.
type LeaderConfig struct {
	Client    kubernetes.Interface
	Namespace string
	Name      string // the Lease, default "chaosnight-runner"
	Identity  string
	// LeaseDuration, RenewDeadline and RetryPeriod default to 15s, 10s and 2s.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Metrics                                   *metrics.Metrics
	Log                                       *slog.Logger
}

// RunAsLeader campaigns for the lease and calls lead while this replica
// holds it. When the lease is lost, lead's context is cancelled and
// RunAsLeader waits for lead to return — the run in flight aborts and
// reverts — before it campaigns again. It returns when ctx ends.
func RunAsLeader(ctx context.Context, cfg LeaderConfig, lead func(ctx context.Context)) error {
	if cfg.Name == "" {
		cfg.Name = "chaosnight-runner"
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = 15 * time.Second
	}
	if cfg.RenewDeadline == 0 {
		cfg.RenewDeadline = 10 * time.Second
	}
	if cfg.RetryPeriod == 0 {
		cfg.RetryPeriod = 2 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Name: cfg.Name, Namespace: cfg.Namespace},
		Client:     cfg.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: cfg.Identity},
	}
	for ctx.Err() == nil {
		started, done := make(chan struct{}), make(chan struct{})
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock:            lock,
			LeaseDuration:   cfg.LeaseDuration,
			RenewDeadline:   cfg.RenewDeadline,
			RetryPeriod:     cfg.RetryPeriod,
			ReleaseOnCancel: true,
			Name:            cfg.Name,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(leadCtx context.Context) {
					close(started)
					cfg.Metrics.SetLeader(true)
					cfg.Log.Info("leading: this replica plays the schedule", "identity", cfg.Identity)
					defer close(done)
					lead(leadCtx)
				},
				OnStoppedLeading: func() {
					cfg.Metrics.SetLeader(false)
					cfg.Log.Info("not leading", "identity", cfg.Identity)
				},
				OnNewLeader: func(id string) {
					if id != cfg.Identity {
						cfg.Log.Info("following", "leader", id)
					}
				},
			},
		})
		if err != nil {
			return fmt.Errorf("leader election: %w", err)
		}
		le.Run(ctx)
		// Run returns once the lease is lost or ctx ends. OnStartedLeading
		// runs in a goroutine Run started before returning: give it a moment
		// to be scheduled, and if it ran, wait until lead has returned (the
		// run in flight reverted) before campaigning again or exiting.
		select {
		case <-started:
			<-done
		case <-time.After(time.Second):
		}
	}
	return nil
}
