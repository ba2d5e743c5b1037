package schedule

import (
	"strings"
	"testing"
	"time"
)

// The gate section is part of the strict file: its keys decode, a typo in
// it is refused like any other.
func TestLoadConfigGate(t *testing.T) {
	c, err := LoadConfig("chaosnight.yaml", []byte("gate:\n  alerts: false\n  alertSelector: ''\n  rollouts: true\n"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if c.Gate.Alerts == nil || *c.Gate.Alerts || c.Gate.AlertSelector == nil || *c.Gate.AlertSelector != "" || c.Gate.Rollouts == nil || !*c.Gate.Rollouts {
		t.Errorf("gate %+v", c.Gate)
	}
	_, err = LoadConfig("chaosnight.yaml", []byte("gate:\n  rollout: false\n"), time.Now())
	if err == nil || !strings.Contains(err.Error(), "rollout") {
		t.Fatalf("a typo in gate must be refused, got %v", err)
	}
}
