package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/runner"
	"github.com/chaosnight/chaosnight/test/sandbox"
)

// lockedBuffer is serve's output, read by the test while serve writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestServeAppliesDryRunFromTheConfigFile runs `chaosnight serve` with
// dryRun: false and a podKill.every experiment, and switches the config
// file to dryRun: true after the first eviction: serve re-reads the file
// through viper, /status says dry run from then on, and every round after
// that touches nothing.
func TestServeAppliesDryRunFromTheConfigFile(t *testing.T) {
	s := sandbox.Require(t, sb)
	settle(t.Context(), t, s)
	dir := t.TempDir()
	every := strings.Replace(experimentYAML("serve-every", `    podKill: {method: evict, every: 2s}`, "  safety: {minHealthy: 2}\n"), "duration: 5s", "duration: 12s", 1)
	writeFile(t, dir, "experiments/every.yaml", every)
	config := func(dryRun string) string {
		return `experiments: experiments
dryRun: ` + dryRun + `
journal: {directory: ` + filepath.Join(dir, "journals") + `}
nights:
  - name: test-night
    opens: "*/2 * * * *"
    lasts: 50s
    timezone: UTC
    experiments: {names: [serve-every]}
`
	}
	cfg := writeFile(t, dir, "chaosnight.yaml", config("false"))
	now := time.Now()
	offset := now.Truncate(2*time.Minute).Add(2*time.Minute).Sub(now) - 3*time.Second
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan int, 1)
	out := &lockedBuffer{}
	go func() {
		done <- RunContext(ctx, Streams{In: strings.NewReader(""), Out: out, Err: out}, BuildInfo{Version: "test"},
			[]string{"serve", "--config", cfg, "--kubeconfig", s.Kubeconfig, "--namespace", "default",
				"--prometheus-url", s.PrometheusURL, "--listen", "127.0.0.1:0", "--leader-elect=false",
				"--clock-offset", offset.String()})
	}()
	defer func() {
		cancel()
		<-done
		_ = s.Client().CoreV1().ConfigMaps("default").Delete(context.Background(), runner.DefaultStateName, metav1.DeleteOptions{})
	}()
	addr := regexp.MustCompile(`msg=serving address=(\S+)`)
	var base string
	sandbox.WaitFor(t, 20*time.Second, "serve to listen", func() error {
		if m := addr.FindStringSubmatch(out.String()); m != nil {
			base = "http://" + m[1]
			return nil
		}
		return context.DeadlineExceeded
	})
	status := func() (runner.Status, error) {
		var st runner.Status
		resp, err := http.Get(base + "/status")
		if err != nil {
			return st, err
		}
		defer resp.Body.Close()
		return st, json.NewDecoder(resp.Body).Decode(&st)
	}
	if st, err := status(); err != nil || st.DryRun {
		t.Fatalf("status at start: %+v %v, want dryRun false", st, err)
	}

	journalOf := func() *journal.Record {
		files, _ := filepath.Glob(filepath.Join(dir, "journals", "*.json"))
		if len(files) != 1 {
			return nil
		}
		rec, _ := journal.Read(files[0])
		return rec
	}
	sandbox.WaitFor(t, 45*time.Second, "the first eviction", func() error {
		if rec := journalOf(); rec != nil && len(rec.Injections) > 0 {
			return nil
		}
		return context.DeadlineExceeded
	})
	writeFile(t, dir, "chaosnight.yaml", config("true"))
	var since time.Time
	sandbox.WaitFor(t, 10*time.Second, "/status to say dry run", func() error {
		st, err := status()
		if err != nil {
			return err
		}
		if !st.DryRun || !st.Policy.DryRun {
			return context.DeadlineExceeded
		}
		since = time.Now()
		return nil
	})
	var rec *journal.Record
	sandbox.WaitFor(t, 40*time.Second, "the run to end", func() error {
		if rec = journalOf(); rec != nil && rec.Verdict != journal.Running && rec.Verdict != "" {
			return nil
		}
		return context.DeadlineExceeded
	})
	if rec.DryRun || len(rec.Injections) == 0 || !touchedAny(rec.Injections[0]) {
		t.Fatalf("the run did not start live: dry %v, injections %+v", rec.DryRun, rec.Injections)
	}
	// Rounds that started once /status said dry run touch nothing (half a
	// second of slack for a round that read the settings just before).
	var after int
	for i, inj := range rec.Injections {
		if !inj.At.After(since.Add(500 * time.Millisecond)) {
			continue
		}
		after++
		if touchedAny(inj) {
			t.Errorf("round %d at %v, after dry run was in force (%v): %+v", i+1, inj.At, since, inj.Outcomes)
		}
	}
	if after == 0 {
		t.Errorf("no round after the switch (rounds %d): the test proves nothing", len(rec.Injections))
	}
	if !strings.Contains(out.String(), "safety settings changed") {
		t.Errorf("serve did not log the change:\n%s", out.String())
	}
}

func touchedAny(inj inject.Injection) bool {
	for _, o := range inj.Outcomes {
		if inject.Touched(o.Status) {
			return true
		}
	}
	return false
}
