package inject

import (
	"strconv"
	"testing"
	"time"
)

func dur(d time.Duration) *time.Duration { return &d }

func TestGracePeriodSeconds(t *testing.T) {
	tests := []struct {
		in   *time.Duration
		want string
	}{
		{nil, "nil"},
		{dur(0), "1"},
		{dur(300 * time.Millisecond), "1"},
		{dur(time.Second), "1"},
		{dur(1500 * time.Millisecond), "2"},
		{dur(30 * time.Second), "30"},
	}
	for _, tc := range tests {
		got, err := GracePeriodSeconds(tc.in)
		s := "nil"
		if got != nil {
			s = strconv.FormatInt(*got, 10)
		}
		if err != nil || s != tc.want {
			t.Errorf("GracePeriodSeconds(%v) = %s, %v; want %s", tc.in, s, err, tc.want)
		}
	}
}

func TestBudgetName(t *testing.T) {
	for cause, want := range map[string]string{
		"The disruption budget checkout needs 2 healthy pods and has 2 currently":                  "checkout",
		"The disruption budget web-pdb is still being processed by the server.":                    "web-pdb",
		"The disruption budget x does not allow evicting pods currently because it failed sync: y": "x",
		"something else": "",
	} {
		if got := budgetName(cause); got != want {
			t.Errorf("budgetName(%q) = %q, want %q", cause, got, want)
		}
	}
}
