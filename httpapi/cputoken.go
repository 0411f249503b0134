package httpapi

import (
	"bytes"
	"net"
	"runtime"
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

// cpuTokens is a FIFO counting semaphore with a bounded wait.
type cpuTokens struct {
	slots   chan struct{}
	wait    time.Duration
	waited  prometheus.Counter
	timeout prometheus.Counter
	waiting prometheus.Gauge
	seconds prometheus.Counter
}

func newCPUTokens(reg prometheus.Registerer, n int, wait time.Duration) *cpuTokens {
	t := &cpuTokens{
		slots: make(chan struct{}, n),
		wait:  wait,
		waited: register(reg, metric.Counter("publicmask_http_cpu_token_waits_total",
			"Public requests that waited for a CPU token before being parsed.")),
		timeout: register(reg, metric.Counter("publicmask_http_cpu_token_timeouts_total",
			"Public requests served without a CPU token because the wait for one ran out.")),
		waiting: register(reg, metric.Gauge("publicmask_http_cpu_token_waiting",
			"Public requests waiting for a CPU token.")),
		seconds: register(reg, metric.Counter("publicmask_http_cpu_token_wait_seconds_total",
			"Time public requests spent waiting for a CPU token.")),
	}
	return t
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

// await waits for a token for at most t.wait.
func (t *cpuTokens) await() bool {
	t.waited.Inc()
	t.waiting.Inc()
	start := time.Now()
	timer := time.NewTimer(t.wait)
	ok := false
	select {
	case t.slots <- struct{}{}:
		ok = true
	case <-timer.C:
		t.timeout.Inc()
	}
	timer.Stop()
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
	if n > 0 && c.armed.CompareAndSwap(true, false) && takesToken(p[:n]) && c.t.acquire() {
		c.held.Store(true)
	}
	return n, err
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

// takesToken reports whether b, the first bytes read of a request, hold the
// request line of a request that must take a CPU token: one whose target is
// complete in b and is not outlet, admin, stream or operations traffic.
func takesToken(b []byte) bool {
	sp := bytes.IndexByte(b, ' ')
	if sp <= 0 || sp > 16 {
		return false
	}
	for _, ch := range b[:sp] {
		if ch < 'A' || ch > 'Z' {
			return false // not a method: not the start of a request
		}
	}
	rest := b[sp+1:]
	end := bytes.IndexByte(rest, ' ')
	if end < 0 {
		return false // the target is not all here: serve as before
	}
	target := rest[:end]
	if i := bytes.Index(target, []byte("://")); i >= 0 {
		// absolute form: its path
		j := bytes.IndexByte(target[i+3:], '/')
		if j < 0 {
			return true
		}
		target = target[i+3+j:]
	}
	if len(target) == 0 || target[0] != '/' {
		return false // OPTIONS *, CONNECT host:port
	}
	for _, p := range untokened {
		if bytes.HasPrefix(target, p.prefix) {
			rest := target[len(p.prefix):]
			if !p.exact || len(rest) == 0 || rest[0] == '/' || rest[0] == '?' {
				return false
			}
		}
	}
	return true
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
