package httpapi

import (
	"bufio"
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/publicmask/publicmask/internal/testenv"
)

// TestLeanWatchNoticesClientGone: a client that hangs up while its sale
// waits in a slow handler is noticed (the handler's context is cancelled)
// by the listener's sweep — for a connection's first request, for one
// after fast requests on the same connection, and again after the sweep
// ended with the last connection (a new connection starts it again).
func TestLeanWatchNoticesClientGone(t *testing.T) {
	p := newLeanPair(t, nil)
	orig := p.ll.h
	type result struct {
		cancelled bool
		after     time.Duration // from the handler's start to the cancellation
	}
	results := make(chan result, 1)
	p.ll.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Slow") == "" {
			orig.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		select {
		case <-r.Context().Done():
			results <- result{true, time.Since(start)}
		case <-time.After(5 * time.Second):
			results <- result{false, time.Since(start)}
		}
		orig.ServeHTTP(w, r)
	})
	slow := "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\nAuthorization: Bearer " + p.tok +
		"\r\nContent-Length: " + strconv.Itoa(len(p.body)) + "\r\n\r\n" + p.body
	for round, fast := range []int{0, 3, 0} {
		if round == 2 {
			// Every connection so far is gone: the sweep must have ended,
			// and the next connection starts another.
			deadline := time.Now().Add(5 * time.Second)
			for {
				p.ll.mu.Lock()
				sweeping, n := p.ll.sweeping, len(p.ll.conns)
				p.ll.mu.Unlock()
				if !sweeping && n == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no connection left (%d) but the sweep still runs (%v)", n, sweeping)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		c, err := net.Dial("tcp", p.lean)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		for range fast {
			exchangeOne(t, c, br, p.saleRequest(), http.StatusCreated)
		}
		io.WriteString(c, slow)
		time.Sleep(10 * time.Millisecond)
		c.Close() // the counter gives up
		r := <-results
		if !r.cancelled {
			t.Fatalf("round %d: a client gone %v before was not noticed", round, r.after)
		}
		// Not before the sweep's threshold; by leanWatchAfter on a quiet
		// machine (logged: a loaded one schedules the sweep late).
		if r.after < leanWatchAfter-leanWatchEvery {
			t.Errorf("round %d: noticed after %v, before the watch's threshold %v", round, r.after, leanWatchAfter-leanWatchEvery)
		}
		t.Logf("round %d: the client's hang-up noticed %v after the handler started", round, r.after)
	}
}

// TestLeanWatchSweepThreshold: the sweep starts the watch of a handler that
// has run leanWatchAfter-leanWatchEvery, not earlier, so with a sweep every
// leanWatchEvery each handler is watched by leanWatchAfter.
func TestLeanWatchSweepThreshold(t *testing.T) {
	if leanWatchEvery <= 0 || leanWatchEvery >= leanWatchAfter {
		t.Fatalf("leanWatchEvery %v, leanWatchAfter %v", leanWatchEvery, leanWatchAfter)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	l := &LeanListener{conns: map[*leanConn]struct{}{}}
	lc := &leanConn{l: l, c: a}
	_, lc.cancel = context.WithCancel(context.Background())
	l.addConn(lc)
	at := lc.armWatch(time.Now())
	threshold := int64(leanWatchAfter - leanWatchEvery)
	if more := l.sweepOnce(at + threshold - 1); !more || lc.watchAt.Load() != at {
		t.Fatalf("watch state %d before the threshold (armed %d), more %v", lc.watchAt.Load(), at, more)
	}
	if more := l.sweepOnce(at + threshold); !more || lc.watchAt.Load() != watchTaken {
		t.Fatalf("watch state %d at the threshold, want %d (started), more %v", lc.watchAt.Load(), watchTaken, more)
	}
	if gone := lc.stopWatch(at); gone {
		t.Fatal("stopWatch: client gone")
	}
	if st := lc.watchAt.Load(); st != 0 {
		t.Fatalf("watch state %d after stopWatch", st)
	}
	// A stale stamp (the handler has returned) starts nothing.
	l.sweepOnce(at + 10*threshold)
	if st := lc.watchAt.Load(); st != 0 {
		t.Fatalf("watch state %d after a sweep with nothing armed", st)
	}
	l.removeConn(lc)
	if more := l.sweepOnce(at); more || l.sweeping {
		t.Fatal("the sweep goes on without connections")
	}
}

// TestLeanWatchStopRace: a handler that returns just as the sweep starts
// its watch (the hand-off between stopWatch and startWatch), many times on
// one TCP connection: stopWatch always returns, the client is never taken
// for gone, and no watch is left reading (the next byte is the
// connection's reader's).
// Run with -race.
func TestLeanWatchStopRace(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	srvc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srvc.Close()
	l := &LeanListener{conns: map[*leanConn]struct{}{}}
	lc := &leanConn{l: l, c: srvc}
	ctx, cancel := context.WithCancel(context.Background())
	lc.cancel = cancel
	l.addConn(lc)
	n := 3000
	if testing.Short() {
		n = 500
	}
	var rb [1]byte
	claimed := 0 // iterations whose sweep was seen to start the watch (a lower bound)
	for i := range n {
		srvc.SetReadDeadline(time.Time{}) // as the lean loop's, none while a handler runs
		// Armed already due, so that every sweep races stopWatch.
		at := lc.armWatch(time.Now().Add(-leanWatchAfter))
		swept := make(chan struct{})
		go func() {
			l.sweepOnce(leanStamp(time.Now()))
			if lc.watchAt.Load() == watchTaken {
				claimed++
			}
			close(swept)
		}()
		if i%3 == 1 {
			time.Sleep(time.Duration(i%50) * time.Microsecond) // sometimes after the watch's read has begun
		}
		stopped := make(chan bool, 1)
		go func() { stopped <- lc.stopWatch(at) }()
		select {
		case gone := <-stopped:
			if gone {
				t.Fatalf("iteration %d: the client taken for gone", i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("iteration %d: stopWatch did not return (the watch's read was not interrupted)", i)
		}
		<-swept
		if st := lc.watchAt.Load(); st != 0 {
			t.Fatalf("iteration %d: watch state %d after the handler returned and the sweep ended", i, st)
		}
		if lc.peeked {
			t.Fatalf("iteration %d: the watch read a byte no one sent", i)
		}
		if len(lc.watchDone) != 0 {
			t.Fatalf("iteration %d: a watch's end not taken", i)
		}
		// No watch left reading: a byte the client sends now is this
		// reader's, not a watch's.
		if _, err := cli.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		srvc.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.ReadFull(srvc, rb[:]); err != nil || rb[0] != byte(i) || lc.peeked {
			t.Fatalf("iteration %d: read %q, %v (a watch still reading: %v)", i, rb[:], err, lc.peeked)
		}
	}
	if ctx.Err() != nil {
		t.Fatal("the connection's context was cancelled")
	}
	if claimed == 0 {
		t.Fatalf("the sweep was never seen to start a watch in %d iterations: the race was not run", n)
	}
	t.Logf("the sweep was seen to start the watch in %d of %d iterations", claimed, n)
}

// BenchmarkLeanSweep is one sweep over 512 connections, half of them with a
// handler running but none due (the capacity rush's case): the sweep's
// cost, paid every leanWatchEvery while the listener has connections.
func BenchmarkLeanSweep(b *testing.B) {
	l := &LeanListener{conns: map[*leanConn]struct{}{}}
	now := leanStamp(time.Now())
	for i := range 512 {
		lc := &leanConn{l: l}
		l.addConn(lc)
		if i%2 == 0 {
			lc.watchAt.Store(now)
		}
	}
	for b.Loop() {
		l.sweepOnce(now)
	}
}

// TestLeanWatchSlots: connections come and go in random order; each has a
// stamp of its own, the sweep's slots end at the last one in use (a past
// peak does not stay in every sweep), and a slot used again is swept.
func TestLeanWatchSlots(t *testing.T) {
	l := &LeanListener{conns: map[*leanConn]struct{}{}}
	rng := rand.New(rand.NewPCG(1, 2))
	var live []*leanConn
	check := func(step int) {
		t.Helper()
		seen := map[int]bool{}
		top := 0
		for _, lc := range live {
			if seen[lc.slot] || l.slotAt(lc.slot).lc != lc || lc.watchAt != &l.slotAt(lc.slot).at {
				t.Fatalf("step %d: slot %d of a connection not its own", step, lc.slot)
			}
			seen[lc.slot] = true
			top = max(top, lc.slot+1)
		}
		if l.nslots != top {
			t.Fatalf("step %d: the sweep's slots %d, the last in use %d", step, l.nslots, top)
		}
	}
	for step := range 5000 {
		if len(live) > 0 && (rng.IntN(2) == 0 || len(live) > 300) {
			j := rng.IntN(len(live))
			l.removeConn(live[j])
			live[j] = live[len(live)-1]
			live = live[:len(live)-1]
		} else {
			lc := &leanConn{l: l}
			l.addConn(lc)
			live = append(live, lc)
		}
		check(step)
	}
	for len(live) > 0 {
		l.removeConn(live[len(live)-1])
		live = live[:len(live)-1]
	}
	check(-1)
	// A slot used again: its new connection's handler is swept.
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	lc := &leanConn{l: l, c: a}
	_, lc.cancel = context.WithCancel(context.Background())
	l.addConn(lc)
	at := lc.armWatch(time.Now())
	l.sweepOnce(at + int64(leanWatchAfter))
	if lc.watchAt.Load() != watchTaken {
		t.Fatal("the watch of a connection in a used slot was not started")
	}
	if lc.stopWatch(at) {
		t.Fatal("stopWatch: client gone")
	}
}

// BenchmarkSaleLeanConns is BenchmarkSaleLean with 64 connections, each a
// client's goroutine's: the watch's per-request cost when many handlers run
// (a timer per connection in the Ps' heaps, or the sweep's stamps).
func BenchmarkSaleLeanConns(b *testing.B) {
	led, tok := saleEnv(b)
	srv := newServer(Config{Logger: benchLogger()}, led)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 90 * time.Second, MaxHeaderBytes: 64 << 10}
	go hs.Serve(srv.LeanListener(ln, hs))
	b.Cleanup(func() { hs.Close() })
	body := `{"txn_id":"t-0000000001","buyer":"` + testenv.ID("830101", '1', 1) + `","quantity":2}`
	req := "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: " + ln.Addr().String() +
		"\r\nUser-Agent: publicmask-rush\r\nAuthorization: Bearer " + tok +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	const conns = 64
	clients := make([]*saleBench, conns)
	for i := range clients {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		clients[i] = &saleBench{conn: c, br: bufio.NewReaderSize(c, 8<<10), req: []byte(req)}
		for range 10 {
			if st, err := clients[i].do(); err != nil || st != http.StatusCreated {
				b.Fatalf("status %d, %v", st, err)
			}
		}
	}
	var next atomic.Int64
	b.SetParallelism(conns / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		sb := clients[int(next.Add(1)-1)%conns]
		for pb.Next() {
			if st, err := sb.do(); err != nil || st != http.StatusCreated {
				b.Errorf("status %d, %v", st, err)
				return
			}
		}
	})
}
