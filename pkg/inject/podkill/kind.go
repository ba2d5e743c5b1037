package podkill

import (
	"context"
	_ "embed" // schema.json
	"time"

	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// schemaJSON is generated from Spec by TestSchemaIsGenerated (go test
// ./pkg/inject/podkill -run TestSchema -update).
//
//go:embed schema.json
var schemaJSON []byte

// Fault is the podKill fault kind; pkg/faults registers it.
type Fault struct{ experiment.SpecType[Spec] }

var (
	_ inject.Kind             = Fault{}
	_ inject.Repeater         = Fault{}
	_ inject.AdmissionChecker = Fault{}
)

// Name implements experiment.FaultKind.
func (Fault) Name() string { return Kind }

func specOf(spec any) *Spec { return experiment.SpecAs[Spec](spec) }

// Default implements experiment.FaultKind: method evict.
func (Fault) Default(spec any) {
	if s := specOf(spec); s.Method == "" {
		s.Method = MethodEvict
	}
}

// Validate implements experiment.FaultKind.
func (Fault) Validate(c *experiment.ActionCheck, spec any) {
	p := specOf(spec)
	switch p.Method {
	case "", MethodEvict, MethodDelete:
	default:
		c.Add("method", "invalid value %s (allowed: %s, %s)", experiment.QuoteValue(p.Method), MethodEvict, MethodDelete)
	}
	if p.GracePeriod != nil {
		if d, ok := c.Duration("gracePeriod", *p.GracePeriod, false, false); ok && d%time.Second != 0 {
			// The API takes whole seconds; truncating 500ms to 0 would turn
			// a gentle kill into an immediate one.
			c.Add("gracePeriod", "%s is not a whole number of seconds (Kubernetes counts grace periods in seconds)", p.GracePeriod)
		}
	}
	every, ok := c.Duration("every", p.Every, false, false)
	if ok && c.DurationOK && every > c.Spec.Duration.Duration {
		c.Add("every", "%s is longer than spec.duration %s (leave it out, or set 0s, to kill once)", p.Every, c.Spec.Duration)
	}
}

// Describe implements experiment.FaultKind.
func (Fault) Describe(spec any) experiment.Words {
	p := specOf(spec)
	method := p.Method
	if method == "" {
		method = MethodEvict
	}
	w := experiment.Words{Action: "pod kill (" + method + ")",
		Revert: "nothing to undo: the workloads' controllers replace the pods"}
	if p.Every.Duration > 0 {
		w.Action += ", every " + p.Every.String()
	}
	return w
}

// Schema implements experiment.FaultKind.
func (Fault) Schema() experiment.KindSchema { return experiment.ParseKindSchema(schemaJSON) }

// Every implements inject.Repeater.
func (Fault) Every(spec any) time.Duration { return specOf(spec).Every.Duration }

// Injector implements inject.Kind.
func (Fault) Injector(env inject.Env, exp *experiment.Experiment) (inject.Injector, error) {
	p := specOf(exp.Spec.Action.Spec)
	var grace *time.Duration
	if p.GracePeriod != nil {
		d := p.GracePeriod.Duration
		grace = &d
	}
	return &Injector{Client: env.Client, Method: p.Method, GracePeriod: grace}, nil
}

// Access implements inject.Kind.
func (Fault) Access(spec any, ns string) []inject.Access { return Access(specOf(spec).Method, ns) }

// DryRunAdmission implements inject.AdmissionChecker: the deletion or
// eviction of p, with dryRun=All.
func (Fault) DryRunAdmission(ctx context.Context, env inject.Env, exp *experiment.Experiment, p target.Pod) (string, error) {
	dry := []string{metav1.DryRunAll}
	uid := types.UID(p.UID)
	if specOf(exp.Spec.Action.Spec).Method == MethodDelete {
		return "deletion of pod " + p.Key(), env.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name,
			metav1.DeleteOptions{DryRun: dry, Preconditions: &metav1.Preconditions{UID: &uid}})
	}
	return "eviction of pod " + p.Key(), env.Client.PolicyV1().Evictions(p.Namespace).Evict(ctx, &policyv1.Eviction{
		ObjectMeta:    metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name},
		DeleteOptions: &metav1.DeleteOptions{DryRun: dry, Preconditions: &metav1.Preconditions{UID: &uid}},
	})
}
