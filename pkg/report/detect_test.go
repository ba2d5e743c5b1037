package report

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/report/reporttest"
)

// detectionFixtures are three nights of one experiment that expects
// ShopHighErrorRate: detected in 6.2s, then a detection gap, then detected
// in 4.1s; each with its time to resolve and time to recover.
func detectionFixtures() []*journal.Record {
	var out []*journal.Record
	for i, n := range []struct {
		ttd, ttr, recover float64
		gap               bool
	}{{6.2, 3.0, 2.4, false}, {0, 0, 2.9, true}, {4.1, 1.0, 1.8, false}} {
		base := fixtures()[0]
		rec := *base
		night := 24 * time.Hour * time.Duration(i)
		rec.RunID = "detect-" + string(rune('1'+i))
		rec.Started = base.Started.Add(night)
		rec.Ended = base.Ended.Add(night)
		rec.Phases = nil
		for _, p := range base.Phases {
			p.Started, p.Ended = p.Started.Add(night), p.Ended.Add(night)
			rec.Phases = append(rec.Phases, p)
		}
		rec.Samples = nil
		fault := rec.Started.Add(5 * time.Second)
		reverted := fault.Add(30 * time.Second)
		d := journal.Detection{Alert: "ShopHighErrorRate", Labels: map[string]string{"namespace": "shop"},
			WithinSeconds: 60, ResolveWithinSeconds: 120, FaultStarted: fault, Reverted: reverted, StepSeconds: 1}
		if n.gap {
			d.Gap = true
			rec.Verdict = journal.Deviated
			rec.Reasons = []string{"detection gap: ShopHighErrorRate did not fire within 1m"}
		} else {
			ttd, ttr := n.ttd, n.ttr
			d.FirstPending = fault.Add(time.Duration((n.ttd - 3) * float64(time.Second)))
			d.FirstFiring = fault.Add(time.Duration(n.ttd * float64(time.Second)))
			d.Resolved = reverted.Add(time.Duration(n.ttr * float64(time.Second)))
			d.TimeToDetectSeconds, d.TimeToResolveSeconds = &ttd, &ttr
		}
		rec.Detections = []journal.Detection{d}
		rec.TimeToRecoverSeconds = f64(n.recover)
		out = append(out, &rec)
	}
	return out
}

func TestDetectionGolden(t *testing.T) {
	recs := detectionFixtures()
	for _, tt := range []struct {
		name   string
		recs   []*journal.Record
		render func(w *bytes.Buffer, recs []*journal.Record) error
	}{
		{"detect.md", recs, func(w *bytes.Buffer, r []*journal.Record) error { return Markdown(w, r) }},
		{"detect.junit.xml", recs, func(w *bytes.Buffer, r []*journal.Record) error { return JUnit(w, r) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.render(&buf, tt.recs); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, buf.Bytes())
		})
	}
}

func TestDetectionReports(t *testing.T) {
	recs := detectionFixtures()
	var md bytes.Buffer
	if err := Markdown(&md, recs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| ShopHighErrorRate{namespace=\"shop\"} | detected | fire within 1m, resolve within 2m |",
		"| 6.2s | 3s |",
		"❌ detection gap",
		"### Detection across runs",
		"| checkout-pod-kill | ShopHighErrorRate{namespace=\"shop\"} | 2026-11-22 02:00 | 4.1s | 1s | 1.8s |",
		"Time to recover: 2.4s",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q", want)
		}
	}

	var x bytes.Buffer
	if err := JUnit(&x, recs); err != nil {
		t.Fatal(err)
	}
	var suites junitSuites
	if err := xml.Unmarshal(x.Bytes(), &suites); err != nil {
		t.Fatal(err)
	}
	gapCase := findCase(suites.Suites[1], `detect ShopHighErrorRate{namespace="shop"}`)
	if gapCase == nil || gapCase.Failure == nil || gapCase.Failure.Type != "detection-gap" ||
		gapCase.Failure.Message != "detection gap: ShopHighErrorRate did not fire within 1m" {
		t.Errorf("the gap's testcase: %+v", gapCase)
	}
	okCase := findCase(suites.Suites[0], `detect ShopHighErrorRate{namespace="shop"}`)
	if okCase == nil || okCase.Failure != nil || okCase.Time != "6.200" {
		t.Errorf("the detection's testcase: %+v", okCase)
	}

	var page bytes.Buffer
	if err := HTML(&page, recs); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	for _, want := range []string{"<h3>Time to detect and time to resolve over time</h3>", `class="chart summary-chart detection-chart"><svg`,
		`<table class="detections">`, "<td>6.2s</td><td>3s</td>", `<tr class="detection-bad">`, "Time to recover: <strong>2.4s</strong>",
		"time to detect", "detection gap (at its bound)"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	// A run without detections shows none of it.
	var plain bytes.Buffer
	if err := HTML(&plain, fixtures()[:1]); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(plain.String(), "Detection and recovery") {
		t.Error("a run without spec.detect shows a detection section")
	}
}

func findCase(s junitSuite, name string) *junitCase {
	for i := range s.Cases {
		if s.Cases[i].Name == name {
			return &s.Cases[i]
		}
	}
	return nil
}

// The detection trend chart and tables render in a browser: no error,
// every chart drawn (the probes of each run, the recovery chart and the
// detection chart).
func TestDetectionReportInBrowser(t *testing.T) {
	chromium := reporttest.Chromium(t)
	recs := detectionFixtures()
	var buf bytes.Buffer
	if err := HTML(&buf, recs); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	checked := filepath.Join(dir, "checked.html")
	if err := os.WriteFile(checked, []byte(reporttest.WithCheck(buf.String())), 0o644); err != nil {
		t.Fatal(err)
	}
	got := reporttest.Load(t, chromium, "file://"+checked)
	c, err := reporttest.ParseCheck(got.DOM)
	if err != nil {
		t.Fatalf("%v; log:\n%s", err, got.Log)
	}
	if len(c.Errors) > 0 || len(got.ConsoleErrors) > 0 {
		t.Errorf("errors in the page:\n%s\n%s", strings.Join(c.Errors, "\n"), strings.Join(got.ConsoleErrors, "\n"))
	}
	want := 2 // the summary's recovery and detection charts
	for _, r := range probesPerRun(recs) {
		want += r
	}
	if len(c.Charts) != want {
		t.Errorf("%d charts in the browser, want %d", len(c.Charts), want)
	}
	for i, ch := range c.Charts {
		if ch.W < 300 || ch.H < 100 || ch.Shapes < 10 {
			t.Errorf("chart %d is not drawn: %+v", i, ch)
		}
	}
	page := filepath.Join(dir, "report.html")
	if err := os.WriteFile(page, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(reporttest.ArtifactDir(t), "detection-report.png")
	reporttest.Screenshot(t, chromium, "file://"+page, shot, 3000)
	t.Logf("screenshot: %s", shot)
}
