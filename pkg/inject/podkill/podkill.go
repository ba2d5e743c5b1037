// Package podkill kills pods: it evicts them through the Eviction API (so
// PodDisruptionBudgets hold) or deletes them. It is an inject.Injector and
// is meant to be called through the inject.Guard, which decides the targets.
package podkill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

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
	// as 1 (see gracePeriodSeconds).
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
	grace, err := gracePeriodSeconds(k.GracePeriod)
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
		err = k.evict(ctx, &policyv1.Eviction{
			ObjectMeta:    metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name},
			DeleteOptions: &opts,
		})
		if err == nil {
			return inject.StatusEvicted, "evicted" + graceWords(grace)
		}
	} else {
		err = k.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, opts)
		if err == nil {
			return inject.StatusKilled, "deleted" + graceWords(grace)
		}
	}
	return classify(method, p.Namespace, err)
}

// evict posts an eviction without client-side retries. client-go retries a
// 429 that carries Retry-After up to 10 times, and the eviction API sends
// one (10 s) while a budget is still being processed; a chaos tool must
// take the budget's "no" at once instead of hammering it for minutes.
func (k *Injector) evict(ctx context.Context, ev *policyv1.Eviction) error {
	if rc, ok := k.Client.CoreV1().RESTClient().(*rest.RESTClient); ok && rc != nil {
		return rc.Post().Namespace(ev.Namespace).Resource("pods").Name(ev.Name).SubResource("eviction").
			MaxRetries(0).Body(ev).Do(ctx).Error()
	}
	// Fake clientsets have no REST client; they do not retry either.
	return k.Client.CoreV1().Pods(ev.Namespace).EvictV1(ctx, ev)
}

// classify turns a failed kill of a pod in namespace ns into an outcome.
// Its detail is the reason a run that touched nothing gives for it, so it
// names what refused: the budget and its allowance, or the missing right.
func classify(method, ns string, err error) (status, detail string) {
	switch {
	case apierrors.IsNotFound(err):
		return inject.StatusGone, "the pod no longer exists"
	case apierrors.IsConflict(err) && strings.Contains(err.Error(), "UID"):
		return inject.StatusGone, "the pod was replaced by another with the same name; the replacement was not touched"
	case apierrors.IsTooManyRequests(err) && method == MethodEvict:
		if cause, ok := budgetCause(err); ok {
			return inject.StatusProtected, budgetWords(ns, cause)
		}
		return inject.StatusFailed, fmt.Sprintf("throttled by the API server (429), not retried: %v", err)
	case apierrors.IsForbidden(err):
		return inject.StatusFailed, forbiddenWords(method, err)
	}
	return inject.StatusFailed, err.Error()
}

// budgetWords describes a refusal by a PodDisruptionBudget from the
// eviction API's cause, without reading the budget (which would need a
// right the runner does not otherwise have). The API refuses an eviction
// only when the budget allows 0 disruptions, and says how many healthy
// pods it needs and has; a budget it has not processed yet is said as is.
func budgetWords(ns, cause string) string {
	name := budgetName(cause)
	if name == "" {
		return "protected by a PodDisruptionBudget: " + cause
	}
	var need, have int
	if _, err := fmt.Sscanf(cause[strings.Index(strings.ToLower(cause), "disruption budget "):], "disruption budget "+name+" needs %d healthy pods and has %d currently", &need, &have); err == nil {
		return fmt.Sprintf("protected by PodDisruptionBudget %s/%s: 0 disruptions allowed (it needs %d healthy pods and has %d)", ns, name, need, have)
	}
	return fmt.Sprintf("protected by PodDisruptionBudget %s/%s: %s", ns, name, cause)
}

// forbiddenWords describes a 403. RBAC's refusals say "cannot VERB
// resource"; other 403s come from admission (a webhook, a policy engine).
func forbiddenWords(method string, err error) string {
	verb := "evict"
	if method == MethodDelete {
		verb = "delete"
	}
	msg := err.Error()
	if strings.Contains(msg, "cannot ") && strings.Contains(msg, "resource") {
		return fmt.Sprintf("cannot %s: forbidden: %s (RBAC: the account lacks the right)", verb, msg)
	}
	return fmt.Sprintf("cannot %s: forbidden: %s (refused by admission)", verb, msg)
}

// budgetCause returns the eviction API's explanation of a refusal by a
// PodDisruptionBudget.
func budgetCause(err error) (string, bool) {
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		return "", false
	}
	s := status.Status()
	if s.Details != nil {
		for _, c := range s.Details.Causes {
			if c.Type == policyv1.DisruptionBudgetCause {
				return c.Message, true
			}
		}
	}
	if strings.Contains(s.Message, "disruption budget") {
		return s.Message, true
	}
	return "", false
}

// budgetName finds the budget's name in the eviction API's 429 cause, e.g.
// "The disruption budget checkout needs 2 healthy pods and has 2 currently".
func budgetName(cause string) string {
	const marker = "disruption budget "
	i := strings.Index(strings.ToLower(cause), marker)
	if i < 0 {
		return ""
	}
	name, _, _ := strings.Cut(cause[i+len(marker):], " ")
	return name
}

// gracePeriodSeconds converts the configured grace period. Sub-second parts
// round up. 0 becomes 1, as kubectl does without --force: a grace period
// of 0 is a force deletion that removes the pod object before the kubelet
// has stopped its containers, so a StatefulSet could start a second pod
// with the same identity while the first still runs. 1 s still means "no
// graceful shutdown" for the application.
func gracePeriodSeconds(d *time.Duration) (*int64, error) {
	if d == nil {
		return nil, nil
	}
	if *d < 0 {
		return nil, fmt.Errorf("negative grace period %s", *d)
	}
	s := int64((*d + time.Second - 1) / time.Second)
	if s == 0 {
		s = 1
	}
	return &s, nil
}

func graceWords(grace *int64) string {
	if grace == nil {
		return ""
	}
	return fmt.Sprintf(" (grace period %ds)", *grace)
}
