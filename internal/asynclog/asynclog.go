// Package asynclog is an io.Writer for log output that never makes its
// caller wait: each Write is copied into a bounded queue that one goroutine
// drains to the real output. When the output cannot keep up (a stalled pipe,
// a slow disk, a flood of lines) lines are dropped and counted instead of
// stalling request handlers — an outlet's sale must not wait on stderr.
package asynclog

import (
	"io"
	"sync"
	"sync/atomic"
)

// Writer is the asynchronous writer. slog's handlers write one record per
// Write call, so a line is never split or interleaved.
type Writer struct {
	out     io.Writer
	q       chan []byte
	dropped atomic.Int64
	done    chan struct{}
	once    sync.Once
	mu      sync.RWMutex // guards closed against sends racing Close
	closed  bool
}

// New starts a Writer onto out with room for queue lines.
func New(out io.Writer, queue int) *Writer {
	w := &Writer{out: out, q: make(chan []byte, max(queue, 1)), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *Writer) run() {
	defer close(w.done)
	for b := range w.q {
		w.out.Write(b)
	}
}

// Write queues a copy of p, or drops it when the queue is full or the
// Writer is closed. It always reports success: a log line is not worth an
// error path in the caller.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.dropped.Add(1)
		return len(p), nil
	}
	select {
	case w.q <- append([]byte(nil), p...):
	default:
		w.dropped.Add(1)
	}
	return len(p), nil
}

// Dropped is the number of lines dropped so far.
func (w *Writer) Dropped() int64 { return w.dropped.Load() }

// Close writes out what is queued and stops the Writer; later Writes are
// dropped.
func (w *Writer) Close() error {
	w.once.Do(func() {
		w.mu.Lock()
		w.closed = true
		close(w.q)
		w.mu.Unlock()
	})
	<-w.done
	return nil
}
