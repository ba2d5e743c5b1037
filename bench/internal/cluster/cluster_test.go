package cluster

import (
	"reflect"
	"testing"
)

// TestParseRequests: the API server's request counters by verb and
// resource, without watches, leases and non-resource URLs.
func TestParseRequests(t *testing.T) {
	tests := []struct {
		name    string
		metrics string
		want    map[string]int
	}{
		{name: "verbs and subresources summed over codes",
			metrics: `# HELP apiserver_request_total x
apiserver_request_total{code="200",component="apiserver",resource="pods",scope="cluster",subresource="",verb="LIST",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 2
apiserver_request_total{code="201",component="apiserver",resource="pods",scope="resource",subresource="binding",verb="POST",version="v1"} 7
apiserver_request_total{code="200",component="apiserver",resource="pods",scope="resource",subresource="",verb="DELETE",version="v1"} 1e+00
`,
			want: map[string]int{"LIST pods": 5, "POST pods/binding": 7, "DELETE pods": 1}},
		{name: "watches, leases and non-resource URLs left out",
			metrics: `apiserver_request_total{code="200",resource="pods",verb="WATCH"} 9
apiserver_request_total{code="200",resource="leases",verb="PUT"} 40
apiserver_request_total{code="200",resource="",verb="GET"} 12
apiserver_request_total_other{resource="pods",verb="GET"} 1
`,
			want: map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseRequests(tt.metrics); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseRequests = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestDeltaSumDescribe: the per-run difference of two readings.
func TestDeltaSumDescribe(t *testing.T) {
	d := Delta(map[string]int{"LIST pods": 3, "GET namespaces": 1}, map[string]int{"LIST pods": 5, "GET namespaces": 1, "DELETE pods": 1})
	if got, want := Describe(d), "1 DELETE pods, 2 LIST pods"; got != want || Sum(d) != 3 {
		t.Errorf("Describe(Delta) = %q (sum %d), want %q (sum 3)", got, Sum(d), want)
	}
}
