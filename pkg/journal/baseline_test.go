package journal

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/probe"
)

// A baseline survives the journal with its window, step, statistic and
// points, NaN included, so a verdict can be checked by hand.
func TestBaselineRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 23, 22, 0, 0, 0, time.UTC)
	p := experiment.Probe{Name: "p99", Query: "q", Expect: experiment.Expect{Baseline: &experiment.Baseline{
		Window: experiment.NewDuration(10 * time.Second), MaxIncrease: "20%"}}}
	var pts []probe.Point
	for i := range 11 {
		pts = append(pts, probe.Point{T: at.Add(time.Duration(i-10) * time.Second), V: 0.2})
	}
	known := probe.SummarizeBaseline(p, []probe.Series{{Labels: map[string]string{"service": "checkout"}, Points: pts}}, at, time.Second)
	pts[3].V = math.NaN()
	unknown := probe.SummarizeBaseline(p, []probe.Series{{Points: pts}}, at, time.Second)
	in := &Record{SchemaVersion: SchemaVersion, RunID: "r", Verdict: Held, Started: at,
		Baselines: []Baseline{{Index: 0, Baseline: known}, {Index: 2, Baseline: unknown}}}
	path := filepath.Join(t.TempDir(), "j.json")
	if err := (File{Path: path}).Write(in); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	for _, want := range []string{`"index": 2`, `"window": "10s"`, `"step": "1s"`, `"statistic": "median"`, `"v": "NaN"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("journal lacks %s:\n%s", want, raw)
		}
	}
	out, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	b := out.BaselineOf(0)
	if b == nil || b.Probe != "p99" || b.Window.Duration != 10*time.Second || len(b.Series) != 1 || b.Series[0].Median != 0.2 ||
		b.Series[0].Labels["service"] != "checkout" || len(b.Series[0].Points) != 11 || !b.Known() {
		t.Errorf("baseline 0: %+v", b)
	}
	if u := out.BaselineOf(2); u == nil || u.Known() || !math.IsNaN(u.Series[0].Points[3].V) || !math.IsNaN(u.Series[0].Median) {
		t.Errorf("baseline 2: %+v", u)
	}
	if out.BaselineOf(1) != nil {
		t.Error("a baseline for a probe without one")
	}
}
