package nodedrain

import (
	"context"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

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
	err := inject.PostEviction(ctx, client, &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name},
		DeleteOptions: &metav1.DeleteOptions{GracePeriodSeconds: grace, Preconditions: &metav1.Preconditions{UID: &uid}},
	})
	if err == nil {
		return inject.StatusEvicted, "evicted from node " + p.Node + inject.GraceWords(grace)
	}
	return inject.KillOutcome(true, p.Namespace, err)
}
