package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is one child the sandbox started. Each runs in its own process
// group, so stopping it also stops anything it forked, and with a parent-death
// signal, so a test binary that panics or is killed by `go test -timeout`
// does not leave a control plane behind.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	done    chan struct{}
	waitErr error
}

// forker starts the sandbox's children from one OS thread that lives as
// long as the sandbox. The parent-death signal is tied to the *thread* that
// forked a child, not to the process (golang/go#27505): had the fork run on
// an ordinary thread, any goroutine that later locks that thread and exits
// while locked (the stressor's CPU workers do exactly that, and tests run
// the stress command in-process) would end the thread and SIGKILL the
// control plane in the middle of a test.
type forker struct {
	reqs chan func()
	done chan struct{}
}

func newForker() *forker {
	f := &forker{reqs: make(chan func()), done: make(chan struct{})}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with close
		for {
			select {
			case fn := <-f.reqs:
				fn()
			case <-f.done:
				return
			}
		}
	}()
	return f
}

// do runs fn on the forker's thread and waits for it; false when the
// forker is closed (the sandbox stopped meanwhile) and fn did not run.
func (f *forker) do(fn func()) bool {
	ran := make(chan struct{})
	select {
	case f.reqs <- func() { fn(); close(ran) }:
		<-ran
		return true
	case <-f.done:
		return false
	}
}

// close ends the forker's thread; call it once every child has stopped.
func (f *forker) close() { close(f.done) }

// startProcess starts bin with args; env replaces the environment when not
// nil (nil inherits the test's). The fork happens on f's thread.
func startProcess(f *forker, dir, name, bin string, args, env []string) (*process, error) {
	logPath := filepath.Join(dir, "logs", name+".log")
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("create log dir: %w", err)
	}
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	fmt.Fprintf(lf, "### %s %s\n", bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = lf
	cmd.Stderr = lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if !f.do(func() { err = cmd.Start() }) {
		err = errors.New("the sandbox is stopped")
	}
	if err != nil {
		_ = lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, logFile: lf, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		_ = lf.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) pid() int { return p.cmd.Process.Pid }

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitError describes an unexpected exit with the end of the process's log.
func (p *process) exitError() error {
	return fmt.Errorf("%s exited (%v); last lines of %s:\n%s", p.name, p.waitErr, p.logPath, tailFile(p.logPath, 25))
}

// stop sends SIGTERM to the process group, then SIGKILL after grace.
func (p *process) stop(grace time.Duration) error {
	if p.exited() {
		return nil
	}
	pgid := p.pid() // Setpgid makes the child its own group leader
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", p.name, p.pid())
		}
	}
	// Anything the process forked and left in its group goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}

// tailFile returns the last n lines of a file, for error messages.
func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// freePorts reserves n distinct loopback ports by listening on port 0 and
// releasing them together, so one sandbox never hands the same port twice.
// Another process could still grab one before the child binds it; that race
// is short and ends in a clear start error, never in two sandboxes sharing
// a server.
func freePorts(n int) ([]int, error) {
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("reserve a loopback port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// pidAlive reports whether a process with this pid exists (and is not a zombie).
func pidAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return errors.Is(syscall.Kill(pid, 0), syscall.EPERM)
	}
	// The state is the field after the parenthesised command name.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}
