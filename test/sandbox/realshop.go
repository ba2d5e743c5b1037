package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/chaosnight/chaosnight/test/sandbox/shop"
)

// The real shop: services of the demo shop run as real pods on the real
// node (the shop command in ShopImage), each with a Service whose
// EndpointSlices the real controller-manager keeps, a load generator in the
// sandbox process that sends requests to the ready endpoints only (a
// client-side load balancer: there is no kube-proxy), and Prometheus
// scraping every pod by its IP (found by the sandbox's pod informer and
// written to a file_sd file: Debian's Prometheus has no Kubernetes service
// discovery). Latency and errors are then measured, not
// modelled: a CPU stress that fills the pod's quota slows real requests.
const (
	// ShopPort is the port every shop pod serves on (HTTP and /metrics).
	ShopPort = 8080
	// ShopScrapeJob is the Prometheus job that scrapes the shop pods.
	ShopScrapeJob = "shop-pods"
	// LoadScrapeJob is the Prometheus job of the load generators' own
	// client-side series (shop_client_requests_total).
	LoadScrapeJob = "sandbox-load"
	// ScrapeAnnotation opts a pod in to the shop-pods job (value "true"),
	// the prometheus.io/scrape convention; ScrapePortAnnotation names its
	// port.
	ScrapeAnnotation     = "prometheus.io/scrape"
	ScrapePortAnnotation = "prometheus.io/port"
)

// RealService is one shop service run as real pods on the real node.
type RealService struct {
	Namespace, Name string
	// Labels are the pod template's labels; the selector is app=Labels["app"]
	// (default app=Name).
	Labels   map[string]string
	Replicas int32
	// Work is the CPU time each request costs (the shop's --work).
	Work time.Duration
	// ReadyDelay is how long a new pod answers 503 and is not ready.
	ReadyDelay time.Duration
	// Drain is how long a pod keeps serving after SIGTERM while not ready
	// (default 3s), so the endpoints drop it before it stops listening.
	Drain time.Duration
	// CPULimit is each pod's CPU limit (default 200m): a pod-scope CPU
	// stress competes with the service inside this quota.
	CPULimit string
	// RPS is the load generator's request rate (0: no load generator).
	RPS float64
}

func (r *RealService) defaults() {
	if r.Labels == nil {
		r.Labels = map[string]string{"app": r.Name}
	}
	if r.Labels["app"] == "" {
		r.Labels["app"] = r.Name
	}
	if r.Replicas == 0 {
		r.Replicas = 1
	}
	if r.Drain == 0 {
		r.Drain = 3 * time.Second
	}
	if r.CPULimit == "" {
		r.CPULimit = "200m"
	}
}

// realServiceDeployment is the Deployment of a real service: restricted
// (so a namespace enforcing Pod Security restricted takes it), pinned to
// the real node, annotated for scraping, with a readiness probe on /readyz
// that the real kubelet runs every second.
func realServiceDeployment(r RealService) *appsv1.Deployment {
	grace := int64(30)
	spec := corev1.PodSpec{
		TerminationGracePeriodSeconds: &grace,
		EnableServiceLinks:            ptrTo(false),
		AutomountServiceAccountToken:  ptrTo(false),
		SecurityContext: &corev1.PodSecurityContext{
			RunAsNonRoot:   ptrTo(true),
			RunAsUser:      ptrTo(int64(65534)),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
		Containers: []corev1.Container{{
			Name:            r.Name,
			Image:           ShopImage,
			ImagePullPolicy: corev1.PullNever, // imported, never pulled
			Args:            []string{"serve"},
			Env: []corev1.EnvVar{
				{Name: "SHOP_SERVICE", Value: r.Name},
				{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
				{Name: "SHOP_LISTEN", Value: ":" + strconv.Itoa(ShopPort)},
				{Name: "SHOP_WORK", Value: r.Work.String()},
				{Name: "SHOP_READY_DELAY", Value: r.ReadyDelay.String()},
				{Name: "SHOP_DRAIN", Value: r.Drain.String()},
			},
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: ShopPort}},
			ReadinessProbe: &corev1.Probe{
				ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(ShopPort)}},
				PeriodSeconds:    1,
				FailureThreshold: 1,
				TimeoutSeconds:   1,
			},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("20m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(r.CPULimit), corev1.ResourceMemory: resource.MustParse("64Mi")},
			},
			SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptrTo(false),
				ReadOnlyRootFilesystem:   ptrTo(true),
				Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			},
		}},
	}
	OnRealNode(&spec)
	replicas := r.Replicas
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: r.Name, Namespace: r.Namespace, Labels: r.Labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": r.Labels["app"]}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: r.Labels, Annotations: map[string]string{
					ScrapeAnnotation: "true", ScrapePortAnnotation: strconv.Itoa(ShopPort),
				}},
				Spec: spec,
			},
		},
	}
}

func realServiceService(r RealService) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: r.Name, Namespace: r.Namespace, Labels: r.Labels},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": r.Labels["app"]},
			Ports:    []corev1.ServicePort{{Name: "http", Port: ShopPort, TargetPort: intstr.FromInt32(ShopPort)}},
		},
	}
}

func ptrTo[T any](v T) *T { return &v }

// DeployRealService creates (or leaves as it is) the service's Deployment
// and Service on the real node and starts its load generator, which runs
// until the sandbox stops. It does not wait for the pods: WaitFor their
// readiness, and for Prometheus' series, as the test needs. It needs
// Config.RealNode.
func (s *Sandbox) DeployRealService(ctx context.Context, r RealService) error {
	if s.node == nil {
		return &RealNodeUnavailableError{Reason: "the sandbox was started without Config.RealNode"}
	}
	r.defaults()
	if _, err := s.client.AppsV1().Deployments(r.Namespace).Create(ctx, realServiceDeployment(r), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create deployment %s/%s: %w", r.Namespace, r.Name, err)
	}
	if _, err := s.client.CoreV1().Services(r.Namespace).Create(ctx, realServiceService(r), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create service %s/%s: %w", r.Namespace, r.Name, err)
	}
	if r.RPS > 0 {
		return s.startLoad(r)
	}
	return nil
}

// SeedRealShop seeds the workload (SeedWorkload) with the workloads that
// have a real form running as real services on the real node, and returns
// once everything is available and Prometheus has the real services'
// series from every replica: what Config{SeedWorkload, RealShop} does at
// start, for a package whose sandbox was started without it.
func (s *Sandbox) SeedRealShop(ctx context.Context) error {
	if s.node == nil {
		return &RealNodeUnavailableError{Reason: "the sandbox was started without Config.RealNode"}
	}
	return s.seed(ctx, true)
}

// seed creates the seeded workload (real: the real forms on the real node)
// and waits until it is available and, for real services, scraped: the
// steady state must be measurable from an experiment's first probe.
func (s *Sandbox) seed(ctx context.Context, real bool) error {
	var deploy func(context.Context, RealService) error
	if real {
		deploy = s.DeployRealService
	}
	if err := seedWorkload(ctx, s.client, deploy); err != nil {
		return err
	}
	if err := WaitWorkloadReady(ctx, s.client); err != nil {
		return s.withLogs(err, "kube-controller-manager", "kube-scheduler", "kwok")
	}
	for _, w := range SeededWorkloads() {
		if w.Real == nil || !real {
			continue
		}
		if _, err := s.WaitRealServiceScraped(ctx, w.Namespace, w.Name, int(w.Replicas)); err != nil {
			return err
		}
	}
	return nil
}

// loadMetrics are the load generators' client-side series: what the
// callers saw, including the requests no server ever counted (no ready
// endpoint, a connection refused by a pod that is gone).
type loadMetrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
}

func newLoadMetrics() *loadMetrics {
	m := &loadMetrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shop_client_requests_total",
			Help: "Requests the sandbox's load generators made, by outcome: the HTTP code, \"error\" (no answer) or \"no-endpoint\" (no ready endpoint to send it to).",
		}, []string{"namespace", "service", "code"}),
	}
	m.registry.MustRegister(m.requests)
	return m
}

func (m *loadMetrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// startLoad runs a load generator for r until the sandbox stops, sending
// each request to the next ready endpoint of r's Service.
func (s *Sandbox) startLoad(r RealService) error {
	factory := informers.NewSharedInformerFactoryWithOptions(s.client, 0, informers.WithNamespace(r.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = discoveryv1.LabelServiceName + "=" + r.Name
		}))
	lister := factory.Discovery().V1().EndpointSlices().Lister().EndpointSlices(r.Namespace)
	factory.Start(s.runCtx.Done())
	resolve := func() []string { return readyEndpoints(lister) }
	for _, code := range []string{"200", "500", "503", "error", "no-endpoint"} {
		s.load.requests.WithLabelValues(r.Namespace, r.Name, code) // every outcome from the start, at 0
	}
	observe := func(target string, code int, answered bool) {
		outcome := strconv.Itoa(code)
		switch {
		case target == "":
			outcome = "no-endpoint"
		case !answered:
			outcome = "error"
		}
		s.load.requests.WithLabelValues(r.Namespace, r.Name, outcome).Inc()
	}
	go func() {
		// A load run must stop by itself (shop.MaxDuration): run one after
		// another until the sandbox stops.
		for s.runCtx.Err() == nil {
			_, _ = shop.RunLoad(s.runCtx, shop.LoadConfig{
				Resolve: resolve, RPS: r.RPS, Concurrency: 8, Duration: shop.MaxDuration, Timeout: 2 * time.Second,
				Observe: observe,
			})
		}
	}()
	return nil
}

// endpointSliceLister is what readyEndpoints needs of the informer.
type endpointSliceLister interface {
	List(selector labels.Selector) ([]*discoveryv1.EndpointSlice, error)
}

// readyEndpoints are the URLs of the ready endpoints, sorted (a stable
// round robin). Terminating pods are not ready, so a pod being evicted
// stops getting requests as soon as the real kubelet's readiness probe
// and the EndpointSlice controller say so, like behind kube-proxy.
func readyEndpoints(l endpointSliceLister) []string {
	slices, err := l.List(labels.Everything())
	if err != nil {
		return nil
	}
	var urls []string
	for _, sl := range slices {
		port := ShopPort
		for _, p := range sl.Ports {
			if p.Port != nil {
				port = int(*p.Port)
			}
		}
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				urls = append(urls, "http://"+net.JoinHostPort(a, strconv.Itoa(port))+"/")
			}
		}
	}
	sort.Strings(urls)
	return urls
}

// WaitRealServiceScraped waits until Prometheus has request series from
// want ready pods of the service (the pod label the shop-pods job adds),
// and returns their names.
func (s *Sandbox) WaitRealServiceScraped(ctx context.Context, namespace, service string, want int) ([]string, error) {
	q := fmt.Sprintf(`count by (pod) (http_requests_total{job=%q,namespace=%q,service=%q})`, ShopScrapeJob, namespace, service)
	var last string
	for {
		res, err := s.Query(ctx, q)
		if err == nil && len(res) >= want {
			var pods []string
			for k := range res { // {pod="name"}
				pods = append(pods, strings.TrimSuffix(strings.TrimPrefix(k, `{pod="`), `"}`))
			}
			sort.Strings(pods)
			return pods, nil
		}
		last = fmt.Sprintf("%d of %d pods (err %v)", len(res), want, err)
		select {
		case <-ctx.Done():
			return nil, s.withLogs(fmt.Errorf("prometheus has no series of %d %s/%s pods (%s): %w", want, namespace, service, last, context.Cause(ctx)), "prometheus")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// podTargetsFile is the file_sd file of the shop-pods job.
func (s *Sandbox) podTargetsFile() string { return filepath.Join(s.Dir, "pod-targets.json") }

// fileSDGroup is one target group of a Prometheus file_sd file.
type fileSDGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// podScrapeTargets are the file_sd groups of the pods that ask to be
// scraped (ScrapeAnnotation, ScrapePortAnnotation) and have an IP: one
// group per pod, labelled with its name.
func podScrapeTargets(pods []*corev1.Pod) []fileSDGroup {
	groups := []fileSDGroup{} // "[]", never "null": Prometheus wants a list
	for _, p := range pods {
		port := p.Annotations[ScrapePortAnnotation]
		if p.Annotations[ScrapeAnnotation] != "true" || port == "" || p.Status.PodIP == "" ||
			p.Status.Phase != corev1.PodRunning {
			continue
		}
		groups = append(groups, fileSDGroup{
			Targets: []string{net.JoinHostPort(p.Status.PodIP, port)},
			Labels:  map[string]string{"pod": p.Name, "pod_namespace": p.Namespace},
		})
	}
	sort.Slice(groups, func(i, j int) bool { return groups[i].Labels["pod"] < groups[j].Labels["pod"] })
	return groups
}

// writeFileSD replaces path atomically (Prometheus may read it any time).
func writeFileSD(path string, groups []fileSDGroup) error {
	if groups == nil {
		groups = []fileSDGroup{} // Prometheus wants a list, not null
	}
	b, err := json.MarshalIndent(groups, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path+".tmp", b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// startPodTargets keeps podTargetsFile in step with the real node's pods
// until the sandbox stops: Debian's Prometheus has no Kubernetes service
// discovery, so this is the sandbox's, written where file_sd reads it.
func (s *Sandbox) startPodTargets() {
	factory := informers.NewSharedInformerFactoryWithOptions(s.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = "spec.nodeName=" + RealNodeName
		}))
	inf := factory.Core().V1().Pods()
	lister := inf.Lister()
	changed := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: poke, DeleteFunc: poke, UpdateFunc: func(_, n any) { poke(n) },
	})
	factory.Start(s.runCtx.Done())
	go func() {
		for {
			select {
			case <-s.runCtx.Done():
				return
			case <-changed:
			}
			pods, err := lister.List(labels.Everything())
			if err != nil {
				continue
			}
			if err := writeFileSD(s.podTargetsFile(), podScrapeTargets(pods)); err != nil {
				s.logf("pod targets: %v", err)
			}
		}
	}()
}
