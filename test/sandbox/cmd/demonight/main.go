// Command demonight follows a chaos night that `chaosnight serve` plays, for
// make demo: it polls the runner's /status and /runs endpoints and prints,
// in a few short lines, which experiment is playing and each verdict as it
// comes, then exits once the night has finished the expected number of runs
// (0), or when the night's window closed or the timeout passed (1).
//
//	demonight -url http://127.0.0.1:8089 -runs 3 -timeout 10m
//
// With -prometheus it first waits until every query given as an argument
// is below -below (a steady state: a sandbox that has just started still
// has its start-up in every rate window, and a night played then would be
// honestly skipped), and exits 0 then, or 1 at the timeout:
//
//	demonight -prometheus http://127.0.0.1:9090 -below 0.01 'sum(rate(...))'
//
// It is test tooling (hack/demo.sh), not part of chaosnight: an operator
// reads the same endpoints, or the status page at /.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// status and run are the parts of the runner's answers shown here (see
// pkg/runner: Status, RunSummary).
type status struct {
	InFlight   string `json:"inFlight"`
	ConfigErr  string `json:"configError"`
	NextNights []struct {
		Night  string    `json:"night"`
		Opens  time.Time `json:"opens"`
		Closes time.Time `json:"closes"`
		Open   bool      `json:"open"`
	} `json:"nextNights"`
}

type runSummary struct {
	RunID      string    `json:"runID"`
	Experiment string    `json:"experiment"`
	Verdict    string    `json:"verdict"`
	Started    time.Time `json:"started"`
	Ended      time.Time `json:"ended"`
	Reasons    []string  `json:"reasons"`
	ExitCode   int       `json:"exitCode"`
}

func run(ctx context.Context, args []string, out, errOut io.Writer) int {
	fs := flag.NewFlagSet("demonight", flag.ContinueOnError)
	fs.SetOutput(errOut)
	base := fs.String("url", "", "base URL of chaosnight serve's endpoints")
	want := fs.Int("runs", 1, "finished runs that end the night")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up after this long")
	prom := fs.String("prometheus", "", "wait for a steady state in this Prometheus instead (the queries are the arguments)")
	below := fs.Float64("below", 0.01, "with -prometheus: the value every query must be under")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *prom != "" {
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		return waitSteady(ctx, *prom, fs.Args(), *below, out)
	}
	if *base == "" || *want < 1 {
		fmt.Fprintln(errOut, "demonight: -url and -runs (at least 1) are required")
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	n := &nightWatch{out: out, client: &http.Client{Timeout: 5 * time.Second}, base: *base, started: time.Now()}
	for {
		if code, over := n.poll(ctx); over {
			return code
		}
		if len(n.done) >= *want {
			fmt.Fprintf(out, "[%s] the night played %d experiment(s) in %s\n", stamp(), len(n.done), time.Since(n.started).Round(time.Second))
			return 0
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(out, "[%s] stopped waiting after %s: %d of %d runs finished\n", stamp(), time.Since(n.started).Round(time.Second), len(n.done), *want)
			return 1
		case <-time.After(time.Second):
		}
	}
}

func stamp() string { return time.Now().UTC().Format("15:04:05") }

// nightWatch follows a night through serve's /runs and /status and prints
// each change once: the night opening, the experiment in flight, each
// finished run with its verdict and reasons.
type nightWatch struct {
	out     io.Writer
	client  *http.Client
	base    string
	started time.Time

	shownOpen bool
	playing   string
	done      []string // run IDs already printed
}

// poll reads both endpoints once and prints what changed; a read that
// fails is tried again at the next poll. over is true when the night cannot
// go on (the runner refuses its configuration), with the exit code.
func (n *nightWatch) poll(ctx context.Context) (code int, over bool) {
	var runs []runSummary
	if err := getJSON(ctx, n.client, n.base+"/runs", &runs); err == nil {
		slices.Reverse(runs) // oldest first
		n.printFinished(runs)
	}
	var st status
	if err := getJSON(ctx, n.client, n.base+"/status", &st); err != nil {
		return 0, false
	}
	if st.ConfigErr != "" {
		fmt.Fprintf(n.out, "[%s] the runner refuses its configuration: %s\n", stamp(), st.ConfigErr)
		return 1, true
	}
	n.printStatus(st, runs)
	return 0, false
}

// printFinished prints the runs that finished since the last poll.
func (n *nightWatch) printFinished(runs []runSummary) {
	for _, r := range runs {
		if r.Verdict == "" || r.Verdict == "running" || slices.Contains(n.done, r.RunID) {
			continue
		}
		n.done = append(n.done, r.RunID)
		fmt.Fprintf(n.out, "[%s] %s: %s (exit %d, %s)\n", stamp(), r.Experiment, strings.ToUpper(r.Verdict), r.ExitCode,
			r.Ended.Sub(r.Started).Round(time.Second))
		for _, why := range r.Reasons {
			fmt.Fprintf(n.out, "           - %s\n", why)
		}
	}
}

// printStatus prints the night's opening (once) and a new run in flight,
// by its experiment's name when /runs already lists it.
func (n *nightWatch) printStatus(st status, runs []runSummary) {
	for _, night := range st.NextNights {
		if night.Open && !n.shownOpen {
			n.shownOpen = true
			fmt.Fprintf(n.out, "[%s] night %s is open until %s UTC\n", stamp(), night.Night, night.Closes.UTC().Format("15:04:05"))
		}
	}
	if st.InFlight != "" && st.InFlight != n.playing {
		name := st.InFlight // a run ID until its journal lists the experiment
		for _, r := range runs {
			if r.RunID == st.InFlight && r.Experiment != "" {
				name = r.Experiment + " (run " + r.RunID + ")"
			}
		}
		fmt.Fprintf(n.out, "[%s] playing %s\n", stamp(), name)
	}
	n.playing = st.InFlight
}

// waitSteady polls the queries until each returns a value under below
// three polls in a row.
func waitSteady(ctx context.Context, prom string, queries []string, below float64, out io.Writer) int {
	client := &http.Client{Timeout: 5 * time.Second}
	started := time.Now()
	steady, last := 0, ""
	fmt.Fprintf(out, "waiting for the shop's steady state (%d queries under %g)\n", len(queries), below)
	for {
		ok := true
		for _, q := range queries {
			var res struct {
				Data struct {
					Result []struct {
						Value [2]any `json:"value"`
					} `json:"result"`
				} `json:"data"`
			}
			err := getJSON(ctx, client, prom+"/api/v1/query?query="+url.QueryEscape(q), &res)
			if err != nil || len(res.Data.Result) == 0 {
				ok, last = false, fmt.Sprintf("%s: no value (%v)", q, err)
				break
			}
			v, err := strconv.ParseFloat(fmt.Sprint(res.Data.Result[0].Value[1]), 64)
			if err != nil || !(v < below) {
				ok, last = false, fmt.Sprintf("%s = %v", q, res.Data.Result[0].Value[1])
				break
			}
		}
		if ok {
			steady++
		} else {
			steady = 0
		}
		if steady >= 3 {
			fmt.Fprintf(out, "steady after %s\n", time.Since(started).Round(time.Second))
			return 0
		}
		select {
		case <-ctx.Done():
			fmt.Fprintf(out, "no steady state after %s: %s\n", time.Since(started).Round(time.Second), last)
			return 1
		case <-time.After(time.Second):
		}
	}
}

func getJSON(ctx context.Context, c *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
