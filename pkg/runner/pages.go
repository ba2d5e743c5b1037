package runner

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chaosnight/chaosnight/pkg/inject"
	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/report"
)

// indexLimit is how many recent runs the index page lists.
const indexLimit = 50

// pages adds the human pages to mux: GET / (the index of recent runs with
// their verdicts, the next nights and the kill switch) and
// GET /runs/{id}/report (the HTML report of one run).
func (r *Runner) pages(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		writeHTML(w, []byte(indexPage(r.Status(), r.Recent(indexLimit))))
	})
	mux.HandleFunc("GET /runs/{id}/report", func(w http.ResponseWriter, req *http.Request) {
		path := r.Journal(req.PathValue("id"))
		if path == "" {
			http.Error(w, "no such run", http.StatusNotFound)
			return
		}
		rec, err := journal.Read(path)
		if err != nil {
			r.log.Error("report page", "run", req.PathValue("id"), "error", err)
			http.Error(w, "cannot read the journal", http.StatusInternalServerError)
			return
		}
		var buf bytes.Buffer
		if err := report.HTML(&buf, []*journal.Record{rec}); err != nil {
			r.log.Error("report page", "run", rec.RunID, "error", err)
			http.Error(w, "cannot render the report", http.StatusInternalServerError)
			return
		}
		writeHTML(w, buf.Bytes())
	})
}

// policyText is the policy as one line of JSON, the shape /status shows.
func policyText(p inject.Policy) string {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Sprintf("%+v", p)
	}
	return string(b)
}

func writeHTML(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// The pages are self-contained: nothing is loaded from elsewhere.
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	_, _ = w.Write(body)
}

// indexPage renders the index. It is plain Go rather than html/template
// on purpose (see pkg/report/page.go: executing templates costs every
// process about 10 MiB); every value from the state or the journals goes
// through html.EscapeString, run IDs in links through url.PathEscape too.
func indexPage(st Status, runs []RunSummary) string {
	var w indexWriter
	w.w(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>chaosnight</title>
<link rel="icon" href="data:,">
`, indexStyle, `
</head>
<body>
<main>
<h1>chaosnight</h1>
<section id="state">
<h2>State</h2>
`)
	indexState(&w, st)
	w.w(`
</section>
<section id="nights">
<h2>Next nights</h2>
`)
	indexNights(&w, st.NextNights)
	w.w(`
</section>
<section id="runs">
<h2>Recent runs</h2>
`)
	indexRuns(&w, runs)
	w.w(`
</section>
<p class="muted">JSON: <a href="/status">/status</a>, <a href="/runs">/runs</a>; <a href="/metrics">/metrics</a>.</p>
</main>
</body>
</html>
`)
	return w.b.String()
}

// indexWriter collects the page; w appends its parts as they are (the
// callers escape every value).
type indexWriter struct{ b strings.Builder }

func (w *indexWriter) w(parts ...string) {
	for _, p := range parts {
		w.b.WriteString(p)
	}
}

// indexWhen is a time on the index, in UTC; "" for none.
func indexWhen(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// indexState is the state section's body: kill switch, dry run, policy,
// the run in flight and a configuration error.
func indexState(w *indexWriter, st Status) {
	esc, when := html.EscapeString, indexWhen
	if st.Paused {
		w.w(`<p class="switch engaged" id="kill-switch">Kill switch engaged: nothing starts, a run in flight is aborted and reverted (<code>chaosnight resume</code> releases it).</p>` + "\n")
	} else {
		w.w(`<p class="switch released" id="kill-switch">Kill switch released: nights play as scheduled.</p>`)
	}
	mode := `<p class="mode live" id="dry-run">Injecting: <strong>dryRun false</strong>`
	if st.DryRun {
		mode = `<p class="mode dry" id="dry-run">Dry run: <strong>dryRun true</strong>, nothing is touched`
	}
	w.w("\n", mode, " (in force since ", when(st.SettingsSince), ").</p>\n")
	w.w(`<p id="policy">Safety policy in force: <code>`, esc(policyText(st.Policy)), "</code></p>")
	if st.InFlight != "" {
		w.w("\n<p>In flight: <strong>", esc(st.InFlight), "</strong></p>")
	}
	if st.ConfigErr != "" {
		w.w("\n", `<p class="verdict-error">Configuration error (the last good one is kept): `, esc(st.ConfigErr), "</p>")
	}
}

// indexNights is the table of the next nights, or that there is none.
func indexNights(w *indexWriter, nights []NextNight) {
	esc, when := html.EscapeString, indexWhen
	if len(nights) > 0 {
		w.w(`<table>
<thead><tr><th>Night</th><th>Opens</th><th>Closes</th><th></th></tr></thead>
<tbody>`)
		for _, n := range nights {
			w.w("<tr><td>", esc(n.Night), "</td><td>", when(n.Opens), "</td><td>", when(n.Closes), "</td><td>")
			if n.Open {
				w.w("<strong>open now</strong>")
			}
			w.w("</td></tr>\n")
		}
		w.w("</tbody></table>\n")
	} else {
		w.w(`<p class="muted">No night is scheduled.</p>`)
	}
}

// indexRuns is the table of the recent runs, or that there is none.
func indexRuns(w *indexWriter, runs []RunSummary) {
	if len(runs) > 0 {
		w.w(`<table>
<thead><tr><th>Verdict</th><th>Experiment</th><th>Run</th><th>Started</th><th>Reasons</th></tr></thead>
<tbody>`)
		for _, run := range runs {
			indexRun(w, run)
		}
		w.w("</tbody></table>\n")
	} else {
		w.w(`<p class="muted">No run yet.</p>`)
	}
}

// indexRun is one run's row: verdict (and a failed revert), experiment,
// links to its report and journal, start and reasons.
func indexRun(w *indexWriter, run RunSummary) {
	esc := html.EscapeString
	verdict, id := esc(string(run.Verdict)), esc(run.RunID)
	link := esc("/runs/" + url.PathEscape(run.RunID))
	w.w(`<tr class="run">
<td><a class="badge verdict verdict-`, verdict, `" href="`, link, `/report">`, verdict, `</a>`)
	if len(run.Leftovers) > 0 {
		w.w(` <strong class="revert-failed">revert failed</strong>`)
	}
	w.w(`</td>
<td>`, esc(run.Experiment))
	if run.DryRun {
		w.w(` <span class="muted">(dry run)</span>`)
	}
	w.w(`</td>
<td><a href="`, link, `/report">`, id, `</a> <a class="muted" href="`, link, `">json</a></td>
<td>`, indexWhen(run.Started), `</td>
<td class="reasons">`)
	for _, reason := range run.Reasons {
		w.w(esc(reason), "<br>")
	}
	for _, l := range run.Leftovers {
		w.w("still in effect: ", esc(l.What), " ", esc(leftoverUntil(l)), "<br>")
	}
	w.w("</td>\n</tr>\n")
}

// indexStyle is the index's whole stylesheet: the page loads nothing.
const indexStyle = `<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #1f2328; background: #f6f8fa; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 1rem; }
h2 { font-size: 1.2rem; margin: 0 0 .5rem; }
section { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 1.2rem; margin: 1rem 0; }
table { border-collapse: collapse; width: 100%; font-size: .92em; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid #d0d7de; vertical-align: top; }
th { background: #f6f8fa; }
a { color: #0969da; }
.badge { display: inline-block; border-radius: 1em; padding: 0 .6em; font-size: .85em; font-weight: 600; border: 1px solid; text-decoration: none; }
.verdict-held { background: #dafbe1; border-color: #4ac26b; color: #116329; }
.verdict-deviated { background: #ffebe9; border-color: #ff8182; color: #a40e26; }
.verdict-aborted, .verdict-skipped { background: #fff8c5; border-color: #d4a72c; color: #7d4e00; }
.verdict-error, .verdict-running, .verdict-dry-run { background: #eaeef2; border-color: #afb8c1; color: #424a53; }
.switch { padding: .7rem 1rem; border-radius: 6px; border: 1px solid; font-weight: 600; }
.switch.engaged { background: #ffebe9; border-color: #ff8182; color: #a40e26; }
.switch.released { background: #dafbe1; border-color: #4ac26b; color: #116329; }
.mode { font-weight: 600; }
.mode.dry { color: #424a53; }
.mode.live { color: #a40e26; }
.muted { color: #59636e; }
.reasons { font-size: .9em; color: #424a53; }
</style>`

// leftoverUntil says when a leftover ends by itself.
func leftoverUntil(l journal.Leftover) string {
	if l.Until.IsZero() {
		return "(no deadline known: remove it by hand)"
	}
	return "(ends by itself by " + l.Until.UTC().Format(time.RFC3339) + ")"
}
