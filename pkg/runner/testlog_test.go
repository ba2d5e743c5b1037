package runner

import (
	"log/slog"
	"testing"
)

// testWriter sends log lines to t.Log, prefixed with who wrote them: the
// logs of two runners and their leader elections, interleaved, are what
// explains a failed handover (go test shows them only on failure or -v).
type testWriter struct {
	t   *testing.T
	who string
}

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(w.who + ": " + string(p))
	return len(p), nil
}

func testLog(t *testing.T, who string) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t, who}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
