package nodedrain

// The eviction call and its classification are a copy of pkg/inject/
// podkill's (fault kinds are one layer and do not import each other): keep
// them in step when one changes.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// evictPod sends one eviction of p, pinned by UID, and classifies the
// answer into an outcome status and detail.
func evictPod(ctx context.Context, client kubernetes.Interface, grace *int64, p target.Pod) (status, detail string) {
	if p.UID == "" {
		return inject.StatusFailed, "no UID: refusing an eviction that could hit a replacement pod"
	}
	uid := types.UID(p.UID)
	err := postEviction(ctx, client, &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name},
		DeleteOptions: &metav1.DeleteOptions{GracePeriodSeconds: grace, Preconditions: &metav1.Preconditions{UID: &uid}},
	})
	if err == nil {
		return inject.StatusEvicted, "evicted from node " + p.Node + graceWords(grace)
	}
	return classify(p.Namespace, err)
}

// postEviction posts an eviction without client-side retries: client-go
// retries a 429 that carries Retry-After up to 10 times, and a chaos tool
// must take a budget's "no" at once instead of hammering it.
func postEviction(ctx context.Context, client kubernetes.Interface, ev *policyv1.Eviction) error {
	if rc, ok := client.CoreV1().RESTClient().(*rest.RESTClient); ok && rc != nil {
		return rc.Post().Namespace(ev.Namespace).Resource("pods").Name(ev.Name).SubResource("eviction").
			MaxRetries(0).Body(ev).Do(ctx).Error()
	}
	// Fake clientsets have no REST client; they do not retry either.
	return client.CoreV1().Pods(ev.Namespace).EvictV1(ctx, ev)
}

// classify turns a failed eviction of a pod in namespace ns into an
// outcome that names what refused.
func classify(ns string, err error) (status, detail string) {
	switch {
	case apierrors.IsNotFound(err):
		return inject.StatusGone, "the pod no longer exists"
	case apierrors.IsConflict(err) && strings.Contains(err.Error(), "UID"):
		return inject.StatusGone, "the pod was replaced by another with the same name; the replacement was not touched"
	case apierrors.IsTooManyRequests(err):
		if cause, ok := budgetCause(err); ok {
			return inject.StatusProtected, budgetWords(ns, cause)
		}
		return inject.StatusFailed, fmt.Sprintf("throttled by the API server (429), not retried: %v", err)
	case apierrors.IsForbidden(err):
		msg := err.Error()
		if strings.Contains(msg, "cannot ") && strings.Contains(msg, "resource") {
			return inject.StatusFailed, fmt.Sprintf("cannot evict: forbidden: %s (RBAC: the account lacks the right)", msg)
		}
		return inject.StatusFailed, fmt.Sprintf("cannot evict: forbidden: %s (refused by admission)", msg)
	}
	return inject.StatusFailed, err.Error()
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

// budgetWords describes a refusal by a PodDisruptionBudget from the
// eviction API's cause ("The disruption budget web needs 2 healthy pods
// and has 2 currently"), without reading the budget.
func budgetWords(ns, cause string) string {
	const marker = "disruption budget "
	i := strings.Index(strings.ToLower(cause), marker)
	if i < 0 {
		return "protected by a PodDisruptionBudget: " + cause
	}
	name, _, _ := strings.Cut(cause[i+len(marker):], " ")
	var need, have int
	if _, err := fmt.Sscanf(cause[i:], "disruption budget "+name+" needs %d healthy pods and has %d currently", &need, &have); err == nil {
		return fmt.Sprintf("protected by PodDisruptionBudget %s/%s: 0 disruptions allowed (it needs %d healthy pods and has %d)", ns, name, need, have)
	}
	return fmt.Sprintf("protected by PodDisruptionBudget %s/%s: %s", ns, name, cause)
}

// gracePeriodSeconds converts the configured grace period: sub-second
// parts round up and 0 becomes 1, as kubectl does without --force (0 is a
// force deletion that removes the pod object before its containers stop).
func gracePeriodSeconds(d *time.Duration) (*int64, error) {
	if d == nil {
		return nil, nil
	}
	if *d < 0 {
		return nil, fmt.Errorf("negative grace period %s", *d)
	}
	s := max(int64((*d+time.Second-1)/time.Second), 1)
	return &s, nil
}

func graceWords(grace *int64) string {
	if grace == nil {
		return ""
	}
	return fmt.Sprintf(" (grace period %ds)", *grace)
}
