package sandbox

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The cache key comes from DefaultVersions; a version bump in hack/tools
// that forgets it would silently keep running the old binaries.
func TestDefaultVersionsMatchToolsModules(t *testing.T) {
	root, err := FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	v := DefaultVersions()
	for _, c := range []struct{ file, require string }{
		{"hack/tools/go.mod", "k8s.io/kubernetes v" + v.Kubernetes},
		{"hack/tools/etcd/go.mod", "go.etcd.io/etcd/server/v3 v" + v.Etcd},
		{"hack/tools/kwok/go.mod", "sigs.k8s.io/kwok v" + v.Kwok},
		{"hack/tools/prometheus/go.mod", "github.com/prometheus/prometheus " + prometheusModuleVersion},
	} {
		b, err := os.ReadFile(filepath.Join(root, c.file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), c.require) {
			t.Errorf("%s does not require %q", c.file, c.require)
		}
	}
	// Every staging module is pinned to the matching v0 tag.
	b, _ := os.ReadFile(filepath.Join(root, "hack/tools/go.mod"))
	want := "=> k8s.io/api v0." + strings.SplitN(v.Kubernetes, ".", 2)[1]
	if !strings.Contains(string(b), want) {
		t.Errorf("hack/tools/go.mod lacks %q", want)
	}
}

func TestKeyAndGoMinor(t *testing.T) {
	for in, want := range map[string]string{"go1.26.8": "go1.26", "go1.27": "go1.27", "devel go1.27-abc": "devel_go1.27-abc"} {
		if got := goMinor(in); got != want {
			t.Errorf("goMinor(%q) = %q, want %q", in, got, want)
		}
	}
	if k := DefaultVersions().Key(); !strings.HasPrefix(k, "k8s-1.36.3_etcd-3.6.6_kwok-0.8.0_go") {
		t.Errorf("key %q", k)
	}
}

func TestMissingToolsErrorSaysHowToGetThem(t *testing.T) {
	err := checkTools(t.TempDir(), DefaultVersions())
	if err == nil {
		t.Fatal("no error for an empty directory")
	}
	for _, want := range []string{"make sandbox-tools", "kube-apiserver", EnvBinDir} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	_, err = lookPrometheus("prometheus-that-does-not-exist")
	for _, want := range []string{"make sandbox-tools", "no root needed", EnvPrometheus} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing prometheus error %v does not mention %q", err, want)
		}
	}
}

// TestRequired: make test (CHAOSNIGHT_SANDBOX=require) and CI, spelled
// CI=true or CI=1, fail when the sandbox is missing; only the explicit
// CHAOSNIGHT_SANDBOX=off (make unit) turns the integration tests off.
func TestRequired(t *testing.T) {
	tests := []struct {
		sandbox, ci        string
		required, disabled bool
	}{
		{"", "", false, false},
		{"", "true", true, false},
		{"", "1", true, false},
		{"", "TRUE", true, false},
		{"", "false", false, false},
		{"require", "", true, false},
		{"require", "false", true, false},
		{"off", "true", false, true},
		{"off", "", false, true},
		{"OFF", "1", false, true},
	}
	for _, tt := range tests {
		t.Run(EnvSandbox+"="+tt.sandbox+",CI="+tt.ci, func(t *testing.T) {
			t.Setenv(EnvSandbox, tt.sandbox)
			t.Setenv("CI", tt.ci)
			if got := Required(); got != tt.required {
				t.Errorf("Required() = %v, want %v", got, tt.required)
			}
			if got := Disabled(); got != tt.disabled {
				t.Errorf("Disabled() = %v, want %v", got, tt.disabled)
			}
		})
	}
}

// The real node's pins match its modules, and its cache entry is its own:
// building it never touches the control plane's.
func TestRealNodeVersionsMatchToolsModules(t *testing.T) {
	root, err := FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	v := DefaultRealNodeVersions()
	for _, c := range []struct{ file, want string }{
		{"hack/tools/go.mod", "k8s.io/kubernetes v" + v.Kubernetes},
		{"hack/tools/tools.go", `"k8s.io/kubernetes/cmd/kubelet"`},
		{"hack/tools/containerd/go.mod", "github.com/containerd/containerd/v2 v" + v.Containerd},
	} {
		b, err := os.ReadFile(filepath.Join(root, c.file))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), c.want) {
			t.Errorf("%s lacks %q", c.file, c.want)
		}
	}
	if k := v.Key(); k == DefaultVersions().Key() || !strings.HasPrefix(k, "realnode_") || !strings.Contains(k, "containerd-"+v.Containerd) {
		t.Errorf("real-node key %q", k)
	}
	err = checkRealNodeTools(t.TempDir(), v)
	for _, want := range []string{"tools -realnode", "kubelet", "runc", EnvRealNodeBinDir} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing real-node tools error %v does not mention %q", err, want)
		}
	}
}

func TestRealNodeSupportedOn(t *testing.T) {
	tests := []struct {
		goos string
		euid int
		want string // "" for supported
	}{
		{"linux", 0, ""},
		{"linux", 1000, "needs root"},
		{"darwin", 0, "needs Linux"},
	}
	for _, tt := range tests {
		t.Run(tt.goos+"/"+strconv.Itoa(tt.euid), func(t *testing.T) {
			err := realNodeSupportedOn(tt.goos, tt.euid)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var un *RealNodeUnavailableError
			if !errors.As(err, &un) || !strings.Contains(un.Reason, tt.want) {
				t.Errorf("got %v, want a RealNodeUnavailableError saying %q", err, tt.want)
			}
		})
	}
}

func TestParsePrometheusMajor(t *testing.T) {
	for out, want := range map[string]int{
		"prometheus, version 3.16.0 (branch: HEAD, revision: v0.316.0)\n  build user: chaosnight-sandbox": 3,
		"prometheus, version 2.42.0+ds (branch: debian/sid, revision: 2.42.0+ds-5+b5)":                    2,
		"prometheus, version (devel)": 0,
		"":                            0,
	} {
		if got := parsePrometheusMajor(out); got != want {
			t.Errorf("parsePrometheusMajor(%q) = %d, want %d", out, got, want)
		}
	}
}

// cachedBuild builds into a partial directory, moves it into place with
// its stamp, and does nothing the second time; a failed build leaves no
// directory that could pass for complete.
func TestCachedBuild(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "bin")
	complete := func() bool {
		b, err := os.ReadFile(filepath.Join(dest, stampFile))
		return err == nil && string(b) == "v1\n"
	}
	builds := 0
	build := func(partial string) error {
		builds++
		return os.WriteFile(filepath.Join(partial, "tool"), []byte("x"), 0o755)
	}
	var log strings.Builder
	for range 2 {
		if err := cachedBuild(dest, "tool", &log, complete, "v1\n", build); err != nil {
			t.Fatal(err)
		}
	}
	if builds != 1 || !complete() || !strings.Contains(log.String(), "tool cached in") {
		t.Fatalf("%d builds, complete %v, log %q", builds, complete(), log.String())
	}
	if _, err := os.Stat(filepath.Join(dest, "tool")); err != nil {
		t.Fatal(err)
	}

	failed := filepath.Join(t.TempDir(), "bin")
	err := cachedBuild(failed, "tool", &log, func() bool { return false }, "v1\n", func(string) error { return errors.New("compile error") })
	if err == nil {
		t.Fatal("a failed build succeeded")
	}
	if _, err := os.Stat(failed); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed build left %s: %v", failed, err)
	}
}
