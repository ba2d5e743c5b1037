// Package image_test proves that the image hack/image writes without a
// Docker engine agrees with the Dockerfile, the reference for people with
// one (#20.1): the Dockerfile is read with BuildKit's own parser (a
// test-only dependency, nothing the chaosnight binary links) and its final
// stage compared with the archive's config and layer.
package image_test

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// distrolessBase is the final stage's base. What it gives the image
// (baseEntries, its Env and WorkingDir) is stated in hack/image; a new
// base means reviewing hack/image, so the test fails on any other.
const distrolessBase = "gcr.io/distroless/static-debian12:nonroot"

// baseEntries are the layer entries hack/image writes for what the
// distroless base provides (the rest must come from the Dockerfile).
func baseEntries() []string {
	return []string{
		"etc/", "etc/group", "etc/nsswitch.conf", "etc/passwd", "etc/ssl/", "etc/ssl/certs/",
		"etc/ssl/certs/ca-certificates.crt", "home/", "home/nonroot/", "tmp/",
	}
}

// layerEntry is what the comparison needs of one layer entry.
type layerEntry struct {
	dir  bool
	link string // symlink target
}

// stage is one FROM ... of the Dockerfile.
type stage struct {
	name, base string
	nodes      []*parser.Node
}

// stages splits the Dockerfile into its stages.
func stages(src []byte) ([]stage, error) {
	res, err := parser.Parse(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	var out []stage
	for _, n := range res.AST.Children {
		if strings.EqualFold(n.Value, "from") {
			s := stage{base: n.Next.Value}
			if a := n.Next.Next; a != nil && strings.EqualFold(a.Value, "as") && a.Next != nil {
				s.name = a.Next.Value
			}
			out = append(out, s)
			continue
		}
		if len(out) == 0 {
			continue // ARG before the first FROM
		}
		out[len(out)-1].nodes = append(out[len(out)-1].nodes, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no FROM")
	}
	return out, nil
}

// values are a node's arguments.
func values(n *parser.Node) []string {
	var vs []string
	for x := n.Next; x != nil; x = x.Next {
		vs = append(vs, x.Value)
	}
	return vs
}

// rootfs is the tree the build stage writes into /out/rootfs: entry name
// (directories end in /) to entry, and the package each binary is built
// from.
func rootfs(s stage) (map[string]layerEntry, map[string]string) {
	// The build stage's RUN puts files in /out/rootfs with `-o`, `mkdir -p`
	// and `ln -s`; the final stage copies that tree to /.
	reOut := regexp.MustCompile(`-o\s+/out/rootfs/(\S+)\s+(\./cmd/\S+)`)
	reMkdir := regexp.MustCompile(`mkdir\s+-p\s+/out/rootfs/(\S+)`)
	reLink := regexp.MustCompile(`ln\s+-s\s+(\S+)\s+/out/rootfs/(\S+)`)
	entries := map[string]layerEntry{}
	pkgs := map[string]string{}
	for _, n := range s.nodes {
		if !strings.EqualFold(n.Value, "run") {
			continue
		}
		run := strings.Join(values(n), " ")
		for _, m := range reOut.FindAllStringSubmatch(run, -1) {
			entries[m[1]] = layerEntry{}
			pkgs[m[1]] = m[2]
		}
		for _, m := range reMkdir.FindAllStringSubmatch(run, -1) {
			p := strings.TrimSuffix(m[1], "/")
			for { // mkdir -p makes the parents
				entries[p+"/"] = layerEntry{dir: true}
				i := strings.LastIndexByte(p, '/')
				if i < 0 {
					break
				}
				p = p[:i]
			}
		}
		for _, m := range reLink.FindAllStringSubmatch(run, -1) {
			entries[m[2]] = layerEntry{link: m[1]}
		}
	}
	return entries, pkgs
}

// finalStage is what the Dockerfile's final stage says about the image.
type finalStage struct {
	base                  string
	user, workdir         string
	entrypoint, cmd       []string
	expose, env           []string
	labels                map[string]string
	copies                []string // "--from=STAGE SRC DEST"
	unknown               []string // instructions the comparison does not know
	shellForm             []string // ENTRYPOINT or CMD not in JSON form
	builtFrom             map[string]string
	rootfs                map[string]layerEntry
	rootfsStage, copyFrom string
}

// readFinalStage interprets the last stage with the build arguments given
// (they override the ARG defaults, as --build-arg does).
func readFinalStage(src []byte, buildArgs map[string]string) (*finalStage, error) {
	ss, err := stages(src)
	if err != nil {
		return nil, err
	}
	last := ss[len(ss)-1]
	f := &finalStage{base: last.base, labels: map[string]string{}}
	lex := shell.NewLex('\\')
	var env []string
	expand := func(w string) (string, error) {
		s, _, err := lex.ProcessWord(w, shell.EnvsFromSlice(env))
		return s, err
	}
	for _, n := range last.nodes {
		vs := values(n)
		switch strings.ToLower(n.Value) {
		case "arg":
			for _, v := range vs {
				k, def, _ := strings.Cut(v, "=")
				if b, ok := buildArgs[k]; ok {
					def = b
				}
				env = append(env, k+"="+def)
			}
		case "label":
			for i := 0; i+1 < len(vs); i += 3 { // key, value, separator
				v, err := expand(vs[i+1])
				if err != nil {
					return nil, err
				}
				f.labels[vs[i]] = v
			}
		case "env":
			for i := 0; i+1 < len(vs); i += 3 {
				v, err := expand(vs[i+1])
				if err != nil {
					return nil, err
				}
				f.env = append(f.env, vs[i]+"="+v)
				env = append(env, vs[i]+"="+v)
			}
		case "copy":
			f.copies = append(f.copies, strings.Join(append(append([]string{}, n.Flags...), vs...), " "))
		case "user":
			f.user = vs[0]
		case "workdir":
			f.workdir = vs[0]
		case "expose":
			for _, p := range vs {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				f.expose = append(f.expose, p)
			}
		case "entrypoint", "cmd":
			if !n.Attributes["json"] {
				f.shellForm = append(f.shellForm, strings.ToUpper(n.Value))
			}
			if strings.EqualFold(n.Value, "cmd") {
				f.cmd = vs
			} else {
				f.entrypoint = vs
			}
		default:
			f.unknown = append(f.unknown, strings.ToUpper(n.Value))
		}
	}
	// The tree the only COPY takes, from the stage it names.
	if len(f.copies) == 1 {
		parts := strings.Fields(f.copies[0])
		if len(parts) == 3 && strings.HasPrefix(parts[0], "--from=") {
			f.copyFrom = strings.TrimPrefix(parts[0], "--from=")
			for _, s := range ss[:len(ss)-1] {
				if s.name == f.copyFrom {
					f.rootfs, f.builtFrom = rootfs(s)
					f.rootfsStage = s.name
				}
			}
		}
	}
	return f, nil
}

// disagreements lists where the Dockerfile (with the build arguments
// VERSION and COMMIT) and an image's config and layer differ; none means
// they agree.
func disagreements(dockerfile []byte, version, commit string, cfg v1.ImageConfig, layer map[string]layerEntry) []string {
	f, err := readFinalStage(dockerfile, map[string]string{"VERSION": version, "COMMIT": commit})
	if err != nil {
		return []string{"parse: " + err.Error()}
	}
	var out []string
	diff := func(what string, dockerfile, image any) {
		if fmt.Sprint(dockerfile) != fmt.Sprint(image) {
			out = append(out, fmt.Sprintf("%s: Dockerfile %v, image %v", what, dockerfile, image))
		}
	}
	diff("base", f.base, distrolessBase)
	diff("USER", f.user, cfg.User)
	diff("ENTRYPOINT", f.entrypoint, cfg.Entrypoint)
	diff("CMD", f.cmd, cfg.Cmd)
	diff("ENTRYPOINT/CMD in shell form (distroless has no shell)", f.shellForm, []string(nil))
	var exposed []string
	for p := range cfg.ExposedPorts {
		exposed = append(exposed, p)
	}
	sort.Strings(exposed)
	sort.Strings(f.expose)
	diff("EXPOSE", f.expose, exposed)
	diff("LABEL", f.labels, cfg.Labels)
	for _, e := range f.env {
		if !contains(cfg.Env, e) {
			out = append(out, fmt.Sprintf("ENV %s: not in the image's %v", e, cfg.Env))
		}
	}
	if f.workdir != "" {
		diff("WORKDIR", f.workdir, cfg.WorkingDir)
	}
	diff("instructions hack/image does not reproduce", f.unknown, []string(nil))
	diff("COPY", f.copies, []string{"--from=build /out/rootfs/ /"})
	if f.rootfsStage == "" {
		return append(out, "no build stage named by COPY --from")
	}
	// The binaries are built from the packages hack/image.BuildBinaries
	// builds.
	diff("binaries built from", f.builtFrom, map[string]string{"chaosnight": "./cmd/chaosnight", "chaosnight-stress": "./cmd/chaosnight-stress"})
	want := map[string]layerEntry{}
	for k, v := range f.rootfs {
		want[k] = v
	}
	for _, b := range baseEntries() {
		want[b] = layerEntry{dir: strings.HasSuffix(b, "/")}
	}
	for _, name := range sortedKeys(want, layer) {
		w, inDockerfile := want[name]
		got, inImage := layer[name]
		switch {
		case !inImage:
			out = append(out, fmt.Sprintf("%s: in the Dockerfile's tree, not in the image", name))
		case !inDockerfile:
			out = append(out, fmt.Sprintf("%s: in the image, not in the Dockerfile's tree nor the base's", name))
		case w != got:
			out = append(out, fmt.Sprintf("%s: Dockerfile %+v, image %+v", name, w, got))
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

func sortedKeys(a, b map[string]layerEntry) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range []map[string]layerEntry{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}
