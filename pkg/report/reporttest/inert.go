package reporttest

import (
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// Hostile is text an experiment file or the cluster could carry into a
// journal, meant to break out of the element or attribute it lands in.
const Hostile = `x"><script>alert(1)</script><img src=x onerror=alert(2)>'&`

// CheckInert parses page as a browser would and fails on any script, image
// or event-handler attribute (the pages' own markup has none, so one found
// came from Hostile), and when Hostile is not shown, escaped, as text.
func CheckInert(t testing.TB, page string) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		if n.Data == "script" || n.Data == "img" {
			t.Errorf("the page has a <%s> element", n.Data)
		}
		for _, a := range n.Attr {
			if strings.HasPrefix(strings.ToLower(a.Key), "on") {
				t.Errorf("<%s> has an event handler %s=%q", n.Data, a.Key, a.Val)
			}
		}
	}
	if !strings.Contains(page, html.EscapeString(Hostile)) {
		t.Errorf("the hostile text is not shown escaped")
	}
}
