// Command shop runs one service of the sandbox's demo shop, or a load
// generator for it (package test/sandbox/shop):
//
//	shop serve --service checkout --namespace shop --work 20ms --downstream http://10.88.0.5:8080
//	shop load --rps 50 --concurrency 4 --duration 2m http://10.88.0.4:8080/
//
// Every serve flag can also come from the environment (SHOP_SERVICE,
// SHOP_WORK, ...; the namespace also from POD_NAMESPACE, as the downward API
// sets it), so a pod spec configures it with env alone. A flag given on the
// command line wins over the environment.
//
// It is test tooling, like the sandbox: it lives under test/sandbox and is
// not part of chaosnight's image.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/chaosnight/chaosnight/test/sandbox/shop"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

// lookupEnv is os.LookupEnv, injected so tests set no process environment.
type lookupEnv func(string) (string, bool)

func run(ctx context.Context, args []string, env lookupEnv, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: shop serve|load [flags]")
		return 2
	}
	// SIGTERM (a pod's deletion) starts the graceful stop; the handler is
	// released as soon as it fired, so a second signal kills at once.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() { <-ctx.Done(); stop() }()
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	var err error
	switch args[0] {
	case "serve":
		var cfg serveConfig
		if cfg, err = parseServe(args[1:], env, stderr); err == nil {
			err = serve(ctx, cfg, log)
		}
	case "load":
		var cfg shop.LoadConfig
		if cfg, err = parseLoad(args[1:], stderr); err == nil {
			err = load(ctx, cfg, log, stdout)
		}
	default:
		err = fmt.Errorf("unknown command %q: want serve or load", args[0])
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "shop %s: %v\n", args[0], err)
		return 2
	}
	return 0
}

type serveConfig struct {
	shop.Config
	Listen string
}

// listFlag is a comma-separated, repeatable list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func parseServe(args []string, env lookupEnv, stderr io.Writer) (serveConfig, error) {
	cfg := serveConfig{Listen: ":8080", Config: shop.Config{Work: 10 * time.Millisecond, Drain: 5 * time.Second}}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Service, "service", "", "the service label of the series (required; env SHOP_SERVICE)")
	fs.StringVar(&cfg.Namespace, "namespace", "", "the namespace label of the series (required; env SHOP_NAMESPACE or POD_NAMESPACE)")
	fs.StringVar(&cfg.Listen, "listen", cfg.Listen, "listen address (env SHOP_LISTEN)")
	fs.DurationVar(&cfg.Work, "work", cfg.Work, "CPU time of computation per request, calibrated at start (env SHOP_WORK)")
	fs.Var((*listFlag)(&cfg.Downstreams), "downstream", "base URL of a service each request calls; repeat or separate with commas (env SHOP_DOWNSTREAMS)")
	fs.DurationVar(&cfg.ReadyDelay, "ready-delay", 0, "not ready (and answering 503) for this long after start (env SHOP_READY_DELAY)")
	fs.BoolVar(&cfg.ReadyNeedsDownstreams, "ready-needs-downstreams", false, "/readyz fails while a downstream's /readyz fails (env SHOP_READY_NEEDS_DOWNSTREAMS)")
	fs.DurationVar(&cfg.Drain, "drain", cfg.Drain, "after SIGTERM, keep serving this long with /readyz failing (env SHOP_DRAIN)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "then wait at most this long for in-flight requests (env SHOP_SHUTDOWN_TIMEOUT)")
	fs.DurationVar(&cfg.CallTimeout, "call-timeout", 2*time.Second, "timeout of each downstream call (env SHOP_CALL_TIMEOUT)")
	if err := fs.Parse(args); err != nil {
		return serveConfig{}, err
	}
	if fs.NArg() > 0 {
		return serveConfig{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	// The environment fills only the flags the command line did not give
	// (a list flag would otherwise append to the environment's list); each
	// bad value names its variable.
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, e := range []struct{ flag, env string }{
		{"namespace", "POD_NAMESPACE"}, // the downward API's; SHOP_NAMESPACE, applied later, wins
		{"service", "SHOP_SERVICE"}, {"namespace", "SHOP_NAMESPACE"}, {"listen", "SHOP_LISTEN"}, {"work", "SHOP_WORK"},
		{"downstream", "SHOP_DOWNSTREAMS"}, {"ready-delay", "SHOP_READY_DELAY"}, {"ready-needs-downstreams", "SHOP_READY_NEEDS_DOWNSTREAMS"},
		{"drain", "SHOP_DRAIN"}, {"shutdown-timeout", "SHOP_SHUTDOWN_TIMEOUT"}, {"call-timeout", "SHOP_CALL_TIMEOUT"},
	} {
		v, ok := env(e.env)
		if !ok || given[e.flag] {
			continue
		}
		if e.flag == "downstream" {
			cfg.Downstreams = nil // SHOP_DOWNSTREAMS is the whole list
		}
		if err := fs.Set(e.flag, v); err != nil {
			return serveConfig{}, fmt.Errorf("environment %s=%q: %w", e.env, v, err)
		}
	}
	return cfg, nil
}

func serve(ctx context.Context, cfg serveConfig, log *slog.Logger) error {
	cfg.Log = log
	s, err := shop.New(cfg.Config)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return s.Serve(ctx, ln)
}

func parseLoad(args []string, stderr io.Writer) (shop.LoadConfig, error) {
	var cfg shop.LoadConfig
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Float64Var(&cfg.RPS, "rps", 10, fmt.Sprintf("requests per second, at most %d", shop.MaxRPS))
	fs.IntVar(&cfg.Concurrency, "concurrency", 4, fmt.Sprintf("requests in flight at most, at most %d", shop.MaxConcurrency))
	fs.DurationVar(&cfg.Duration, "duration", 0, "stop starting requests after this long")
	fs.IntVar(&cfg.Count, "count", 0, "stop after this many requests")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Second, "timeout of one request")
	if err := fs.Parse(args); err != nil {
		return shop.LoadConfig{}, err
	}
	cfg.Targets = fs.Args()
	return cfg, nil
}

// load runs the generator and prints its report as JSON on stdout.
func load(ctx context.Context, cfg shop.LoadConfig, log *slog.Logger, stdout io.Writer) error {
	cfg.Log = log
	rep, err := shop.RunLoad(ctx, cfg)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(rep); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}
