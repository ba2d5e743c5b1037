package stress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/inject"
)

// Defaults of RunLease.
const (
	// DefaultLeaseDuration is how long a run counts as alive after its
	// last renewal. Generous: a sweep that thinks a live run is gone
	// deletes its helpers mid-experiment, and its verdict is then wrong.
	DefaultLeaseDuration = inject.DefaultLeaseDuration
	// DefaultLeaseRenew is how often the running process renews it.
	DefaultLeaseRenew = 10 * time.Second
)

// RunLease is the coordination.k8s.io Lease "chaosnight-run-<id>" that says
// a run is alive: the running process creates it, renews it every
// RenewEvery and deletes it at the end. Helper pods name it (LeaseAnnotation)
// and Sweep deletes the helpers of a run whose Lease is missing or has not
// been renewed for Duration: the run was killed. It needs create, get,
// update and delete on leases in Namespace.
type RunLease struct {
	Client    kubernetes.Interface
	Namespace string
	RunID     string
	// Holder is the lease's holderIdentity; default "HOSTNAME/PID".
	Holder     string
	Duration   time.Duration // default DefaultLeaseDuration
	RenewEvery time.Duration // default DefaultLeaseRenew
	// Owner, when set, is put in the Lease's ownerReferences: once the
	// owner is deleted, the garbage collector deletes the Lease too.
	// serve passes its own Pod, so that a runner that could not delete
	// its Lease (a helm uninstall that removed the RBAC objects first, a
	// SIGKILL followed by the Pod's deletion) leaves nothing behind. It
	// must live in Namespace (owners are never cross-namespace).
	Owner *metav1.OwnerReference
	Now   func() time.Time
	Log   *slog.Logger

	mu      sync.Mutex
	stop    context.CancelFunc
	done    chan struct{}
	name    string
	holder  string
	seconds int32
	exists  bool
}

func (l *RunLease) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *RunLease) log() *slog.Logger {
	if l.Log != nil {
		return l.Log
	}
	return slog.New(slog.DiscardHandler)
}

// Ref is "namespace/name", for Injector.Lease.
func (l *RunLease) Ref() string {
	name, err := LeaseName(l.RunID)
	if err != nil {
		return ""
	}
	return l.Namespace + "/" + name
}

// Start creates the Lease and renews it in the background until Stop,
// whatever happens to ctx (which only bounds the creation): a run that
// was interrupted is still alive while it reverts.
func (l *RunLease) Start(ctx context.Context) error {
	if l.Client == nil || l.Namespace == "" {
		return errors.New("run lease: client and namespace are required")
	}
	name, err := LeaseName(l.RunID)
	if err != nil {
		return fmt.Errorf("run lease: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stop != nil {
		return errors.New("run lease: already started")
	}
	holder := l.Holder
	if holder == "" {
		host, _ := os.Hostname()
		holder = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	duration, renew := l.Duration, l.RenewEvery
	if duration <= 0 {
		duration = DefaultLeaseDuration
	}
	if renew <= 0 {
		renew = DefaultLeaseRenew
	}
	l.name, l.holder, l.seconds = name, holder, int32((duration+time.Second-1)/time.Second)
	if _, err := l.Client.CoordinationV1().Leases(l.Namespace).Create(ctx, l.object(), metav1.CreateOptions{FieldManager: fieldManager}); err != nil {
		return fmt.Errorf("run lease %s/%s: %w", l.Namespace, name, err)
	}
	l.exists = true
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.stop, l.done = cancel, make(chan struct{})
	go l.renewLoop(rctx, renew)
	return nil
}

func (l *RunLease) renewLoop(ctx context.Context, every time.Duration) {
	defer close(l.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.renew(ctx); err != nil && ctx.Err() == nil {
				l.log().Warn("cannot renew the run lease; after it expires, the orphan sweep may remove this run's helper pods",
					"lease", l.Namespace+"/"+l.name, "err", err)
			}
		}
	}
}

// object is a fresh Lease, acquired and renewed now.
func (l *RunLease) object() *coordinationv1.Lease {
	now := metav1.NewMicroTime(l.now())
	var owners []metav1.OwnerReference
	if l.Owner != nil {
		owners = []metav1.OwnerReference{*l.Owner}
	}
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name:            l.name,
			Namespace:       l.Namespace,
			Labels:          map[string]string{ManagedByLabel: ManagedByValue, RunLabel: l.RunID},
			OwnerReferences: owners,
		},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       &l.holder,
			LeaseDurationSeconds: &l.seconds,
			AcquireTime:          &now,
			RenewTime:            &now,
		},
	}
}

// renew sets renewTime to now. A Lease deleted by someone else (a sweep
// that found it expired) is recreated: this run is alive.
func (l *RunLease) renew(ctx context.Context) error {
	leases := l.Client.CoordinationV1().Leases(l.Namespace)
	lease, err := leases.Get(ctx, l.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, l.object(), metav1.CreateOptions{FieldManager: fieldManager})
		return err
	}
	if err != nil {
		return err
	}
	now := metav1.NewMicroTime(l.now())
	lease.Spec.RenewTime = &now
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{FieldManager: fieldManager})
	return err
}

// Stop ends the renewal and deletes the Lease (gone is fine). It is
// idempotent and safe to call without Start.
func (l *RunLease) Stop(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stop != nil {
		l.stop()
		<-l.done
		l.stop = nil
	}
	if !l.exists {
		return nil
	}
	err := l.Client.CoordinationV1().Leases(l.Namespace).Delete(ctx, l.name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete run lease %s/%s: %w", l.Namespace, l.name, err)
	}
	l.exists = false
	return nil
}

// leaseExpiry is when a Lease stops proving its run alive
// (inject.LeaseExpiry).
func leaseExpiry(l *coordinationv1.Lease) time.Time { return inject.LeaseExpiry(l) }
