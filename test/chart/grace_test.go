package chart_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/chaosnight/chaosnight/pkg/runner"
)

// The runner's pod gets long enough to stop: the leader aborts the run in
// flight, reverts it (at most runner.RevertTimeout), writes its verdict,
// and only then releases the leader Lease. The grace period is checked
// against the constants serve uses, so that a longer revert timeout in the
// code fails here until the chart follows.
func TestGracePeriodCoversTheRevert(t *testing.T) {
	t.Parallel()
	minGrace := runner.MinTerminationGracePeriod()
	if minGrace <= runner.RevertTimeout+runner.LeaseReleaseTimeout {
		t.Fatalf("MinTerminationGracePeriod %v leaves no margin over the revert (%v) and the Lease release (%v)",
			minGrace, runner.RevertTimeout, runner.LeaseReleaseTimeout)
	}
	cases := []struct {
		name   string
		values string
		want   time.Duration // 0: at least minGrace
	}{
		{name: "defaults"},
		{name: "longer", values: "terminationGracePeriodSeconds: 300", want: 300 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rel := render(t, vals(t, tc.values))
			dep := typed[appsv1.Deployment](t, rel.find(t, "Deployment", "chaosnight"))
			gp := dep.Spec.Template.Spec.TerminationGracePeriodSeconds
			if gp == nil {
				t.Fatal("no terminationGracePeriodSeconds: the default 30 s is shorter than a revert")
			}
			got := time.Duration(*gp) * time.Second
			if got < minGrace {
				t.Errorf("terminationGracePeriodSeconds = %v, want at least %v (revert %v + verdict %v + Lease release %v + runner Lease %v + HTTP %v + margin %v)",
					got, minGrace, runner.RevertTimeout, runner.VerdictWriteTimeout, runner.LeaseReleaseTimeout,
					runner.RunLeaseStopTimeout, runner.HTTPShutdownTimeout, runner.ShutdownMargin)
			}
			if tc.want != 0 && got != tc.want {
				t.Errorf("terminationGracePeriodSeconds = %v, want %v", got, tc.want)
			}
		})
	}
	// A value too short to revert is refused at install, naming the key.
	short := fmt.Sprintf("terminationGracePeriodSeconds: %d", int(minGrace.Seconds())-1)
	_, err := renderChart(loadChart(t), releaseName, releaseNamespace, vals(t, short))
	if err == nil || !strings.Contains(err.Error(), "terminationGracePeriodSeconds") {
		t.Errorf("%s: %v, want it refused naming the key", short, err)
	}
}
