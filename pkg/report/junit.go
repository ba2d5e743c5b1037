package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/chaosnight/chaosnight/pkg/journal"
	"github.com/chaosnight/chaosnight/pkg/probe"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Timestamp  string          `xml:"timestamp,attr,omitempty"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitProblem `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr,omitempty"`
	Body    string `xml:",cdata"`
}

// JUnit writes recs as JUnit XML: one testsuite per run, with a testcase for
// the experiment (failed when deviated or aborted, an error when chaosnight
// could not run it, skipped when nothing was injected) and one per probe and
// stop condition (failed when a sample was bad), failures carrying the reasons.
func JUnit(w io.Writer, recs []*journal.Record) error {
	if err := checkRecords(recs); err != nil {
		return err
	}
	out := junitSuites{Name: "chaosnight"}
	var totalSecs float64
	for _, rec := range recs {
		s := junitSuiteOf(rec)
		out.Suites = append(out.Suites, s)
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Errors += s.Errors
		out.Skipped += s.Skipped
		totalSecs += runEnd(rec).Sub(rec.Started).Seconds()
	}
	out.Time = seconds(totalSecs)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return fmt.Errorf("writing JUnit XML: %w", err)
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("writing JUnit XML: %w", err)
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return fmt.Errorf("writing JUnit XML: %w", err)
	}
	return nil
}

func junitSuiteOf(rec *journal.Record) junitSuite {
	name := rec.Experiment.Metadata.Name
	class := "chaosnight." + name
	dur := runEnd(rec).Sub(rec.Started).Seconds()
	s := junitSuite{
		Name: name, Time: seconds(dur),
		Timestamp: rec.Started.UTC().Format("2006-01-02T15:04:05"),
		Properties: []junitProperty{
			{Name: "runID", Value: rec.RunID},
			{Name: "verdict", Value: string(rec.Verdict)},
			{Name: "seed", Value: fmt.Sprint(rec.Seed)},
			{Name: "replay", Value: rec.Replay},
		},
	}
	if inj := Injected(rec); inj != "" {
		s.Properties = append(s.Properties, junitProperty{Name: "injected", Value: inj})
	}
	s.Properties = append(s.Properties, junitProperty{Name: "exitCode", Value: fmt.Sprint(rec.ExitCode())})
	exp := junitCase{Name: name, Classname: class, Time: seconds(dur)}
	reasons := strings.Join(rec.Reasons, "\n")
	msg := string(rec.Verdict)
	if len(rec.Reasons) > 0 {
		msg += ": " + rec.Reasons[0]
	}
	switch rec.Verdict {
	case journal.Held, journal.DryRun:
	case journal.Deviated, journal.Aborted:
		exp.Failure = &junitProblem{Message: msg, Type: string(rec.Verdict), Body: reasons}
	case journal.Skipped:
		exp.Skipped = &junitProblem{Message: msg}
	default:
		exp.Error = &junitProblem{Message: msg, Type: string(rec.Verdict), Body: reasons}
	}
	if rec.Replay != "" {
		exp.SystemOut = "replay: " + rec.Replay
	}
	s.Cases = append(s.Cases, exp)
	if rec.RevertFailed() {
		// Its own error case, whatever the verdict: a CI job must not
		// read a deviation found as the only thing to look at.
		lines := make([]string, len(rec.Leftovers))
		for i, l := range rec.Leftovers {
			lines[i] = Leftover(l)
		}
		s.Cases = append(s.Cases, junitCase{Name: "revert", Classname: class, Time: "0.000", Error: &junitProblem{
			Message: fmt.Sprintf("the revert failed: %d thing(s) still in effect", len(rec.Leftovers)),
			Type:    "revert-failed", Body: strings.Join(lines, "\n"),
		}})
	}
	for _, pr := range probes(rec) {
		c := junitCase{Name: pr.Probe.Name, Classname: class + "." + string(roleOf(pr.Role)), Time: seconds(sampleSpan(pr)),
			SystemOut: pr.BaselineWords()}
		if bad := pr.Failed(); bad > 0 {
			what := "violated"
			if pr.Role == probe.RoleStop {
				what = "fired"
			}
			c.Failure = &junitProblem{
				Message: fmt.Sprintf("%s in %d of %d samples (expected %s)", what, bad, len(pr.Samples), pr.ExpectWords()),
				Type:    what,
				Body:    strings.Join(pr.Reasons(), "\n"),
			}
		} else if len(pr.Samples) == 0 {
			c.Skipped = &junitProblem{Message: "no samples"}
		}
		s.Cases = append(s.Cases, c)
	}
	for _, c := range s.Cases {
		s.Tests++
		switch {
		case c.Failure != nil:
			s.Failures++
		case c.Error != nil:
			s.Errors++
		case c.Skipped != nil:
			s.Skipped++
		}
	}
	return s
}

func sampleSpan(pr probeRef) float64 {
	if len(pr.Samples) < 2 {
		return 0
	}
	return pr.Samples[len(pr.Samples)-1].At.Sub(pr.Samples[0].At).Seconds()
}

func seconds(s float64) string { return fmt.Sprintf("%.3f", s) }
