// series.go holds the kube-state-metrics series: their descriptions (the
// traffic model's too, so Describe lists every one) and the collection of
// the Deployment, Pod and PodDisruptionBudget series from the informer caches.

package exporter

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

type descs struct {
	depSpec, depReplicas, depAvailable, depUnavailable, depReady, depUpdated *prometheus.Desc
	podInfo, podPhase, podReady, podRestarts, podContainerReady              *prometheus.Desc
	pdbCurrent, pdbDesired, pdbAllowed, pdbExpected                          *prometheus.Desc
	requests, duration, ready, minReady                                      *prometheus.Desc
}

func newDescs() descs {
	dep := []string{"namespace", "deployment"}
	pod := []string{"namespace", "pod", "uid"}
	pdb := []string{"namespace", "poddisruptionbudget"}
	svc := []string{"namespace", "service"}
	d := func(name, help string, l []string, extra ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append(append([]string{}, l...), extra...), nil)
	}
	return descs{
		depSpec:        d("kube_deployment_spec_replicas", "Number of desired pods for a deployment.", dep),
		depReplicas:    d("kube_deployment_status_replicas", "The number of replicas per deployment.", dep),
		depAvailable:   d("kube_deployment_status_replicas_available", "The number of available replicas per deployment.", dep),
		depUnavailable: d("kube_deployment_status_replicas_unavailable", "The number of unavailable replicas per deployment.", dep),
		depReady:       d("kube_deployment_status_replicas_ready", "The number of ready replicas per deployment.", dep),
		depUpdated:     d("kube_deployment_status_replicas_updated", "The number of updated replicas per deployment.", dep),

		podInfo:           d("kube_pod_info", "Information about pod.", pod, "host_ip", "pod_ip", "node", "created_by_kind", "created_by_name", "priority_class", "host_network"),
		podPhase:          d("kube_pod_status_phase", "The pods current phase.", pod, "phase"),
		podReady:          d("kube_pod_status_ready", "Describes whether the pod is ready to serve requests.", pod, "condition"),
		podRestarts:       d("kube_pod_container_status_restarts_total", "The number of container restarts per container.", pod, "container"),
		podContainerReady: d("kube_pod_container_status_ready", "Describes whether the containers readiness check succeeded.", pod, "container"),

		pdbCurrent:  d("kube_poddisruptionbudget_status_current_healthy", "Current number of healthy pods.", pdb),
		pdbDesired:  d("kube_poddisruptionbudget_status_desired_healthy", "Minimum desired number of healthy pods.", pdb),
		pdbAllowed:  d("kube_poddisruptionbudget_status_pod_disruptions_allowed", "Number of pod disruptions that are currently allowed.", pdb),
		pdbExpected: d("kube_poddisruptionbudget_status_expected_pods", "Total number of pods counted by this disruption budget.", pdb),

		requests: d("http_requests_total", "Demo traffic: requests handled by the service (sandbox traffic model).", svc, "code"),
		duration: d("http_request_duration_seconds", "Demo traffic: request latency (sandbox traffic model).", svc),
		ready:    d("sandbox_traffic_ready_pods", "Ready, non-terminating pods the traffic model sees behind the service.", svc),
		minReady: d("sandbox_traffic_min_ready_pods", "Ready pods the service needs to serve its load without errors.", svc),
	}
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, lv ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
}

func (e *Exporter) collectDeployments(ch chan<- prometheus.Metric) {
	deps, err := e.deploys.List(labels.Everything())
	if err != nil {
		return
	}
	d := e.descs
	for _, dep := range deps {
		lv := []string{dep.Namespace, dep.Name}
		spec := int32(1) // the API default when unset
		if dep.Spec.Replicas != nil {
			spec = *dep.Spec.Replicas
		}
		gauge(ch, d.depSpec, float64(spec), lv...)
		gauge(ch, d.depReplicas, float64(dep.Status.Replicas), lv...)
		gauge(ch, d.depAvailable, float64(dep.Status.AvailableReplicas), lv...)
		gauge(ch, d.depUnavailable, float64(dep.Status.UnavailableReplicas), lv...)
		gauge(ch, d.depReady, float64(dep.Status.ReadyReplicas), lv...)
		gauge(ch, d.depUpdated, float64(dep.Status.UpdatedReplicas), lv...)
	}
}

func (e *Exporter) collectPods(ch chan<- prometheus.Metric) {
	pods, err := e.pods.List(labels.Everything())
	if err != nil {
		return
	}
	d := e.descs
	phases := []corev1.PodPhase{corev1.PodPending, corev1.PodSucceeded, corev1.PodFailed, corev1.PodUnknown, corev1.PodRunning}
	for _, p := range pods {
		lv := []string{p.Namespace, p.Name, string(p.UID)}
		kind, owner := "<none>", "<none>"
		if ref := metav1.GetControllerOf(p); ref != nil {
			kind, owner = ref.Kind, ref.Name
		}
		gauge(ch, d.podInfo, 1, append(lv, p.Status.HostIP, p.Status.PodIP, p.Spec.NodeName, kind, owner,
			p.Spec.PriorityClassName, strconv.FormatBool(p.Spec.HostNetwork))...)
		for _, ph := range phases {
			gauge(ch, d.podPhase, boolf(p.Status.Phase == ph), append(lv, string(ph))...)
		}
		for _, c := range p.Status.Conditions {
			if c.Type != corev1.PodReady {
				continue
			}
			for _, st := range []corev1.ConditionStatus{corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown} {
				// kube-state-metrics spells the label values in lower case.
				gauge(ch, d.podReady, boolf(c.Status == st), append(lv, lower(st))...)
			}
		}
		for _, cs := range p.Status.ContainerStatuses {
			ch <- prometheus.MustNewConstMetric(d.podRestarts, prometheus.CounterValue, float64(cs.RestartCount), append(lv, cs.Name)...)
			gauge(ch, d.podContainerReady, boolf(cs.Ready), append(lv, cs.Name)...)
		}
	}
}

func (e *Exporter) collectPDBs(ch chan<- prometheus.Metric) {
	pdbs, err := e.pdbs.List(labels.Everything())
	if err != nil {
		return
	}
	d := e.descs
	for _, p := range pdbs {
		lv := []string{p.Namespace, p.Name}
		gauge(ch, d.pdbCurrent, float64(p.Status.CurrentHealthy), lv...)
		gauge(ch, d.pdbDesired, float64(p.Status.DesiredHealthy), lv...)
		gauge(ch, d.pdbAllowed, float64(p.Status.DisruptionsAllowed), lv...)
		gauge(ch, d.pdbExpected, float64(p.Status.ExpectedPods), lv...)
	}
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func lower(s corev1.ConditionStatus) string {
	switch s {
	case corev1.ConditionTrue:
		return "true"
	case corev1.ConditionFalse:
		return "false"
	default:
		return "unknown"
	}
}
