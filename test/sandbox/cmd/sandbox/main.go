// Command sandbox builds the sandbox binaries and starts or stops a sandbox
// for the demo and for manual work:
//
//	go run ./test/sandbox/cmd/sandbox tools   # build the binaries into the cache (once)
//	go run ./test/sandbox/cmd/sandbox up      # start; writes .sandbox/env and .sandbox/pid; runs until SIGTERM
//	go run ./test/sandbox/cmd/sandbox down    # stop the sandbox that `up` started
//
// make sandbox-tools, sandbox-up and sandbox-down wrap these (hack/sandbox.mk).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chaosnight/chaosnight/test/sandbox"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: sandbox tools|up|down|golangci-lint [flags]")
		return 2
	}
	var err error
	switch args[0] {
	case "tools":
		err = tools(args[1:], stdout)
	case "up":
		err = up(args[1:], stdout, stderr)
	case "down":
		err = down(args[1:], stdout)
	case "golangci-lint":
		var code int
		if code, err = golangciLint(args[1:], stdout, stderr); err == nil {
			return code
		}
	default:
		err = fmt.Errorf("unknown command %q: want tools, up, down or golangci-lint", args[0])
	}
	if err != nil {
		fmt.Fprintf(stderr, "sandbox %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func tools(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("tools", flag.ContinueOnError)
	dest := fs.String("dest", "", "output directory (default: the user cache, or $"+sandbox.EnvBinDir+")")
	realNode := fs.Bool("realnode", false, "also build the real node's kubelet and containerd and unpack Debian's runc and CNI plugins, in their own cache entry")
	realDest := fs.String("realnode-dest", "", "output directory of the real node's binaries (default: the user cache, or $"+sandbox.EnvRealNodeBinDir+")")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := sandbox.FindRepoRoot(".")
	if err != nil {
		return err
	}
	dir, err := sandbox.BuildTools(context.Background(), sandbox.BuildConfig{
		ToolsModule: filepath.Join(root, "hack", "tools"),
		Dest:        *dest,
		Log:         out,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "sandbox tools ready in %s\n", dir)
	pdir, err := sandbox.BuildPrometheus(context.Background(), sandbox.BuildConfig{
		ToolsModule: filepath.Join(root, "hack", "tools"),
		Log:         out,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "sandbox prometheus ready in %s\n", pdir)
	if !*realNode {
		return nil
	}
	rdir, err := sandbox.BuildRealNodeTools(context.Background(), sandbox.RealNodeBuildConfig{
		ToolsModule: filepath.Join(root, "hack", "tools"),
		Dest:        *realDest,
		Log:         out,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "sandbox real-node tools ready in %s\n", rdir)
	return nil
}

// stateDir holds env, pid and the running sandbox's directory (run/).
type stateDir string

func (d stateDir) env() string { return filepath.Join(string(d), "env") }
func (d stateDir) pid() string { return filepath.Join(string(d), "pid") }
func (d stateDir) run() string { return filepath.Join(string(d), "run") }

func up(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	state := fs.String("state", ".sandbox", "directory for env, pid, logs and data")
	nodes := fs.Int("nodes", 3, "fake nodes")
	seed := fs.Bool("seed", true, "create the shop workload and the decoys")
	scrape := fs.Duration("scrape-interval", time.Second, "Prometheus scrape interval")
	// The real node is on wherever it can run (root on Linux): the demo's
	// CPU stress then moves real latency. Elsewhere the sandbox says why.
	canReal := sandbox.RealNodeSupported()
	realNode := fs.Bool("realnode", canReal == nil, "also run a real node (containerd, runc, kubelet; needs root, Linux and `sandbox tools -realnode`); default: on where it can run")
	realShop := fs.Bool("realshop", true, "with the real node: run the shop's checkout as real pods on it, with a load generator (off: kwok pods with modelled traffic)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*realNode && canReal != nil {
		fmt.Fprintf(stderr, "sandbox: no real node (%v); the shop runs on kwok nodes with modelled traffic\n", canReal)
	}
	abs, err := filepath.Abs(*state)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", *state, err)
	}
	sd := stateDir(abs)
	if pid, err := readPid(sd.pid()); err == nil && alive(pid) {
		return fmt.Errorf("a sandbox is already running (pid %d): run `make sandbox-down` first", pid)
	}
	// A previous run's leftovers (a crash, a reboot) are not worth keeping.
	_ = os.Remove(sd.env())
	if err := os.RemoveAll(sd.run()); err != nil {
		return fmt.Errorf("remove stale %s: %w", sd.run(), err)
	}
	if err := os.MkdirAll(string(sd), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", sd, err)
	}
	if err := os.WriteFile(sd.pid(), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	defer func() { _ = os.Remove(sd.pid()) }()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	began := time.Now()
	sb, err := sandbox.Start(ctx, sandbox.Config{
		Nodes: *nodes, Dir: sd.run(), Log: stderr, SeedWorkload: *seed, ScrapeInterval: *scrape, RealNode: *realNode,
		RealShop: *realNode && *realShop,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := sb.Stop(); err != nil {
			fmt.Fprintf(stderr, "sandbox: %v\n", err)
		}
		_ = os.Remove(sd.env())
		if os.Getenv(sandbox.EnvKeep) != "1" {
			_ = os.RemoveAll(sd.run())
		}
	}()
	env := fmt.Sprintf("export KUBECONFIG=%s\nexport CHAOSNIGHT_PROMETHEUS_URL=%s\n", sb.Kubeconfig, sb.PrometheusURL)
	if *realNode {
		// Stress containers run the image the real node imported (nothing
		// can be pulled); make demo reads SANDBOX_REAL_SHOP.
		env += fmt.Sprintf("export CHAOSNIGHT_STRESS_IMAGE=%s\nexport SANDBOX_REAL_NODE=%s\n", sandbox.StressImage, sandbox.RealNodeName)
		if *realShop && *seed {
			env += "export SANDBOX_REAL_SHOP=1\n"
		}
	}
	// Written last and atomically: its existence is the "ready" signal that
	// `make sandbox-up` waits for.
	if err := os.WriteFile(sd.env()+".tmp", []byte(env), 0o644); err != nil {
		return fmt.Errorf("write env: %w", err)
	}
	if err := os.Rename(sd.env()+".tmp", sd.env()); err != nil {
		return fmt.Errorf("write env: %w", err)
	}
	fmt.Fprintf(stdout, "# sandbox ready in %s; logs in %s\n%s", time.Since(began).Round(time.Millisecond), filepath.Join(sd.run(), "logs"), env)
	<-ctx.Done()
	fmt.Fprintln(stderr, "sandbox: stopping")
	return nil
}

func down(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	state := fs.String("state", ".sandbox", "directory given to up")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for a clean stop before SIGKILL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	abs, err := filepath.Abs(*state)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", *state, err)
	}
	sd := stateDir(abs)
	if err := stopManager(sd, *wait, out); err != nil {
		return err
	}
	killLeftovers(sd, out)
	// A real node's containers, mounts, cgroups and bridge outlive a
	// SIGKILLed manager; they go before its directory does.
	if err := sandbox.SweepRealNode(out); err != nil {
		return err
	}
	_ = os.Remove(sd.env())
	_ = os.Remove(sd.pid())
	if os.Getenv(sandbox.EnvKeep) != "1" {
		if err := os.RemoveAll(sd.run()); err != nil {
			return fmt.Errorf("remove %s: %w", sd.run(), err)
		}
	}
	return nil
}

// stopManager stops the `sandbox up` process named by the pid file: SIGTERM,
// then SIGKILL after wait. Not running, or already gone, is not an error.
func stopManager(sd stateDir, wait time.Duration, out io.Writer) error {
	pid, err := readPid(sd.pid())
	switch {
	case errors.Is(err, os.ErrNotExist):
		fmt.Fprintln(out, "sandbox: not running")
		return nil
	case err != nil:
		return err
	case !alive(pid):
		fmt.Fprintf(out, "sandbox: pid %d already gone\n", pid)
		return nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(wait)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if alive(pid) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		time.Sleep(500 * time.Millisecond)
	}
	if alive(pid) {
		return fmt.Errorf("pid %d survived SIGKILL", pid)
	}
	fmt.Fprintf(out, "sandbox: stopped (pid %d)\n", pid)
	return nil
}

// killLeftovers: the children die with their parent (parent-death
// signal), but if the manager was SIGKILLed mid-start, it kills what its
// pid list still names, only when the process still points into our
// directory (a pid may have been reused).
func killLeftovers(sd stateDir, out io.Writer) {
	b, err := os.ReadFile(filepath.Join(sd.run(), "pids"))
	if err != nil {
		return
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		p, err := strconv.Atoi(f[0])
		if err != nil || !alive(p) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", f[0], "cmdline"))
		if strings.Contains(string(cmdline), sd.run()) {
			_ = syscall.Kill(-p, syscall.SIGKILL)
			fmt.Fprintf(out, "sandbox: killed leftover %s (pid %d)\n", strings.Join(f[1:], " "), p)
		}
	}
}

func readPid(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return pid, nil
}

// alive is true for a running, non-zombie process.
func alive(pid int) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}
