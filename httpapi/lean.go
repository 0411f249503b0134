package httpapi

import (
	"bytes"
	"container/heap"
	"context"
	"fmt"
	"io"
	"iter"
	"net"
	"net/http"
	"net/netip"
	"net/textproto"
	"net/url"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask/ledger"
)

// The lean path (serve --lean-sales): a connection-level HTTP/1.1 server for
// the one request a counter sends most, POST /api/v2/outlet/sales, and the
// public reads a citizen's app sends most (GET of the v1 routes,
// /api/v2/outlets/near and /api/v2/outlets/{code}), which hands every
// connection over to net/http at the first request it does not fully
// handle.
//
// The reads came later (BENCHMARKS.md, lean12r): in the mixed rush a
// public read through net/http allocated ~4.6 KB (its request, the answer's
// header map grown past 8 keys and cloned at WriteHeader, the request's
// context), and 5,000 reads/s paced the collector at about a cycle a
// second, whose mark phase took a core from the sales. On the lean path a
// read allocates ~0.8 KB: the header maps and buffers are the
// connection's, reused.
//
// net/http's per-request machinery was ~40% of the server's CPU in a
// capacity rush (BENCHMARKS.md, cpu12b and http12): a context with its
// cancel function, readMIMEHeader's maps and strings, url.Parse, the header
// clone at WriteHeader, a background-read goroutine per request (a
// deadline, a goroutine, an extra read that parks, then a deadline in the
// past and a condition variable to stop it) and four read and write
// deadlines. The lean path runs the same handler chain (s.handler: request
// ID, access log, recovery, the mux, authentication, admission, the sale
// handler) on a request it parsed itself, and writes the answer net/http
// would write, byte for byte but the Date and the request ID.
//
// It handles a request only when all of it is already in its buffer after
// the read that began it: the exact request line "POST
// /api/v2/outlet/sales HTTP/1.1", or "GET <target> HTTP/1.1" with a target
// of the routes above taken as it is (no escape in the path, a query of
// visible ASCII without '#': leanGetTarget) and no Content-Length; plain
// header lines (token names, no folding, CRLF line ends), one Host, for a
// sale one Content-Length whose body came in the same buffer, a Connection
// header only of keep-alive tokens (which browsers send and net/http
// ignores on HTTP/1.1), and none of Transfer-Encoding, Expect, Upgrade or
// Pragma. Anything else — another route or method (the stream's GET above
// all), a sale's query, an escape in a path, HTTP/1.0, a chunked or large
// body, a head or body still coming
// (a slow client), a malformed line — goes to net/http with the bytes read
// so far, and the connection stays with net/http from then on. So the lean
// path never waits on a client for a request's bytes: the read-header and
// read timeouts are net/http's, applied from the hand-over. It waits only
// for the next request (the first one of a connection within the
// read-header timeout, later ones within the idle timeout) and on writing
// the answer (the write timeout, or the handler's own write deadline), and
// sets those deadlines only when they move by more than a small slack
// (at most a second), not once per request.
//
// The request's context is the connection's, cancelled when the client
// goes away: as net/http's background read, a watch reads the connection
// while a handler runs, but only once the handler has run leanWatchAfter
// (a sale queued at admission or in the ledger), not for every request.
// A request only stamps its start (one atomic store) and clears it, and
// reads a flag that the listener's sweep runs; the sweep, every
// leanWatchEvery while handlers run (it ends after leanSweepIdle ticks
// with none, and the next request starts it again), starts the watch of
// each handler that has run leanWatchAfter-leanWatchEvery, so by
// leanWatchAfter (as a timer per request did, without its Reset and Stop
// a request).
// So a sale whose counter hung up while it waited is withdrawn (admission
// and the ledger skip a request whose context has ended), as with
// net/http. A byte the watch reads (a pipelining client's next request)
// is kept, and the rest of that request goes to net/http.
//
// A difference from net/http that no answer shows: a handler's 1xx
// answers are not sent (the sale route writes none).
//
// Since a connection stays with net/http once handed over, the lean path
// serves connections that carry only sales, or only those reads:
// point-of-sale clients, apps and the rush. A browser's counter page reuses connections that loaded the page
// and its reads, so its sales go through net/http (e2e's counter tests:
// 0 lean requests, 8 hand-overs).

const (
	leanBufSize  = 4 << 10 // the largest head+body the lean path takes
	leanChunking = 2048    // net/http's bufferBeforeChunkingSize
	leanMaxSlack = time.Second
	// leanWatchAfter: how long a handler runs before a watch for the client
	// going away starts (an extra goroutine and read, as net/http's
	// background read for every request).
	leanWatchAfter = 100 * time.Millisecond
	// leanWatchEvery: the period of the sweep that starts the watches.
	leanWatchEvery = 10 * time.Millisecond
	// net/http's maxPostHandlerReadBytes does not apply: a lean request's
	// body is in the buffer before the handler runs.
)

var leanLine = []byte("POST /api/v2/outlet/sales HTTP/1.1\r\n")

// leanBufs are the connections' read buffers.
var leanBufs = sync.Pool{New: func() any { b := make([]byte, leanBufSize); return &b }}

// LeanListener serves the lean path on the connections of a plain-TCP
// listener and yields to net/http (Accept) the connections it hands over.
// Serve it with the http.Server whose timeouts it was given; after that
// server's Shutdown, Drain waits for the lean path's requests in flight.
type LeanListener struct {
	net.Listener
	s           *Server
	h           http.Handler  // hs.Handler: what net/http would run
	headTimeout time.Duration // the first request of a connection (ReadHeaderTimeout)
	idleTimeout time.Duration
	writeTO     time.Duration

	handed chan net.Conn
	errc   chan error
	once   sync.Once
	done   chan struct{}

	closing  atomic.Bool
	mu       sync.Mutex
	conns    map[*leanConn]struct{}
	sweeping bool // under mu: sweep runs (while a handler has run lately)
	idle     int  // under mu: the sweep's ticks in a row with no handler armed
	due      []*leanConn
	dueAt    []int64
	// The connections' watch stamps, side by side so that a sweep reads
	// a few cache lines, not one per connection (under mu but the stamps;
	// chunks do not move, so a connection keeps a pointer to its stamp).
	slots     []*[watchChunk]watchSlot
	nslots    int      // the sweep's slots: the last in use and all before it
	freeSlots slotHeap // free slots, the lowest taken first (some may be ≥ nslots: stale)

	// Read by every request, written seldom: a cache line of their own,
	// not the counters' below, which every request writes.
	_ [64]byte
	// sweepOn: sweeping, for the request path to read without mu (it
	// takes mu only to start the sweep again); stored under mu.
	sweepOn atomic.Bool
	// moveAbove: a connection in this slot or above moves to a lower free
	// one at its next request (relocate); stored under mu.
	moveAbove atomic.Int64
	_         [64]byte

	lean    atomic.Int64 // requests answered by the lean path
	handovs atomic.Int64 // connections handed to net/http
}

// LeanListener wraps ln (the node's plain-TCP listener, after Listener) so
// that POST /api/v2/outlet/sales requests take the lean path; hs supplies the
// timeouts (ReadHeaderTimeout, falling back to ReadTimeout, IdleTimeout,
// falling back to ReadTimeout, WriteTimeout), as net/http reads them.
func (s *Server) LeanListener(ln net.Listener, hs *http.Server) *LeanListener {
	l := &LeanListener{
		Listener: ln, s: s, h: hs.Handler,
		headTimeout: hs.ReadHeaderTimeout, idleTimeout: hs.IdleTimeout, writeTO: hs.WriteTimeout,
		handed: make(chan net.Conn), errc: make(chan error), done: make(chan struct{}),
		conns: make(map[*leanConn]struct{}),
	}
	if l.h == nil {
		l.h = s.handler
	}
	if l.headTimeout <= 0 {
		l.headTimeout = hs.ReadTimeout
	}
	register(s.cfg.Registerer, prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "publicmask_http_lean_requests_total",
		Help: "Requests answered by the lean path (serve --lean-sales: sales and the hot public reads) instead of net/http.",
	}, func() float64 { return float64(l.lean.Load()) }))
	register(s.cfg.Registerer, prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "publicmask_http_lean_handovers_total",
		Help: "Connections the lean path handed to net/http at a request it does not take.",
	}, func() float64 { return float64(l.handovs.Load()) }))
	if l.idleTimeout <= 0 {
		l.idleTimeout = hs.ReadTimeout
	}
	return l
}

// Accept yields the connections handed over to net/http.
func (l *LeanListener) Accept() (net.Conn, error) {
	l.once.Do(func() { go l.acceptLoop() })
	select {
	case c := <-l.handed:
		return c, nil
	case err := <-l.errc:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *LeanListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.errc <- err:
			case <-l.done:
				return
			}
			if ne, ok := err.(interface{ Temporary() bool }); ok && ne.Temporary() {
				continue
			}
			return
		}
		lc := &leanConn{l: l, c: c, accepted: time.Now()}
		l.mu.Lock()
		if l.closing.Load() {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.addConn(lc)
		l.mu.Unlock()
		go lc.serve()
	}
}

// Close closes the listener and the lean path's idle connections; those
// serving a request answer it with Connection: close, as net/http does
// in a shutdown.
func (l *LeanListener) Close() error {
	l.mu.Lock()
	if !l.closing.Load() {
		l.closing.Store(true)
		close(l.done)
		for lc := range l.conns {
			if lc.idle.Load() {
				lc.c.Close()
			}
		}
	}
	l.mu.Unlock()
	return l.Listener.Close()
}

// Drain waits until the lean path's connections are gone (after Close),
// or closes them all when ctx ends.
func (l *LeanListener) Drain(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		l.mu.Lock()
		n := len(l.conns)
		if n > 0 && l.closing.Load() {
			for lc := range l.conns {
				if lc.idle.Load() {
					lc.c.Close()
				}
			}
		}
		l.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			l.mu.Lock()
			for lc := range l.conns {
				lc.c.Close()
			}
			l.mu.Unlock()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Counts returns the requests the lean path answered and the connections it
// handed to net/http.
func (l *LeanListener) Counts() (lean, handedOver int64) {
	return l.lean.Load(), l.handovs.Load()
}

// leanConn is one connection on the lean path.
type leanConn struct {
	l      *LeanListener
	c      net.Conn
	idle   atomic.Bool
	buf    []byte
	r, n   int // unread bytes: buf[r:n]
	skip   int // after a POST: how many CR or LF bytes may still be dropped before the next request
	remote string
	ctx    *leanCtx
	cancel context.CancelFunc
	rdl    time.Time // the read deadline set on c
	wdl    time.Time // the write deadline set on c

	accepted time.Time
	served   bool // a request was answered on the lean path

	// The watch for the client going away (armWatch, startWatch, watch,
	// stopWatch). watchAt, the connection's stamp in l.slots: the running
	// handler's start (leanStamp) while the watch is armed, 0 when off,
	// watchTaken once the sweep started it.
	watchAt   *atomic.Int64
	slot      int        // watchAt's index in l.slots
	watchMu   sync.Mutex // held by startWatch from its claim until the read deadline is cleared
	watchDone chan struct{}
	stopping  atomic.Bool // stopWatch interrupts the watch's read
	gone      bool        // the watch's read failed: the client went away
	peek      [1]byte
	peeked    bool // the watch read peek[0]

	req     *http.Request
	url     url.URL
	hdr     http.Header
	hvals   []string // hdr's values: each name's first one, reused as hdr is
	body    leanBody
	w       leanWriter
	out     []byte
	bufs    net.Buffers           // the head and a large body, written without a copy
	bufsArr [2][]byte             // bufs' array
	cache   [len(leanKeys)]string // the last value of each common header, reused when it repeats
}

func (lc *leanConn) serve() {
	handed := false
	defer func() {
		// As net/http's conn.serve: a panic outside a handler ends the
		// connection, not the node.
		if p := recover(); p != nil {
			lc.l.s.log.Error("http: panic on a lean connection "+lc.remote, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
		if !handed {
			lc.c.Close()
		}
		if lc.cancel != nil {
			lc.cancel()
		}
		buf := lc.buf
		lc.buf = nil
		leanBufs.Put(&buf)
		lc.l.mu.Lock()
		lc.l.removeConn(lc)
		lc.l.mu.Unlock()
	}()
	lc.buf = *leanBufs.Get().(*[]byte)
	wait := lc.l.headTimeout
	for {
		if lc.r == lc.n {
			lc.r, lc.n = 0, 0
			lc.idle.Store(true)
			if lc.l.closing.Load() {
				return
			}
			if wait > 0 {
				lc.readDeadline(time.Now(), wait)
			} else if !lc.rdl.IsZero() {
				// No idle timeout (IdleTimeout and ReadTimeout 0): as
				// net/http, none — not the first head's deadline left set.
				lc.rdl = time.Time{}
				lc.c.SetReadDeadline(lc.rdl)
			}
			n, _ := lc.c.Read(lc.buf)
			lc.idle.Store(false)
			if n <= 0 {
				return // closed, reset, or the idle timeout: as net/http, say nothing
			}
			lc.n = n
			wait = lc.l.idleTimeout
		}
		if lc.skip > 0 {
			// As net/http after a POST: up to 4 CR or LF bytes before the
			// next request line are dropped (its Peek(4), then
			// numLeadingCRorLF), the first 4 bytes of what follows even
			// if they come in more than one read.
			for lc.skip > 0 && lc.r < lc.n && (lc.buf[lc.r] == '\r' || lc.buf[lc.r] == '\n') {
				lc.r++
				lc.skip--
			}
			if lc.r == lc.n && lc.skip > 0 {
				continue // all CR or LF so far: what follows counts too
			}
			lc.skip = 0
			if lc.r == lc.n {
				// The read ended with the last CR or LF: the request comes
				// in the next read (parsing nothing would hand the
				// connection over for good), within the head's timeout as
				// net/http, whose Peek(4) those bytes satisfied.
				wait = lc.l.headTimeout
				continue
			}
		}
		used, _, ok := lc.parse(lc.buf[lc.r:lc.n])
		if !ok {
			handed = lc.handOver()
			return
		}
		post := lc.req.Method == http.MethodPost
		if !lc.handle() {
			return
		}
		lc.served = true
		lc.r += used
		if post {
			lc.skip = 4
		}
		if lc.peeked {
			lc.unpeek()
		}
	}
}

// unpeek puts the byte the watch read after the unread bytes.
func (lc *leanConn) unpeek() {
	lc.peeked = false
	if lc.r == lc.n {
		lc.r, lc.n = 0, 0
	} else if lc.n == len(lc.buf) {
		lc.n = copy(lc.buf, lc.buf[lc.r:lc.n]) // room: the request just answered used some
		lc.r = 0
	}
	lc.buf[lc.n] = lc.peek[0]
	lc.n++
}

// watchTaken in watchAt: the sweep has claimed the watch (startWatch).
const watchTaken = -1

// leanEpoch is the origin of leanStamp.
var leanEpoch = time.Now()

// leanStamp is t as a positive count of nanoseconds (monotonic).
func leanStamp(t time.Time) int64 { return int64(t.Sub(leanEpoch)) + 1 }

// stampTime is the time of a leanStamp (with its monotonic reading).
func stampTime(s int64) time.Time { return leanEpoch.Add(time.Duration(s - 1)) }

// armWatch arms the watch for the client going away for a handler that
// starts at start; the stamp it returns is stopWatch's.
func (lc *leanConn) armWatch(start time.Time) int64 {
	at := leanStamp(start)
	lc.watchAt.Store(at)
	return at
}

const watchChunk = 64

// watchSlot is a connection's watch stamp and the connection (under
// LeanListener.mu), a cache line each: a request writes its stamp twice,
// and a line shared with other connections' stamps would bounce between
// their handlers' cores.
type watchSlot struct {
	at atomic.Int64
	lc *leanConn
	_  [64 - 16]byte
}

// leanSweepIdle: the sweep ends after this many ticks in a row with no
// handler armed (an idle keep-alive connection does not keep it ticking);
// the next request starts it again (wakeSweep).
const leanSweepIdle = 5

// addConn registers lc and gives it a watch stamp; under l.mu.
func (l *LeanListener) addConn(lc *leanConn) {
	l.conns[lc] = struct{}{}
	l.takeSlot(lc, l.nslots)
	l.setMoveAbove()
}

// takeSlot gives lc the lowest free slot below limit, or a new one at the
// end when limit is nslots and none is free; false: none below limit
// (lc keeps its slot). Under l.mu.
func (l *LeanListener) takeSlot(lc *leanConn, limit int) bool {
	i := l.nslots
	if len(l.freeSlots) > 0 {
		if m := l.freeSlots[0]; m >= l.nslots {
			l.freeSlots = l.freeSlots[:0] // all ≥ nslots: freed before a trim
		} else if m < limit {
			i = heap.Pop(&l.freeSlots).(int)
		}
	}
	if i >= limit && limit < l.nslots {
		return false
	}
	if i == l.nslots {
		if i == len(l.slots)*watchChunk {
			l.slots = append(l.slots, new([watchChunk]watchSlot))
		}
		l.nslots++
	}
	ws := l.slotAt(i)
	ws.lc = lc
	lc.watchMu.Lock() // startWatch reads watchAt under watchMu
	lc.watchAt, lc.slot = &ws.at, i
	lc.watchMu.Unlock()
	return true
}

// freeSlot frees slot i; under l.mu. The sweep's slots end at the last one
// in use.
func (l *LeanListener) freeSlot(i int) {
	ws := l.slotAt(i)
	ws.at.Store(0) // a handler that never returned (runtime.Goexit) stays armed
	ws.lc = nil
	if i < l.nslots-1 {
		heap.Push(&l.freeSlots, i)
		return
	}
	for l.nslots > 0 && l.slotAt(l.nslots-1).lc == nil {
		l.nslots--
	}
}

// setMoveAbove sets the slot from which a connection moves down; under
// l.mu. Twice the live connections (and a chunk): a sweep scans at most
// that many slots but for connections that have not sent a request since
// (idle ones, until they do or close).
func (l *LeanListener) setMoveAbove() {
	l.moveAbove.Store(int64(max(watchChunk, 2*len(l.conns))))
}

// removeConn undoes addConn; under l.mu.
func (l *LeanListener) removeConn(lc *leanConn) {
	delete(l.conns, lc)
	l.freeSlot(lc.slot)
	lc.watchMu.Lock() // a due watch collected by a sweep starts nothing now
	lc.watchAt = nil
	lc.watchMu.Unlock()
	l.setMoveAbove()
}

// relocate moves lc (no handler armed) to the lowest free slot if that is
// below its own, so that a past peak of connections does not stay in
// every sweep; the request path calls it only when lc.slot ≥ moveAbove.
func (l *LeanListener) relocate(lc *leanConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	old := lc.slot
	if l.takeSlot(lc, old) {
		l.freeSlot(old)
	}
}

// keepSlotLow moves lc's watch stamp down (relocate) if its slot is far
// above the live connections; one atomic load a request otherwise.
func (lc *leanConn) keepSlotLow() {
	if int64(lc.slot) >= lc.l.moveAbove.Load() {
		lc.l.relocate(lc)
	}
}

// wakeSweep starts the sweep if it has ended; the request path calls it
// after arming its watch. sweepOn is read without l.mu: the sweep stores
// false, then looks at the stamps again (sweepOnce), while a request
// stores its stamp, then loads sweepOn, so one of the two sees the other.
func (l *LeanListener) wakeSweep() {
	if l.sweepOn.Load() {
		return
	}
	l.mu.Lock()
	if !l.sweeping {
		l.sweeping = true
		l.idle = 0
		l.sweepOn.Store(true)
		go l.sweep()
	}
	l.mu.Unlock()
}

func (l *LeanListener) slotAt(i int) *watchSlot { return &l.slots[i/watchChunk][i%watchChunk] }

// slotHeap is a min-heap of slot indexes (container/heap).
type slotHeap []int

func (h slotHeap) Len() int           { return len(h) }
func (h slotHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h slotHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *slotHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *slotHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// sweep starts the watch of every handler that has run long enough, every
// leanWatchEvery, while handlers run.
func (l *LeanListener) sweep() {
	t := time.NewTicker(leanWatchEvery)
	defer t.Stop()
	for range t.C {
		if !l.sweepOnce(leanStamp(time.Now())) {
			return
		}
	}
}

// sweepOnce starts the watches due at now (a leanStamp); more: false when
// the sweep ends — the listener has no connection left, or no handler has
// been armed for leanSweepIdle sweeps (the next request starts another).
func (l *LeanListener) sweepOnce(now int64) (more bool) {
	l.mu.Lock()
	if len(l.conns) == 0 {
		l.sweeping = false
		l.sweepOn.Store(false)
		l.mu.Unlock()
		return false
	}
	due, dueAt := l.due[:0], l.dueAt[:0]
	armed := false
	for c, chunk := range l.slots {
		for i := range min(watchChunk, l.nslots-c*watchChunk) {
			ws := &chunk[i]
			if at := ws.at.Load(); at > 0 {
				armed = true
				if now-at >= int64(leanWatchAfter-leanWatchEvery) {
					due, dueAt = append(due, ws.lc), append(dueAt, at)
				}
			}
		}
	}
	l.idle++
	if armed {
		l.idle = 0
	} else if l.idle >= leanSweepIdle {
		l.sweepOn.Store(false)
		// A request that armed after the scan and saw sweepOn still true
		// did not start a sweep: look again, after the store.
		for i := range l.nslots {
			if l.slotAt(i).at.Load() > 0 {
				armed = true
				break
			}
		}
		if armed {
			l.idle = 0
			l.sweepOn.Store(true)
		} else {
			l.sweeping = false
		}
	}
	more = l.sweeping
	l.due, l.dueAt = due, dueAt
	l.mu.Unlock()
	// Outside l.mu: accepts, closes and other connections' relocations do
	// not wait for the watches' starts. startWatch's claim (the CAS on the
	// exact stamp, under the connection's watchMu) starts nothing for a
	// handler that has returned, a connection closed or moved meanwhile
	// (removeConn clears watchAt; a moved one's stamp is its own).
	for i, lc := range due {
		lc.startWatch(dueAt[i])
		due[i] = nil
	}
	return more
}

// startWatch starts the watch of the handler armed at at, unless it has
// returned (stopWatch cleared at), another has started since, or the
// connection is closed.
func (lc *leanConn) startWatch(at int64) {
	lc.watchMu.Lock()
	if lc.watchAt == nil || !lc.watchAt.CompareAndSwap(at, watchTaken) {
		lc.watchMu.Unlock()
		return
	}
	if lc.watchDone == nil {
		lc.watchDone = make(chan struct{}, 1)
	}
	// Under watchMu, so that stopWatch's deadline in the past comes after.
	lc.c.SetReadDeadline(time.Time{})
	lc.watchMu.Unlock()
	go lc.watch()
}

// watch (a handler still running) reads the connection until the client
// sends a byte, goes away, or stopWatch interrupts it; a client gone
// cancels the request's context.
func (lc *leanConn) watch() {
	n, err := lc.c.Read(lc.peek[:])
	if n == 1 {
		lc.peeked = true
	} else if err != nil && !lc.stopping.Load() {
		lc.gone = true
		lc.cancel()
	}
	lc.watchDone <- struct{}{}
}

// stopWatch ends the watch armed at at once the handler has returned;
// true: the client went away.
func (lc *leanConn) stopWatch(at int64) (gone bool) {
	if lc.watchAt.CompareAndSwap(at, 0) {
		return false // not started: the sweep will not start it now
	}
	// The sweep claimed it: once startWatch lets go of watchMu, the read
	// deadline is cleared and the watch's read begins or has begun.
	lc.watchMu.Lock()
	lc.stopping.Store(true)
	lc.c.SetReadDeadline(time.Unix(1, 0)) // interrupt the watch's read
	lc.watchMu.Unlock()
	<-lc.watchDone
	lc.watchAt.Store(0)
	lc.stopping.Store(false)
	lc.c.SetReadDeadline(time.Time{})
	lc.rdl = time.Time{}
	return lc.gone
}

// handOver gives the connection, with its unread bytes, to net/http.
func (lc *leanConn) handOver() bool {
	var pre []byte
	if lc.r < lc.n {
		pre = bytes.Clone(lc.buf[lc.r:lc.n]) // the buffer goes back to the pool
	}
	pc := &prefixConn{Conn: lc.c, pre: pre}
	if !lc.served && lc.l.headTimeout > 0 {
		// net/http gives a connection's first head ReadHeaderTimeout from
		// the accept; from the hand-over it would start again.
		pc.headBy = lc.accepted.Add(lc.l.headTimeout)
	}
	// Counted before the send: once net/http has the connection, it may
	// answer the next request before this goroutine runs again, and a
	// client that reads the count after that answer must see it
	// (TestLeanPipelinedDuringWatch and TestLeanKeepAlive failed now and
	// then on a busy machine with the count after the send).
	lc.l.handovs.Add(1)
	select {
	case lc.l.handed <- pc:
		return true
	case <-lc.l.done:
		lc.l.handovs.Add(-1)
		return false
	}
}

// readDeadline makes the read deadline now+d, give or take a slack of
// at most a second (later, never earlier).
func (lc *leanConn) readDeadline(now time.Time, d time.Duration) {
	want := now.Add(d)
	slack := min(leanMaxSlack, d/16)
	if lc.rdl.Before(want) || lc.rdl.After(want.Add(slack)) {
		lc.rdl = want.Add(slack)
		lc.c.SetReadDeadline(lc.rdl)
	}
}

// writeDeadline makes the write deadline t, give or take a slack of at
// most a second or a sixteenth of the time left.
func (lc *leanConn) writeDeadline(now, t time.Time) {
	if t.IsZero() {
		if !lc.wdl.IsZero() {
			lc.wdl = t
			lc.c.SetWriteDeadline(t)
		}
		return
	}
	slack := min(leanMaxSlack, t.Sub(now)/16)
	if slack < 0 {
		slack = 0
	}
	if lc.wdl.IsZero() || lc.wdl.Before(t) || lc.wdl.After(t.Add(slack)) {
		lc.wdl = t.Add(slack)
		lc.c.SetWriteDeadline(lc.wdl)
	}
}

// Common request header names, canonical, and whether a request with
// one of them is handed over (net/http gives it a meaning the lean path
// does not implement).
var leanKeys = [...]struct {
	name    string
	handOff bool
}{
	{"Host", false}, {"Content-Length", false}, {"Connection", false}, {"Authorization", false}, {"Content-Type", false},
	{"User-Agent", false}, {"X-Request-Id", false}, {"Accept", false}, {"Accept-Encoding", false},
	{"Accept-Language", false}, {"Origin", false}, {"Referer", false},
	{"Transfer-Encoding", true}, {"Expect", true}, {"Upgrade", true},
	{"Pragma", true}, {"Te", true}, {"Trailer", true}, {"Http2-Settings", true},
}

const (
	keyHost = iota
	keyContentLength
	keyConnection
)

// parse reads the request at the start of b. ok: a request of the lean
// path, complete in b, of used bytes whose last cl are its body; lc.req
// is then set up for it.
func (lc *leanConn) parse(b []byte) (used, cl int, ok bool) {
	var (
		i      int
		get    bool
		target []byte // a GET's request target
		path   string // its path, when a constant
		qmark  int    // the index of its '?', -1: none
	)
	switch {
	case bytes.HasPrefix(b, leanLine):
		i = len(leanLine)
	case bytes.HasPrefix(b, leanGET):
		e := bytes.IndexByte(b, '\n')
		if e < 0 || !bytes.HasSuffix(b[:e+1], leanProto) {
			return 0, 0, false
		}
		target = b[len(leanGET)-1 : e+1-len(leanProto)]
		if path, qmark, ok = leanGetTarget(target); !ok {
			return 0, 0, false
		}
		i, get = e+1, true
	default:
		return 0, 0, false
	}
	if lc.hdr == nil {
		lc.hdr = make(http.Header, 8)
		lc.hvals = make([]string, 0, 16)
	} else {
		clear(lc.hdr)
		clear(lc.hvals)
		lc.hvals = lc.hvals[:0]
	}
	host, hosts, cls := "", 0, 0
	cl = -1
	for {
		e := bytes.IndexByte(b[i:], '\n')
		if e < 0 {
			return 0, 0, false // the head is not all here
		}
		line := b[i : i+e]
		i += e + 1
		if len(line) == 0 || line[len(line)-1] != '\r' {
			return 0, 0, false // bare LF
		}
		line = line[:len(line)-1]
		if len(line) == 0 {
			break // end of the head
		}
		c := bytes.IndexByte(line, ':')
		if c <= 0 {
			return 0, 0, false
		}
		name, val := line[:c], trimOWS(line[c+1:])
		for _, ch := range name {
			if !isTokenByte(ch) {
				return 0, 0, false
			}
		}
		for _, ch := range val {
			if ch < ' ' && ch != '\t' || ch == 0x7f {
				return 0, 0, false
			}
		}
		k := -1
		for j := range leanKeys {
			if asciiEqualFold(name, leanKeys[j].name) {
				k = j
				break
			}
		}
		var key, v string
		if k >= 0 {
			if leanKeys[k].handOff {
				return 0, 0, false
			}
			key = leanKeys[k].name
			if s := lc.cache[k]; s == string(val) {
				v = s
			} else {
				v = string(val)
				lc.cache[k] = v
			}
		} else {
			key, v = canonicalKey(name), string(val)
		}
		switch k {
		case keyHost:
			hosts++
			if !validLeanHost(val) {
				return 0, 0, false
			}
			host = v
			continue // net/http moves it to Request.Host
		case keyContentLength:
			cls++
			if len(val) == 0 || len(val) > 5 {
				return 0, 0, false
			}
			n := 0
			for _, ch := range val {
				if ch < '0' || ch > '9' {
					return 0, 0, false
				}
				n = n*10 + int(ch-'0')
			}
			cl = n
		case keyConnection:
			if !onlyKeepAlive(v) {
				return 0, 0, false // close, upgrade, or a hop-by-hop header to drop
			}
		}
		if vs, ok := lc.hdr[key]; ok {
			lc.hdr[key] = append(vs, v) // a second line of the name: rare
		} else {
			// A name's first value in the connection's array (capped at
			// one, so that an append elsewhere copies it out).
			lc.hvals = append(lc.hvals, v)
			n := len(lc.hvals)
			lc.hdr[key] = lc.hvals[n-1 : n : n]
		}
	}
	if get {
		// A GET without a body: no Content-Length (net/http reads a GET's
		// Content-Length: 0 alike, but nothing sends it).
		if hosts != 1 || cls != 0 {
			return 0, 0, false
		}
		uri := string(target)
		lc.url = url.URL{Path: path}
		if qmark >= 0 {
			lc.url.RawQuery, lc.url.ForceQuery = uri[qmark+1:], qmark == len(uri)-1
		} else {
			qmark = len(uri)
		}
		if path == "" {
			lc.url.Path = uri[:qmark]
		}
		lc.setRequest(http.MethodGet, uri, host, 0, nil)
		return i, 0, true
	}
	if hosts != 1 || cls != 1 || cl < 0 || len(b)-i < cl {
		return 0, 0, false
	}
	lc.url = url.URL{Path: "/api/v2/outlet/sales"}
	// Capped: the bytes after the body are the next pipelined request, and
	// an append to the body must not write over them.
	lc.setRequest(http.MethodPost, "/api/v2/outlet/sales", host, cl, b[i:i+cl:i+cl])
	return i + cl, cl, true
}

var (
	leanGET   = []byte("GET /")
	leanProto = []byte(" HTTP/1.1\r\n")
	// The public reads a citizen's app sends (v1 and v2, DESIGN.md §4.1):
	// paths taken as they are, without escapes.
	leanGetPaths = func() []string {
		var ps []string
		for _, r := range []string{"storesByGeo", "storesByAddr", "stores", "sales"} {
			ps = append(ps, "/corona19-masks/v1/"+r+"/json", "/corona19-masks/v1/"+r+"/json/")
		}
		return append(ps, "/api/v2/outlets/near")
	}()
)

const leanOutletPrefix = "/api/v2/outlets/"

// leanGetTarget: a GET's request target the lean path takes: one of
// leanGetPaths or /api/v2/outlets/{code} (a code of letters and digits),
// then an optional query of visible ASCII but '#'. path is the target's
// path when it is one of leanGetPaths ("" for an outlet's code), qmark the
// index of the query's '?' (-1: none). Escapes
// in the path, a fragment, spaces, control or non-ASCII bytes, and any
// other route (the stream above all) go to net/http.
func leanGetTarget(t []byte) (path string, qmark int, ok bool) {
	p := t
	qmark = bytes.IndexByte(t, '?')
	if qmark >= 0 {
		p = t[:qmark]
		for _, c := range t[qmark+1:] {
			if c <= ' ' || c >= 0x7f || c == '#' {
				return "", 0, false
			}
		}
	}
	for _, lp := range leanGetPaths {
		if string(p) == lp {
			return lp, qmark, true
		}
	}
	code, found := bytes.CutPrefix(p, []byte(leanOutletPrefix))
	if !found || len(code) == 0 || len(code) > 32 {
		return "", 0, false
	}
	for _, c := range code {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return "", 0, false
		}
	}
	return "", qmark, true
}

func (lc *leanConn) setRequest(method, uri, host string, cl int, body []byte) {
	if lc.req == nil {
		ctx, cancel := context.WithCancel(context.Background())
		lc.ctx, lc.cancel = &leanCtx{Context: ctx}, cancel
		lc.req = (&http.Request{}).WithContext(lc.ctx)
		lc.remote = lc.c.RemoteAddr().String()
	}
	r := lc.req
	r.Method, r.URL, r.RequestURI = method, &lc.url, uri
	r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.1", 1, 1
	r.Header, r.Host, r.RemoteAddr = lc.hdr, host, lc.remote
	r.ContentLength = int64(cl)
	lc.body = leanBody{b: body}
	if cl == 0 {
		r.Body = http.NoBody
	} else {
		r.Body = &lc.body
	}
	r.GetBody, r.TransferEncoding, r.Close, r.Form, r.PostForm, r.MultipartForm = nil, nil, false, nil, nil, nil
	r.Trailer, r.TLS, r.Response, r.Pattern = nil, nil, nil, ""
}

// handle runs the chain on lc.req and writes its answer; false: close the
// connection.
func (lc *leanConn) handle() (keep bool) {
	w := &lc.w
	w.reset()
	lc.ctx.ri = nil     // requestID sets this request's
	start := time.Now() // net/http's write timeout counts from the request's read
	done := false
	lc.keepSlotLow()
	at := lc.armWatch(start)
	lc.l.wakeSweep()
	func() {
		defer func() {
			if p := recover(); p != nil {
				if p != http.ErrAbortHandler {
					lc.l.s.log.Error("http: panic serving "+lc.remote, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				}
				return
			}
			done = true
		}()
		lc.l.h.ServeHTTP(w, lc.req)
	}()
	gone := lc.stopWatch(at)
	if !done {
		w.release()  // send's done, if it ran: the held bytes are no longer held
		return false // as net/http: nothing of a panicked answer is sent
	}
	lc.l.lean.Add(1)
	closing := lc.l.closing.Load()
	var closeAfter bool
	var tail []byte
	outp := leanBufsOut.Get().(*[]byte)
	lc.out, tail, closeAfter = w.finish((*outp)[:0], closing)
	wd := w.wdl
	if !w.setWDL && lc.l.writeTO > 0 {
		wd = start.Add(lc.l.writeTO)
	}
	lc.writeDeadline(time.Now(), wd)
	err := lc.writeAnswer(lc.out, tail)
	w.release()
	if cap(lc.out) <= 64<<10 {
		*outp = lc.out[:0]
		leanBufsOut.Put(outp)
	}
	lc.out = nil
	if err != nil {
		return false
	}
	return !closeAfter && !gone
}

// writeAnswer writes an answer's head (with a small body) and a large
// body after it without a copy (one writev on a bare TCP connection, two
// writes through the CPU tokens' connection, as net/http's buffered
// writer does).
func (lc *leanConn) writeAnswer(head, tail []byte) error {
	if tail == nil {
		_, err := lc.c.Write(head)
		return err
	}
	// WriteTo consumes lc.bufs (its slice, not the array behind it): it is
	// made again over bufsArr each time, without an allocation.
	lc.bufsArr = [2][]byte{head, tail}
	lc.bufs = lc.bufsArr[:]
	_, err := lc.bufs.WriteTo(lc.c)
	lc.bufsArr, lc.bufs = [2][]byte{}, nil
	return err
}

// leanCtx is the context of a lean connection's requests: the
// connection's (cancelled when the client goes away), which carries the
// request's reqInfo itself. requestID sets ri instead of deriving a
// context and a copy of the request for it (r.WithContext: ~350 bytes a
// request, a quarter of a lean read's). ri changes only between requests,
// on the connection's goroutine; what reads it (infoOf, RequestID) runs
// inside the handler.
type leanCtx struct {
	context.Context
	ri    *reqInfo
	riBuf reqInfo // ri's storage, reused request after request
	// The connection's last bearer token and its SHA-256 (authenticate),
	// and its peer's address (clientKeyer.clientAddr): the connection's
	// goroutine alone reads and sets them, in the handler.
	tok    string
	tokSum [32]byte
	peer   netip.Addr
	peerOK bool
}

func (c *leanCtx) Value(key any) any {
	switch key.(type) {
	case ctxKey, ledger.DueKey:
		if c.ri == nil {
			return nil
		}
		return c.ri
	}
	return c.Context.Value(key)
}

// leanBody is a request body already read.
type leanBody struct {
	b      []byte
	closed bool
	// readBody's heldBody of b, without allocations.
	rd   bytes.Reader
	held heldBody
}

func (b *leanBody) Read(p []byte) (int, error) {
	if b.closed {
		return 0, http.ErrBodyReadAfterClose
	}
	if len(b.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.b)
	b.b = b.b[n:]
	if len(b.b) == 0 {
		return n, io.EOF
	}
	return n, nil
}

func (b *leanBody) Close() error { b.closed = true; return nil }

// prefixConn is a connection handed over to net/http with the bytes the
// lean path had read of it.
type prefixConn struct {
	net.Conn
	pre    []byte
	headBy time.Time // if set, the latest first read deadline net/http may set
}

// SetReadDeadline keeps net/http's first deadline (its read-header
// timeout, counted from the hand-over) within headBy.
func (c *prefixConn) SetReadDeadline(t time.Time) error {
	if !c.headBy.IsZero() {
		if t.IsZero() || t.After(c.headBy) {
			t = c.headBy
		}
		c.headBy = time.Time{}
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// CloseWrite lets net/http half-close the connection (closeWriteAndWait).
func (c *prefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// leanWriter is the lean path's http.ResponseWriter: it keeps the answer
// and, at the end, writes what net/http's response and chunkWriter would
// (server.go: WriteHeader, Write, chunkWriter.writeHeader).
type leanWriter struct {
	h       http.Header
	status  int
	wrote   bool
	head    []byte    // the handler's header lines at WriteHeader, sorted
	spans   [4][2]int // in head: Content-Type, Content-Length, Transfer-Encoding, Connection
	hasType bool
	hasCE   bool
	hasDate bool
	clHdr   bool   // a Content-Length header, valid or not
	cl      int64  // its value, -1: none or invalid
	te      string // Transfer-Encoding
	conn    string // Connection's first value
	connAll []string
	body    []byte
	bodyp   *[]byte     // body's buffer, from leanBodies; nil: none, or body is ref
	ref     []byte      // the body send will write, kept by reference (sendLate)
	held    *heldWriter // send's: its sent is called once the answer is written or dropped
	written int64
	wdl     time.Time
	setWDL  bool
	keys    []headerKV
}

// headerKV is a header name and its values.
type headerKV struct {
	k  string
	vs []string
}

const (
	spanType = iota
	spanLength
	spanTE
	spanConn
)

func (w *leanWriter) reset() {
	if w.h == nil {
		w.h = make(http.Header, 8)
	} else {
		clear(w.h)
	}
	w.status, w.wrote, w.head = 0, false, w.head[:0]
	w.spans = [4][2]int{}
	w.hasType, w.hasCE, w.hasDate, w.clHdr, w.cl, w.te, w.conn, w.connAll = false, false, false, false, -1, "", "", nil
	w.release()
	w.written, w.wdl, w.setWDL = 0, time.Time{}, false
}

// An answer's buffers (its body, and the head with a small body behind
// it) come from pools and go back once it is written: an idle keep-alive
// connection holds none (the rush keeps hundreds of read connections,
// ~30 KB each when they were the connection's), and a large answer
// (storesByGeo at m=5000: ~150 KB) makes no garbage.
const (
	leanBodyMax = 1 << 20  // larger buffers are left to the collector
	leanInline  = 16 << 10 // a body up to this is copied behind the head
)

var (
	leanBodies  = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}
	leanBufsOut = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}
)

// release gives the body's buffer back once its answer is written.
func (w *leanWriter) release() {
	if w.bodyp != nil && cap(w.body) <= leanBodyMax {
		*w.bodyp = w.body[:0]
		leanBodies.Put(w.bodyp)
	}
	w.bodyp, w.body, w.ref = nil, nil, nil
	if h := w.held; h != nil {
		w.held = nil
		h.sent()
	}
}

// sendLate (lateSender): send's body is written by reference, and held.sent is
// called by release, once the answer is on the network or dropped.
func (w *leanWriter) sendLate(body []byte, h *heldWriter) {
	w.ref, w.held = body, h
}

func (w *leanWriter) Header() http.Header { return w.h }

// SetWriteDeadline is what http.ResponseController reaches.
func (w *leanWriter) SetWriteDeadline(t time.Time) error {
	w.wdl, w.setWDL = t, true
	return nil
}

func (w *leanWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code <= 199 && code != http.StatusSwitchingProtocols {
		return // 1xx: not sent on the lean path (the sale route writes none)
	}
	w.wrote, w.status = true, code
	// The snapshot net/http takes (Header.Clone), as the lines it writes:
	// the names sorted with their values (an answer has a handful: an
	// insertion sort, and no second look-up of each name).
	w.keys = w.keys[:0]
	for k, vs := range w.h {
		w.keys = append(w.keys, headerKV{k, vs})
	}
	if len(w.keys) > 12 {
		slices.SortFunc(w.keys, func(a, b headerKV) int { return strings.Compare(a.k, b.k) })
	} else {
		for i := 1; i < len(w.keys); i++ {
			for j := i; j > 0 && w.keys[j].k < w.keys[j-1].k; j-- {
				w.keys[j], w.keys[j-1] = w.keys[j-1], w.keys[j]
			}
		}
	}
	var clv []string
	for i := range w.keys {
		k, vs := w.keys[i].k, w.keys[i].vs
		w.keys[i] = headerKV{} // kept by nobody past this answer
		start := len(w.head)
		if validFieldName(k) {
			for _, v := range vs {
				w.head = append(w.head, k...)
				w.head = append(w.head, ": "...)
				w.head = appendFieldValue(w.head, v)
				w.head = append(w.head, "\r\n"...)
			}
		}
		sp := -1
		switch k {
		case "Content-Type":
			sp, w.hasType = spanType, true
		case "Content-Length":
			sp, w.clHdr, clv = spanLength, true, vs
		case "Transfer-Encoding":
			sp = spanTE
			if len(vs) > 0 {
				w.te = vs[0]
			}
		case "Connection":
			sp, w.connAll = spanConn, vs
			if len(vs) > 0 {
				w.conn = vs[0]
			}
		case "Content-Encoding":
			w.hasCE = len(vs) > 0 && vs[0] != ""
		case "Date":
			w.hasDate = true
		}
		if sp >= 0 {
			w.spans[sp] = [2]int{start, len(w.head)}
		}
	}
	if len(clv) > 0 && clv[0] != "" {
		if v, err := strconv.ParseInt(clv[0], 10, 64); err == nil && v >= 0 {
			w.cl = v
		}
	}
}

func (w *leanWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	w.written += int64(len(p))
	if w.cl != -1 && w.written > w.cl {
		return 0, http.ErrContentLength
	}
	if w.body == nil && w.ref != nil && len(p) == len(w.ref) && unsafe.SliceData(p) == unsafe.SliceData(w.ref) {
		// send's body, held until release: no copy (a shared page
		// of the snapshot, or the held buffer that counts as held).
		w.body = p
		return len(p), nil
	}
	if w.bodyp == nil {
		w.bodyp = leanBodies.Get().(*[]byte)
		w.body = append((*w.bodyp)[:0], w.body...)
	}
	w.body = append(w.body, p...)
	return len(p), nil
}

func bodyAllowed(code int) bool {
	return !(code >= 100 && code <= 199 || code == 204 || code == 304)
}

// finish appends the answer to out, but for a body longer than leanInline
// sent as it is (tail, to write after out), and reports whether the
// connection closes after it (closing: keep-alives are off, the server
// shuts down).
func (w *leanWriter) finish(out []byte, closing bool) (_, tail []byte, _ bool) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	code, bodyOK := w.status, bodyAllowed(w.status)
	var excl [4]bool
	var extraCL []byte
	var extraCT, extraConn, extraTE string
	hasTE := w.te != ""
	contentLength := w.cl
	body := w.body
	// The handler is done: a body that fit net/http's buffer gets a length.
	if !hasTE && bodyOK && !w.clHdr && len(body) <= leanChunking {
		contentLength = int64(len(body))
		extraCL = strconv.AppendInt(nil, contentLength, 10)
	}
	closeAfter := w.conn == "close" || closing
	if bodyOK {
		if !w.hasCE && !w.hasType && !hasTE && len(body) > 0 {
			extraCT = http.DetectContentType(body[:min(len(body), 512)])
		}
	} else {
		excl[spanLength], excl[spanTE] = true, true
		if code == http.StatusNotModified {
			excl[spanType] = true
		}
	}
	if contentLength != -1 && hasTE && w.te != "identity" {
		excl[spanLength], contentLength = true, -1
	}
	chunking := false
	switch {
	case !bodyOK || code == http.StatusNoContent:
		excl[spanTE] = true
	case contentLength != -1:
		excl[spanTE] = true
	case hasTE && w.te == "identity":
		closeAfter, excl[spanTE] = true, true
	default:
		chunking, extraTE = true, "chunked"
		if hasTE && w.te == "chunked" {
			excl[spanTE] = true
		}
	}
	if chunking {
		excl[spanLength] = true
	}
	if closeAfter && (closing || !hasToken(w.conn, "close")) && code != http.StatusSwitchingProtocols {
		excl[spanConn], extraConn = true, "close"
	}
	// Did not write what it announced: net/http closes after the answer.
	if contentLength != -1 && bodyOK && contentLength != w.written {
		closeAfter = true
	}

	out = appendStatusLine(out, code)
	pos := 0
	spans, n := sortedSpans(w.spans, excl)
	for _, sp := range spans[:n] {
		out = append(out, w.head[pos:sp[0]]...)
		pos = sp[1]
	}
	out = append(out, w.head[pos:]...)
	if !w.hasDate {
		out = append(out, "Date: "...)
		out = appendDate(out)
		out = append(out, "\r\n"...)
	}
	if extraCL != nil {
		out = append(out, "Content-Length: "...)
		out = append(out, extraCL...)
		out = append(out, "\r\n"...)
	}
	for _, kv := range [3][2]string{{"Content-Type", extraCT}, {"Connection", extraConn}, {"Transfer-Encoding", extraTE}} {
		if kv[1] != "" {
			out = append(out, kv[0]...)
			out = append(out, ": "...)
			out = append(out, kv[1]...)
			out = append(out, "\r\n"...)
		}
	}
	out = append(out, "\r\n"...)
	if bodyOK {
		if chunking {
			if len(body) > 0 {
				out = strconv.AppendInt(out, int64(len(body)), 16)
				out = append(out, "\r\n"...)
				out = append(out, body...)
				out = append(out, "\r\n"...)
			}
			out = append(out, "0\r\n\r\n"...)
		} else if len(body) > leanInline {
			tail = body
		} else {
			out = append(out, body...)
		}
	}
	return out, tail, closeAfter
}

// sortedSpans returns the excluded spans in the order they appear (in
// an array: a sorted slice of them escaped, 64 bytes an answer).
func sortedSpans(spans [4][2]int, excl [4]bool) (s [4][2]int, n int) {
	for i, sp := range spans {
		if excl[i] && sp[1] > sp[0] {
			j := n
			for ; j > 0 && s[j-1][0] > sp[0]; j-- {
				s[j] = s[j-1]
			}
			s[j] = sp
			n++
		}
	}
	return s, n
}

func appendStatusLine(out []byte, code int) []byte {
	out = append(out, "HTTP/1.1 "...)
	if text := http.StatusText(code); text != "" {
		out = strconv.AppendInt(out, int64(code), 10)
		out = append(out, ' ')
		out = append(out, text...)
		return append(out, "\r\n"...)
	}
	return fmt.Appendf(out, "%03d status code %d\r\n", code, code)
}

// The Date header's value, formatted once a second.
type leanDate struct {
	sec int64
	b   []byte
}

var leanDateNow atomic.Pointer[leanDate]

func appendDate(out []byte) []byte {
	now := time.Now()
	if d := leanDateNow.Load(); d != nil && d.sec == now.Unix() {
		return append(out, d.b...)
	}
	d := &leanDate{sec: now.Unix(), b: now.UTC().AppendFormat(nil, http.TimeFormat)}
	leanDateNow.Store(d)
	return append(out, d.b...)
}

// appendFieldValue is a header value as net/http writes it: CR and LF as
// spaces, then trimmed of ASCII white space (textproto.TrimString).
func appendFieldValue(out []byte, v string) []byte {
	plain := true
	for i := 0; i < len(v); i++ {
		if v[i] == '\r' || v[i] == '\n' {
			plain = false
			break
		}
	}
	if plain && (len(v) == 0 || !isASCIISpace(v[0]) && !isASCIISpace(v[len(v)-1])) {
		return append(out, v...)
	}
	b := []byte(v)
	for i, ch := range b {
		if ch == '\r' || ch == '\n' {
			b[i] = ' '
		}
	}
	for len(b) > 0 && isASCIISpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isASCIISpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return append(out, b...)
}

// onlyKeepAlive: v is a list of keep-alive tokens, which net/http gives no
// meaning on HTTP/1.1.
func onlyKeepAlive(v string) bool {
	seen := false
	for el := range listElements(v) {
		if !asciiEqualFold([]byte(el), "keep-alive") {
			return false
		}
		seen = true
	}
	return seen
}

func isASCIISpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\r' }

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// hasToken reports whether v, a comma-separated list, holds token (ASCII
// case-insensitive), as net/http's hasToken.
func hasToken(v, token string) bool {
	for el := range listElements(v) {
		if asciiEqualFold([]byte(el), token) {
			return true
		}
	}
	return false
}

// listElements yields the non-empty elements of a comma-separated header
// list, without their optional whitespace.
func listElements(v string) iter.Seq[string] {
	return func(yield func(string) bool) {
		for v != "" {
			var el string
			el, v, _ = strings.Cut(v, ",")
			if el = strings.Trim(el, " \t"); el != "" && !yield(el) {
				return
			}
		}
	}
}

func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// isTokenByte: the bytes of a header name (RFC 9110 token).
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func validFieldName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isTokenByte(k[i]) {
			return false
		}
	}
	return true
}

// canonicalKey is textproto.CanonicalMIMEHeaderKey of a token.
func canonicalKey(name []byte) string { return textproto.CanonicalMIMEHeaderKey(string(name)) }

// validLeanHost accepts the Host values the lean path keeps: letters,
// digits, '.', '-', ':', '[', ']' (net/http accepts more; the rest is
// handed over).
func validLeanHost(v []byte) bool {
	for _, c := range v {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}
