package httpapi

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// pipeListener hands the server one end of each net.Pipe: no socket
// buffers, so an answer the client does not read stays with the server.
type pipeListener struct {
	ch   chan net.Conn
	done chan struct{}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}
func (l *pipeListener) Close() error   { close(l.done); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{} }
func (l *pipeListener) dial() net.Conn {
	a, b := net.Pipe()
	l.ch <- b
	return a
}

// An answer that a client leaves unread counts as held until the client has
// taken it, on the lean path as on net/http (DESIGN.md §2: slow readers
// cannot exhaust memory): the same client's next read is refused with 429
// (MaxHeldPerClient), and once it has read everything nothing is held. The
// lean path once counted an answer only while the handler wrote it into
// its own buffer, so a slow reader's answers held nothing (review of
// lean12r).
func TestHeldUntilTakenOnBothPaths(t *testing.T) {
	for _, lean := range []bool{false, true} {
		t.Run(map[bool]string{false: "net/http", true: "lean"}[lean], func(t *testing.T) {
			srv := newServer(Config{Public: publicBenchHandler(t), Logger: benchLogger(), MaxHeldPerClient: 1 << 10}, newFake())
			pl := &pipeListener{ch: make(chan net.Conn), done: make(chan struct{})}
			hs := &http.Server{Handler: srv.Handler(), WriteTimeout: time.Minute, IdleTimeout: time.Minute, ReadHeaderTimeout: 5 * time.Second}
			var ln net.Listener = pl
			if lean {
				ln = srv.LeanListener(pl, hs)
			}
			go hs.Serve(ln)
			defer hs.Close()

			a := pl.dial()
			defer a.Close()
			go io.WriteString(a, "GET /corona19-masks/v1/storesByGeo/json?lat=37.5665&lng=126.9780&m=5000 HTTP/1.1\r\nHost: x\r\n\r\n")
			ra := bufio.NewReaderSize(a, 100)
			if _, err := ra.Peek(100); err != nil { // the answer has begun
				t.Fatal(err)
			}
			deadline := time.Now().Add(5 * time.Second)
			for srv.held.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if srv.held.Load() == 0 {
				t.Fatal("an answer being written counts as held: 0 bytes")
			}

			b := pl.dial()
			defer b.Close()
			go io.WriteString(b, "GET /api/v2/outlets/11000017 HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(bufio.NewReader(b), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusTooManyRequests {
				t.Errorf("the same client's next read while %d bytes are held: %d, want 429", srv.held.Load(), resp.StatusCode)
			}

			first, err := http.ReadResponse(ra, nil)
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, first.Body)
			if err != nil || first.StatusCode != http.StatusOK || n < 1<<10 {
				t.Fatalf("the slow answer: %d, %d bytes, %v", first.StatusCode, n, err)
			}
			for srv.held.Load() != 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if h := srv.held.Load(); h != 0 {
				t.Errorf("held after the client took its answer: %d bytes, want 0", h)
			}
		})
	}
}
