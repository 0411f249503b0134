package httpapi

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// TestLeanAnswerThenWait: sales one after another on a keep-alive
// connection are each answered by answerAndRead (the answer written, then
// the next request waited for without an empty read first), and each gets
// its own answer.
func TestLeanAnswerThenWait(t *testing.T) {
	var fast atomic.Int32
	leanFastHook = func() { fast.Add(1) }
	defer func() { leanFastHook = nil }()
	p := newLeanPair(t, nil)
	c, err := net.Dial("tcp", p.lean)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	const n = 6
	for i := range n {
		id := "seq-" + strconv.Itoa(i)
		io.WriteString(c, p.saleWithID(id))
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("sale %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 || resp.Header.Get("X-Request-Id") != id {
			t.Fatalf("sale %d: status %d, request ID %q", i, resp.StatusCode, resp.Header.Get("X-Request-Id"))
		}
	}
	if got := fast.Load(); got != n {
		t.Fatalf("%d answers written by answerAndRead, want %d", got, n)
	}
	if l, h := p.ll.Counts(); l != n || h != 0 {
		t.Fatalf("lean %d, handed over %d; want %d, 0", l, h, n)
	}
}

// TestLeanPipelinedAfterRead: a request the client pipelines after the
// server has read the one it answers (its readiness reported before the
// answer's wait began, and forgotten by it) is still answered, within the
// wait's bound — not at the idle timeout (90 s here) — and the connection
// is answered the usual way from then on.
func TestLeanPipelinedAfterRead(t *testing.T) {
	var fast atomic.Int32
	leanFastHook = func() { fast.Add(1) }
	defer func() { leanFastHook = nil }()
	p := newLeanPair(t, nil)
	orig := p.ll.h
	var calls atomic.Int32
	p.ll.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			time.Sleep(leanWatchAfter / 2) // the next request arrives meanwhile; no watch yet
		}
		orig.ServeHTTP(w, r)
	})
	c, err := net.Dial("tcp", p.lean)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, p.saleWithID("first-req"))
	time.Sleep(leanWatchAfter / 5) // read by the server, its handler running
	start := time.Now()
	io.WriteString(c, p.saleWithID("second-req"))
	br := bufio.NewReader(c)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	read := func(id string) {
		t.Helper()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("answer to %s: %v after %v", id, err, time.Since(start))
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 || resp.Header.Get("X-Request-Id") != id {
			t.Fatalf("answer %d with request ID %q, want 2xx for %s", resp.StatusCode, resp.Header.Get("X-Request-Id"), id)
		}
	}
	read("first-req")
	read("second-req")
	if d := time.Since(start); d > 2*time.Second { // the wait bound, not a deadline of seconds
		t.Fatalf("the pipelined request answered after %v", d)
	}
	before := fast.Load()
	io.WriteString(c, p.saleWithID("third-req"))
	read("third-req")
	if l, h := p.ll.Counts(); l != 3 || h != 0 {
		t.Fatalf("lean %d, handed over %d; want 3, 0", l, h)
	}
	t.Logf("answers by answerAndRead: %d, then %d", before, fast.Load())
}

// saleWithID is p's sale with an X-Request-Id.
func (p *leanPair) saleWithID(id string) string {
	return "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nX-Request-Id: " + id + "\r\nAuthorization: Bearer " + p.tok +
		"\r\nContent-Length: " + strconv.Itoa(len(p.body)) + "\r\n\r\n" + p.body
}
