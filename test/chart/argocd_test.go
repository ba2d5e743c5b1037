package chart_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// The ArgoCD health checks of the custom resources (docs/argocd.md) are Lua
// files in the chart, run here by the same interpreter ArgoCD embeds
// (github.com/yuin/gopher-lua), the way ArgoCD runs them. No sandbox: these
// tests run under a plain go test too.

// healthScript is the file holding the health check of a kind.
func healthScript(t testing.TB, kind string) string {
	t.Helper()
	file := map[string]string{"Experiment": "experiment-health.lua", "ChaosNight": "chaosnight-health.lua"}[kind]
	if file == "" {
		t.Fatalf("no health script for kind %s", kind)
	}
	data, err := os.ReadFile(filepath.Join(chartDir(t), "argocd", file))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// health is what an ArgoCD health script returns.
type health struct {
	Status, Message string
}

// HealthScriptError is a health script that fails or returns something
// ArgoCD cannot use (ArgoCD shows such a resource as Unknown, or errors).
type HealthScriptError struct {
	Reason string
}

func (e *HealthScriptError) Error() string { return "health script: " + e.Reason }

// argocdStatuses are the health statuses ArgoCD accepts from a script; any
// other value is turned into Unknown ("Lua returned an invalid health status").
var argocdStatuses = map[string]bool{"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true}

// runHealth runs script over obj as ArgoCD's controller does (util/lua in
// argo-cd): a state without the standard libraries except package, base and
// table (ArgoCD adds a reduced os, which these scripts do not use, so a
// script calling os or string fails here as it could fail there), one
// second of time, the object as a global table obj, and the chunk's
// returned table read for status and message.
func runHealth(script string, obj *unstructured.Unstructured) (health, error) {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(lib.open), NRet: 0, Protect: true}, lua.LString(lib.name)); err != nil {
			return health{}, fmt.Errorf("open %s: %w", lib.name, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	L.SetContext(ctx)
	L.SetGlobal("obj", toLua(L, obj.Object))
	if err := L.DoString(script); err != nil {
		return health{}, &HealthScriptError{Reason: err.Error()}
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		return health{}, &HealthScriptError{Reason: fmt.Sprintf("returned a %s, want a table", L.Get(-1).Type())}
	}
	var h health
	for key, dst := range map[string]*string{"status": &h.Status, "message": &h.Message} {
		switch v := ret.RawGetString(key).(type) {
		case lua.LString:
			*dst = string(v)
		default:
			if v != lua.LNil {
				return health{}, &HealthScriptError{Reason: fmt.Sprintf("%s is a %s, want a string", key, v.Type())}
			}
		}
	}
	if !argocdStatuses[h.Status] {
		return health{}, &HealthScriptError{Reason: fmt.Sprintf("status %q is not one ArgoCD knows", h.Status)}
	}
	return h, nil
}

// toLua converts an object as the API server returns it (unstructured:
// maps, slices, strings, bools, int64 and float64) into Lua values, as
// ArgoCD does: objects become tables keyed by field, lists tables indexed
// from 1, numbers Lua numbers.
func toLua(L *lua.LState, v any) lua.LValue {
	switch v := v.(type) {
	case map[string]any:
		t := L.CreateTable(0, len(v))
		for k, item := range v {
			t.RawSetString(k, toLua(L, item))
		}
		return t
	case []any:
		t := L.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(L, item))
		}
		return t
	case string:
		return lua.LString(v)
	case bool:
		return lua.LBool(v)
	case int64:
		return lua.LNumber(v)
	case int:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	default:
		return lua.LNil
	}
}

// healthCase is one sample object and the health ArgoCD must show for it.
type healthCase struct {
	name string
	kind string
	// generation is metadata.generation (the API server's count of spec
	// changes); status is the status the runner wrote, as YAML.
	generation int64
	status     string
	want       string // health status
	message    string // a regular expression the message must match
}

// object builds the sample as the API server would return it, through
// JSON so that numbers are int64 and float64 as in the controller.
func (c healthCase) object(t testing.TB) *unstructured.Unstructured {
	t.Helper()
	doc := fmt.Sprintf("apiVersion: chaosnight.dev/v1alpha1\nkind: %s\nmetadata: {name: sample, namespace: shop, generation: %d}\nspec: {}\n", c.kind, c.generation)
	if c.status != "" {
		doc += "status:\n" + indent(c.status, "  ")
	}
	data, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(data); err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return obj
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// cond is a condition as the runner writes it (metav1.Condition).
func cond(typ, status, reason, message string, generation int) string {
	return fmt.Sprintf("- {type: %s, status: %q, reason: %s, message: %q, observedGeneration: %d, lastTransitionTime: \"2026-12-07T22:10:00Z\"}\n",
		typ, status, reason, message, generation)
}

func conditions(cs ...string) string {
	return "conditions:\n" + indent(strings.Join(cs, ""), "  ")
}

// healthCases are the statuses of the design (#18: conditions Valid,
// Running, Held with observedGeneration; lastRun; nextRun) and the health
// decided for each. The sandbox test writes the same statuses through the
// status subresource with the runner's rights and checks them again.
func healthCases() []healthCase {
	const lastRun = "lastRun: {id: 20261207-2200-checkout-pod-kill, verdict: %s, started: \"2026-12-07T22:00:00Z\", finished: \"2026-12-07T22:09:30Z\", reasons: [%q], targets: 1, journal: journals/20261207-2200-checkout-pod-kill.json, reportURL: \"http://chaosnight.chaosnight.svc:8080/runs/20261207-2200-checkout-pod-kill\"}\n"
	const nextRun = "nextRun: \"2026-12-08T22:00:00Z\"\n"
	valid := cond("Valid", "True", "Valid", "the runner accepted the spec", 3)
	finished := func(verdict, reason, held, message string) string {
		return "observedGeneration: 3\n" + conditions(valid, cond("Running", "False", reason, "", 3), cond("Held", held, reason, message, 3)) +
			fmt.Sprintf(lastRun, verdict, message) + nextRun
	}
	return []healthCase{
		{name: "no status yet", kind: "Experiment", generation: 1,
			want: "Progressing", message: `^waiting for the runner$`},
		{name: "status without a Valid condition", kind: "Experiment", generation: 1, status: nextRun,
			want: "Progressing", message: `^waiting for the runner$`},
		{name: "empty conditions", kind: "Experiment", generation: 1, status: "conditions: []\n",
			want: "Progressing", message: `^waiting for the runner$`},
		{name: "spec changed, not observed yet", kind: "Experiment", generation: 4, status: finished("held", "Held", "True", "every probe held"),
			want: "Progressing", message: `^waiting for the runner: generation 4 not observed yet$`},
		{name: "Valid of an older generation", kind: "Experiment", generation: 4,
			status: "observedGeneration: 4\n" + conditions(cond("Valid", "True", "Valid", "", 3)),
			want:   "Progressing", message: `^waiting for the runner: generation 4 not observed yet$`},
		// The runner validates a new spec at once (Valid and
		// observedGeneration follow it) but Running and Held keep the
		// generation of their run until the next one: their verdict stands,
		// saying which generation it was.
		{name: "deviated, spec changed since", kind: "Experiment", generation: 4,
			status: "observedGeneration: 4\n" + conditions(cond("Valid", "True", "Valid", "", 4), cond("Running", "False", "Deviated", "", 3), cond("Held", "False", "Deviated", "error rate 5%", 3)),
			want:   "Degraded", message: `^Deviated \(of generation 3\): error rate 5%$`},
		{name: "held, spec changed since", kind: "Experiment", generation: 5,
			status: "observedGeneration: 5\n" + conditions(cond("Valid", "True", "Valid", "", 5), cond("Held", "True", "Held", "every probe held", 3)) +
				"lastRun: {id: r1, verdict: held}\n",
			want: "Healthy", message: `^held \(run r1, of generation 3\): every probe held$`},
		{name: "invalid", kind: "Experiment", generation: 3,
			status: "observedGeneration: 3\n" + conditions(cond("Valid", "False", "Invalid", "spec.hypothesis.probes[0].query: invalid PromQL: unexpected end of input\nspec.duration: must be at least 10s", 3)),
			want:   "Degraded", message: `^spec.hypothesis.probes\[0\].query: invalid PromQL: unexpected end of input\nspec.duration: must be at least 10s$`},
		{name: "invalid, then fixed but not observed", kind: "Experiment", generation: 4,
			status: "observedGeneration: 3\n" + conditions(cond("Valid", "False", "Invalid", "spec.duration: must be at least 10s", 3)),
			want:   "Progressing", message: `^waiting for the runner`},
		{name: "validating", kind: "Experiment", generation: 1,
			status: conditions(cond("Valid", "Unknown", "Validating", "", 1)),
			want:   "Progressing", message: `^validating`},
		{name: "valid, never run", kind: "Experiment", generation: 3,
			status: "observedGeneration: 3\n" + conditions(valid) + nextRun,
			want:   "Healthy", message: `^valid; next run 2026-12-08T22:00:00Z$`},
		{name: "valid, never run, nothing planned", kind: "Experiment", generation: 3,
			status: "observedGeneration: 3\n" + conditions(valid),
			want:   "Healthy", message: `^valid; no run planned$`},
		{name: "run in flight", kind: "Experiment", generation: 3,
			status: "observedGeneration: 3\n" + conditions(valid, cond("Running", "True", "Running", "run 20261207-2200-checkout-pod-kill (night weeknights)", 3),
				cond("Held", "Unknown", "Running", "run 20261207-2200-checkout-pod-kill (night weeknights) in flight", 3)) + "lastRun: {id: 20261207-2200-checkout-pod-kill, verdict: running, started: \"2026-12-07T22:00:00Z\"}\n",
			want: "Progressing", message: `^run 20261207-2200-checkout-pod-kill \(night weeknights\) in flight$`},
		{name: "verdict pending", kind: "Experiment", generation: 3,
			status: "observedGeneration: 3\n" + conditions(valid, cond("Held", "Unknown", "Running", "", 3)),
			want:   "Progressing", message: `^verdict pending: Running$`},
		{name: "held", kind: "Experiment", generation: 3, status: finished("held", "Held", "True", "every probe held"),
			want: "Healthy", message: `^held \(run 20261207-2200-checkout-pod-kill\): every probe held; next run 2026-12-08T22:00:00Z$`},
		{name: "deviated", kind: "Experiment", generation: 3, status: finished("deviated", "Deviated", "False", "probe error-rate: 0.07 is above 0.01"),
			want: "Degraded", message: `^Deviated \(run 20261207-2200-checkout-pod-kill\): probe error-rate: 0.07 is above 0.01$`},
		{name: "error", kind: "Experiment", generation: 3, status: finished("error", "Error", "False", "revert failed: pod checkout-1 still cordoned"),
			want: "Degraded", message: `^Error \(run .*\): revert failed`},
		{name: "aborted", kind: "Experiment", generation: 3, status: finished("aborted", "Aborted", "False", "kill switch engaged"),
			want: "Healthy", message: `^Aborted \(run .*\), nothing refuted: kill switch engaged; next run`},
		{name: "skipped", kind: "Experiment", generation: 3, status: finished("skipped", "Skipped", "False", "alert CheckoutDown firing"),
			want: "Healthy", message: `^Skipped \(run .*\), nothing refuted: alert CheckoutDown firing`},
		{name: "dry run", kind: "Experiment", generation: 3, status: finished("dry-run", "DryRun", "False", "dry run: 3 targets planned"),
			want: "Healthy", message: `^DryRun \(run .*\), nothing refuted: dry run`},
		{name: "a reason this check does not know", kind: "Experiment", generation: 3, status: finished("error", "Unreverted", "False", "pod still stressed"),
			want: "Degraded", message: `^Held=False with reason Unreverted \(run .*\): pod still stressed$`},

		{name: "night: no status yet", kind: "ChaosNight", generation: 1,
			want: "Progressing", message: `^waiting for the runner$`},
		{name: "night: no Valid condition", kind: "ChaosNight", generation: 1, status: "nextOpens: \"2026-12-08T22:00:00Z\"\n",
			want: "Progressing", message: `^waiting for the runner$`},
		{name: "night: not observed yet", kind: "ChaosNight", generation: 2,
			status: "observedGeneration: 1\n" + conditions(cond("Valid", "True", "Valid", "", 1)),
			want:   "Progressing", message: `^waiting for the runner: generation 2 not observed yet$`},
		{name: "night: invalid", kind: "ChaosNight", generation: 2,
			status: "observedGeneration: 2\n" + conditions(cond("Valid", "False", "Invalid", "spec.timezone: unknown time zone Europe/Pariss", 2)),
			want:   "Degraded", message: `^spec.timezone: unknown time zone Europe/Pariss$`},
		{name: "night: valid", kind: "ChaosNight", generation: 2,
			status: "observedGeneration: 2\n" + conditions(cond("Valid", "True", "Valid", "", 2)) + "nextOpens: \"2026-12-08T22:00:00Z\"\nlastWindow: {opened: \"2026-12-07T22:00:00Z\", closed: \"2026-12-08T04:00:00Z\", played: 2, planned: [a, b]}\n",
			want:   "Healthy", message: `^valid; next opens 2026-12-08T22:00:00Z$`},
		{name: "night: valid, nothing planned", kind: "ChaosNight", generation: 2,
			status: "observedGeneration: 2\n" + conditions(cond("Valid", "True", "Valid", "", 2)),
			want:   "Healthy", message: `^valid; no window planned$`},
	}
}

// checkHealth runs the kind's script over obj and compares with c.
func checkHealth(t testing.TB, c healthCase, obj *unstructured.Unstructured) {
	t.Helper()
	got, err := runHealth(healthScript(t, c.kind), obj)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	if got.Status != c.want || !regexp.MustCompile(c.message).MatchString(got.Message) {
		t.Errorf("%s: health %s %q, want %s matching %q", c.name, got.Status, got.Message, c.want, c.message)
	}
}

// TestArgoCDHealth runs the chart's Lua health checks, the very files
// docs/argocd.md puts in argocd-cm, over every sample status.
func TestArgoCDHealth(t *testing.T) {
	t.Parallel()
	for _, c := range healthCases() {
		t.Run(c.name, func(t *testing.T) {
			checkHealth(t, c, c.object(t))
		})
	}
}

// TestArgoCDHealthHarness proves the harness can fail: a script that
// returns no table, an unknown status, or uses a library ArgoCD does not
// open is an error, not a pass.
func TestArgoCDHealthHarness(t *testing.T) {
	t.Parallel()
	obj := healthCases()[0].object(t)
	for _, tc := range []struct{ name, script, want string }{
		{"no table", `return "Healthy"`, "want a table"},
		{"unknown status", `return {status = "Fine"}`, `status "Fine"`},
		{"string library", `local hs = {status = "Healthy", message = string.format("%d", 1)} return hs`, "string"},
		{"endless", `while true do end`, "context"},
	} {
		_, err := runHealth(tc.script, obj)
		var hse *HealthScriptError
		if !errors.As(err, &hse) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a HealthScriptError naming %q", tc.name, err, tc.want)
		}
	}
	h, err := runHealth(`return {status = "Suspended", message = obj.metadata.name .. " " .. obj.metadata.generation}`, obj)
	if err != nil || h != (health{Status: "Suspended", Message: "sample 1"}) {
		t.Errorf("obj as a table: %+v %v", h, err)
	}
}

// TestArgoCDDocs: the argocd-cm snippet of docs/argocd.md holds exactly
// the chart's Lua files, under ArgoCD's keys.
func TestArgoCDDocs(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join(chartDir(t), "..", "..", "docs", "argocd.md"))
	if err != nil {
		t.Fatal(err)
	}
	var cm corev1.ConfigMap
	found := false
	for _, block := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
		if !strings.Contains(block[1], "name: argocd-cm") {
			continue
		}
		if err := yaml.UnmarshalStrict([]byte(block[1]), &cm); err != nil {
			t.Fatalf("the argocd-cm snippet: %v", err)
		}
		found = true
		break
	}
	if !found || cm.Kind != "ConfigMap" || cm.Name != "argocd-cm" || cm.Namespace != "argocd" {
		t.Fatal("docs/argocd.md has no argocd-cm ConfigMap in a yaml block")
	}
	for _, kind := range []string{"Experiment", "ChaosNight"} {
		key := "resource.customizations.health.chaosnight.dev_" + kind
		if got, want := cm.Data[key], healthScript(t, kind); got != want {
			t.Errorf("docs/argocd.md: %s differs from charts/chaosnight/argocd (update the snippet):\n%s", key, got)
		}
	}
}
