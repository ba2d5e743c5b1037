package sandbox

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func TestPodScrapeTargets(t *testing.T) {
	pod := func(name, ip string, phase corev1.PodPhase, ann map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Annotations: ann},
			Status: corev1.PodStatus{PodIP: ip, Phase: phase}}
	}
	scrape := map[string]string{ScrapeAnnotation: "true", ScrapePortAnnotation: "8080"}
	got := podScrapeTargets([]*corev1.Pod{
		pod("b", "10.213.0.3", corev1.PodRunning, scrape),
		pod("a", "10.213.0.2", corev1.PodRunning, scrape),
		pod("no-ip-yet", "", corev1.PodPending, scrape),
		pod("not-asking", "10.213.0.4", corev1.PodRunning, nil),
		pod("no-port", "10.213.0.5", corev1.PodRunning, map[string]string{ScrapeAnnotation: "true"}),
		pod("finished", "10.213.0.6", corev1.PodSucceeded, scrape),
	})
	want := []fileSDGroup{
		{Targets: []string{"10.213.0.2:8080"}, Labels: map[string]string{"pod": "a", "pod_namespace": "shop"}},
		{Targets: []string{"10.213.0.3:8080"}, Labels: map[string]string{"pod": "b", "pod_namespace": "shop"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}

	// The file is a JSON list, also when empty (Prometheus refuses null).
	path := filepath.Join(t.TempDir(), "targets.json")
	for _, groups := range [][]fileSDGroup{nil, want} {
		if err := writeFileSD(path, groups); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var back []fileSDGroup
		if err := json.Unmarshal(b, &back); err != nil || back == nil || len(back) != len(groups) {
			t.Errorf("file %s: read back %v (%v), want %d groups in a list", b, back, err, len(groups))
		}
	}
}

type fakeSlices []*discoveryv1.EndpointSlice

func (f fakeSlices) List(labels.Selector) ([]*discoveryv1.EndpointSlice, error) { return f, nil }

func TestReadyEndpoints(t *testing.T) {
	yes, no := true, false
	port := int32(8080)
	ep := func(ready *bool, addrs ...string) discoveryv1.Endpoint {
		return discoveryv1.Endpoint{Addresses: addrs, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
	}
	slices := fakeSlices{
		{Ports: []discoveryv1.EndpointPort{{Port: &port}}, Endpoints: []discoveryv1.Endpoint{
			ep(&yes, "10.213.0.9"), ep(&no, "10.213.0.7"), // the second is terminating or not ready
		}},
		{Ports: []discoveryv1.EndpointPort{{Port: &port}}, Endpoints: []discoveryv1.Endpoint{
			ep(nil, "10.213.0.2"), // no condition reads as ready (the API's rule)
		}},
	}
	got := readyEndpoints(slices)
	want := []string{"http://10.213.0.2:8080/", "http://10.213.0.9:8080/"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if got := readyEndpoints(fakeSlices{}); len(got) != 0 {
		t.Errorf("no slices: got %v", got)
	}
}
