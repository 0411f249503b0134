package httpapi

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	rtmetrics "runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask/internal/metric"
)

// CPU tokens: precedence of sales over a flood of public reads (DESIGN.md §5:
// outlet sale p99 within 2× its unloaded value under a read flood).
//
// Go's scheduler runs the goroutines waiting for a core in arrival order. Under
// a flood every public connection's goroutine is woken by the network poller
// as soon as its next request arrives, and each then reads, parses, computes
// and writes its answer in one go; a sale's request, its ledger writer and its
// wake-up wait behind all of them (BENCHMARKS.md, branch flood12: 250 of 280
// goroutines runnable, none of them waiting at the public gate, which a
// handler that never blocks holds only while it runs).
//
// So a public request's work waits for a token before it starts: the
// connection's Read, once it has the bytes of a new request that is not
// outlet, admin, stream or operations traffic, waits (parked: not runnable,
// FIFO) for one of a few tokens, and the token goes back at the connection's
// next Write — before any byte of the answer goes to the network — or at its
// next Read that needs more bytes, or when it closes. A token is never held
// while waiting on the client's network. The wait is bounded: after it the
// request is served without a token, as before (public shedding stays the
// gate's). A request yields once it has its token (acquire), so that the
// tokens are held by requests queued for a core, not only by running ones.
//
// The tokens bound the public requests competing for a core (to parse and
// compute) at once; the rest wait parked, so a sale's goroutines wait behind
// a few of them instead of hundreds. Only plain HTTP connections take tokens
// (the request line of a TLS connection is not visible under it).

// Engaged only under contention. When the cores are not saturated a token
// and its yield only add scheduling: each hand-over wakes an idle thread,
// and storesByGeo paid 6–57% more CPU a request (BENCHMARKS.md, branch
// gate12). So a public request takes a token only while the tokens are
// engaged, which a sample taken at most once a millisecond (by the requests
// themselves, no ticker) decides: engaged while an outlet request was
// authenticated in the last second (there is a sale to put first) and the process's
// demand for cores — goroutines runnable (runtime/metrics
// /sched/goroutines/runnable, a look at each P's run queue) plus those
// waiting for a token — is at least 4 × GOMAXPROCS; once engaged, until it
// falls under 2 × GOMAXPROCS. Disengaged, a public request pays a look at
// its first bytes, a clock reading and a few atomic loads, and, with a sale
// in the last second, once a millisecond one of them takes the sample (the
// runtime metric reads each P's run queue under the scheduler's lock).

const (
	tokenSampleEvery = time.Millisecond
	tokenSaleWindow  = time.Second
)

// Modes of the tokens (Config.CPUTokenMode, serve --cpu-tokens).
const (
	TokensAuto   = "auto"   // engaged only under contention with sales (default)
	TokensAlways = "always" // every public request takes a token (branch gate12)
	TokensOff    = "off"    // none
)

// CheckCPUTokenMode reports whether m is a mode of the CPU tokens ("" is
// the default, auto).
func CheckCPUTokenMode(m string) error {
	switch m {
	case "", TokensAuto, TokensAlways, TokensOff:
		return nil
	}
	return fmt.Errorf("CPU token mode %q: want auto, always or off", m)
}

// cpuTokens is a FIFO counting semaphore with a bounded wait, engaged only
// under contention (above).
type cpuTokens struct {
	slots   chan struct{}
	wait    time.Duration
	always  bool
	hi, lo  int // demand that engages the tokens; under which they disengage
	waited  prometheus.Counter
	timeout prometheus.Counter
	waiting prometheus.Gauge
	seconds prometheus.Counter

	engagedG prometheus.Gauge
	engagedS prometheus.Counter
	demandG  prometheus.Gauge

	engaged  atomic.Bool
	nwaiting atomic.Int64
	lastSale atomic.Int64 // clock() of the last authenticated outlet request; 0: none
	next     atomic.Int64 // clock() at which the next sample is due
	mu       sync.Mutex   // one sampler at a time
	prev     int64        // clock() of the previous sample (under mu)
	rt       []rtmetrics.Sample
	// runnable reads the goroutines waiting for a core (tests replace it).
	runnable func() int
}

// start anchors clock: a monotonic reading in nanoseconds, never 0 after start.
var start = time.Now()

func clock() int64 { return int64(time.Since(start)) + 1 }

func newCPUTokens(reg prometheus.Registerer, n int, wait time.Duration, mode string) *cpuTokens {
	procs := runtime.GOMAXPROCS(0)
	t := &cpuTokens{
		slots:  make(chan struct{}, n),
		wait:   wait,
		always: mode == TokensAlways,
		hi:     4 * procs,
		lo:     2 * procs,
		waited: register(reg, metric.Counter("publicmask_http_cpu_token_waits_total",
			"Public requests that waited for a CPU token before being parsed.")),
		timeout: register(reg, metric.Counter("publicmask_http_cpu_token_timeouts_total",
			"Public requests served without a CPU token because the wait for one ran out.")),
		waiting: register(reg, metric.Gauge("publicmask_http_cpu_token_waiting",
			"Public requests waiting for a CPU token.")),
		seconds: register(reg, metric.Counter("publicmask_http_cpu_token_wait_seconds_total",
			"Time public requests spent waiting for a CPU token.")),
		engagedG: register(reg, metric.Gauge("publicmask_http_cpu_token_engaged",
			"1 while public requests take CPU tokens (cores contended while sales are served), else 0.")),
		engagedS: register(reg, metric.Counter("publicmask_http_cpu_token_engaged_seconds_total",
			"Time the CPU tokens were engaged in mode auto (in mode always they always are).")),
		demandG: register(reg, metric.Gauge("publicmask_http_cpu_token_demand",
			"Goroutines runnable plus public requests waiting for a CPU token, at the last sample.")),
		rt: []rtmetrics.Sample{{Name: "/sched/goroutines/runnable:goroutines"}},
	}
	t.runnable = t.readRunnable
	if t.always {
		t.engaged.Store(true)
		t.engagedG.Set(1)
	}
	return t
}

func (t *cpuTokens) readRunnable() int {
	rtmetrics.Read(t.rt)
	if t.rt[0].Value.Kind() != rtmetrics.KindUint64 {
		return 0
	}
	return int(t.rt[0].Value.Uint64())
}

// sale notes an authenticated outlet request: the tokens may engage for a
// second.
func (t *cpuTokens) sale() {
	now := clock()
	t.lastSale.Store(now)
	t.maybeSample(now)
}

// public reports whether a public request, whose first bytes were just
// read, takes a token.
func (t *cpuTokens) public() bool {
	if !t.always && (t.lastSale.Load() != 0 || t.engaged.Load()) {
		t.maybeSample(clock()) // a node that never sold skips the clock
	}
	return t.engaged.Load()
}

// maybeSample samples the demand for cores if a sample is due.
func (t *cpuTokens) maybeSample(now int64) {
	if t.always || now < t.next.Load() || !t.mu.TryLock() {
		return
	}
	defer t.mu.Unlock()
	if now < t.next.Load() {
		return
	}
	t.next.Store(now + int64(tokenSampleEvery))
	was := t.engaged.Load()
	if was && t.prev != 0 {
		// Engaged time, at most 100 intervals for a gap in the samples
		// (no requests: the flag was not looked at).
		t.engagedS.Add(time.Duration(min(now-t.prev, 100*int64(tokenSampleEvery))).Seconds())
	}
	t.prev = now
	last := t.lastSale.Load()
	if last == 0 || now-last > int64(tokenSaleWindow) {
		if was {
			t.engaged.Store(false)
			t.engagedG.Set(0)
		}
		return
	}
	demand := t.runnable() + int(t.nwaiting.Load())
	t.demandG.Set(float64(demand))
	on := demand >= t.hi || (was && demand >= t.lo)
	if on != was {
		t.engaged.Store(on)
		t.engagedG.Set(b2f(on))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// acquire takes a token, waiting for one at most t.wait; false: the wait ran
// out and the caller goes on without one. Once it has a token, the caller
// yields: its request's work queues for a core behind the goroutines already
// waiting for one (a sale's among them), so that those wait behind at most
// the few requests holding tokens. Without the yield a token handed over on
// release would make the waiter the next goroutine to run on that core,
// ahead of all of them, and an uncontended one would run at once: the
// tokens would be held only by running goroutines and would never bind.
func (t *cpuTokens) acquire() bool {
	ok := true
	select {
	case t.slots <- struct{}{}:
	default:
		ok = t.await()
	}
	if ok {
		runtime.Gosched()
	}
	return ok
}

// tokenTimers are await's timers, reused: engaged, the tokens made one a
// waiting request (4% of the bytes allocated in a mixed rush, lean12r).
// Since Go 1.23 a stopped timer's channel holds no stale tick.
var tokenTimers = sync.Pool{New: func() any {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}}

// await waits for a token for at most t.wait.
func (t *cpuTokens) await() bool {
	t.waited.Inc()
	t.waiting.Inc()
	t.nwaiting.Add(1)
	start := time.Now()
	timer := tokenTimers.Get().(*time.Timer)
	timer.Reset(t.wait)
	ok := false
	select {
	case t.slots <- struct{}{}:
		ok = true
	case <-timer.C:
		t.timeout.Inc()
	}
	timer.Stop()
	tokenTimers.Put(timer)
	t.nwaiting.Add(-1)
	t.waiting.Dec()
	t.seconds.Add(time.Since(start).Seconds())
	return ok
}

func (t *cpuTokens) release() { <-t.slots }

// tokenListener hands out connections whose public requests take CPU tokens.
type tokenListener struct {
	net.Listener
	t *cpuTokens
}

func (l tokenListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return c, err
	}
	tc := &tokenConn{Conn: c, t: l.t}
	tc.armed.Store(true)
	return tc, nil
}

// tokenConn is a server connection whose public requests take a CPU token.
type tokenConn struct {
	net.Conn
	t *cpuTokens
	// armed: the next bytes read begin a request (set at the start and by
	// each Write: HTTP/1 answers a request before it reads the next one).
	armed atomic.Bool
	held  atomic.Bool
}

func (c *tokenConn) Read(p []byte) (int, error) {
	if len(p) <= 1 {
		// net/http's background read, which watches for the client going
		// away while a request is served: not a request's bytes.
		return c.Conn.Read(p)
	}
	c.release() // never held while waiting on the client's network
	n, err := c.Conn.Read(p)
	// Only a request whose whole head came in this read takes a token:
	// net/http then reads no more of it before it answers (a public
	// request has no body worth the name), so the next one-byte read is
	// its background read. A head still incomplete would make net/http
	// read on, maybe one byte into a full buffer, and that read would wait
	// on the client while the token is held (§2). Outlet requests are noted
	// as sales only once authenticated (Server.authenticated), so that
	// unauthenticated ones cannot keep the tokens engaged.
	if n > 0 && c.armed.CompareAndSwap(true, false) &&
		requestKind(p[:n]) == reqPublic && headComplete(p[:n]) &&
		c.t.public() && c.t.acquire() {
		c.held.Store(true)
	}
	return n, err
}

// headComplete reports whether b holds a request's whole head (the blank
// line that ends it; net/http accepts bare LFs too).
func headComplete(b []byte) bool {
	return bytes.Contains(b, []byte("\r\n\r\n")) || bytes.Contains(b, []byte("\n\n"))
}

func (c *tokenConn) Write(p []byte) (int, error) {
	c.release()
	c.armed.Store(true)
	return c.Conn.Write(p)
}

func (c *tokenConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// CloseWrite lets net/http half-close the connection before it closes it
// (closeWriteAndWait: the client reads a last answer, such as a 413, before
// a reset), as it does on a bare *net.TCPConn.
func (c *tokenConn) CloseWrite() error {
	c.release()
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *tokenConn) release() {
	if c.held.Load() && c.held.CompareAndSwap(true, false) {
		c.t.release()
	}
}

// Kinds of request, from their first bytes (requestKind).
const (
	reqNone   = iota // not the start of a request, or its target not all read
	reqPublic        // takes a CPU token while they are engaged
	reqOther         // never takes a token: outlet traffic, admin, streams, operations
)

// requestKind reads b, the first bytes read of a request, for its request line:
// whether the request takes a CPU token (reqPublic) or never does
// (reqOther). A target not complete in b is reqNone: the request is served
// as before.
func requestKind(b []byte) int {
	sp := bytes.IndexByte(b, ' ')
	if sp <= 0 || sp > 16 {
		return reqNone
	}
	for _, ch := range b[:sp] {
		if ch < 'A' || ch > 'Z' {
			return reqNone // not a method: not the start of a request
		}
	}
	rest := b[sp+1:]
	end := bytes.IndexByte(rest, ' ')
	if end < 0 {
		return reqNone // the target is not all here: serve as before
	}
	target := rest[:end]
	if i := bytes.Index(target, []byte("://")); i >= 0 && target[0] != '/' {
		// absolute form: its path (a "://" in an origin-form target's
		// query is not one: it must not change the class)
		j := bytes.IndexByte(target[i+3:], '/')
		if j < 0 {
			return reqPublic
		}
		target = target[i+3+j:]
	}
	if len(target) == 0 || target[0] != '/' {
		return reqNone // OPTIONS *, CONNECT host:port
	}
	for _, p := range untokened {
		if bytes.HasPrefix(target, p.prefix) {
			rest := target[len(p.prefix):]
			if !p.exact || len(rest) == 0 || rest[0] == '/' || rest[0] == '?' {
				return reqOther
			}
		}
	}
	return reqPublic
}

// untokened are the targets that never take a CPU token: outlet traffic (the
// API and the counter page), admin, streams (their own class, long-lived) and
// operations. exact: the prefix must end there or at '/' or '?'
// (/api/v2/outlets/ is public).
var untokened = []struct {
	prefix []byte
	exact  bool
}{
	{[]byte("/api/v2/outlet"), true},
	{[]byte("/api/v2/admin/"), false},
	{[]byte("/api/v2/stream"), true},
	{[]byte("/outlet"), true},
	{[]byte("/healthz"), true},
	{[]byte("/readyz"), true},
	{[]byte("/metrics"), true},
}
