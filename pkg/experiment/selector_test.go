package experiment

import (
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

// A selector must name what it targets: exclusions alone match almost
// every pod, including workloads created after the experiment was written.
func TestSelectsPositively(t *testing.T) {
	tests := []struct {
		selector string
		want     bool
	}{
		{"app=checkout", true},
		{"app==checkout", true},
		{"app in (checkout, cart)", true},
		{"canary", true},
		{"app=checkout,tier!=db", true},
		{"!canary,app in (a)", true},
		{"app!=checkout", false},
		{"!canary", false},
		{"app notin (checkout)", false},
		{"app!=checkout,!canary,tier notin (db)", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.selector, func(t *testing.T) {
			sel, err := labels.Parse(tt.selector)
			if err != nil {
				t.Fatal(err)
			}
			if got := SelectsPositively(sel); got != tt.want {
				t.Errorf("SelectsPositively(%q) = %v, want %v", tt.selector, got, tt.want)
			}
		})
	}
}
