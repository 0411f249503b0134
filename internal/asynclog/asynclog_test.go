package asynclog

import (
	"bytes"
	"io"
	"sync"
	"testing"
	"time"
)

// blocked is an output that blocks every write until released.
type blocked struct {
	release chan struct{}
	mu      sync.Mutex
	buf     bytes.Buffer
}

func (b *blocked) Write(p []byte) (int, error) {
	<-b.release
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func TestWriteNeverWaitsOnAStalledOutput(t *testing.T) {
	out := &blocked{release: make(chan struct{})}
	w := New(out, 4)
	start := time.Now()
	for range 1000 {
		w.Write([]byte("line\n"))
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("1000 writes onto a stalled output took %v", d)
	}
	// One line may be in the writer goroutine's hands, 4 in the queue.
	if got := w.Dropped(); got < 1000-5 {
		t.Errorf("dropped %d of 1000 lines, want at least 995", got)
	}
	close(out.release)
	w.Close()
	if n := bytes.Count(out.buf.Bytes(), []byte("line\n")); n < 4 || n > 5 {
		t.Errorf("%d lines written after release, want the 4–5 queued", n)
	}
}

func TestCloseDrainsInOrder(t *testing.T) {
	var buf bytes.Buffer
	w := New(&buf, 100)
	for _, s := range []string{"a\n", "b\n", "c\n"} {
		p := []byte(s)
		w.Write(p)
		p[0] = 'x' // the caller may reuse its buffer at once
	}
	w.Close()
	if buf.String() != "a\nb\nc\n" {
		t.Errorf("got %q", buf.String())
	}
	w.Write([]byte("late\n")) // after Close: dropped, no panic
	if w.Dropped() != 1 {
		t.Errorf("dropped %d, want 1", w.Dropped())
	}
	var _ io.Writer = w
}
