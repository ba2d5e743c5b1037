package runner

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chaosnight/chaosnight/pkg/engine"
	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/report/reporttest"
	"github.com/chaosnight/chaosnight/pkg/schedule"
)

// pagesRunner is a runner whose journal directory holds the report
// package's fixture runs (held, deviated, aborted, and a deviated partial
// injection whose revert failed) and whose configuration
// has one night.
func pagesRunner(t *testing.T) *Runner {
	t.Helper()
	dir := t.TempDir()
	paths, err := filepath.Glob("../report/testdata/journals/*.json")
	if err != nil || len(paths) != 4 {
		t.Fatalf("fixture journals: %v %v", paths, err)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	r, err := New(Config{
		Load: func(time.Time) (Setup, error) {
			return Setup{Nights: []schedule.Night{{Name: "weeknights", Opens: "0 2 * * 1-5", Lasts: experiment.Duration{Duration: 2 * time.Hour}, Timezone: "UTC"}}}, nil
		},
		Engine:   &engine.Engine{},
		Journals: dir,
		Now:      func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	return r
}

func get(t *testing.T, h http.Handler, path string) (int, string, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String(), rec.Header()
}

func TestReportPage(t *testing.T) {
	mux := pagesRunner(t).Handler(prometheus.NewRegistry())
	tests := []struct {
		path     string
		wantCode int
		want     string
	}{
		{"/runs/20261120-021000-bbbbbb/report", http.StatusOK, `verdict-deviated`},
		{"/runs/20261120-020000-aaaaaa/report", http.StatusOK, `checkout-pod-kill`},
		{"/runs/20261120-020000-aaaaaa", http.StatusOK, `"runID": "20261120-020000-aaaaaa"`},
		{"/runs/nope/report", http.StatusNotFound, "no such run"},
		{"/runs/..%2F..%2Fetc/report", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, body, hdr := get(t, mux, tt.path)
			if code != tt.wantCode || !strings.Contains(body, tt.want) {
				t.Fatalf("GET %s: %d, want %d with %q\n%.300s", tt.path, code, tt.wantCode, tt.want, body)
			}
			if code == http.StatusOK && strings.HasSuffix(tt.path, "/report") && !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
				t.Errorf("Content-Type %q", hdr.Get("Content-Type"))
			}
		})
	}
}

func TestIndexPage(t *testing.T) {
	tests := []struct {
		name   string
		paused bool
		want   []string
	}{
		{"released", false, []string{`class="switch released"`, "weeknights", "2026-11-24 02:00:00 UTC",
			`<a class="badge verdict verdict-aborted" href="/runs/20261121-020000-cccccc/report">aborted</a>`,
			`href="/runs/20261120-021000-bbbbbb/report">deviated</a>`, `href="/runs/20261120-020000-aaaaaa/report">held</a>`,
			`href="/runs/20261122-020000-dddddd/report">deviated</a> <strong class="revert-failed">revert failed</strong>`,
			"still in effect: ephemeral container chaosnight-stress-20261122-020000-dddddd of pod shop/cart-5f8c9d7b4-9rd2w (ends by itself by 2026-11-22T02:02:30Z)"}},
		{"engaged", true, []string{`class="switch engaged"`, "Kill switch engaged"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := pagesRunner(t)
			r.mu.Lock()
			r.paused = tt.paused
			r.mu.Unlock()
			code, body, _ := get(t, r.Handler(prometheus.NewRegistry()), "/")
			if code != http.StatusOK {
				t.Fatalf("GET /: %d", code)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("the index lacks %q", w)
				}
			}
		})
	}
	// "/" is the index only: other unknown paths stay 404.
	if code, _, _ := get(t, pagesRunner(t).Handler(prometheus.NewRegistry()), "/nothing-here"); code != http.StatusNotFound {
		t.Errorf("GET /nothing-here: %d, want 404", code)
	}
}

// withCheckScript serves h's pages with reporttest.CheckScript appended
// (and without the Content-Security-Policy, which would block it).
func withCheckScript(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body := rec.Body.String()
		if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
			body = reporttest.WithCheck(body)
		}
		for k, v := range rec.Header() {
			if k != "Content-Security-Policy" && k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		_, _ = io.Copy(w, strings.NewReader(body))
	})
}

// TestPagesInBrowser loads the index page and a run's report from the
// runner's mux in headless Chromium: no console errors (under the pages'
// own Content-Security-Policy), every verdict badge visible, every chart
// drawn; the index's screenshot is kept under testdata/artifacts.
func TestPagesInBrowser(t *testing.T) {
	chromium := reporttest.Chromium(t)
	mux := pagesRunner(t).Handler(prometheus.NewRegistry())
	plain := httptest.NewServer(mux)
	defer plain.Close()
	checked := httptest.NewServer(withCheckScript(mux))
	defer checked.Close()

	for _, tt := range []struct {
		path       string
		verdicts   []string
		wantCharts int
	}{
		{"/", []string{"deviated", "aborted", "deviated", "held"}, 0},
		{"/runs/20261121-020000-cccccc/report", []string{"aborted"}, 4},
	} {
		t.Run(tt.path, func(t *testing.T) {
			page := reporttest.Load(t, chromium, plain.URL+tt.path)
			if len(page.ConsoleErrors) > 0 {
				t.Errorf("console errors:\n%s", strings.Join(page.ConsoleErrors, "\n"))
			}
			got := reporttest.Load(t, chromium, checked.URL+tt.path)
			c, err := reporttest.ParseCheck(got.DOM)
			if err != nil {
				t.Fatalf("%v; log:\n%s", err, got.Log)
			}
			if len(c.Errors) > 0 {
				t.Errorf("errors in the page:\n%s", strings.Join(c.Errors, "\n"))
			}
			if len(c.Charts) != tt.wantCharts {
				t.Errorf("%d charts, want %d", len(c.Charts), tt.wantCharts)
			}
			for i, ch := range c.Charts {
				if ch.W < 300 || ch.H < 100 || ch.Shapes < 10 {
					t.Errorf("chart %d is not drawn: %+v", i, ch)
				}
			}
			if len(c.Verdicts) != len(tt.verdicts) {
				t.Fatalf("verdicts %+v, want %v", c.Verdicts, tt.verdicts)
			}
			for i, v := range c.Verdicts {
				if !v.Visible || !strings.EqualFold(v.Text, tt.verdicts[i]) {
					t.Errorf("verdict %d: %+v, want %q visible", i, v, tt.verdicts[i])
				}
			}
		})
	}
	shot := filepath.Join(reporttest.ArtifactDir(t), "index.png")
	reporttest.Screenshot(t, chromium, plain.URL+"/", shot, 1000)
	t.Logf("screenshot: %s", shot)
}

// The index shows state and journal text as text, never as markup: it is
// written in plain Go (no template escaping), so every value is escaped by
// hand, and run IDs in links are path-escaped too.
func TestIndexPageEscapes(t *testing.T) {
	h := reporttest.Hostile
	st := Status{Paused: true, InFlight: h, ConfigErr: h,
		NextNights: []NextNight{{Night: h, Opens: time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)}}}
	page := indexPage(st, []RunSummary{{RunID: "20261120-020000-aaaaaa" + h, Experiment: h, Verdict: journal.Verdict(h), Reasons: []string{h}, DryRun: true,
		Leftovers: []journal.Leftover{{What: h, Error: h}}}})
	reporttest.CheckInert(t, page)
	if want := `href="/runs/20261120-020000-aaaaaax%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E%3Cimg%20src=x%20onerror=alert%282%29%3E%27&amp;/report"`; !strings.Contains(page, want) {
		t.Errorf("the run link is not path-escaped: want %s in\n%s", want, page)
	}
}

// A failed revert shows on the index beside the verdict, with what is
// still in effect and until when.
func TestIndexPageShowsAFailedRevert(t *testing.T) {
	until := time.Date(2026, 11, 20, 2, 5, 0, 0, time.UTC)
	tests := []struct {
		name      string
		leftovers []journal.Leftover
		want      []string
		absent    string
	}{
		{name: "clean revert", absent: "revert failed"},
		{name: "stress left running", leftovers: []journal.Leftover{{What: "ephemeral container c of pod shop/a", Until: until, Error: "forbidden"}},
			want: []string{"revert failed", "still in effect: ephemeral container c of pod shop/a (ends by itself by 2026-11-20T02:05:00Z)"}},
		{name: "no known end", leftovers: []journal.Leftover{{What: "everything", Error: "x"}},
			want: []string{"revert failed", "no deadline known"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page := indexPage(Status{}, []RunSummary{{RunID: "r", Experiment: "e", Verdict: journal.Deviated, ExitCode: 3, Leftovers: tt.leftovers}})
			for _, w := range tt.want {
				if !strings.Contains(page, w) {
					t.Errorf("the index lacks %q", w)
				}
			}
			if tt.absent != "" && strings.Contains(page, tt.absent) {
				t.Errorf("the index says %q", tt.absent)
			}
		})
	}
}
