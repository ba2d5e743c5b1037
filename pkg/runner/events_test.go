package runner

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaosnight/chaosnight/pkg/journal"
)

// The verdict Event warns whenever `run` would exit non-zero, so a failed
// revert warns even under a verdict that would not, and says so. (Pure
// message logic: the fake clientset only stores the Event.)
func TestVerdictEventWarnsOnAFailedRevert(t *testing.T) {
	left := []journal.Leftover{{What: "helper pod shop/h", Error: "forbidden"}}
	tests := []struct {
		name      string
		rec       journal.Record
		wantType  string
		wantInMsg string
	}{
		{"held", journal.Record{Verdict: journal.Held}, corev1.EventTypeNormal, ": held"},
		{"deviated", journal.Record{Verdict: journal.Deviated}, corev1.EventTypeWarning, ": deviated"},
		{"skipped with leftovers", journal.Record{Verdict: journal.Skipped, Leftovers: left}, corev1.EventTypeWarning, "skipped (revert failed: 1 thing(s) still in effect, see the journal)"},
		{"dry run", journal.Record{Verdict: journal.DryRun}, corev1.EventTypeNormal, "dry-run"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset()
			e := &Events{Client: c, Object: corev1.ObjectReference{Kind: "Pod", Namespace: "chaosnight", Name: "runner"}, Component: "chaosnight"}
			tt.rec.RunID = "r"
			tt.rec.Experiment.Metadata.Name = "e"
			e.RunEnded(context.Background(), &tt.rec, "")
			evs, err := c.CoreV1().Events("chaosnight").List(context.Background(), metav1.ListOptions{})
			if err != nil || len(evs.Items) != 1 {
				t.Fatalf("events %v %v", evs, err)
			}
			ev := evs.Items[0]
			if ev.Type != tt.wantType || !strings.Contains(ev.Message, tt.wantInMsg) {
				t.Errorf("event %s %q, want %s with %q", ev.Type, ev.Message, tt.wantType, tt.wantInMsg)
			}
		})
	}
}
