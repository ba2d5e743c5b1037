package experiment

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// LoadFile reads and loads one file; see Load.
func LoadFile(kinds *Kinds, path string) ([]Experiment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, Problems{readProblem(path, err)}
	}
	return Load(kinds, path, data)
}

// LoadPaths loads files and directories. Directories are walked
// recursively for *.yaml and *.yml files in lexical order, skipping names
// that start with a dot (.git, editor backups). The problems of every file
// are returned together, along with paths that do not exist and
// experiments that share a metadata.name (each place names the other).
// A file given twice is read once.
func LoadPaths(kinds *Kinds, paths ...string) ([]Experiment, error) {
	return loadPaths(kinds, false, paths)
}

// CheckPaths is LoadPaths for `chaosnight validate`: a directory that holds
// no experiment file is a problem too. (serve loads its directory with
// LoadPaths: a runner installed before its experiments, an empty ConfigMap
// of a GitOps setup, starts and plays nothing.)
func CheckPaths(kinds *Kinds, paths ...string) ([]Experiment, error) {
	return loadPaths(kinds, true, paths)
}

func loadPaths(kinds *Kinds, requireFiles bool, paths []string) ([]Experiment, error) {
	var (
		docs     []*document
		problems Problems
		seen     = map[string]bool{}
	)
	for _, p := range paths {
		files, ps := expandPath(p)
		if requireFiles && len(files) == 0 && len(ps) == 0 {
			ps = Problems{{File: p, Message: "holds no experiment files (*.yaml or *.yml, searched recursively; names starting with a dot are skipped)"}}
		}
		problems = append(problems, ps...)
		for _, f := range files {
			key := filepath.Clean(f)
			if seen[key] {
				continue
			}
			seen[key] = true
			data, err := os.ReadFile(f)
			if err != nil {
				problems = append(problems, readProblem(f, err))
				continue
			}
			ds, ps := parseFile(kinds, f, data)
			docs = append(docs, ds...)
			problems = append(problems, ps...)
		}
	}
	problems = append(problems, duplicateNames(docs)...)
	return collect(docs, problems)
}

// expandPath lists the experiment files a path stands for.
func expandPath(path string) ([]string, Problems) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, Problems{readProblem(path, err)}
	}
	if !info.IsDir() {
		return []string{path}, nil
	}
	var files []string
	var problems Problems
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			problems = append(problems, readProblem(p, err))
			return nil
		}
		if p != path && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml":
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		problems = append(problems, readProblem(path, err))
	}
	return files, problems
}

func readProblem(path string, err error) Problem {
	if errors.Is(err, fs.ErrNotExist) {
		return Problem{File: path, Message: "does not exist"}
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the path is already in front of the message
	}
	return Problem{File: path, Message: fmt.Sprintf("cannot read: %v", err)}
}
