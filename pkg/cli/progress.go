package cli

import (
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/chaosnight/chaosnight/pkg/engine"
	"github.com/chaosnight/chaosnight/pkg/experiment"
	"github.com/chaosnight/chaosnight/pkg/probe"
)

// progressView shows a run to a person: on a terminal, a block redrawn in
// place (phase, elapsed/remaining, the latest probe values with marks); when
// stderr is not a terminal, one plain line per update; nothing with -o json
// (the journal on stdout is the output, logs go to stderr).
type progressView struct {
	mu     sync.Mutex
	w      io.Writer
	mode   string // "tty", "lines", "off"
	exp    *experiment.Experiment
	drawn  int // lines of the last block, to redraw in place
	latest map[string]probe.Result
	order  []string
}

func newProgressView(streams Streams, output string, exp *experiment.Experiment) *progressView {
	v := &progressView{w: streams.Err, exp: exp, latest: map[string]probe.Result{}}
	switch {
	case output == "json":
		v.mode = "off"
	case isTerminal(streams.Err):
		v.mode = "tty"
	default:
		v.mode = "lines"
	}
	return v
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func (v *progressView) update(p engine.Progress) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, r := range p.Results {
		key := string(r.Role) + "/" + r.Probe
		if _, seen := v.latest[key]; !seen {
			v.order = append(v.order, key)
		}
		v.latest[key] = r
	}
	switch v.mode {
	case "lines":
		v.line(p)
	case "tty":
		v.block(p)
	}
}

func (v *progressView) done() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.mode == "tty" && v.drawn > 0 {
		fmt.Fprintln(v.w)
	}
}

func clock(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

func (v *progressView) line(p engine.Progress) {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s", clock(time.Since(p.Started)), p.Phase)
	if p.Remaining > 0 {
		fmt.Fprintf(&b, " (%s left)", clock(p.Remaining))
	}
	if p.Message != "" {
		fmt.Fprintf(&b, ": %s", p.Message)
	}
	for _, r := range p.Results {
		fmt.Fprintf(&b, " | %s %s=%s", mark(r), r.Probe, formatValue(r))
	}
	fmt.Fprintln(v.w, b.String())
}

func (v *progressView) block(p engine.Progress) {
	var lines []string
	head := fmt.Sprintf("%s  %-9s  elapsed %s", v.exp.Metadata.Name, p.Phase, clock(time.Since(p.Started)))
	if p.Remaining > 0 {
		head += fmt.Sprintf("  %s left in %s", clock(p.Remaining), p.Phase)
	}
	lines = append(lines, head)
	if p.Message != "" {
		lines = append(lines, "  "+p.Message)
	}
	for _, key := range v.order {
		r := v.latest[key]
		kind := "probe"
		if r.Role == probe.RoleStop {
			kind = "stop "
		}
		line := fmt.Sprintf("  %s %s %-24s %s", mark(r), kind, r.Probe, formatValue(r))
		if !r.OK && r.Reason != "" {
			line += "  (" + r.Reason + ")"
		}
		lines = append(lines, line)
	}
	// Move up over the previous block and clear it before drawing.
	if v.drawn > 0 {
		fmt.Fprintf(v.w, "\x1b[%dA\x1b[J", v.drawn)
	}
	for _, l := range lines {
		fmt.Fprintln(v.w, l)
	}
	v.drawn = len(lines)
}

func mark(r probe.Result) string {
	switch {
	case r.Err != "":
		return "?"
	case r.OK:
		return "✔"
	default:
		return "✘"
	}
}

func formatValue(r probe.Result) string {
	if r.Err != "" {
		return "unknown"
	}
	if math.IsNaN(r.Value) && len(r.Samples) == 0 {
		return "no data"
	}
	return fmt.Sprintf("%.4g", r.Value)
}
