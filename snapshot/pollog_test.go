package snapshot

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a log sink the refresher's goroutines may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the log lines whose msg is msg.
func (l *lockedBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(l.b.Bytes(), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

// A public node whose store is unreachable polls it every PollInterval
// (100 ms in production): each failure was a WARN line, ten a second for as
// long as the outage lasted, which buries the rest of the log and fills the
// bounded log queue. The outage is logged when it starts, at most every
// pollFailLogEvery while it lasts, and when it ends, with its count.
func TestPollFailuresLoggedOnceAnOutage(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs lockedBuffer
	src := &failingSource{fakeSource: newFakeSource(synthetic(20, 1))}
	r := NewRefresher(src, Options{
		PollInterval: 2 * time.Millisecond, ConfirmEvery: time.Second,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	src.down.Store(true)
	for deadline := time.Now().Add(5 * time.Second); src.failed.Load() < 50; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d polls failed", src.failed.Load())
		}
	}
	failed := src.failed.Load()
	if n := len(logs.lines(t, "snapshot: poll failed")); n != 1 {
		t.Fatalf("%d polls failed, %d logged as failed; want the outage logged once", failed, n)
	}
	src.down.Store(false)
	var back []map[string]any
	for deadline := time.Now().Add(5 * time.Second); len(back) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the store came back and no line said so")
		}
		back = logs.lines(t, "snapshot: poll recovered")
	}
	if n, _ := back[0]["failures"].(float64); n < float64(failed) {
		t.Fatalf("recovery logged %v failures, want ≥ %d: %v", back[0]["failures"], failed, back[0])
	}
	// A second outage is logged again.
	src.down.Store(true)
	for deadline := time.Now().Add(5 * time.Second); len(logs.lines(t, "snapshot: poll failed")) < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("a second outage was not logged")
		}
	}
}
