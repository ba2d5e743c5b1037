package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// demonightServer answers /runs and /status like chaosnight serve, with
// the given bodies.
func demonightServer(t *testing.T, runs, status string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/runs", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, runs) })
	mux.HandleFunc("/status", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, status) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// The night's lines: the opening, what plays (by experiment name once
// /runs lists it), each finished run with its reasons, and the exit code.
func TestDemonightFollowsTheNight(t *testing.T) {
	const runs = `[
	 {"runID":"r2","experiment":"cpu","verdict":"running"},
	 {"runID":"r1","experiment":"kill-checkout","verdict":"deviated","exitCode":1,
	  "started":"2026-12-07T01:00:00Z","ended":"2026-12-07T01:01:30Z","reasons":["p99 over 300ms"]}]`
	const status = `{"inFlight":"r2","nextNights":[{"night":"tonight","closes":"2026-12-07T02:00:00Z","open":true}]}`
	for _, c := range []struct {
		name     string
		runs     string
		status   string
		want     int
		wantCode int
		lines    []string
	}{
		{"one run ends it", runs, status, 1, 0, []string{
			"night tonight is open until 02:00:00 UTC",
			"kill-checkout: DEVIATED (exit 1, 1m30s)",
			"- p99 over 300ms",
			"playing cpu (run r2)",
			"the night played 1 experiment(s)",
		}},
		{"configuration refused", runs, `{"configError":"bad night"}`, 5, 1, []string{
			"the runner refuses its configuration: bad night",
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			base := demonightServer(t, c.runs, c.status)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var out, errOut bytes.Buffer
			code := run(ctx, []string{"-url", base, "-runs", strconv.Itoa(c.want)}, &out, &errOut)
			if code != c.wantCode {
				t.Errorf("exit code %d, want %d\n%s%s", code, c.wantCode, out.String(), errOut.String())
			}
			for _, l := range c.lines {
				if !strings.Contains(out.String(), l) {
					t.Errorf("output lacks %q:\n%s", l, out.String())
				}
			}
		})
	}
}
