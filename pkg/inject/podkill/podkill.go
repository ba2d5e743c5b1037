// Package podkill kills pods: it evicts them through the Eviction API (so
// PodDisruptionBudgets hold) or deletes them. It is an inject.Injector and
// is meant to be called through the inject.Guard, which decides the targets.
package podkill

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// Kind is the Injection.Kind of pod kills.
const Kind = "podKill" // the key under spec.action, and the Injection.Kind

// DefaultConcurrency is how many kill requests are in flight at once when
// Injector.Concurrency is zero. The client's QPS limit sets the real rate;
// concurrency only keeps network latency from lowering it.
const DefaultConcurrency = 8

// State keys of the Injection.
const (
	StateMethod      = "method"
	StateGracePeriod = "gracePeriod" // seconds sent to the API server; absent = the pod's own
)

// Injector kills pods by eviction or deletion.
type Injector struct {
	Client kubernetes.Interface
	// Method is MethodEvict (default) or MethodDelete.
	Method string
	// GracePeriod overrides the pods' terminationGracePeriodSeconds; nil
	// keeps theirs. It is sent in whole seconds, rounded up, and 0 is sent
	// as 1 (see inject.GracePeriodSeconds).
	GracePeriod *time.Duration
	Now         func() time.Time
	// Concurrency bounds requests in flight; default DefaultConcurrency.
	Concurrency int
}

// Kind implements inject.Injector.
func (k *Injector) Kind() string { return Kind }

func (k *Injector) now() time.Time {
	if k.Now != nil {
		return k.Now()
	}
	return time.Now()
}

// Inject kills every target once, concurrently, and reports one outcome per
// target in target order: evicted or killed; protected-by-pdb when an
// eviction is refused by a PodDisruptionBudget (never retried: the budget
// is the answer); gone when the pod no longer exists or was replaced by a
// pod with the same name; failed otherwise. Every request carries a UID
// precondition, so a replacement pod is never killed in its predecessor's
// place. Per-target failures are outcomes, not errors; the error is for
// bad configuration or a cancelled context.
func (k *Injector) Inject(ctx context.Context, run inject.Run, targets []target.Pod) (inject.Injection, error) {
	inj := inject.Injection{Run: run, Kind: Kind, At: k.now(), State: map[string]string{}}
	if k.Client == nil {
		return inj, errors.New("pod kill: nil client")
	}
	method := k.Method
	if method == "" {
		method = MethodEvict
	}
	if method != MethodEvict && method != MethodDelete {
		return inj, fmt.Errorf("pod kill: unknown method %q (want %s or %s)", method, MethodEvict, MethodDelete)
	}
	grace, err := inject.GracePeriodSeconds(k.GracePeriod)
	if err != nil {
		return inj, fmt.Errorf("pod kill: %w", err)
	}
	inj.State[StateMethod] = method
	if grace != nil {
		inj.State[StateGracePeriod] = fmt.Sprint(*grace)
	}
	if err := ctx.Err(); err != nil {
		return inj, fmt.Errorf("pod kill: %w", err)
	}

	inj.Outcomes = make([]inject.Outcome, len(targets))
	limit := k.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	// Each kill reports into its own outcome slot, so the group never
	// carries an error; it is used for its limit.
	var eg errgroup.Group
	eg.SetLimit(limit)
	for i, p := range targets {
		eg.Go(func() error {
			status, detail := k.kill(ctx, method, grace, p)
			inj.Outcomes[i] = inject.Outcome{Pod: p, Status: status, Detail: detail, At: k.now()}
			return nil
		})
	}
	_ = eg.Wait() // always nil: no kill returns an error
	if err := ctx.Err(); err != nil {
		return inj, fmt.Errorf("pod kill interrupted: %w", err)
	}
	return inj, nil
}

// Revert does nothing, on purpose: a killed pod is replaced by its
// controller, and recreating it ourselves would fight that controller (or,
// for a bare pod, resurrect something its owner may not want back).
// Recovery is what the experiment's recovery phase measures instead.
func (k *Injector) Revert(context.Context, inject.Injection) error { return nil }

// kill sends one eviction or deletion and classifies the answer.
func (k *Injector) kill(ctx context.Context, method string, grace *int64, p target.Pod) (status, detail string) {
	if p.UID == "" {
		return inject.StatusFailed, "no UID: refusing a kill that could hit a replacement pod"
	}
	uid := types.UID(p.UID)
	opts := metav1.DeleteOptions{GracePeriodSeconds: grace, Preconditions: &metav1.Preconditions{UID: &uid}}
	var err error
	if method == MethodEvict {
		err = inject.PostEviction(ctx, k.Client, &policyv1.Eviction{
			ObjectMeta:    metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name},
			DeleteOptions: &opts,
		})
		if err == nil {
			return inject.StatusEvicted, "evicted" + inject.GraceWords(grace)
		}
	} else {
		err = k.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, opts)
		if err == nil {
			return inject.StatusKilled, "deleted" + inject.GraceWords(grace)
		}
	}
	return inject.KillOutcome(method == MethodEvict, p.Namespace, err)
}
