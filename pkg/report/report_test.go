package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/report/reporttest"
)

var update = flag.Bool("update", false, "rewrite the golden files and the fixture journals in testdata")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./pkg/report -update rewrites it)\n--- got:\n%s", path, got)
	}
}

func TestGolden(t *testing.T) {
	all := fixtures()
	tests := []struct {
		name   string
		recs   []*journal.Record
		render func(w *bytes.Buffer, recs []*journal.Record) error
	}{
		{"held.junit.xml", all[:1], func(w *bytes.Buffer, r []*journal.Record) error { return JUnit(w, r) }},
		{"all.junit.xml", all, func(w *bytes.Buffer, r []*journal.Record) error { return JUnit(w, r) }},
		{"held.md", all[:1], func(w *bytes.Buffer, r []*journal.Record) error { return Markdown(w, r) }},
		{"all.md", all, func(w *bytes.Buffer, r []*journal.Record) error { return Markdown(w, r) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.render(&buf, tt.recs); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, buf.Bytes())
		})
	}
}

// TestFixtureJournals keeps testdata/journals (the fixtures as journal
// files, read by the CLI and runner tests) in step with fixtures().
func TestFixtureJournals(t *testing.T) {
	for _, rec := range fixtures() {
		data, err := json.MarshalIndent(rec, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		golden(t, filepath.Join("journals", rec.RunID+"_"+rec.Experiment.Metadata.Name+".json"), append(data, '\n'))
		if !*update {
			if _, err := journal.Read(filepath.Join("testdata", "journals", rec.RunID+"_"+rec.Experiment.Metadata.Name+".json")); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestJUnitCounts(t *testing.T) {
	var buf bytes.Buffer
	if err := JUnit(&buf, fixtures()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	// held: 4 cases, 0 failures; deviated: 2 cases (experiment, probe) both
	// failed; aborted: 5 cases, experiment and checkout-availability failed,
	// orders-backlog skipped; partial: 3 cases, experiment and probe
	// failed, the failed revert an error.
	for _, want := range []string{
		`<testsuites name="chaosnight" tests="14" failures="6" errors="1" skipped="1"`,
		`<failure message="deviated: the hypothesis was violated after 2s of injection`,
		`Prometheus unreachable: connection refused`,
		`<skipped message="no samples"></skipped>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("JUnit output lacks %q", want)
		}
	}
}

func TestHTMLStructure(t *testing.T) {
	all := fixtures()
	tests := []struct {
		name        string
		recs        []*journal.Record
		wantCharts  int // probe charts
		wantSummary bool
	}{
		{"held", all[:1], 3, false},
		{"deviated", all[1:2], 1, false},
		{"aborted", all[2:3], 4, false},
		{"partial with a failed revert", all[3:], 1, false},
		{"all", all, 9, true},
		{"none", nil, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := HTML(&buf, tt.recs); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if n := len(regexp.MustCompile(`<figure class="chart probe-chart"[^>]*>(?s:.*?)<svg`).FindAllString(out, -1)); n != tt.wantCharts {
				t.Errorf("%d probe charts, want %d", n, tt.wantCharts)
			}
			if got := strings.Contains(out, `id="summary"`); got != tt.wantSummary {
				t.Errorf("summary present = %v, want %v", got, tt.wantSummary)
			}
			for _, bad := range []string{"http://", "https://", "<link rel=\"stylesheet", "@import", "url(", "<?xml"} {
				if strings.Contains(out, bad) && !(bad == "http://" && strings.Count(out, "http://") == strings.Count(out, `xmlns="http://www.w3.org/2000/svg"`)+strings.Count(out, `xmlns:xlink="http://www.w3.org/1999/xlink"`)) {
					t.Errorf("the page is not self-contained: it contains %q", bad)
				}
			}
			for _, rec := range tt.recs {
				for _, want := range []string{`verdict-` + string(rec.Verdict), rec.Replay, rec.Experiment.Metadata.Name} {
					if !strings.Contains(out, want) {
						t.Errorf("the page lacks %q", want)
					}
				}
			}
		})
	}
}

func TestHTMLRejectsNil(t *testing.T) {
	var buf bytes.Buffer
	for name, f := range map[string]func() error{
		"html":     func() error { return HTML(&buf, []*journal.Record{nil}) },
		"junit":    func() error { return JUnit(&buf, []*journal.Record{nil}) },
		"markdown": func() error { return Markdown(&buf, []*journal.Record{nil}) },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: no error for a nil record", name)
		}
	}
}

// TestHTMLInBrowser opens the report of the three fixture runs in headless
// Chromium: no console errors, every chart drawn with a size, every verdict
// visible; the screenshot is kept under testdata/artifacts.
func TestHTMLInBrowser(t *testing.T) {
	chromium := reporttest.Chromium(t)
	recs := fixtures()
	var buf bytes.Buffer
	if err := HTML(&buf, recs); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	checked := filepath.Join(dir, "checked.html")
	if err := os.WriteFile(checked, []byte(reporttest.WithCheck(buf.String())), 0o644); err != nil {
		t.Fatal(err)
	}

	// The page as written: no console errors.
	plain := reporttest.Load(t, chromium, "file://"+page)
	if len(plain.ConsoleErrors) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(plain.ConsoleErrors, "\n"))
	}
	if !strings.Contains(plain.DOM, "checkout-pod-kill") {
		t.Fatalf("the browser did not render the report; log:\n%s", plain.Log)
	}

	got := reporttest.Load(t, chromium, "file://"+checked)
	if len(got.ConsoleErrors) > 0 {
		t.Errorf("console errors with the check script:\n%s", strings.Join(got.ConsoleErrors, "\n"))
	}
	c, err := reporttest.ParseCheck(got.DOM)
	if err != nil {
		t.Fatalf("%v; log:\n%s", err, got.Log)
	}
	if len(c.Errors) > 0 {
		t.Errorf("errors in the page:\n%s", strings.Join(c.Errors, "\n"))
	}
	want := 1 // the summary's recovery chart
	for _, r := range probesPerRun(recs) {
		want += r
	}
	if len(c.Charts) != want {
		t.Errorf("%d charts in the browser, want %d (probes and stop conditions of each run, and the summary)", len(c.Charts), want)
	}
	for i, ch := range c.Charts {
		if ch.W < 300 || ch.H < 100 || ch.Shapes < 10 {
			t.Errorf("chart %d is not drawn: %+v", i, ch)
		}
	}
	if len(c.Verdicts) != len(recs) {
		t.Fatalf("%d verdict banners, want %d", len(c.Verdicts), len(recs))
	}
	for i, v := range c.Verdicts {
		if !v.Visible || !strings.EqualFold(v.Text, string(recs[i].Verdict)) {
			t.Errorf("verdict %d: %+v, want %q visible", i, v, recs[i].Verdict)
		}
	}

	shot := filepath.Join(reporttest.ArtifactDir(t), "report.png")
	reporttest.Screenshot(t, chromium, "file://"+page, shot, 6000)
	t.Logf("screenshot: %s", shot)
}

func probesPerRun(recs []*journal.Record) []int {
	var out []int
	for _, r := range recs {
		out = append(out, len(r.Experiment.Spec.Hypothesis.Probes)+len(r.Experiment.Spec.StopWhen))
	}
	return out
}

// TestErrorDetection proves the browser tests would see a broken page.
func TestErrorDetection(t *testing.T) {
	chromium := reporttest.Chromium(t)
	tests := []struct {
		name, body string
		inLog      bool // the console log shows it too
	}{
		{"uncaught exception", `<script>throw new Error("boom")</script>`, true},
		{"console.error", `<script>console.error("bad")</script>`, true},
		{"missing resource", `<img src="missing.png">`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := filepath.Join(t.TempDir(), "broken.html")
			html := reporttest.WithCheck("<!DOCTYPE html><html><head></head><body><p>x</p>" + tt.body + "</body></html>")
			if err := os.WriteFile(page, []byte(html), 0o644); err != nil {
				t.Fatal(err)
			}
			got := reporttest.Load(t, chromium, "file://"+page)
			c, err := reporttest.ParseCheck(got.DOM)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Errors) == 0 {
				t.Errorf("not detected by the check script; DOM:\n%s", got.DOM)
			}
			if tt.inLog && len(got.ConsoleErrors) == 0 {
				t.Errorf("not detected in the console log:\n%s", got.Log)
			}
		})
	}
}

// A partial injection and a failed revert are shown by every format: how
// many targets were touched, what was not and why, and what is still in
// effect until when; a clean run shows neither.
func TestPartialInjectionAndFailedRevertAreShown(t *testing.T) {
	all := fixtures()
	partial, held := all[3:], all[:1]
	const leftover = "ephemeral container chaosnight-stress-20261122-020000-dddddd of pod shop/cart-5f8c9d7b4-9rd2w: ends by itself by 2026-11-22T02:02:30Z"
	tests := []struct {
		name   string
		render func(*bytes.Buffer, []*journal.Record) error
		recs   []*journal.Record
		want   []string
		absent []string
	}{
		{"html partial", func(b *bytes.Buffer, r []*journal.Record) error { return HTML(b, r) }, partial,
			[]string{"<dt>Injected</dt><dd>1 of 3 targets", "injected 1 of 3: shop/cart-5f8c9d7b4-kq2zp: the pod is Pending",
				`<div class="banner revert-failed"><strong>revert failed</strong> (exit code 3)`, leftover}, nil},
		{"html held", func(b *bytes.Buffer, r []*journal.Record) error { return HTML(b, r) }, held,
			[]string{"1 of 1 targets in the first round; 3 rounds, 1 touched nothing", "round 3 touched nothing: shop/checkout-6d677d7756-gc4w2: protected by PodDisruptionBudget shop/checkout"},
			[]string{`banner revert-failed`}},
		{"junit partial", func(b *bytes.Buffer, r []*journal.Record) error { return JUnit(b, r) }, partial,
			[]string{`<property name="injected" value="1 of 3 targets"></property>`, `<property name="exitCode" value="3"></property>`,
				`<testcase name="revert"`, `<error message="the revert failed: 1 thing(s) still in effect" type="revert-failed">`, leftover}, nil},
		{"junit held", func(b *bytes.Buffer, r []*journal.Record) error { return JUnit(b, r) }, held,
			[]string{`<property name="exitCode" value="0"></property>`}, []string{`<testcase name="revert"`}},
		{"markdown partial", func(b *bytes.Buffer, r []*journal.Record) error { return Markdown(b, r) }, partial,
			[]string{"| ❌ deviated, ⛔ revert failed |", "| 1 of 3 |", "Injected: 1 of 3 targets.", "⛔ **The revert failed** (exit code 3). Still in effect:", "- " + leftover,
				"## chaosnight: 0 held, 1 deviated, 0 aborted, 1 revert failed"}, nil},
		{"markdown held", func(b *bytes.Buffer, r []*journal.Record) error { return Markdown(b, r) }, held,
			[]string{"Injected: 1 of 1 targets in the first round; 3 rounds, 1 touched nothing."}, []string{"revert failed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.render(&buf, tt.recs); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(out, a) {
					t.Errorf("output has %q", a)
				}
			}
		})
	}
}

// TestInjectedWords: the one-line account of what was injected, as the
// summary and the reports print it.
func TestInjectedWords(t *testing.T) {
	tests := []struct {
		name   string
		rounds []journal.Round
		want   string
	}{
		{"no injection (a dry run, a skip before injecting)", nil, ""},
		{"one round, partial", []journal.Round{{Round: 1, Targets: 3, Touched: 1}}, "1 of 3 targets"},
		{"rounds that all touched", []journal.Round{{Round: 1, Targets: 1, Touched: 1}, {Round: 2, Targets: 1, Touched: 1}},
			"1 of 1 targets in the first round; 2 rounds, every one touched a target"},
		{"one empty round", []journal.Round{{Round: 1, Targets: 2, Touched: 2}, {Round: 2, Targets: 2, Touched: 0}, {Round: 3, Targets: 2, Touched: 1}},
			"2 of 2 targets in the first round; 3 rounds, 1 touched nothing"},
		{"two empty rounds", []journal.Round{{Round: 1, Targets: 1, Touched: 1}, {Round: 2, Targets: 1}, {Round: 3, Targets: 1}},
			"1 of 1 targets in the first round; 3 rounds, 2 touched nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Injected(&journal.Record{Rounds: tt.rounds}); got != tt.want {
				t.Errorf("Injected = %q, want %q", got, tt.want)
			}
		})
	}
}
