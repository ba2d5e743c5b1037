package stress

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaosnight/chaosnight/pkg/inject"
)

func TestFindingsReportEvictedAndGonePods(t *testing.T) {
	pod := func(name, uid, reason string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: name, UID: types.UID(uid)},
			Status: corev1.PodStatus{Reason: reason, Message: "Pod ephemeral local storage usage exceeds the total limit of containers 1Gi."}}
	}
	client := fake.NewClientset(pod("evicted", "u1", "Evicted"), pod("fine", "u2", ""), pod("replaced", "new", ""))
	st := State{Scope: scopePod, Container: "chaosnight-stress-r", Pods: []StatePod{
		{Namespace: "shop", Name: "evicted", UID: "u1"},
		{Namespace: "shop", Name: "fine", UID: "u2"},
		{Namespace: "shop", Name: "replaced", UID: "old"},
		{Namespace: "shop", Name: "deleted", UID: "u4"},
	}}
	inj := inject.Injection{Kind: Kind, State: st.Encode()}
	got := strings.Join((&Injector{Client: client}).Findings(context.Background(), inj), "\n")
	for _, want := range []string{
		"finding: the kubelet evicted pod shop/evicted while it was stressed: Pod ephemeral local storage usage exceeds",
		"finding: pod shop/replaced is gone",
		"finding: pod shop/deleted is gone",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("findings do not contain %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "shop/fine") {
		t.Errorf("a healthy pod is reported:\n%s", got)
	}
}
