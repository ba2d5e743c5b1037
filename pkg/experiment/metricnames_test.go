package experiment

import (
	"slices"
	"testing"
)

func TestMetricNames(t *testing.T) {
	tests := []struct {
		name, query string
		want        []string
		wantErr     bool
	}{
		{name: "one selector", query: `up`, want: []string{"up"}},
		{name: "inside functions", query: `sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))`, want: []string{"http_requests_total"}},
		{name: "two metrics in order", query: `a_total / on(pod) b_bytes`, want: []string{"a_total", "b_bytes"}},
		{name: "__name__ equality", query: `{__name__="shop_ready", service="cart"}`, want: []string{"shop_ready"}},
		{name: "__name__ regexp names nothing", query: `{__name__=~"shop_.*"}`, want: nil},
		{name: "scalar only", query: `vector(1)`, want: nil},
		{name: "subquery", query: `max_over_time(rate(x_total[1m])[10m:1m])`, want: []string{"x_total"}},
		{name: "invalid", query: `sum(`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MetricNames(tt.query)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("MetricNames(%q) = %q, want %q", tt.query, got, tt.want)
			}
		})
	}
}
