package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chaosnight/chaosnight/bench/internal/proc"
)

// child is one `chaosnight serve` process.
type child struct {
	cmd     *exec.Cmd
	addr    string // host:port of its HTTP endpoints
	logPath string
	started time.Time
	done    chan struct{}
	waitErr error
}

// freeAddr returns a free loopback address. The port is released before
// serve binds it; nothing else on this machine races for it in practice.
func freeAddr() (string, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	addr := lis.Addr().String()
	if err := lis.Close(); err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	return addr, nil
}

// startServe starts `bin serve ARGS... --listen <free>` in its own process
// group, logging to logPath, and waits until /readyz answers 200.
func startServe(ctx context.Context, bin, logPath string, args ...string) (*child, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("serve log: %w", err)
	}
	full := append([]string{"serve", "--listen", addr}, args...)
	cmd := exec.Command(bin, full...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group, so that a Ctrl-C on this program reaches serve
	// only through stop(); killed with this program if it dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	c := &child{cmd: cmd, addr: addr, logPath: logPath, done: make(chan struct{})}
	c.started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("starting %s serve: %w", bin, err)
	}
	go func() {
		c.waitErr = cmd.Wait()
		_ = logf.Close()
		close(c.done)
	}()
	if err := c.waitReady(ctx, 15*time.Second); err != nil {
		stopErr := c.stop()
		return nil, errors.Join(err, stopErr)
	}
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) url(path string) string { return "http://" + c.addr + path }

func (c *child) waitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: time.Second}
	for {
		select {
		case <-c.done:
			return fmt.Errorf("serve exited before it was ready (%v):\n%s", c.waitErr, proc.Tail(c.logPath, 20))
		default:
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url("/readyz"), nil)
		if err != nil {
			return fmt.Errorf("readyz request: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("serve not ready after %v (last error %v):\n%s", timeout, err, proc.Tail(c.logPath, 20))
		}
		if err := proc.Sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// stop sends SIGTERM (serve aborts and reverts what is in flight), waits up
// to 15 s, then SIGKILLs the process group.
func (c *child) stop() error {
	select {
	case <-c.done:
		return nil
	default:
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGTERM to serve %d: %w", c.pid(), err)
	}
	select {
	case <-c.done:
		return nil
	case <-time.After(15 * time.Second):
	}
	if err := syscall.Kill(-c.pid(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("SIGKILL to serve %d: %w", c.pid(), err)
	}
	<-c.done
	return fmt.Errorf("serve %d did not stop within 15 s of SIGTERM; killed", c.pid())
}

func (c *child) getJSON(ctx context.Context, path string, v any) error {
	body, err := c.get(ctx, path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decoding %s: %w", path, err)
	}
	return nil
}

func (c *child) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(path), nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return body, nil
}

// gate is a reverse proxy in front of the sandbox's Prometheus that, while
// armed, holds every query until a given instant: a slow Prometheus, which
// makes an experiment's preflight end late, so that its observation is
// still running when its window closes (the planner never starts an
// experiment that cannot finish before the close).
type gate struct {
	proxy *httputil.ReverseProxy
	until atomic.Int64 // UnixNano; 0: disarmed
	held  atomic.Int64 // queries held so far
	srv   *http.Server
	addr  string
}

func newGate(target string) (*gate, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("prometheus URL %q: %w", target, err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("gate listener: %w", err)
	}
	g := &gate{proxy: httputil.NewSingleHostReverseProxy(u), addr: lis.Addr().String()}
	g.srv = &http.Server{Handler: g, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = g.srv.Serve(lis) }()
	return g, nil
}

func (g *gate) url() string { return "http://" + g.addr }

func (g *gate) arm(until time.Time) { g.until.Store(until.UnixNano()) }

func (g *gate) disarm() { g.until.Store(0) }

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if until := g.until.Load(); until != 0 {
		if d := time.Until(time.Unix(0, until)); d > 0 {
			g.held.Add(1)
			t := time.NewTimer(d)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
	}
	g.proxy.ServeHTTP(w, r)
}

func (g *gate) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := g.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("gate shutdown: %w", err)
	}
	return nil
}

// writeFile writes data to dir/name, creating dir.
func writeFile(dir, name, data string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		return "", fmt.Errorf("writing %s: %w", p, err)
	}
	return p, nil
}
