package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// stressNGFiles is the image content for a dynamically linked binary: the
// binary at its host path plus every shared library ldd resolves and the
// dynamic loader, each at the path ldd prints (the loader's search path
// inside the image is then the host's). Nothing can be pulled into the
// sandbox, so Debian's stress-ng runs from its own files.
func stressNGFiles(ctx context.Context, bin string) (map[string]string, error) {
	out, err := exec.CommandContext(ctx, "ldd", bin).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	libs, err := parseLdd(string(out))
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", bin, err)
	}
	files := map[string]string{bin: bin}
	for _, l := range libs {
		files[l] = l
	}
	return files, nil
}

// parseLdd returns the absolute paths in ldd's output: "name => /path
// (addr)" for a library, "/path (addr)" for the loader. The vDSO has no
// file; a library that is "not found" is an error, since the binary could
// not start without it.
func parseLdd(out string) ([]string, error) {
	var paths []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if name, rest, ok := strings.Cut(line, "=>"); ok {
			rest = strings.TrimSpace(rest)
			if strings.HasPrefix(rest, "not found") {
				return nil, fmt.Errorf("library %s not found", strings.TrimSpace(name))
			}
			line = rest
		}
		p, _, _ := strings.Cut(line, " ")
		if filepath.IsAbs(p) {
			paths = append(paths, p)
		}
	}
	return paths, sc.Err()
}
