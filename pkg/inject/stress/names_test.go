package stress

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestContainerName(t *testing.T) {
	long := strings.Repeat("a", 80)
	tests := []struct {
		runID, want string
	}{
		{"20260101-220000-a1b2c3", "chaosnight-stress-20260101-220000-a1b2c3"},
		{"it-stress", "chaosnight-stress-it-stress"},
		// Not a clean label: lowered, cleaned, and a hash of the original
		// keeps "Run_1" and "run-1" apart.
		{"Run_1", "chaosnight-stress-run-1-" + shortHash("Run_1")},
		{"run-1", "chaosnight-stress-run-1"},
		{"___", "chaosnight-stress-" + shortHash("___")},
		{long, "chaosnight-stress-" + long[:63-len("chaosnight-stress-")-9] + "-" + shortHash(long)},
	}
	for _, tt := range tests {
		t.Run(tt.runID, func(t *testing.T) {
			got, err := ContainerName(tt.runID)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("ContainerName(%q) = %q, want %q", tt.runID, got, tt.want)
			}
			if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
				t.Errorf("%q is not a DNS-1123 label: %v", got, errs)
			}
		})
	}
	if _, err := ContainerName(""); err == nil {
		t.Error("an empty run id must be refused")
	}
}

func TestHelperAndLeaseNames(t *testing.T) {
	const run = "20260101-220000-a1b2c3"
	a, err := HelperName(run, "node-a")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := HelperName(run, "node-b")
	if a == b {
		t.Errorf("two nodes share the helper name %q", a)
	}
	if want := "chaosnight-stress-" + run + "-" + shortHash("node-a"); a != want {
		t.Errorf("HelperName = %q, want %q", a, want)
	}
	longNode := strings.Repeat("n", 253)
	for _, id := range []string{run, strings.Repeat("r", 70), "Weird ID!"} {
		h, err := HelperName(id, longNode)
		if err != nil {
			t.Fatal(err)
		}
		if errs := validation.IsDNS1123Label(h); len(errs) > 0 {
			t.Errorf("HelperName(%q) = %q: %v", id, h, errs)
		}
	}
	l, err := LeaseName(run)
	if err != nil || l != "chaosnight-run-"+run {
		t.Errorf("LeaseName = %q, %v", l, err)
	}
}

func TestStressArgs(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		d    time.Duration
		want []string
		err  string
	}{
		{"cpu and memory", Spec{CPU: &CPUStress{Workers: 2, Load: 80}, Memory: &MemoryStress{Size: "256Mi"}}, 5 * time.Minute,
			[]string{"--cpu-workers", "2", "--cpu-load", "80", "--memory", "256Mi", "--duration", "5m0s"}, ""},
		{"cpu defaults", Spec{CPU: &CPUStress{}}, 30 * time.Second,
			[]string{"--cpu-workers", "1", "--cpu-load", "100", "--duration", "30s"}, ""},
		{"memory only, duration rounded up", Spec{Memory: &MemoryStress{Size: " 1Gi "}}, 1500 * time.Millisecond,
			[]string{"--memory", "1Gi", "--duration", "2s"}, ""},
		{"nothing", Spec{Scope: "pod"}, time.Minute, nil, "nothing to stress"},
		{"no duration", Spec{CPU: &CPUStress{}}, 0, nil, "must be positive"},
		{"empty memory", Spec{Memory: &MemoryStress{}}, time.Minute, nil, "without a size"},
		{"disk fill on a volume", Spec{Disk: &DiskStress{Fill: "90%", Volume: "cache", IO: &DiskIO{}}}, time.Minute,
			[]string{"--disk-fill", "90%", "--disk-io", "1", "--disk-path", "/chaosnight/disk", "--duration", "1m0s"}, ""},
		{"disk fill in the writable layer", Spec{Scope: "pod", Disk: &DiskStress{Fill: "2Gi"}}, time.Minute,
			[]string{"--disk-fill", "2Gi", "--disk-path", "/tmp", "--duration", "1m0s"}, ""},
		{"disk io on a node", Spec{Scope: "node", Disk: &DiskStress{Path: "/scratch", IO: &DiskIO{Workers: 3}}}, time.Minute,
			[]string{"--disk-io", "3", "--disk-path", "/scratch", "--duration", "1m0s"}, ""},
		{"empty disk", Spec{Disk: &DiskStress{}}, time.Minute, nil, "without fill or io"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := StressArgs(tt.spec, tt.d)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("args = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDefaultImage(t *testing.T) {
	for v, want := range map[string]string{
		"v0.4.0":           "ghcr.io/chaosnight/chaosnight:v0.4.0",
		"v0.4.0+dirty":     "ghcr.io/chaosnight/chaosnight:v0.4.0-dirty",
		"dev":              "ghcr.io/chaosnight/chaosnight:latest",
		"":                 "ghcr.io/chaosnight/chaosnight:latest",
		"v1.0.0-rc.1+meta": "ghcr.io/chaosnight/chaosnight:v1.0.0-rc.1-meta",
	} {
		if got := DefaultImage(v); got != want {
			t.Errorf("DefaultImage(%q) = %q, want %q", v, got, want)
		}
	}
}

// The security context alone meets the restricted Pod Security level, so
// it holds whatever the target pod sets (the sandbox test proves admission).
func TestContainerSecurityContextAsksForNothing(t *testing.T) {
	sc := containerSecurityContext(false)
	switch {
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot,
		sc.RunAsUser == nil || *sc.RunAsUser != 65532,
		sc.RunAsGroup == nil || *sc.RunAsGroup != 65532,
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation,
		sc.Privileged == nil || *sc.Privileged,
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0,
		sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem,
		sc.SeccompProfile == nil || sc.SeccompProfile.Type != "RuntimeDefault":
		t.Errorf("security context %+v", sc)
	}
	// The writable-layer disk stress lifts the read-only root and nothing else.
	w := containerSecurityContext(true)
	if w.ReadOnlyRootFilesystem == nil || *w.ReadOnlyRootFilesystem {
		t.Errorf("writable root: %+v", w)
	}
	w.ReadOnlyRootFilesystem = ptr(true)
	if !reflect.DeepEqual(w, sc) {
		t.Errorf("writable root changes more than the root filesystem: %+v", w)
	}
}
