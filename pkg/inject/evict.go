package inject

// The kill calls that several fault kinds make (podKill, nodeDrain,
// zoneOutage): fault kinds are one layer and do not import each other, so
// what they share lives here, once.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// PostEviction posts an eviction without client-side retries. client-go
// retries a 429 that carries Retry-After up to 10 times, and the eviction
// API sends one (10 s) while a budget is still being processed; a chaos
// tool must take the budget's "no" at once instead of hammering it for
// minutes.
func PostEviction(ctx context.Context, client kubernetes.Interface, ev *policyv1.Eviction) error {
	if rc, ok := client.CoreV1().RESTClient().(*rest.RESTClient); ok && rc != nil {
		return rc.Post().Namespace(ev.Namespace).Resource("pods").Name(ev.Name).SubResource("eviction").
			MaxRetries(0).Body(ev).Do(ctx).Error()
	}
	// Fake clientsets have no REST client; they do not retry either.
	return client.CoreV1().Pods(ev.Namespace).EvictV1(ctx, ev)
}

// KillOutcome turns a failed eviction (evict true) or deletion of a pod in
// namespace ns into an outcome. Its detail is the reason a run that
// touched nothing gives for it, so it names what refused: the budget and
// its allowance, or the missing right.
func KillOutcome(evict bool, ns string, err error) (status, detail string) {
	switch {
	case apierrors.IsNotFound(err):
		return StatusGone, "the pod no longer exists"
	case apierrors.IsConflict(err) && strings.Contains(err.Error(), "UID"):
		return StatusGone, "the pod was replaced by another with the same name; the replacement was not touched"
	case apierrors.IsTooManyRequests(err) && evict:
		if cause, ok := budgetCause(err); ok {
			return StatusProtected, budgetWords(ns, cause)
		}
		return StatusFailed, fmt.Sprintf("throttled by the API server (429), not retried: %v", err)
	case apierrors.IsForbidden(err):
		verb := "delete"
		if evict {
			verb = "evict"
		}
		return StatusFailed, forbiddenWords(verb, err)
	}
	return StatusFailed, err.Error()
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
func forbiddenWords(verb string, err error) string {
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

// GracePeriodSeconds converts a configured grace period. Sub-second parts
// round up. 0 becomes 1, as kubectl does without --force: a grace period
// of 0 is a force deletion that removes the pod object before the kubelet
// has stopped its containers, so a StatefulSet could start a second pod
// with the same identity while the first still runs. 1 s still means "no
// graceful shutdown" for the application. nil keeps the pod's own.
func GracePeriodSeconds(d *time.Duration) (*int64, error) {
	if d == nil {
		return nil, nil
	}
	if *d < 0 {
		return nil, fmt.Errorf("negative grace period %s", *d)
	}
	s := max(int64((*d+time.Second-1)/time.Second), 1)
	return &s, nil
}

// GraceWords says the grace period sent, for an outcome's detail.
func GraceWords(grace *int64) string {
	if grace == nil {
		return ""
	}
	return fmt.Sprintf(" (grace period %ds)", *grace)
}
