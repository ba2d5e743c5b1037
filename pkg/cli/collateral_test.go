package cli

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
)

func TestPrintCollateral(t *testing.T) {
	many := make([]inject.CollateralPod, 12)
	for i := range many {
		many[i] = inject.CollateralPod{Namespace: "batch", Name: fmt.Sprintf("job-%02d", i)}
	}
	stressed := []inject.Injection{{Collateral: []inject.Collateral{
		{Node: "kwok-node-0", Pods: []inject.CollateralPod{{Namespace: "billing", Name: "db-0", Workload: "StatefulSet db"}, {Namespace: "default", Name: "solo"}}},
		{Node: "kwok-node-1"},
		{Node: "kwok-node-2", Error: "cannot list the pods of node kwok-node-2, so what else it stresses is unknown: forbidden"},
		{Node: "kwok-node-3", Pods: many},
		{Node: "kwok-node-4", Pods: many[:1], Error: "only the pods of namespace(s) batch were looked at"},
	}}}
	tests := []struct {
		name string
		rec  journal.Record
		want string
	}{
		{"no node-scope stress", journal.Record{Injections: []inject.Injection{{}}}, ""},
		{"a stress", journal.Record{Injections: stressed}, "  collateral (pods of other workloads that share a stressed node):\n" +
			"    kwok-node-0: billing/db-0 (StatefulSet db), default/solo\n" +
			"    kwok-node-1: none\n" +
			"    kwok-node-2: unknown: cannot list the pods of node kwok-node-2, so what else it stresses is unknown: forbidden\n" +
			"    kwok-node-3: batch/job-00, batch/job-01, batch/job-02, batch/job-03, batch/job-04, batch/job-05, batch/job-06, batch/job-07, batch/job-08, batch/job-09 and 2 more (see the journal)\n" +
			"    kwok-node-4: batch/job-00; incomplete: only the pods of namespace(s) batch were looked at\n"},
		{"a dry run", journal.Record{DryRun: true, Injections: []inject.Injection{{Collateral: stressed[0].Collateral[1:2]}}},
			"  collateral (pods of other workloads that would share a stressed node):\n    kwok-node-1: none\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			printCollateral(&b, &tt.rec)
			if b.String() != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", b.String(), tt.want)
			}
		})
	}
}
