// Package reporttest drives a real headless Chromium for the tests of the
// HTML report and the runner's pages: it loads a page, returns the DOM after
// scripts ran and the console errors, and takes a screenshot.
package reporttest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosnight/chaosnight/test/sandbox"
)

// Chromium returns the path of Debian's chromium. Without it the test is
// skipped on a plain go test, and fails under make test and in CI, which
// never pass by skipping (sandbox.Required): hack/ci-deps.sh installs it.
func Chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "chromium is not installed; to fix: apt-get install -y chromium (bash hack/ci-deps.sh does it)"
	if sandbox.Required() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Page is what the browser saw.
type Page struct {
	DOM string
	// ConsoleErrors are the console lines that report an error or an
	// uncaught exception.
	ConsoleErrors []string
	Log           string
}

func baseArgs(userDir string) []string {
	return []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--hide-scrollbars",
		"--user-data-dir=" + userDir,
	}
}

// Load opens url in headless Chromium and returns the DOM after scripts ran
// and the console errors.
func Load(t testing.TB, chromium, url string) Page {
	t.Helper()
	args := append(baseArgs(t.TempDir()), "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom", url)
	stdout, stderr, err := run(chromium, args)
	if err != nil {
		t.Fatalf("chromium --dump-dom %s: %v\n%s", url, err, stderr)
	}
	return Page{DOM: stdout, ConsoleErrors: ConsoleErrors(stderr), Log: stderr}
}

// Screenshot saves a PNG of url at path, 1280 pixels wide and height tall.
func Screenshot(t testing.TB, chromium, url, path string, height int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	args := append(baseArgs(t.TempDir()), "--screenshot="+path, fmt.Sprintf("--window-size=1280,%d", height), url)
	if _, stderr, err := run(chromium, args); err != nil {
		t.Fatalf("chromium --screenshot %s: %v\n%s", url, err, stderr)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("no screenshot at %s: %v", path, err)
	}
}

// ConsoleErrors picks the console messages from Chromium's stderr log.
// Chromium logs every console message at level INFO, whatever its level
// (console.log and console.error alike), so every one counts: the pages
// under test have no scripts of their own and log nothing.
func ConsoleErrors(log string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, ":CONSOLE") {
			out = append(out, line)
		}
	}
	return out
}

func run(chromium string, args []string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		return stdout.String(), stderr.String(), fmt.Errorf("chromium: %w", err)
	}
	return stdout.String(), stderr.String(), nil
}

// ArtifactDir is where screenshots go: $CHAOSNIGHT_ARTIFACTS when set, else
// testdata/artifacts of the package under test (ignored by git).
func ArtifactDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("CHAOSNIGHT_ARTIFACTS"); d != "" {
		return d
	}
	d, err := filepath.Abs(filepath.Join("testdata", "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// WithCheck returns page with CheckScript inserted at the start of <head>.
func WithCheck(page string) string {
	return strings.Replace(page, "<head>", "<head>\n"+CheckScript, 1)
}

// Check is what CheckScript found in the browser.
type Check struct {
	Charts []struct {
		W, H, Shapes int
	} `json:"charts"`
	Verdicts []struct {
		Text    string `json:"text"`
		Visible bool   `json:"visible"`
	} `json:"verdicts"`
	// Errors are the errors the page met: uncaught exceptions,
	// console.error calls, resources that failed to load, CSP violations.
	Errors []string `json:"errors"`
}

// ParseCheck reads CheckScript's result from a DOM dumped by Load.
func ParseCheck(dom string) (Check, error) {
	var c Check
	_, rest, ok := strings.Cut(dom, `<pre id="browser-check">`)
	if !ok {
		return c, fmt.Errorf("the check script did not run")
	}
	txt, _, _ := strings.Cut(rest, "</pre>")
	txt = strings.NewReplacer("&quot;", `"`, "&amp;", "&", "&lt;", "<", "&gt;", ">", "&#39;", "'").Replace(txt)
	if err := json.Unmarshal([]byte(txt), &c); err != nil {
		return c, fmt.Errorf("check result %q: %w", txt, err)
	}
	return c, nil
}

// CheckScript is a script to insert at the start of a page under test (see
// WithCheck). It records errors from the first moment (uncaught exceptions,
// console.error, resources that fail to load, CSP violations), and once the
// page is loaded it measures every chart (figure.chart > svg: the outer
// element; a chart nests one for its plot area) and verdict
// (.verdict) and writes all that as JSON into <pre id="browser-check">,
// which Load's DOM then carries.
const CheckScript = `<script>
(function () {
  var errors = [];
  var origError = console.error;
  console.error = function () {
    errors.push("console.error: " + Array.prototype.join.call(arguments, " "));
    return origError.apply(console, arguments);
  };
  addEventListener("error", function (e) {
    var t = e.target;
    if (t && t !== window && (t.src || t.href)) {
      errors.push("failed to load " + (t.src || t.href));
    } else {
      errors.push("uncaught: " + e.message);
    }
  }, true);
  addEventListener("unhandledrejection", function (e) { errors.push("unhandled rejection: " + e.reason); });
  document.addEventListener("securitypolicyviolation", function (e) { errors.push("CSP: " + e.violatedDirective + " " + e.blockedURI); });
  function visible(el) {
    var r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== "hidden" && s.display !== "none";
  }
  addEventListener("load", function () {
    var charts = Array.prototype.map.call(document.querySelectorAll("figure.chart > svg"), function (svg) {
      var r = svg.getBoundingClientRect();
      return {w: Math.round(r.width), h: Math.round(r.height), shapes: svg.querySelectorAll("path, text, circle, rect").length};
    });
    var verdicts = Array.prototype.map.call(document.querySelectorAll(".verdict"), function (el) {
      return {text: el.innerText.trim().split("\n")[0], visible: visible(el)};
    });
    var pre = document.createElement("pre");
    pre.id = "browser-check";
    pre.textContent = JSON.stringify({charts: charts, verdicts: verdicts, errors: errors});
    document.body.appendChild(pre);
  });
})();
</script>`
