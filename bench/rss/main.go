// Command rss tells what a chaosnight process's resident memory is made
// of: it builds ./cmd/chaosnight (with its symbols), starts it with the
// given arguments, and after -after reads /proc/PID/status and
// /proc/PID/pagemap. Every resident page of the executable's mappings is
// put down to the symbol it holds, and the symbols to a module family
// (k8s.io/api, the Go runtime's type descriptors, fonts, ...):
//
//	go run ./bench/rss -- version                       # the floor of any command
//	go run ./bench/rss -after 3s -- serve --config ...  # a running serve
//
// File-backed pages are the executable's own, shared with every process
// that maps it and reclaimable under memory pressure; the kernel maps them
// in blocks around each touched page (fault-around, 64 KiB by default), so
// their count follows how scattered the touched code and data are, not
// only how much is used. Only anonymous memory (heap, stacks) is private.
package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	after := flag.Duration("after", 1500*time.Millisecond, "how long after the start to read the process")
	top := flag.Int("top", 16, "families to list")
	flag.Parse()
	if err := run(*after, *top, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "rss:", err)
		os.Exit(1)
	}
}

// run measures, then prints the result.
func run(after time.Duration, top int, args []string) error {
	r, err := measure(after, args)
	if err != nil {
		return err
	}
	report(os.Stdout, r, top)
	return nil
}

// result is what measure read from one process.
type result struct {
	args     []string
	after    time.Duration
	status   map[string]int64 // /proc/PID/status, in KiB
	byFamily map[string]int64 // resident bytes of the executable, by family
}

// measure builds the binary, starts it with args and reads its memory
// after the given time.
func measure(after time.Duration, args []string) (result, error) {
	if len(args) == 0 {
		return result{}, errors.New("usage: go run ./bench/rss [-after 1.5s] -- CHAOSNIGHT-ARGS...") //nolint:staticcheck // ST1005: a usage line; "ARGS..." is its notation, not punctuation
	}
	dir, err := os.MkdirTemp("", "chaosnight-rss-")
	if err != nil {
		return result{}, err
	}
	defer func() { _ = os.RemoveAll(dir) }()
	bin := filepath.Join(dir, "chaosnight")
	// Not stripped (-s -w only drops sections that are never mapped, so
	// the resident memory is the same as make build's binary).
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/chaosnight")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return result{}, fmt.Errorf("build: %w\n%s", err, out)
	}
	syms, err := symbols(bin)
	if err != nil {
		return result{}, err
	}

	ctx, cancel := context.WithTimeout(context.Background(), after+time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = nil, nil
	if err := cmd.Start(); err != nil {
		return result{}, err
	}
	time.Sleep(after)
	pid := strconv.Itoa(cmd.Process.Pid)
	status, err := readStatus(pid)
	if err != nil {
		return result{}, fmt.Errorf("the process ended before -after (%s)? %w", after, err)
	}
	byFamily, err := residentByFamily(pid, bin, syms)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	if err != nil {
		return result{}, err
	}
	return result{args: args, after: after, status: status, byFamily: byFamily}, nil
}

// readStatus reads the kB fields of /proc/PID/status.
func readStatus(pid string) (map[string]int64, error) {
	f, err := os.Open("/proc/" + pid + "/status")
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		fs := strings.Fields(v)
		if ok && len(fs) == 2 && fs[1] == "kB" {
			out[k], _ = strconv.ParseInt(fs[0], 10, 64)
		}
	}
	return out, sc.Err()
}

type symbol struct {
	addr   uint64
	family string
}

// symbols lists the executable's symbols by address, each with its family.
func symbols(bin string) ([]symbol, error) {
	out, err := exec.Command("go", "tool", "nm", "-sort", "address", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("go tool nm: %w", err)
	}
	var syms []symbol
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		addr, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			continue
		}
		syms = append(syms, symbol{addr: addr, family: family(f[1], strings.Join(f[2:], " "))})
	}
	sort.Slice(syms, func(i, j int) bool { return syms[i].addr < syms[j].addr })
	return syms, nil
}

// family groups a symbol: by what it is for the runtime's own tables, else
// by the module (or standard library) its package belongs to, with the
// code (T) and data (D, B) of a family apart.
func family(kind, name string) string {
	switch name {
	case "runtime.rodata", "runtime.types":
		return "type descriptors (all packages)"
	case "runtime.pclntab", "runtime.findfunctab", "runtime.functab":
		return "function tables (pclntab)"
	}
	if strings.HasPrefix(name, "go:string") {
		return "string constants"
	}
	switch {
	case strings.HasPrefix(name, "type:"):
		return "type descriptors (all packages)"
	case strings.HasPrefix(name, "go:func"):
		return "function metadata (go:func.*)"
	case strings.HasPrefix(name, "go:"):
		return "other read-only data"
	}
	pkg := name
	if i := strings.IndexAny(pkg, "[("); i >= 0 {
		pkg = pkg[:i]
	}
	if slash := strings.LastIndex(pkg, "/"); slash >= 0 {
		if dot := strings.Index(pkg[slash:], "."); dot >= 0 {
			pkg = pkg[:slash+dot]
		}
	} else if dot := strings.Index(pkg, "."); dot >= 0 {
		pkg = pkg[:dot]
	}
	mod := module(pkg)
	switch kind {
	case "T", "t":
		return mod + " (code)"
	case "R", "r":
		return mod + " (read-only data)"
	default:
		return mod + " (data)"
	}
}

// module names the family of a package path.
func module(pkg string) string {
	for _, p := range []string{"k8s.io/api/", "k8s.io/apimachinery/", "k8s.io/client-go/", "github.com/prometheus/prometheus/",
		"github.com/prometheus/", "gonum.org/v1/plot", "codeberg.org/go-fonts/", "codeberg.org/go-latex/", "google.golang.org/protobuf/",
		"github.com/chaosnight/chaosnight/", "golang.org/x/", "github.com/spf13/", "sigs.k8s.io/"} {
		if strings.HasPrefix(pkg, p) {
			return strings.TrimSuffix(p, "/")
		}
	}
	if !strings.Contains(pkg, ".") || strings.HasPrefix(pkg, "vendor/") {
		return "Go standard library"
	}
	parts := strings.SplitN(pkg, "/", 4)
	if len(parts) >= 3 {
		return strings.Join(parts[:3], "/")
	}
	return pkg
}

// residentByFamily reads which pages of the executable's mappings are
// resident (pagemap bit 63) and adds each to the family of the symbol that
// covers its middle.
func residentByFamily(pid, bin string, syms []symbol) (map[string]int64, error) {
	maps, err := os.ReadFile("/proc/" + pid + "/maps")
	if err != nil {
		return nil, err
	}
	pm, err := os.Open("/proc/" + pid + "/pagemap")
	if err != nil {
		return nil, err
	}
	defer func() { _ = pm.Close() }()
	page := uint64(os.Getpagesize())
	out := map[string]int64{}
	for _, line := range strings.Split(string(maps), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[5] != bin {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("maps line %q", line)
		}
		entries := make([]byte, (end-start)/page*8)
		if _, err := pm.ReadAt(entries, int64(start/page*8)); err != nil {
			return nil, fmt.Errorf("pagemap: %w", err)
		}
		for i := uint64(0); i < (end-start)/page; i++ {
			if binary.LittleEndian.Uint64(entries[i*8:])>>63 == 0 {
				continue
			}
			mid := start + i*page + page/2
			k := sort.Search(len(syms), func(k int) bool { return syms[k].addr > mid }) - 1
			name := "(no symbol)"
			if k >= 0 {
				name = syms[k].family
			}
			out[name] += int64(page)
		}
	}
	return out, nil
}
