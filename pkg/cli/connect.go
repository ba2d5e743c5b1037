package cli

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/probe/prometheus"
	"github.com/chaosnight/chaosnight/pkg/target"
)

// addInjectionFlags declares the flags that run and serve share: how to
// reach Prometheus, the guard's policy and the API client's rate.
func (g *globals) addInjectionFlags(fl *pflag.FlagSet) {
	g.bindFlag(fl, keyPromBearerTokenFile, "prometheus-bearer-token-file", "", "file holding a bearer token for Prometheus (re-read on every request)")
	g.bindFlag(fl, keyPromCAFile, "prometheus-ca-file", "", "CA bundle to verify Prometheus' TLS certificate")
	g.bindBoolFlag(fl, keyPromInsecure, "prometheus-insecure-skip-verify", false, "do not verify Prometheus' TLS certificate")
	g.bindDurationFlag(fl, keyPromTimeout, "prometheus-timeout", 10*time.Second, "timeout of one Prometheus query")
	g.bindStringSliceFlag(fl, keyExcludeNamespaces, "exclude-namespaces", inject.DefaultDenyNamespaces(), "namespaces no injection may ever touch")
	g.bindBoolFlag(fl, keyRequireOptIn, "require-opt-in", true, "only touch namespaces labelled "+inject.OptInLabel+"=true")
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
	prom, err := prometheus.New(prometheus.Config{
		URL:                g.settings.PrometheusURL,
		BearerTokenFile:    g.v.GetString(keyPromBearerTokenFile),
		CAFile:             g.v.GetString(keyPromCAFile),
		InsecureSkipVerify: g.v.GetBool(keyPromInsecure),
		Timeout:            g.v.GetDuration(keyPromTimeout),
	})
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

// policy is the guard's policy from the settings.
func (g *globals) policy(dryRun bool) inject.Policy {
	return inject.Policy{
		DenyNamespaces: g.v.GetStringSlice(keyExcludeNamespaces),
		RequireOptIn:   g.v.GetBool(keyRequireOptIn),
		DryRun:         dryRun,
	}
}
