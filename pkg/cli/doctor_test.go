package cli

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestClassifyRefusal(t *testing.T) {
	pods := schema.GroupResource{Resource: "pods"}
	tests := []struct {
		name                        string
		err                         error
		rule, policy, binding, hook string
		message                     string
	}{
		{
			name: "ValidatingAdmissionPolicy",
			err:  apierrors.NewForbidden(pods, "web-1", errors.New("ValidatingAdmissionPolicy 'no-ephemeral' with binding 'no-ephemeral-prod' denied request: ephemeral containers are not allowed")),
			rule: "ValidatingAdmissionPolicy no-ephemeral (binding no-ephemeral-prod)", policy: "no-ephemeral", binding: "no-ephemeral-prod",
			message: `pods "web-1" is forbidden: ValidatingAdmissionPolicy 'no-ephemeral' with binding 'no-ephemeral-prod' denied request: ephemeral containers are not allowed`,
		},
		{
			name: "admission webhook (Kyverno)",
			err:  &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: 400, Reason: metav1.StatusReasonBadRequest, Message: `admission webhook "validate.kyverno.svc-fail" denied the request: policy Pod/shop/web-1 for resource violation: disallow-ephemeral`}},
			rule: `admission webhook validate.kyverno.svc-fail`, hook: "validate.kyverno.svc-fail",
			message: `admission webhook "validate.kyverno.svc-fail" denied the request: policy Pod/shop/web-1 for resource violation: disallow-ephemeral`,
		},
		{
			name:    "Pod Security",
			err:     apierrors.NewForbidden(pods, "web-1", errors.New(`violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false`)),
			rule:    "Pod Security (restricted:latest)",
			message: `pods "web-1" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false`,
		},
		{
			name:    "RBAC",
			err:     apierrors.NewForbidden(schema.GroupResource{Resource: "pods/eviction"}, "web-1", errors.New(`User "bob" cannot create resource "pods/eviction" in API group "" in the namespace "shop"`)),
			rule:    ruleRBAC,
			message: `pods/eviction "web-1" is forbidden: User "bob" cannot create resource "pods/eviction" in API group "" in the namespace "shop"`,
		},
		{
			name:    "PodDisruptionBudget",
			err:     apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0),
			rule:    ruleDisruptionBudget,
			message: "Cannot evict pod as it would violate the pod's disruption budget.",
		},
		{
			name: "message only in the causes",
			err:  &apierrors.StatusError{ErrStatus: metav1.Status{Code: 422, Details: &metav1.StatusDetails{Causes: []metav1.StatusCause{{Message: "a"}, {Message: "b"}}}}},
			rule: ruleAPIServer, message: "a; b",
		},
		{name: "not an API error", err: errors.New("connection refused"), rule: ruleAPIServer, message: "connection refused"},
		{name: "wrapped", err: fmt.Errorf("dry run: %w", apierrors.NewForbidden(pods, "x", errors.New(`violates PodSecurity "baseline:v1.30": host namespaces`))),
			rule: "Pod Security (baseline:v1.30)", message: `pods "x" is forbidden: violates PodSecurity "baseline:v1.30": host namespaces`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := classifyRefusal(tt.err)
			if r.Rule != tt.rule || r.Policy != tt.policy || r.Binding != tt.binding || r.Webhook != tt.hook || r.Message != tt.message {
				t.Errorf("got %+v", r)
			}
			if fix := r.fix("shop", "bob"); fix == "" {
				t.Error("no fix")
			}
		})
	}
}

func TestPodSecurityLevels(t *testing.T) {
	const p = "pod-security.kubernetes.io/"
	tests := []struct {
		labels map[string]string
		want   string
	}{
		{nil, "no Pod Security labels (the cluster's default level applies)"},
		{map[string]string{p + "enforce": "restricted", p + "enforce-version": "latest"}, "Pod Security enforce=restricted (latest)"},
		{map[string]string{p + "audit": "restricted", p + "warn": "baseline", p + "enforce": "privileged"}, "Pod Security enforce=privileged, warn=baseline, audit=restricted"},
		{map[string]string{"chaosnight.dev/enabled": "true"}, "no Pod Security labels (the cluster's default level applies)"},
	}
	for _, tt := range tests {
		if got := podSecurityLevels(tt.labels); got != tt.want {
			t.Errorf("%v: %q, want %q", tt.labels, got, tt.want)
		}
	}
}

func TestDoctorReportText(t *testing.T) {
	var r doctorReport
	r.ok(sectionKubernetes, "API server %s answers", "https://k")
	r.fail(sectionKubernetes, "kill switch engaged", "chaosnight resume")
	r.add(doctorCheck{Section: "Experiment x (x.yaml:1)", Status: doctorFail, Message: "admission: refused", Detail: "verbatim", Fix: "do this"})
	r.warn(sectionPrometheus, "stop condition s of x returns no data now", "")
	r.finish()
	if r.OK || r.Failed != 2 || r.Warnings != 1 {
		t.Errorf("ok %v failed %d warnings %d", r.OK, r.Failed, r.Warnings)
	}
	var b strings.Builder
	if err := r.writeText(&b); err != nil {
		t.Fatal(err)
	}
	want := `Kubernetes
  ✔ API server https://k answers
  ✘ kill switch engaged
    fix: chaosnight resume

Experiment x (x.yaml:1)
  ✘ admission: refused
    message: verbatim
    fix: do this

Prometheus
  ! stop condition s of x returns no data now

4 check(s): 1 ok, 1 warning(s), 2 failed
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
	var ok doctorReport
	ok.warn(sectionNights, "w", "")
	ok.finish()
	if !ok.OK {
		t.Error("a warning failed the report")
	}
}

func TestMetricStem(t *testing.T) {
	for in, want := range map[string]string{"http_requests_total": "http_requests", "latency_seconds_bucket": "latency", "up": "up"} {
		if got := metricStem(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

func TestDoctorInvalidOutput(t *testing.T) {
	code, out := cli(t.Context(), t, "doctor", "--output", "yaml")
	if code != ExitInvalid || !strings.Contains(out, `--output "yaml": unknown output (allowed: text, json)`) {
		t.Errorf("exit %d: %s", code, out)
	}
}

func TestDoctorCompletion(t *testing.T) {
	clearEnv(t)
	code, out, _ := run(t, "__complete", "doctor", "--output", "")
	if code != 0 || !strings.Contains(out, "text\njson\n") {
		t.Errorf("doctor --output completion: exit %d, %q", code, out)
	}
	code, out, _ = run(t, "__complete", "doctor", "")
	if code != 0 || !strings.Contains(out, "yaml\nyml\n") {
		t.Errorf("doctor PATH completion: exit %d, %q", code, out)
	}
}
