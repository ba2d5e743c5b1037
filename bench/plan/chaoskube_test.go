package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestStampedLinesSplitsWrites: lines are kept whole however the child's
// writes cut them, each with the time its end arrived.
func TestStampedLinesSplitsWrites(t *testing.T) {
	var s stampedLines
	for _, w := range []string{"{\"msg\":\"a\"}\n{\"ms", "g\":\"b\"}\n", "c\nd"} {
		if _, err := s.Write([]byte(w)); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, l := range s.snapshot() {
		got = append(got, l.text)
		if l.at.IsZero() {
			t.Errorf("line %q has no time", l.text)
		}
	}
	if want := `{"msg":"a"}|{"msg":"b"}|c`; strings.Join(got, "|") != want {
		t.Errorf("lines %q, want %q (the partial \"d\" kept back)", strings.Join(got, "|"), want)
	}
}

// TestChaoskubePass: plan ready is the "found victims" line, the pass ends
// at "sleeping...", victims are the "terminating pod" lines between; a log
// without a whole pass, or with an error, is an error, not a figure.
func TestChaoskubePass(t *testing.T) {
	start := time.Date(2026, 12, 7, 22, 0, 0, 0, time.UTC)
	at := func(ms int, text string) stampedLine {
		return stampedLine{at: start.Add(time.Duration(ms) * time.Millisecond), text: text}
	}
	pass := []stampedLine{
		at(10, `{"level":"info","msg":"starting up","time":"2026-12-07T22:00:00Z"}`),
		at(20, `not json`),
		at(600, `{"count":100,"level":"debug","msg":"found candidates","time":"2026-12-07T22:00:00Z"}`),
		at(610, `{"count":2,"level":"debug","msg":"found victims","time":"2026-12-07T22:00:00Z"}`),
		at(611, `{"level":"info","msg":"terminating pod","name":"a","namespace":"bench-000"}`),
		at(612, `{"level":"info","msg":"terminating pod","name":"b","namespace":"bench-001"}`),
		at(615, `{"level":"debug","msg":"sleeping..."}`),
		at(900, `{"level":"info","msg":"terminating pod","name":"c","namespace":"bench-002"}`), // a second pass: not counted
	}
	tests := []struct {
		name            string
		lines           []stampedLine
		ready, done     time.Duration
		victims         int
		wantErrContains string
	}{
		{name: "one pass", lines: pass, ready: 610 * time.Millisecond, done: 615 * time.Millisecond, victims: 2},
		{name: "cut short before sleeping", lines: pass[:6], wantErrContains: "no whole pass"},
		{name: "no victims found", lines: pass[:3], wantErrContains: "no whole pass"},
		{name: "error logged", lines: append(pass[:1:1], at(50, `{"level":"error","msg":"failed to terminate victim","err":"forbidden"}`)),
			wantErrContains: "failed to terminate victim: forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready, done, victims, err := chaoskubePass(start, tt.lines, "LOG")
			if tt.wantErrContains != "" {
				var pe *errChaoskubePass
				if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.wantErrContains) {
					t.Fatalf("err %v, want an errChaoskubePass containing %q", err, tt.wantErrContains)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ready != tt.ready || done != tt.done || victims != tt.victims {
				t.Errorf("ready %s done %s victims %d, want %s %s %d", ready, done, victims, tt.ready, tt.done, tt.victims)
			}
		})
	}
}

// TestChaoskubeArgs: the selection equivalent to the experiment's, one dry
// pass, no listener.
func TestChaoskubeArgs(t *testing.T) {
	got := strings.Join(chaoskubeArgs("/k", scenario{namespaces: 3}, 7), " ")
	for _, want := range []string{"--kubeconfig=/k", "--labels=app=bench", "--namespace-labels=chaosnight.dev/enabled=true",
		"--namespaces=bench-000,bench-001,bench-002", "--max-kill=7", "--dry-run", "--interval=1h", "--max-runtime=6s", "--metrics-address= "} {
		if !strings.Contains(got+" ", want) {
			t.Errorf("args %q lack %q", got, want)
		}
	}
	if picks(scenario{namespaces: nsBig}) != 100 || picks(scenario{namespaces: nsSmall}) != 10 {
		t.Errorf("picks: %d, %d; want 100 and 10 (1 %%)", picks(scenario{namespaces: nsBig}), picks(scenario{namespaces: nsSmall}))
	}
}
