package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/chaosnight/chaosnight/pkg/metrics"
)

// Defaults of LeaderConfig.
const (
	DefaultLeaseName     = "chaosnight-runner"
	DefaultLeaseDuration = 15 * time.Second
	DefaultRenewDeadline = 10 * time.Second
	DefaultRetryPeriod   = 2 * time.Second
)

// LeaderConfig configures leader election on a Lease, so that of several
// replicas only one plays the schedule and injects.
type LeaderConfig struct {
	Client    kubernetes.Interface
	Namespace string
	Name      string // the Lease, default DefaultLeaseName
	Identity  string
	// LeaseDuration, RenewDeadline and RetryPeriod default to
	// DefaultLeaseDuration, DefaultRenewDeadline and DefaultRetryPeriod.
	// RenewDeadline also bounds the release of the Lease at the end.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	Metrics                                   *metrics.Metrics
	Log                                       *slog.Logger
}

// RunAsLeader campaigns for the lease and calls lead while this replica
// holds it. It returns when ctx ends.
//
// The Lease is released only after lead has returned: when ctx ends
// (SIGTERM), lead's context is cancelled, the run in flight aborts and
// reverts while this replica keeps renewing the Lease, and only then is the
// Lease given up — so a second replica can never inject while this one is
// still reverting. client-go's ReleaseOnCancel would release it as soon as
// ctx ends, which is why the elector runs on a context of its own here.
//
// When the Lease is lost instead (it could not be renewed within
// RenewDeadline, for example because the API server was unreachable),
// lead's context is cancelled at once and RunAsLeader waits for lead to
// return before it campaigns again; the Lease then expires by itself
// LeaseDuration after the last renewal, whatever lead is doing.
func RunAsLeader(ctx context.Context, cfg LeaderConfig, lead func(ctx context.Context)) error {
	if cfg.Name == "" {
		cfg.Name = DefaultLeaseName
	}
	if cfg.LeaseDuration == 0 {
		cfg.LeaseDuration = DefaultLeaseDuration
	}
	if cfg.RenewDeadline == 0 {
		cfg.RenewDeadline = DefaultRenewDeadline
	}
	if cfg.RetryPeriod == 0 {
		cfg.RetryPeriod = DefaultRetryPeriod
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
		if err := campaign(ctx, cfg, lock, lead); err != nil {
			return err
		}
	}
	return nil
}

// campaign is one term: acquire the Lease, lead while it is held, and
// release it once lead has returned.
func campaign(ctx context.Context, cfg LeaderConfig, lock *resourcelock.LeaseLock, lead func(ctx context.Context)) error {
	// The elector's context ends only when ctx has ended AND lead has
	// returned (or never started), so renewals go on during the revert.
	electCtx, stopElecting := context.WithCancel(context.WithoutCancel(ctx))
	defer stopElecting()

	var (
		mu       sync.Mutex
		stopping bool          // ctx ended: a lead that has not started yet must not start
		leading  chan struct{} // closed when lead returns; nil if lead never started
	)
	le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:          lock,
		LeaseDuration: cfg.LeaseDuration,
		RenewDeadline: cfg.RenewDeadline,
		RetryPeriod:   cfg.RetryPeriod,
		// Released below, after lead has returned, not when the elector's
		// context ends.
		ReleaseOnCancel: false,
		Name:            cfg.Name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(termCtx context.Context) {
				mu.Lock()
				if stopping {
					mu.Unlock()
					return
				}
				done := make(chan struct{})
				leading = done
				mu.Unlock()
				defer close(done)
				cfg.Metrics.SetLeader(true)
				cfg.Log.Info("leading: this replica plays the schedule", "identity", cfg.Identity)
				// lead stops when the term ends (Lease lost) or ctx ends.
				leadCtx, cancel := context.WithCancel(termCtx)
				defer cancel()
				stop := context.AfterFunc(ctx, cancel)
				defer stop()
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
	// When ctx ends: wait for lead (if it runs) to return, then stop the
	// elector, which stops renewing.
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		select {
		case <-ctx.Done():
		case <-electCtx.Done():
			return
		}
		mu.Lock()
		stopping = true
		done := leading
		mu.Unlock()
		if done != nil {
			<-done
		}
		stopElecting()
	}()
	le.Run(electCtx)
	// Run returns once the elector's context ended (ctx ended and lead
	// returned) or the Lease was lost. OnStartedLeading runs in a goroutine
	// Run started: if it has started, wait until lead has returned (the run
	// in flight reverted) before releasing, campaigning again or exiting;
	// if not, it must not start any more.
	mu.Lock()
	stopping = true
	done := leading
	mu.Unlock()
	if done != nil {
		// The Lease was lost while lead runs: keep it if it is still ours
		// (renewal failed on a slow or briefly unreachable API server) until
		// lead has reverted, so that no other replica starts meanwhile.
		hold(cfg, lock, done)
	}
	stopElecting()
	<-watchDone
	// Also when lead never started: the Lease may have been acquired just
	// as ctx ended.
	if err := release(cfg, lock); err != nil && done != nil {
		cfg.Log.Warn("cannot release the leader lease; it expires by itself", "lease", cfg.Name, "after", cfg.LeaseDuration, "error", err)
	} else if done != nil {
		cfg.Log.Info("leader lease released", "lease", cfg.Name, "identity", cfg.Identity)
	}
	return nil
}

// hold renews the Lease every RetryPeriod, as long as it still names this
// replica, until done is closed. It never takes a Lease another replica
// holds: the update carries the resourceVersion that was read.
func hold(cfg LeaderConfig, lock *resourcelock.LeaseLock, done <-chan struct{}) {
	t := time.NewTicker(cfg.RetryPeriod)
	defer t.Stop()
	mine := true
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		if !mine {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), cfg.RetryPeriod)
		rec, _, err := lock.Get(ctx)
		switch {
		case err != nil:
			// Unreachable: try again at the next period.
		case rec.HolderIdentity != cfg.Identity:
			mine = false
			cfg.Log.Warn("the leader lease went to another replica while this one was still reverting", "holder", rec.HolderIdentity)
		default:
			rec.RenewTime = metav1.NewTime(time.Now())
			_ = lock.Update(ctx, *rec)
		}
		cancel()
	}
}

// release gives the Lease up if this replica still holds it, as client-go's
// ReleaseOnCancel does (a one-second lease, holder cleared), so the next
// replica takes over at once instead of after LeaseDuration.
func release(cfg LeaderConfig, lock *resourcelock.LeaseLock) error {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.RenewDeadline)
	defer cancel()
	rec, _, err := lock.Get(ctx)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if rec.HolderIdentity != cfg.Identity {
		return nil // another replica holds it already, or nobody
	}
	now := metav1.NewTime(time.Now())
	err = lock.Update(ctx, resourcelock.LeaderElectionRecord{
		LeaderTransitions:    rec.LeaderTransitions,
		LeaseDurationSeconds: 1,
		RenewTime:            now,
		AcquireTime:          now,
	})
	if apierrors.IsConflict(err) {
		return errors.New("the lease changed meanwhile; leaving it as it is")
	}
	return err
}
