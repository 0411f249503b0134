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
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

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
	l.sweeping = true // as wakeSweep leaves it for the sweep's goroutine
	l.sweepOn.Store(true)
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
	// While handlers are armed the sweep goes on; with none armed it ends
	// at its leanSweepIdle-th sweep.
	l.idle = 0
	at = lc.armWatch(time.Now())
	for i := range 3 * leanSweepIdle {
		if more := l.sweepOnce(at); !more || !l.sweeping || !l.sweepOn.Load() {
			t.Fatalf("sweep %d: the sweep ends (more %v, sweeping %v, flag %v) with a handler armed", i, more, l.sweeping, l.sweepOn.Load())
		}
	}
	lc.stopWatch(at)
	for i := 1; i <= leanSweepIdle; i++ {
		more := l.sweepOnce(at)
		if last := i == leanSweepIdle; more == last || l.sweeping == last || l.sweepOn.Load() == last {
			t.Fatalf("idle sweep %d of %d: more %v, sweeping %v, flag %v", i, leanSweepIdle, more, l.sweeping, l.sweepOn.Load())
		}
	}
	// With no connection left it ends at once.
	l.sweeping = true
	l.sweepOn.Store(true)
	l.removeConn(lc)
	if more := l.sweepOnce(at); more || l.sweeping || l.sweepOn.Load() {
		t.Fatalf("the sweep goes on without connections: more %v, sweeping %v, flag %v", more, l.sweeping, l.sweepOn.Load())
	}
}

// TestLeanWatchSweepEndsWhenIdle: a keep-alive connection with no handler
// running does not keep the sweep ticking; the next request starts it
// again, and its client's hang-up is noticed.
func TestLeanWatchSweepEndsWhenIdle(t *testing.T) {
	p := newLeanPair(t, nil)
	orig := p.ll.h
	cancelled := make(chan bool, 1)
	p.ll.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Slow") != "" {
			select {
			case <-r.Context().Done():
				cancelled <- true
			case <-time.After(5 * time.Second):
				cancelled <- false
			}
		}
		orig.ServeHTTP(w, r)
	})
	c, err := net.Dial("tcp", p.lean)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	exchangeOne(t, c, br, p.saleRequest(), http.StatusCreated)
	waitSweep := func(want bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			p.ll.mu.Lock()
			sweeping, n := p.ll.sweeping, len(p.ll.conns)
			p.ll.mu.Unlock()
			if sweeping == want && n == 1 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("connections %d (want 1), sweep running %v (want %v)", n, sweeping, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitSweep(false) // the connection open and idle
	slow := "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\nAuthorization: Bearer " + p.tok +
		"\r\nContent-Length: " + strconv.Itoa(len(p.body)) + "\r\n\r\n" + p.body
	io.WriteString(c, slow)
	waitSweep(true)
	c.Close()
	if !<-cancelled {
		t.Fatal("after the sweep ended on an idle connection, a client gone was not noticed")
	}
}

// TestLeanWatchSlotsFollowLiveConns: after a peak of connections, the one
// left in the last slot moves down at its next request, so the sweep scans
// a few slots, not the peak's; its watch is still started.
func TestLeanWatchSlotsFollowLiveConns(t *testing.T) {
	l := &LeanListener{conns: map[*leanConn]struct{}{}}
	const peak = 10_000
	var lcs []*leanConn
	for range peak {
		lc := &leanConn{l: l}
		l.addConn(lc)
		lcs = append(lcs, lc)
	}
	for _, lc := range lcs[:peak-1] {
		l.removeConn(lc)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	lc := lcs[peak-1]
	lc.c = a
	_, lc.cancel = context.WithCancel(context.Background())
	lc.keepSlotLow() // the request path's, before arming
	if l.nslots > watchChunk || lc.slot != 0 {
		t.Fatalf("1 live connection in slot %d, but the sweep scans %d slots", lc.slot, l.nslots)
	}
	at := lc.armWatch(time.Now())
	l.sweepOnce(at + int64(leanWatchAfter))
	if lc.watchAt.Load() != watchTaken {
		t.Fatal("the watch of a moved connection was not started")
	}
	if lc.stopWatch(at) {
		t.Fatal("stopWatch: client gone")
	}
	// A connection in a low slot stays (no lock taken).
	lc2 := &leanConn{l: l}
	l.addConn(lc2)
	lc2.keepSlotLow()
	if lc2.slot != 1 || l.nslots != 2 {
		t.Fatalf("second connection in slot %d, %d slots", lc2.slot, l.nslots)
	}
}

// TestLeanWatchStartsOutsideListenerLock: a watch whose start is slow (its
// connection's SetReadDeadline) does not hold the listener's lock, which
// accepts and closes take.
func TestLeanWatchStartsOutsideListenerLock(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	sc := &slowDeadlineConn{Conn: a, entered: make(chan struct{}), release: make(chan struct{})}
	l := &LeanListener{conns: map[*leanConn]struct{}{}}
	lc := &leanConn{l: l, c: sc}
	ctx, cancel := context.WithCancel(context.Background())
	lc.cancel = cancel
	l.addConn(lc)
	at := lc.armWatch(time.Now())
	swept := make(chan struct{})
	go func() {
		l.sweepOnce(at + int64(leanWatchAfter))
		close(swept)
	}()
	<-sc.entered
	free := l.mu.TryLock()
	if free {
		l.mu.Unlock()
	}
	close(sc.release)
	<-swept
	if !free {
		t.Fatal("the listener's lock held while a watch starts")
	}
	if lc.watchAt.Load() != watchTaken {
		t.Fatal("the watch was not started")
	}
	if lc.stopWatch(at) || ctx.Err() != nil {
		t.Fatal("the client taken for gone")
	}
}

// slowDeadlineConn's first SetReadDeadline waits for release.
type slowDeadlineConn struct {
	net.Conn
	once             sync.Once
	entered, release chan struct{}
}

func (c *slowDeadlineConn) SetReadDeadline(t time.Time) error {
	c.once.Do(func() {
		close(c.entered)
		<-c.release
	})
	return c.Conn.SetReadDeadline(t)
}

// TestLeanWatchSlotIsACacheLine: a connection's stamp, written twice a
// request, shares its cache line with no other connection's.
func TestLeanWatchSlotIsACacheLine(t *testing.T) {
	if s := unsafe.Sizeof(watchSlot{}); s != 64 {
		t.Fatalf("a watch slot is %d bytes, want 64", s)
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

// TestLeanWatchSlots: connections come, go and send requests (keepSlotLow)
// in random order; each has a stamp of its own, the sweep's slots end at
// the last one in use, and a slot used again is swept.
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
		if len(live) > 0 && rng.IntN(4) == 0 {
			// A request: a connection far above the live ones moves down.
			lc := live[rng.IntN(len(live))]
			lc.keepSlotLow()
			if int64(lc.slot) >= l.moveAbove.Load() && len(l.freeSlots) > 0 && l.freeSlots[0] < lc.slot {
				t.Fatalf("step %d: slot %d, a lower one free (%d), above %d", step, lc.slot, l.freeSlots[0], l.moveAbove.Load())
			}
		} else if len(live) > 0 && (rng.IntN(2) == 0 || len(live) > 300) {
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

// BenchmarkSaleLeanConns is BenchmarkSaleLean with 64 connections (or the
// next multiple of GOMAXPROCS), each a client's goroutine's: the watch's
// per-request cost when many handlers run (a timer per connection in the
// Ps' heaps, or the sweep's stamps).
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
	// At least 64 connections, one a client goroutine: RunParallel runs
	// parallelism × GOMAXPROCS goroutines.
	procs := runtime.GOMAXPROCS(0)
	par := max(1, (64+procs-1)/procs)
	conns := par * procs
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
	b.SetParallelism(par)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		sb := clients[next.Add(1)-1] // its own: RunParallel starts conns goroutines
		for pb.Next() {
			if st, err := sb.do(); err != nil || st != http.StatusCreated {
				b.Errorf("status %d, %v", st, err)
				return
			}
		}
	})
}

// TestLeanWatchNoStolenBytes: handlers that return around the sweep's
// threshold on many connections, each client sending its next request the
// moment it has the answer: a watch left reading after its handler
// returned would take the next request's first byte (a hand-over to
// net/http) or lose it (a bad request). (The review's test.)
func TestLeanWatchNoStolenBytes(t *testing.T) {
	p := newLeanPair(t, nil)
	orig := p.ll.h
	p.ll.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := r.Header.Get("X-Sleep"); d != "" {
			n, _ := strconv.Atoi(d)
			time.Sleep(time.Duration(n) * time.Microsecond)
		}
		orig.ServeHTTP(w, r)
	})
	conns, per := 24, 40
	if testing.Short() {
		per = 10
	}
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			c, err := net.Dial("tcp", p.lean)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			rng := rand.New(rand.NewPCG(uint64(i), 9))
			for range per {
				us := int(leanWatchAfter-leanWatchEvery-5*time.Millisecond)/1000 + rng.IntN(20000) // 85–105 ms
				req := "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nX-Sleep: " + strconv.Itoa(us) +
					"\r\nAuthorization: Bearer " + p.tok + "\r\nContent-Length: " + strconv.Itoa(len(p.body)) + "\r\n\r\n" + p.body
				if _, err := io.WriteString(c, req); err != nil {
					t.Error(err)
					return
				}
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					t.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	lean, h := p.ll.Counts()
	if h != 0 || lean != int64(conns*per) {
		t.Errorf("lean %d (want %d), handed over %d (want 0): a watch read the next request", lean, conns*per, h)
	}
}
