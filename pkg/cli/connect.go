package cli

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/killswitch"
	"github.com/chaosnight/chaosnight/pkg/probe/prometheus"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// Keys of the protection floor, the operator limits and the kill switch.
const (
	keyAllowSystemNamespaces = "safety.allowSystemNamespaces"
	keyMaxTargets            = "safety.maxTargets"
	keyMinHealthy            = "safety.minHealthy"
	keyKillSwitchNamespace   = "killSwitch.namespace"
)

// addInjectionFlags declares the flags that run and serve share: how to
// reach Prometheus, the guard's policy and the API client's rate.
func (g *globals) addInjectionFlags(fl *pflag.FlagSet) {
	g.bindFlag(fl, keyPromBearerTokenFile, "prometheus-bearer-token-file", "", "file holding a bearer token for Prometheus (re-read on every request)")
	g.bindFlag(fl, keyPromCAFile, "prometheus-ca-file", "", "CA bundle to verify Prometheus' TLS certificate")
	g.bindBoolFlag(fl, keyPromInsecure, "prometheus-insecure-skip-verify", false, "do not verify Prometheus' TLS certificate")
	g.bindDurationFlag(fl, keyPromTimeout, "prometheus-timeout", 10*time.Second, "timeout of one Prometheus query")
	g.bindStringSliceFlag(fl, keyExcludeNamespaces, "exclude-namespaces", nil,
		"namespaces no injection may ever touch, in addition to the protection floor ("+strings.Join(inject.SystemNamespaces(), ", ")+", the kill switch's namespace and $POD_NAMESPACE)")
	g.bindStringSliceFlag(fl, keyAllowSystemNamespaces, "allow-system-namespaces", nil,
		"system namespaces to lift from the protection floor, each named ("+strings.Join(inject.SystemNamespaces(), ", ")+"); their pods still need the opt-in label")
	g.bindBoolFlag(fl, keyRequireOptIn, "require-opt-in", true, "only touch namespaces labelled "+inject.OptInLabel+"=true")
	g.bindIntFlag(fl, keyMaxTargets, "max-targets", 0, "operator ceiling on the targets of one injection, over every experiment's safety.maxTargets (0: none)")
	g.bindIntFlag(fl, keyMinHealthy, "min-healthy", 0, "operator floor of ready pods every targeted workload keeps, over every experiment's safety.minHealthy (0: none)")
	g.addKillSwitchFlag(fl)
	g.addGateFlags(fl)
	g.bindFloatFlag(fl, keyKubeQPS, "kube-qps", 50, "client-side rate limit of Kubernetes API requests per second")
	g.bindIntFlag(fl, keyKubeBurst, "kube-burst", 100, "burst of Kubernetes API requests")
	g.bindFlag(fl, keyStressImage, "stress-image", "", "image of the stress containers and helper pods (default: the chaosnight image of this version)")
	g.bindDurationFlag(fl, keyStressStartTimeout, "stress-start-timeout", time.Minute, "how long a stress may take to start (image pull) before it counts as failed")
}

// connection is what an injecting command needs: Prometheus, the API
// server, and the namespace chaosnight works in (kill switch, runner state).
type connection struct {
	prom      *prometheus.Client
	rest      *rest.Config
	client    kubernetes.Interface
	namespace string
}

// connect builds the clients from the resolved settings (kubectl's rules
// for the kubeconfig).
func (g *globals) connect() (*connection, error) {
	promCfg, err := g.prometheusConfig()
	if err != nil {
		return nil, err
	}
	prom, err := prometheus.New(promCfg)
	if err != nil {
		return nil, err
	}
	cc := g.kubeClientConfig()
	restCfg, err := cc.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	client, err := target.NewClientset(restCfg, float32(g.v.GetFloat64(keyKubeQPS)), g.v.GetInt(keyKubeBurst))
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	return &connection{prom: prom, rest: restCfg, client: client, namespace: ns}, nil
}

// policy is the guard's policy from the settings. It never fails: the
// settings are checked by checkSafety when a command starts (and must be
// on reload); a value that does not read as a number reads as 0 here.
func (g *globals) policy(dryRun bool) inject.Policy {
	return inject.Policy{
		DenyNamespaces:        g.stringList(keyExcludeNamespaces),
		OwnNamespaces:         g.ownNamespaces(),
		AllowSystemNamespaces: g.stringList(keyAllowSystemNamespaces),
		RequireOptIn:          g.v.GetBool(keyRequireOptIn),
		DryRun:                dryRun,
		MaxTargets:            g.v.GetInt(keyMaxTargets),
		MinHealthy:            g.v.GetInt(keyMinHealthy),
	}
}

// ownNamespaces are the namespaces chaosnight lives in, part of the
// protection floor: the kill switch's, and the runner pod's ($POD_NAMESPACE,
// set by the chart's downward API).
func (g *globals) ownNamespaces() []string {
	out := []string{g.killSwitchNamespace()}
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" && ns != out[0] {
		out = append(out, ns)
	}
	return out
}

// stringList reads a list setting: a flag or a YAML list, or a comma
// separated string from the environment (CHAOSNIGHT_SAFETY_EXCLUDENAMESPACES=a,b),
// which viper would otherwise split on spaces only.
func (g *globals) stringList(key string) []string {
	var out []string
	for _, item := range g.v.GetStringSlice(key) {
		for part := range strings.SplitSeq(item, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// killSwitchNamespace is where the one kill switch lives: the
// killSwitch.namespace setting, never the kubeconfig context's namespace,
// so a laptop and the runner in the cluster read the same switch.
func (g *globals) killSwitchNamespace() string {
	if ns := strings.TrimSpace(g.v.GetString(keyKillSwitchNamespace)); ns != "" {
		return ns
	}
	return killswitch.DefaultNamespace
}

// newKillSwitch is the kill switch every command reads and sets.
func (g *globals) newKillSwitch(client kubernetes.Interface) *killswitch.Switch {
	return &killswitch.Switch{Client: client, Namespace: g.killSwitchNamespace()}
}

// addKillSwitchFlag declares --kill-switch-namespace (run, serve, pause,
// resume, status).
func (g *globals) addKillSwitchFlag(fl *pflag.FlagSet) {
	g.bindFlag(fl, keyKillSwitchNamespace, "kill-switch-namespace", killswitch.DefaultNamespace,
		"namespace of the kill switch (ConfigMap "+killswitch.DefaultName+") that every run, runner, pause, resume and status uses; never the context's namespace")
}

// SafetyError is a safety setting that cannot be applied; Setting names
// it as in chaosnight.yaml, Flag as on the command line.
type SafetyError struct {
	Setting, Flag, Problem string
}

func (e *SafetyError) Error() string {
	return fmt.Sprintf("%s (--%s): %s", e.Setting, e.Flag, e.Problem)
}

// checkSafety validates the safety and kill-switch settings, from
// whichever source they came (flag, CHAOSNIGHT_* environment, config file),
// when an injecting command starts. It returns every problem, joined.
func (g *globals) checkSafety() error {
	var errs []error
	bad := func(setting, flag, format string, args ...any) {
		errs = append(errs, &SafetyError{Setting: setting, Flag: flag, Problem: fmt.Sprintf(format, args...)})
	}
	if ns := g.killSwitchNamespace(); len(validation.IsDNS1123Label(ns)) > 0 {
		bad("killSwitch.namespace", "kill-switch-namespace", "invalid namespace %q (%s)", ns, experiment.DNSLabelRule)
	}
	for _, key := range []struct{ setting, flag string }{{keyExcludeNamespaces, "exclude-namespaces"}, {keyAllowSystemNamespaces, "allow-system-namespaces"}} {
		for _, ns := range g.stringList(key.setting) {
			if len(validation.IsDNS1123Label(ns)) > 0 {
				bad(key.setting, key.flag, "invalid namespace %q (%s)", ns, experiment.DNSLabelRule)
			}
		}
	}
	excluded := g.stringList(keyExcludeNamespaces)
	for _, ns := range g.stringList(keyAllowSystemNamespaces) {
		switch {
		case len(validation.IsDNS1123Label(ns)) > 0:
		case !slices.Contains(inject.SystemNamespaces(), ns):
			bad(keyAllowSystemNamespaces, "allow-system-namespaces", "%q is not a system namespace (allowed: %s; other namespaces need no lifting, and chaosnight's own namespace cannot be lifted)",
				ns, strings.Join(inject.SystemNamespaces(), ", "))
		case slices.Contains(excluded, ns):
			bad(keyAllowSystemNamespaces, "allow-system-namespaces", "%q is also in safety.excludeNamespaces: remove it from one of them", ns)
		}
	}
	for _, key := range []struct{ setting, flag string }{{keyMaxTargets, "max-targets"}, {keyMinHealthy, "min-healthy"}} {
		raw := g.v.GetString(key.setting)
		n, err := strconv.Atoi(strings.TrimSpace(raw))
		switch {
		case err != nil:
			bad(key.setting, key.flag, "%q is not a whole number", raw)
		case n < 0:
			bad(key.setting, key.flag, "must not be negative, got %d (0 means no operator limit)", n)
		}
	}
	if err := g.checkGateSettings(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// logSafety logs, at start, what the operator changed from the protection
// floor and the limits that apply to every experiment; lifting a system
// namespace is logged at warn level, loudly, every time.
func (g *globals) logSafety(p inject.Policy) {
	if lifted := p.LiftedSystemNamespaces(); len(lifted) > 0 {
		g.log.Warn("system namespaces lifted from the protection floor by safety.allowSystemNamespaces: their opted-in pods may be targeted",
			"namespaces", lifted)
	}
	g.log.Info("safety", "killSwitchNamespace", g.killSwitchNamespace(), "excludeNamespaces", p.DenyNamespaces, "ownNamespaces", p.OwnNamespaces,
		"maxTargets", p.MaxTargets, "minHealthy", p.MinHealthy, "requireOptIn", p.RequireOptIn)
}
