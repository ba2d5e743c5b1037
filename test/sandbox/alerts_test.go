package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/test/sandbox"
)

// TestAlertRules checks the rule files: the shop's rules are evaluated
// from the start, a test's group is loaded on SetAlertRules and fires,
// and removing it removes the group and its alert.
func TestAlertRules(t *testing.T) {
	s := sandbox.Require(t, sb)
	ctx := context.Background()
	groups, err := s.RuleGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(groups, "shop.yml/shop") {
		t.Fatalf("rule groups %v, want shop.yml/shop", groups)
	}
	const rules = `groups:
  - name: always
    rules:
      - alert: SandboxAlwaysFiring
        expr: vector(1)
        for: 1s
        labels: {severity: critical, namespace: shop}
`
	if err := s.SetAlertRules(ctx, "always", rules); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.SetAlertRules(context.Background(), "always", "") })
	sandbox.WaitFor(t, 30*time.Second, "SandboxAlwaysFiring to fire", func() error {
		st, err := s.AlertState(ctx, "SandboxAlwaysFiring", map[string]string{"namespace": "shop"})
		if err != nil {
			return err
		}
		if st != "firing" {
			return fmt.Errorf("state %q", st)
		}
		return nil
	})
	if st, err := s.AlertState(ctx, "SandboxAlwaysFiring", map[string]string{"namespace": "other"}); err != nil || st != "" {
		t.Errorf("an alert with other labels is %q (%v), want inactive", st, err)
	}
	if err := s.SetAlertRules(ctx, "always", ""); err != nil {
		t.Fatal(err)
	}
	sandbox.WaitFor(t, 30*time.Second, "the group to be removed", func() error {
		groups, err := s.RuleGroups(ctx)
		if err != nil {
			return err
		}
		if slices.Contains(groups, "always.yml/always") {
			return errors.New("still loaded")
		}
		return nil
	})
	if err := s.SetAlertRules(ctx, "broken", "groups: [{name: x, rules: [{alert: A, expr: 'sum('}]}]"); err == nil {
		t.Error("a rule file with invalid PromQL was accepted")
	}
	_ = s.SetAlertRules(ctx, "broken", "")
}
