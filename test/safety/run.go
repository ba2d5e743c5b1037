package safety

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/chaosnight/chaosnight/pkg/cli"
	"github.com/chaosnight/chaosnight/pkg/journal"
)

// YAML is the experiment file of case k. The observation is made cheap:
// a probe that always holds (vector(1) equals 1), one second of duration,
// a short recovery; gracePeriod 0s so a touched pod is gone at once.
func YAML(k Case) string {
	e := k.Exp
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: chaosnight.dev/v1alpha1
kind: Experiment
metadata:
  name: %s
spec:
  hypothesis:
    probes:
      - name: always
        query: vector(1)
        expect: {equals: 1}
  target:
    namespaces: [%s]
    selector: %q
`, e.Name, strings.Join(e.Namespaces, ", "), e.SelectorString())
	switch {
	case e.All:
		b.WriteString("    pick: {all: true}\n")
	case e.Percent > 0:
		fmt.Fprintf(&b, "    pick: {percent: %d}\n", e.Percent)
	default:
		fmt.Fprintf(&b, "    pick: {count: %d}\n", e.Count)
	}
	if e.OnePerOwner {
		b.WriteString("    onePerOwner: true\n")
	}
	if e.MinAge > 0 {
		fmt.Fprintf(&b, "    minAge: %s\n", e.MinAge)
	}
	fmt.Fprintf(&b, `  action:
    podKill: {method: %s, gracePeriod: 0s}
  duration: 1s
  probeInterval: 1s
  recovery: 5s
`, e.Method)
	var safety []string
	if e.MaxTargets > 0 {
		safety = append(safety, "maxTargets: "+strconv.Itoa(e.MaxTargets))
	}
	if e.MinHealthy != nil {
		safety = append(safety, "minHealthy: "+strconv.Itoa(*e.MinHealthy))
	}
	if len(safety) > 0 {
		fmt.Fprintf(&b, "  safety: {%s}\n", strings.Join(safety, ", "))
	}
	return b.String()
}

// Flags are the operator's settings of case k as flags of `run`.
func Flags(k Case) []string {
	op := k.Op
	f := []string{"--require-opt-in=" + strconv.FormatBool(op.RequireOptIn)}
	if op.MaxTargets > 0 {
		f = append(f, "--max-targets", strconv.Itoa(op.MaxTargets))
	}
	if op.MinHealthy > 0 {
		f = append(f, "--min-healthy", strconv.Itoa(op.MinHealthy))
	}
	if len(op.Exclude) > 0 {
		f = append(f, "--exclude-namespaces", strings.Join(op.Exclude, ","))
	}
	if len(op.AllowSystem) > 0 {
		f = append(f, "--allow-system-namespaces", strings.Join(op.AllowSystem, ","))
	}
	return f
}

// Env is where the runs go: the sandbox's kubeconfig and Prometheus, and a
// directory for the files.
type Env struct {
	Kubeconfig, PrometheusURL, Dir string
}

// Run runs `chaosnight run` in process for case k (dry or real) with the
// case's --seed, and returns its exit code, output and journal.
func Run(ctx context.Context, env Env, k Case, dry bool) (int, string, *journal.Record, error) {
	kind := "real"
	if dry {
		kind = "dry"
	}
	file := filepath.Join(env.Dir, k.Prefix+".yaml")
	if err := os.WriteFile(file, []byte(YAML(k)), 0o600); err != nil {
		return 0, "", nil, err
	}
	jpath := filepath.Join(env.Dir, k.Prefix+"-"+kind+".json")
	args := append([]string{"run", file, "--kubeconfig", env.Kubeconfig, "--prometheus-url", env.PrometheusURL,
		"--journal", jpath, "--prometheus-timeout", "5s", "--seed", strconv.FormatInt(k.RunSeed, 10),
		// The gate's alert check is another feature (docs/gate.md) and
		// needs no cover here; its rollout check stays on.
		"--gate-alerts=false"}, Flags(k)...)
	if dry {
		args = append(args, "--dry-run")
	}
	var out bytes.Buffer
	code := cli.RunContext(ctx, cli.Streams{In: strings.NewReader(""), Out: &out, Err: &out}, cli.BuildInfo{Version: "test"}, args)
	rec, err := journal.Read(jpath)
	if err != nil {
		return code, out.String(), nil, fmt.Errorf("%s run: exit %d, no journal: %w\n%s", kind, code, err, out.String())
	}
	return code, out.String(), rec, nil
}

// Outcomes are a journal's pods by outcome status (evicted, killed,
// protected-by-pdb, dry-run, refused...), by UID.
func Outcomes(rec *journal.Record) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, inj := range rec.Injections {
		for _, o := range inj.Outcomes {
			if out[o.Status] == nil {
				out[o.Status] = map[string]bool{}
			}
			out[o.Status][o.Pod.UID] = true
		}
	}
	return out
}

// EventUIDs are the pods named by the ChaosInjected Events of run runID.
func EventUIDs(ctx context.Context, c kubernetes.Interface, runID string) (map[string]bool, error) {
	// By reason and the run's annotation, not its label: the label is
	// only written when the run ID is a valid label value.
	list, err := c.CoreV1().Events(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: "reason=ChaosInjected"})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, e := range list.Items {
		if e.Annotations["chaosnight.dev/run"] == runID {
			out[string(e.InvolvedObject.UID)] = true
		}
	}
	return out, nil
}
