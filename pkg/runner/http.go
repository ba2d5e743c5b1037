package runner

import (
	"encoding/json"
	"net/http"
	"os"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the runner's HTTP endpoints: /metrics (the runner's own
// registry), /healthz (the process is alive), /readyz (a valid configuration
// is loaded), /status, /runs (recent run records), /runs/{id} (a journal),
// and the pages for people: / (recent runs, next nights, kill switch) and
// /runs/{id}/report (a run's HTML report).
func (r *Runner) Handler(gatherer prometheus.Gatherer) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !r.Ready() {
			http.Error(w, "no valid configuration loaded yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, r.Status())
	})
	mux.HandleFunc("GET /runs", func(w http.ResponseWriter, req *http.Request) {
		limit := 100
		if v, err := strconv.Atoi(req.URL.Query().Get("limit")); err == nil && v > 0 && v <= 1000 {
			limit = v
		}
		runs := r.Recent(limit)
		if runs == nil {
			runs = []RunSummary{}
		}
		writeJSON(w, runs)
	})
	mux.HandleFunc("GET /runs/{id}", func(w http.ResponseWriter, req *http.Request) {
		path := r.Journal(req.PathValue("id"))
		if path == "" {
			http.Error(w, "no such run", http.StatusNotFound)
			return
		}
		data, err := os.ReadFile(path)
		if err != nil {
			http.Error(w, "cannot read the journal", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(data)
	})
	r.pages(mux) // GET / and GET /runs/{id}/report (pages.go)
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
