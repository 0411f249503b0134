package httpapi

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/metric"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/rrn"
)

// Request classes: each has its own admission limit and metrics label.
const (
	ClassPublic = "public" // open data API and pages: shed early
	ClassStream = "stream" // long-lived SSE: own limit so it cannot starve short reads
	ClassOutlet = "outlet" // sales at the counter: queue, never behind public
	ClassAdmin  = "admin"  // admin and distributor: queue
	ClassOps    = "ops"    // health, readiness, metrics: never limited
)

// reqInfo is the per-request state shared by the outer middleware (which
// logs and counts after the fact) and the inner route wrapper (which knows
// the route). It travels in the context as a pointer.
type reqInfo struct {
	id      string
	route   string
	class   string
	errCode string
	log     *slog.Logger
	// Allocated with the reqInfo, once per request: the authenticated
	// token (instead of a second request copy carrying it in its context),
	// the recorder of the access log, the held answer (admission) and the
	// X-Request-ID header's value.
	tok    publicmask.Token // tok.Outlet: the authenticated outlet, for the log
	hasTok bool
	// dueMs, for outlet and admin requests, is in how many milliseconds
	// of its arrival the request's answer is due (tagRoute:
	// Config.AnswerWithin); 0: no bound. Beside hasTok, in its padding.
	dueMs uint32
	rm    *routeMetrics // the matched route's series (tagRoute)
	rec   recorder
	held  heldWriter
	idv   [1]string
	// arrived is when the request was read (accessLog), as a leanStamp
	// (8 bytes, not a time.Time's 24: the record stays in its size
	// class); 0: not known. Every wait of an outlet or admin request ends
	// by its admission deadline (Server.admitBy) or by when its answer is
	// due (Due: the ledger's, through ledger.DueKey): DESIGN.md §4.
	arrived int64
}

// Due is when the request's answer is due (ledger.Due; zero: no bound).
func (ri *reqInfo) Due() time.Time {
	if ri.dueMs == 0 || ri.arrived == 0 {
		return time.Time{}
	}
	return stampTime(ri.arrived).Add(time.Duration(ri.dueMs) * time.Millisecond)
}

var _ ledger.Due = (*reqInfo)(nil)

// reqCtx is a request's context on net/http's path: the connection's,
// carrying the request's reqInfo (ctxKey) and its answer's due time
// (ledger.DueKey), as leanCtx carries them on the lean path. One
// allocation, as the context.WithValue it replaces.
type reqCtx struct {
	context.Context
	ri *reqInfo
}

func (c *reqCtx) Value(key any) any {
	switch key.(type) {
	case ctxKey, ledger.DueKey:
		return c.ri
	}
	return c.Context.Value(key)
}

type ctxKey struct{}

func infoOf(r *http.Request) *reqInfo {
	ri, _ := r.Context().Value(ctxKey{}).(*reqInfo)
	return ri
}

// RequestID returns the request ID of a request served by this package.
func RequestID(ctx context.Context) string {
	if ri, _ := ctx.Value(ctxKey{}).(*reqInfo); ri != nil {
		return ri.id
	}
	return ""
}

// SetRoute lets a delegated handler (Public, Pages) name its route for the
// metrics and the log more precisely than the mount pattern. route must be a
// pattern from a fixed set, never a raw path (label cardinality).
func SetRoute(ctx context.Context, route string) {
	if ri, _ := ctx.Value(ctxKey{}).(*reqInfo); ri != nil {
		ri.route = route
	}
}

// Request IDs: a random per-process prefix and a counter, so that an ID is
// unique across restarts and nodes without a syscall per request.
var (
	idPrefix  = newIDPrefix()
	idCounter atomic.Uint64
)

func newIDPrefix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func newRequestID() string {
	// One allocation, the string (the concatenation made two), once per
	// request without an ID of its own.
	var b [64]byte
	out := append(append(b[:0], idPrefix...), '-')
	return string(strconv.AppendUint(out, idCounter.Add(1), 36))
}

// validToken reports whether s is 1–64 chars of [A-Za-z0-9._:-] holding no
// registration number: the shape of txn_id, sale IDs and accepted incoming
// request IDs (safe in logs, headers and the store).
func validToken(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' ||
			c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return !rrn.Contains(s)
}

// recorder remembers the status and size for the log and metrics.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (rw *recorder) WriteHeader(code int) {
	if rw.status == 0 {
		rw.status = code
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	n, err := rw.ResponseWriter.Write(b)
	rw.bytes += int64(n)
	return n, err
}

// Flush keeps SSE working through the wrapper.
func (rw *recorder) Flush() {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	if f, ok := rw.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (rw *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := rw.ResponseWriter.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("httpapi: hijack not supported")
}

// Unwrap lets http.ResponseController reach the connection (deadlines).
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	inFlight *prometheus.GaugeVec
	queued   *prometheus.GaugeVec
	// bodyBytes: request body bytes held before admission under each
	// class's budget (bodybudget.go).
	bodyBytes *prometheus.GaugeVec
	// lineWaiting: outlet requests waiting in their own outlet's line,
	// before the outlet gate (share.go).
	lineWaiting prometheus.Gauge
	shed        *prometheus.CounterVec
	limited     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: metric.CounterVec("publicmask_http_requests_total",
			"HTTP requests by route pattern, class and status code.", "route", "class", "code"),
		duration: metric.HistogramVec("publicmask_http_request_duration_seconds",
			"HTTP request latency by route pattern and class.",
			// Fine at the bottom: public reads target p99 ≤ 10 ms, sales ≤ 50 ms.
			[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}, "route", "class"),
		inFlight: metric.GaugeVec("publicmask_http_in_flight", "Requests being served, by class.", "class"),
		queued:   metric.GaugeVec("publicmask_http_queued", "Requests waiting for admission, by class.", "class"),
		bodyBytes: metric.GaugeVec("publicmask_http_body_bytes_held",
			"Request body bytes held in memory before admission under the class's budget (beyond each body's first 16 KiB).", "class"),
		lineWaiting: metric.Gauge("publicmask_http_outlet_line_waiting",
			"Outlet requests waiting in their outlet's own line, beyond its share of the outlet gate (--outlet-share)."),
		shed: metric.CounterVec("publicmask_http_shed_total",
			"Requests refused with 503 overloaded by admission control, by class.", "class"),
		limited: metric.CounterVec("publicmask_http_rate_limited_total",
			"Requests refused with 429 rate_limited (per-client rate, stream cap, failed authentications), by class.", "class"),
	}
	m.requests = register(reg, m.requests)
	m.limited = register(reg, m.limited)
	m.duration = register(reg, m.duration)
	m.inFlight = register(reg, m.inFlight)
	m.queued = register(reg, m.queued)
	m.bodyBytes = register(reg, m.bodyBytes)
	m.lineWaiting = register(reg, m.lineWaiting)
	m.shed = register(reg, m.shed)
	// Export zeros for the refusal counters, so that dashboards and alerts
	// see the series before the first refusal.
	for _, class := range []string{ClassPublic, ClassStream, ClassOutlet, ClassAdmin} {
		m.limited.WithLabelValues(class)
		m.shed.WithLabelValues(class)
	}
	return m
}

// register registers c, or reuses the collector already registered under
// the same name (two Servers on one registry, as in tests).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(fmt.Sprintf("httpapi: registering metrics: %v", err))
	}
	return c
}

func (s *Server) observe(r *http.Request, ri *reqInfo, rw *recorder, d time.Duration) {
	status := rw.status
	if status == 0 {
		status = http.StatusOK // the handler wrote nothing
	}
	if rm := ri.rm; rm != nil && rm.route == ri.route && rm.class == ri.class {
		rm.observe(status, d)
	} else { // unmatched, or renamed by SetRoute
		s.metrics.requests.WithLabelValues(ri.route, ri.class, statusText(status)).Inc()
		s.metrics.duration.WithLabelValues(ri.route, ri.class).Observe(d.Seconds())
	}
	if kind := refusalKind(status, ri.errCode); kind != "" {
		s.sampler.note(r.Context(), ri.class, kind, time.Now())
		return
	}

	// Successful public reads are logged at debug: at tens of thousands a
	// second the access log would otherwise be the bottleneck. Errors and
	// all outlet/admin traffic are logged at info and above.
	lvl := slog.LevelInfo
	switch {
	case ri.route == "GET /readyz":
		// A load balancer probes it every second or so: readyz logs the
		// change of state itself, paced (Server.unready).
		lvl = slog.LevelDebug
	case status >= 500:
		lvl = slog.LevelWarn
	case (ri.class == ClassPublic || ri.class == ClassOps || ri.class == ClassStream) && status < 400:
		lvl = slog.LevelDebug
	}
	ctx := r.Context()
	if !s.log.Enabled(ctx, lvl) {
		return
	}
	// Path without the query: a query is the client's free text. Never the
	// body: it may hold registration numbers.
	attrs := []slog.Attr{
		slog.String("request_id", ri.id),
		slog.String("method", r.Method),
		slog.String("route", ri.route),
		slog.String("path", rrn.Mask(r.URL.Path)),
		slog.String("class", ri.class),
		slog.Int("status", status),
		slog.Int64("bytes", rw.bytes),
		slog.Float64("dur_ms", float64(d.Microseconds())/1000),
		slog.String("remote", r.RemoteAddr),
	}
	if ri.hasTok && ri.tok.Outlet != "" {
		attrs = append(attrs, slog.String("outlet", ri.tok.Outlet))
	}
	if ri.errCode != "" {
		attrs = append(attrs, slog.String("error", ri.errCode))
	}
	s.log.LogAttrs(ctx, lvl, "http", attrs...)
}

// routeMetrics are a route's series of the request metrics, looked up in
// their vectors once (WithLabelValues checks, hashes and looks up its
// labels under a lock: ~2,500 instructions a request for the two) and
// kept; as with WithLabelValues, a series exists from its first request.
type routeMetrics struct {
	m            *metrics
	route, class string
	dur          atomic.Pointer[prometheus.Observer]
	// The requests counter by status: codes[:n] and ctrs[:n] are set
	// before n is raised (under mu), and never changed after.
	mu    sync.Mutex
	n     atomic.Int32
	codes [16]int
	ctrs  [16]prometheus.Counter
}

func (rm *routeMetrics) observe(status int, d time.Duration) {
	rm.counter(status).Inc()
	o := rm.dur.Load()
	if o == nil {
		v := rm.m.duration.WithLabelValues(rm.route, rm.class)
		o = &v
		rm.dur.Store(o)
	}
	(*o).Observe(d.Seconds())
}

// counter is the requests counter of the route and status.
func (rm *routeMetrics) counter(status int) prometheus.Counter {
	n := int(rm.n.Load())
	for i := range n {
		if rm.codes[i] == status {
			return rm.ctrs[i]
		}
	}
	c := rm.m.requests.WithLabelValues(rm.route, rm.class, statusText(status))
	rm.mu.Lock()
	defer rm.mu.Unlock()
	n = int(rm.n.Load())
	for i := range n {
		if rm.codes[i] == status {
			return rm.ctrs[i]
		}
	}
	if n < len(rm.codes) {
		rm.codes[n], rm.ctrs[n] = status, c
		rm.n.Store(int32(n + 1))
	}
	return c
}

// logger returns the server logger tagged with the request ID.
func (s *Server) logger(r *http.Request) *slog.Logger {
	ri := infoOf(r)
	if ri == nil {
		return s.log
	}
	if ri.log == nil {
		ri.log = s.log.With("request_id", ri.id)
	}
	return ri.log
}

// shedLog turns a flood of refusals (503 overloaded, 429 rate_limited, 401
// and 403 for bad tokens) into at most one log line per second per class and
// kind, with the count since the previous line: under attack the log must
// stay readable and cheap, and the metrics count every refusal anyway.
type shedLog struct {
	log *slog.Logger
	mu  sync.Mutex
	m   map[sampleKey]*sampleState
}

type sampleKey struct{ class, kind string }

type sampleState struct {
	count int64
	last  time.Time
}

func newShedLog(log *slog.Logger) *shedLog {
	return &shedLog{log: log, m: make(map[sampleKey]*sampleState)}
}

// note counts one refusal and logs the count when the last line of its
// class and kind is a second old; it reports whether it logged.
func (l *shedLog) note(ctx context.Context, class, kind string, now time.Time) bool {
	k := sampleKey{class, kind}
	l.mu.Lock()
	st := l.m[k]
	if st == nil {
		st = &sampleState{}
		l.m[k] = st
	}
	st.count++
	if !st.last.IsZero() && now.Sub(st.last) < time.Second {
		l.mu.Unlock()
		return false
	}
	n := st.count
	st.count, st.last = 0, now
	l.mu.Unlock()
	l.log.LogAttrs(ctx, slog.LevelWarn, "requests refused (sampled: at most one line per second)",
		slog.String("class", class), slog.String("refusal", kind), slog.Int64("count", n))
	return true
}

// refusalKind names the refusals that are logged by sampling, or "".
func refusalKind(status int, code string) string {
	switch {
	case status == http.StatusServiceUnavailable && code == publicmask.EOverloaded:
		return "overloaded"
	case status == http.StatusTooManyRequests:
		return "rate_limited"
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		return "auth_failed"
	}
	return ""
}

// statusTexts are the status codes as label values, made once: Itoa
// allocates for every code above 99, once per request.
var statusTexts = func() (t [600]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func statusText(code int) string {
	if code >= 0 && code < len(statusTexts) {
		return statusTexts[code]
	}
	return strconv.Itoa(code)
}
