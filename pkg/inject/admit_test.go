package inject

import (
	"context"
	"errors"
	"slices"
	"testing"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/chaosnight/chaosnight/pkg/target"
)

// admitter is a recorder that also has rules of its own: it refuses the
// pods named in refuse and reports one collateral node.
type admitter struct {
	recorder
	refuse   map[string]Refusal // pod name -> refusal
	admitted [][]string         // the targets each Admit was given
}

func (a *admitter) Admit(_ context.Context, _ Run, targets []target.Pod) Admission {
	var names []string
	adm := Admission{Refused: map[string]Refusal{}, Collateral: []Collateral{{Node: "n1", Pods: []CollateralPod{{Namespace: "other", Name: "db-0", Workload: "StatefulSet db"}}}}}
	for _, p := range targets {
		names = append(names, p.Name)
		if why, ok := a.refuse[p.Name]; ok {
			adm.Refused[p.UID] = why
		}
	}
	a.admitted = append(a.admitted, names)
	return adm
}

// An Admitter is asked after the Guard's own rules, about the targets
// those left admitted, and before dry run: its refusals and collateral
// show in a dry run as in a real injection, and refused targets never
// reach Inject.
func TestGuardAsksTheAdmitter(t *testing.T) {
	c := (&cluster{}).ns("shop", true).ns("denied", true).rs("shop", "web", 3).rs("denied", "x", 1)
	why := Refusal{Rule: RuleNodeOptIn, Why: "node n2 is not opted in (label chaosnight.dev/enabled=true is missing)"}
	tests := []struct {
		name       string
		dryRun     bool
		refuse     []string
		wantStatus []string // per target, in request order
		wantErr    string   // the RefusedError's rule, when nothing is admitted
		wantInject []string
	}{
		{"a real injection", false, []string{"web-1"}, []string{StatusEvicted, StatusRefused, StatusEvicted, StatusRefused}, "", []string{"shop/web-0", "shop/web-2"}},
		{"a dry run", true, []string{"web-1"}, []string{StatusDryRun, StatusRefused, StatusDryRun, StatusRefused}, "", nil},
		{"everything refused", false, []string{"web-0", "web-1", "web-2"}, []string{StatusRefused, StatusRefused, StatusRefused, StatusRefused}, RuleNodeOptIn, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &admitter{refuse: map[string]Refusal{}}
			for _, n := range tt.refuse {
				a.refuse[n] = why
			}
			g := &Guard{Client: fake.NewClientset(c.objs...), Policy: Policy{RequireOptIn: true, DryRun: tt.dryRun, DenyNamespaces: []string{"denied"}}}
			inj, err := g.Inject(context.Background(), Request{Run: Run{ID: "r"}, Targets: targets(t, c, "shop/web-0", "shop/web-1", "shop/web-2", "denied/x-0"), Injector: a})
			var re *RefusedError
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("inject: %v", err)
			case tt.wantErr != "" && (!errors.As(err, &re) || re.Rule != tt.wantErr):
				t.Fatalf("inject: %v, want a RefusedError of %s", err, tt.wantErr)
			}
			// The deny list refused denied/x-0 first: the admitter never saw it.
			if len(a.admitted) != 1 || !slices.Equal(a.admitted[0], []string{"web-0", "web-1", "web-2"}) {
				t.Errorf("Admit was given %v", a.admitted)
			}
			for i, o := range inj.Outcomes {
				if o.Status != tt.wantStatus[i] {
					t.Errorf("%s: %s (%s), want %s", o.Pod.Key(), o.Status, o.Detail, tt.wantStatus[i])
				}
				if o.Status == StatusRefused && o.Pod.Namespace == "shop" && o.Detail != why.String() {
					t.Errorf("%s: refused with %q, want the admitter's reason", o.Pod.Key(), o.Detail)
				}
			}
			var injected []string
			for _, call := range a.calls {
				injected = append(injected, call...)
			}
			if !slices.Equal(injected, tt.wantInject) {
				t.Errorf("injected %v, want %v", injected, tt.wantInject)
			}
			if len(inj.Collateral) != 1 || inj.Collateral[0].Node != "n1" || inj.Collateral[0].Pods[0].Key() != "other/db-0" {
				t.Errorf("collateral %+v", inj.Collateral)
			}
		})
	}
}
