package shop

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"
)

// Bounds of a load run: the generator is for a sandbox on a shared
// machine, never a benchmark of someone else's service.
const (
	MaxRPS         = 1000
	MaxConcurrency = 64
	MaxCount       = 1_000_000
	MaxDuration    = time.Hour
)

// LoadConfig configures a load run. It must stop by itself: Count, Duration
// or both are required, and the run ends at whichever comes first.
type LoadConfig struct {
	// Targets are the URLs requested, in turn; nothing else is ever
	// requested (no proxy, no redirect followed).
	Targets []string
	// Resolve, when set instead of Targets, is asked before every request
	// for the URLs that may be requested now (the ready endpoints of a
	// Service, as a client-side load balancer sees them); the request goes
	// to the next in turn. An empty answer counts the request as NoTarget,
	// as a proxy with no backend would answer 503. Resolve must be fast
	// and safe for concurrent use; its URLs are checked like Targets.
	Resolve func() []string
	// Observe, when set, is called after every request with its target
	// ("" when there was none), the status code and whether an answer
	// came: client-side metrics.
	Observe func(target string, code int, answered bool)
	// RPS is the request rate, at most MaxRPS. Requests are started on a
	// fixed schedule (the i-th at i/RPS); when every worker is busy the
	// schedule waits, so a slow service gets fewer requests, never a queue.
	RPS float64
	// Concurrency is the number of requests in flight at most (default 1).
	Concurrency int
	// Duration ends the run: no request starts after it.
	Duration time.Duration
	// Count ends the run after that many requests.
	Count int
	// Timeout bounds one request (default 5s), so the run ends at most
	// Timeout after Duration.
	Timeout time.Duration
	// Log receives a line per run (discarded when nil).
	Log *slog.Logger
}

// LoadReport is what a run did.
type LoadReport struct {
	Sent      int            `json:"sent"`      // requests started
	Codes     map[int]int    `json:"codes"`     // answers by status code
	Errors    int            `json:"errors"`    // requests without an answer (refused, timed out)
	NoTarget  int            `json:"noTarget"`  // requests not sent: Resolve had no target
	PerTarget map[string]int `json:"perTarget"` // requests started per target
	Elapsed   time.Duration  `json:"elapsedNs"` // nanoseconds in JSON
}

func (c *LoadConfig) validate() error {
	if len(c.Targets) == 0 && c.Resolve == nil {
		return &ConfigError{Field: "target", Reason: "at least one URL (or a resolver) is required"}
	}
	if len(c.Targets) > 0 && c.Resolve != nil {
		return &ConfigError{Field: "target", Reason: "give URLs or a resolver, not both"}
	}
	for _, t := range c.Targets {
		if err := checkURL(t); err != nil {
			return &ConfigError{Field: "target", Value: t, Reason: err.Error()}
		}
	}
	if !(c.RPS > 0 && c.RPS <= MaxRPS) { // also refuses NaN
		return &ConfigError{Field: "rps", Value: fmt.Sprint(c.RPS), Reason: fmt.Sprintf("want a rate in (0, %d]", MaxRPS)}
	}
	if c.Concurrency == 0 {
		c.Concurrency = 1
	}
	if c.Concurrency < 1 || c.Concurrency > MaxConcurrency {
		return &ConfigError{Field: "concurrency", Value: fmt.Sprint(c.Concurrency), Reason: fmt.Sprintf("want 1 to %d", MaxConcurrency)}
	}
	if c.Count < 0 || c.Count > MaxCount {
		return &ConfigError{Field: "count", Value: fmt.Sprint(c.Count), Reason: fmt.Sprintf("want 0 to %d", MaxCount)}
	}
	if c.Duration < 0 || c.Duration > MaxDuration {
		return &ConfigError{Field: "duration", Value: c.Duration.String(), Reason: fmt.Sprintf("want 0 to %s", MaxDuration)}
	}
	if c.Count == 0 && c.Duration == 0 {
		return &ConfigError{Field: "count", Reason: "a count, a duration or both are required: a load run must stop by itself"}
	}
	if c.Timeout < 0 {
		return &ConfigError{Field: "timeout", Value: c.Timeout.String(), Reason: "must not be negative"}
	}
	if c.Timeout == 0 {
		c.Timeout = 5 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// RunLoad sends requests until the count or the duration is reached, or ctx
// ends, waits for those in flight and reports what happened. Only an
// invalid configuration is an error; failed requests are counted.
func RunLoad(ctx context.Context, cfg LoadConfig) (LoadReport, error) {
	if err := cfg.validate(); err != nil {
		return LoadReport{}, err
	}
	client := newClient(cfg.Timeout)
	defer client.CloseIdleConnections()
	rep := LoadReport{Codes: map[int]int{}, PerTarget: map[string]int{}}
	var mu sync.Mutex
	jobs := make(chan string)
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Go(func() { loadWorker(ctx, &cfg, client, jobs, &rep, &mu) })
	}
	start := time.Now()
	dispatchLoad(ctx, &cfg, start, jobs, &rep)
	close(jobs)
	wg.Wait()
	rep.Elapsed = time.Since(start)
	cfg.Log.Info("load done", "sent", rep.Sent, "codes", rep.Codes, "errors", rep.Errors, "elapsed", rep.Elapsed)
	return rep, nil
}

// loadWorker sends the requests it is handed until jobs is closed and
// counts each answer in rep's Codes or Errors, under mu: the workers share
// them.
func loadWorker(ctx context.Context, cfg *LoadConfig, client *http.Client, jobs <-chan string, rep *LoadReport, mu *sync.Mutex) {
	for target := range jobs {
		code, ok := request(ctx, client, target)
		mu.Lock()
		if ok {
			rep.Codes[code]++
		} else {
			rep.Errors++
		}
		mu.Unlock()
		if cfg.Observe != nil {
			cfg.Observe(target, code, ok)
		}
	}
}

// dispatchLoad hands out one request every 1/RPS from start, until Count
// requests, the end of Duration or ctx. Only it writes Sent, PerTarget and
// NoTarget, so they need no lock.
func dispatchLoad(ctx context.Context, cfg *LoadConfig, start time.Time, jobs chan<- string, rep *LoadReport) {
	deadline := start.Add(cfg.Duration)
	interval := time.Duration(math.Round(float64(time.Second) / cfg.RPS))
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; cfg.Count == 0 || i < cfg.Count; i++ {
		at := start.Add(time.Duration(i) * interval)
		// Checked against the schedule, not the clock after a wait, so a run
		// of D at R never starts more than ceil(D×R) requests.
		if cfg.Duration > 0 && !at.Before(deadline) {
			return
		}
		timer.Reset(time.Until(at))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		target, ok := cfg.next(i)
		if !ok {
			rep.NoTarget++
			if cfg.Observe != nil {
				cfg.Observe("", 0, false)
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case jobs <- target:
			rep.Sent++
			rep.PerTarget[target]++
		}
	}
}

// next is the i-th request's target; false when a resolver had none (or
// offered a URL that is not plain http(s), which is never requested).
func (c *LoadConfig) next(i int) (string, bool) {
	if c.Resolve == nil {
		return c.Targets[i%len(c.Targets)], true
	}
	ts := c.Resolve()
	if len(ts) == 0 {
		return "", false
	}
	t := ts[i%len(ts)]
	if checkURL(t) != nil {
		return "", false
	}
	return t, true
}

// request requests target once; ok is false when no answer came.
func request(ctx context.Context, client *http.Client, target string) (code int, ok bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, false
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, true
}
