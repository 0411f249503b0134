// Package httpapi is the HTTP adapter of publicmask: the outlet and admin
// APIs of DESIGN.md §4.3–4.4, operations endpoints (§4.5), and the middleware
// every request passes (request ID, access log, metrics, panic recovery,
// admission control per class). The public read API and the pages are
// handlers of their own, mounted here by Config.Public and Config.Pages.
package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/httpx"
	"github.com/publicmask/publicmask/internal/ratelog"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/seal"
)

// Roles of a node (serve --role).
const (
	RoleAll    = "all"
	RoleLedger = "ledger"
	RolePublic = "public"
)

// Config configures a Server. Zero values get the defaults noted.
type Config struct {
	Ledger *ledger.Ledger // required unless Role is "public"
	// Public serves the public routes: /corona19-masks/, /api/v2/outlets/,
	// /api/v2/stream, /api/v2/summary, /api/v2/rules, /api/v2/places, /openapi.json. Nil:
	// those routes are 404. Not mounted on a ledger node.
	Public http.Handler
	// Pages serves /, /outlet, /status and /static/. Nil: 404. Mounted on
	// every role it is given to; the wiring decides.
	Pages http.Handler
	// Role is "all" (default), "ledger" (no public routes) or "public" (no
	// outlet or admin routes).
	Role string
	// Ready reports readiness (store ping, snapshot built); nil = ready.
	Ready  func(ctx context.Context) error
	Logger *slog.Logger // default slog.Default()
	// Registerer receives the HTTP metrics and Gatherer is served at
	// /metrics. Both nil: a private registry.
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer

	// BulkWrite, if set, is called before an outlet import or a delivery
	// list is written; the function it returns is called after, and
	// returns once the public snapshot holds what was written (the read
	// model rebuilds its indexes once per import, not once per commit).
	BulkWrite func() (done func(ctx context.Context) error)

	// AfterScan, if set, is called when a verify has read the whole store,
	// before its answer is written: the scan's garbage and its table of the
	// window's person-weeks took tens of megabytes the process no longer
	// needs (app: debug.FreeOSMemory).
	AfterScan func()

	MaxBodyBytes   int64 // JSON bodies; default 1 MiB
	ImportMaxBytes int64 // outlet import and delivery lists; default 32 MiB
	// OutletBodyBudget and AdminBodyBudget bound the bytes of request
	// bodies their class holds in memory at once, beyond the first 16 KiB
	// of each (bodybudget.go); defaults 16 × MaxBodyBytes and
	// ImportMaxBytes + 16 MiB (a maximal import and delivery lists beside
	// it). Raised to the class's body limit if below it.
	OutletBodyBudget int64
	AdminBodyBudget  int64

	// Admission limits. Outlet and admin requests beyond their in-flight
	// limit wait in a bounded queue for at most QueueTimeout; public
	// requests beyond theirs are shed at once.
	OutletInFlight int // default 512 (two full group-commit batches)
	OutletQueue    int // default 4096
	// OutletShare bounds one outlet token's requests inside the outlet
	// gate, running or queued (default 32); its others wait in its own
	// line, at most OutletShareWait of them (default 1024; beyond, 429).
	OutletShare     int
	OutletShareWait int
	AdminInFlight   int // default 16
	AdminQueue      int // default 256
	// PublicInFlight bounds public requests being served (default 4 ×
	// GOMAXPROCS). Public handlers only compute from memory, so a few per
	// core keep the cores busy; more would only make the scheduler share
	// the CPU with outlet requests 1:N instead of 1:few. Beyond it, a
	// request may wait up to PublicWait in a queue of PublicQueue, then it
	// is shed with 503: a burst is smoothed, a flood is refused fast.
	PublicInFlight int
	PublicQueue    int           // default 64 × GOMAXPROCS
	PublicWait     time.Duration // default 20 ms
	StreamInFlight int           // concurrent SSE streams; default 10000
	// CPUTokens bounds the public requests parsed or computed at once on
	// the connections of Listener (cputoken.go) while the tokens are
	// engaged; default GOMAXPROCS, < 0: no tokens. A request waits at most
	// CPUTokenWait (default 200 ms) for one, then is served without.
	// CPUTokenMode: TokensAuto (default: engaged only while the cores are
	// contended and sales are being served), TokensAlways or TokensOff.
	// Only a node of role "all" (sales and reads in one process) has them.
	CPUTokens    int
	CPUTokenWait time.Duration
	CPUTokenMode string
	// StreamsPerClient caps the live SSE streams of one client address (an
	// IPv6 /64); beyond it 429 rate_limited. Default 64: enough for a
	// carrier NAT or an office behind one address.
	StreamsPerClient int
	// MaxHeldBytes caps the bytes held in memory by responses being
	// written to clients (bodies made for one response; shared cached
	// pages do not count). Beyond it public requests are shed. Default 64 MiB.
	MaxHeldBytes int64
	// MaxHeldPerClient is one client address's share of it (an IPv6 /64);
	// beyond it that client's public requests get 429. Default 8 MiB.
	MaxHeldPerClient int64
	// QueueTimeout bounds the wait of outlet and admin requests for
	// admission (default 2 s, DESIGN.md §4: the counter gives up after
	// 3 s, so the server answers first), counted from the request's
	// arrival: its body's wait for room (bodybudget.go), its outlet's line
	// (share.go) and the gate's queue share it, beyond it 503 overloaded.
	QueueTimeout time.Duration
	// AnswerWithin bounds, from its arrival, when an outlet or admin
	// request waits for the ledger's outcome (ledger.DueKey; beyond it 503
	// store_unavailable, or overloaded if the time was spent before the
	// ledger got it). Default 2.5 s: under the counter's 3 s cutoff, which
	// counts from the counter's send, with 0.5 s for the request's and the
	// answer's way over a mobile network, the answer's making and writing,
	// and the scheduler's lateness on busy cores; and still 0.5 s for the
	// outcome of a request admitted at the end of QueueTimeout, where an
	// ordinary sale's commit takes milliseconds (BENCHMARKS.md: p99 ≤ 50 ms
	// at half capacity). Raised to QueueTimeout if below it.
	AnswerWithin time.Duration

	// PublicRate limits each client of the public API to this many
	// requests per second (token bucket, bursts of twice that); 0 = off.
	PublicRate float64
	// TrustProxy lists proxy addresses or CIDRs whose X-Forwarded-For is
	// believed when keying the rate limit.
	TrustProxy []string
	// AuthFailRate and AuthFailBurst bound, per client address, the store
	// look-ups of bearer tokens missing from the cache that turn out
	// unknown (default 10/s, bursts of 100); beyond, 429 rate_limited
	// before the store is read. Tokens already known are never refused.
	AuthFailRate  float64
	AuthFailBurst int
	// SetPolicy replaces the rules in force (PUT /api/v2/admin/policy);
	// nil: the route is 404.
	SetPolicy func(*policy.Policy)
	// Seal opens the counter's sealed outbox bodies and its public key is
	// served with the outlet; nil: sealed bodies are refused.
	Seal *seal.Key
}

// Server is the HTTP front of one node.
type Server struct {
	cfg     Config
	led     ledgerAPI
	log     *slog.Logger
	metrics *metrics
	gates   map[string]*gate
	budgets map[string]*bodyBudget // body bytes held before admission, by class
	shares  *outletShares          // each outlet's line in front of the outlet gate
	tokens  *cpuTokens             // nil: none
	mux     *http.ServeMux
	exact   exactRoutes // the mux's routes of one method and a literal path
	handler http.Handler
	limiter *limiter
	// authFails limits, per client, store look-ups of tokens that turned
	// out unknown (DESIGN.md §6.5).
	authFails *limiter
	clients   *clientKeyer
	streams   *streamCounter
	held      atomic.Int64 // bytes held by responses being written
	heldBy    heldByClient
	sampler   *shedLog
	// unready paces the log of /readyz while the node is not ready: a
	// load balancer probes it every second or so, and a line per probe
	// flooded the log (on a full disk, the disk that is full).
	unready ratelog.Episode
}

// unreadyLogEvery is how often a node that stays unready says so again.
const unreadyLogEvery = 30 * time.Second

// ledgerAPI is what the handlers use of *ledger.Ledger; an interface so
// that the HTTP layer can be tested without a store.
type ledgerAPI interface {
	Now() time.Time
	Sell(ctx context.Context, req ledger.SaleRequest) (*ledger.Receipt, bool, error)
	Check(ctx context.Context, req ledger.SaleRequest) (*ledger.CheckResult, error)
	NoteActivity(outlet string)
	NoteActivityRef(o ledger.OutletRef)
	Cancel(ctx context.Context, outlet, saleID string) (*ledger.CancelReceipt, error)
	Deliver(ctx context.Context, outlet, txnID string, qty int) (*ledger.StockReceipt, bool, error)
	DeliverMany(ctx context.Context, lines []ledger.DeliveryRequest) ([]ledger.DeliveryResult, error)
	CorrectStock(ctx context.Context, outlet, txnID string, count int) (*ledger.StockReceipt, bool, error)
	SetSuspended(ctx context.Context, outlet string, suspended bool) (*ledger.OutletView, error)
	Outlet(ctx context.Context, code string) (*ledger.OutletView, error)
	RecentSales(ctx context.Context, outlet string, limit int) ([]publicmask.Sale, error)
	ImportOutlets(ctx context.Context, outlets []publicmask.Outlet) (int, error)
	IssueToken(ctx context.Context, role, outlet string) (string, error)
	IssueOutletTokens(ctx context.Context, codes []string) (map[string]string, []string, error)
	Authenticate(ctx context.Context, token string) (publicmask.Token, error)
	CachedToken(token string) (publicmask.Token, ledger.OutletRef, bool, error)
	CachedTokenSum(sum [32]byte) (publicmask.Token, ledger.OutletRef, bool, error)
	RevokeToken(ctx context.Context, token string) error
	Verify(ctx context.Context) (*ledger.VerifyReport, error)
	Conflicts(ctx context.Context, limit int) ([]publicmask.Sale, error)
	LateSaleCounts(ctx context.Context) ([]publicmask.LateSaleCount, error)
}

var _ ledgerAPI = (*ledger.Ledger)(nil)

// New builds a Server. It panics on a configuration that cannot work (an
// unknown role, a ledger role without a ledger): those are wiring bugs.
func New(cfg Config) *Server {
	var led ledgerAPI
	if cfg.Ledger != nil {
		led = cfg.Ledger
	}
	return newServer(cfg, led)
}

// setDefaults fills in every limit left at zero and the metrics registry.
func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.OutletInFlight, 512)
	def(&c.OutletQueue, 4096)
	def(&c.OutletShare, 32)
	def(&c.OutletShareWait, 1024)
	def(&c.AdminInFlight, 16)
	def(&c.AdminQueue, 256)
	def(&c.PublicInFlight, 4*runtime.GOMAXPROCS(0))
	def(&c.PublicQueue, 64*runtime.GOMAXPROCS(0))
	if c.PublicWait <= 0 {
		c.PublicWait = 20 * time.Millisecond
	}
	def(&c.StreamInFlight, 10000)
	if c.CPUTokens == 0 {
		c.CPUTokens = runtime.GOMAXPROCS(0)
	}
	if c.CPUTokenWait <= 0 {
		c.CPUTokenWait = 200 * time.Millisecond
	}
	if c.CPUTokenMode == "" {
		c.CPUTokenMode = TokensAuto
	}
	def(&c.StreamsPerClient, 64)
	if c.MaxHeldBytes <= 0 {
		c.MaxHeldBytes = defaultHeldMB << 20
	}
	if c.MaxHeldPerClient <= 0 {
		c.MaxHeldPerClient = defaultHeldPerClientMB << 20
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.ImportMaxBytes <= 0 {
		c.ImportMaxBytes = 32 << 20
	}
	if c.OutletBodyBudget <= 0 {
		c.OutletBodyBudget = 16 * c.MaxBodyBytes
	}
	c.OutletBodyBudget = max(c.OutletBodyBudget, c.MaxBodyBytes+1)
	if c.AdminBodyBudget <= 0 {
		c.AdminBodyBudget = c.ImportMaxBytes + 16<<20
	}
	c.AdminBodyBudget = max(c.AdminBodyBudget, c.ImportMaxBytes+1)
	if c.QueueTimeout <= 0 {
		c.QueueTimeout = 2 * time.Second
	}
	if c.AnswerWithin <= 0 {
		c.AnswerWithin = 2500 * time.Millisecond
	}
	c.AnswerWithin = max(c.AnswerWithin, c.QueueTimeout)
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Registerer == nil && c.Gatherer == nil {
		reg := prometheus.NewRegistry()
		c.Registerer, c.Gatherer = reg, reg
	} else if c.Registerer == nil {
		c.Registerer = prometheus.NewRegistry() // metrics kept, not exported
	} else if c.Gatherer == nil {
		if g, ok := c.Registerer.(prometheus.Gatherer); ok {
			c.Gatherer = g
		} else {
			c.Gatherer = prometheus.DefaultGatherer
		}
	}
	def(&c.AuthFailBurst, 100)
	if c.AuthFailRate <= 0 {
		c.AuthFailRate = 10
	}
}

func newServer(cfg Config, led ledgerAPI) *Server {
	if cfg.Role == "" {
		cfg.Role = RoleAll
	}
	switch cfg.Role {
	case RoleAll, RoleLedger:
		if led == nil {
			panic("httpapi: role " + cfg.Role + " needs a Ledger")
		}
	case RolePublic:
	default:
		panic(fmt.Sprintf("httpapi: unknown role %q", cfg.Role))
	}
	if err := CheckCPUTokenMode(cfg.CPUTokenMode); err != nil {
		panic("httpapi: " + err.Error())
	}
	cfg.setDefaults()
	s := &Server{cfg: cfg, led: led, log: cfg.Logger, mux: http.NewServeMux(), unready: ratelog.Episode{Every: unreadyLogEvery}}
	s.metrics = newMetrics(cfg.Registerer)
	s.gates = map[string]*gate{
		ClassOutlet: newGate(s.metrics, ClassOutlet, cfg.OutletInFlight, cfg.OutletQueue, cfg.QueueTimeout),
		ClassAdmin:  newGate(s.metrics, ClassAdmin, cfg.AdminInFlight, cfg.AdminQueue, cfg.QueueTimeout),
		ClassPublic: newGate(s.metrics, ClassPublic, cfg.PublicInFlight, cfg.PublicQueue, cfg.PublicWait),
		ClassStream: newGate(s.metrics, ClassStream, cfg.StreamInFlight, 0, 0),
	}
	s.budgets = map[string]*bodyBudget{
		ClassOutlet: newBodyBudget(cfg.OutletBodyBudget, cfg.QueueTimeout, s.metrics.bodyBytes.WithLabelValues(ClassOutlet), s.metrics.shed.WithLabelValues(ClassOutlet)),
		ClassAdmin:  newBodyBudget(cfg.AdminBodyBudget, cfg.QueueTimeout, s.metrics.bodyBytes.WithLabelValues(ClassAdmin), s.metrics.shed.WithLabelValues(ClassAdmin)),
	}
	s.shares = newOutletShares(cfg.OutletShare, cfg.OutletShareWait, cfg.QueueTimeout, s.metrics.lineWaiting)
	if cfg.CPUTokens > 0 && cfg.Role == RoleAll && cfg.CPUTokenMode != TokensOff {
		s.tokens = newCPUTokens(cfg.Registerer, cfg.CPUTokens, cfg.CPUTokenWait, cfg.CPUTokenMode)
	}
	ck, err := newClientKeyer(cfg.TrustProxy)
	if err != nil {
		panic(fmt.Sprintf("httpapi: TrustProxy: %v", err))
	}
	s.clients = ck
	s.streams = newStreamCounter(cfg.StreamsPerClient)
	s.sampler = newShedLog(cfg.Logger)
	if cfg.PublicRate > 0 {
		s.limiter = newLimiter(cfg.PublicRate, ck)
	}
	s.authFails = newLimiter(cfg.AuthFailRate, ck)
	s.authFails.burst = float64(cfg.AuthFailBurst)
	s.routes()
	s.handler = s.outer(s.exact.with(s.mux))
	return s
}

// Listener wraps a plain-TCP listener of the node's HTTP server so that its
// connections' public requests take CPU tokens (cputoken.go). A node of
// role ledger or public (no sales to put ahead of reads), or without
// tokens, gets ln back.
func (s *Server) Listener(ln net.Listener) net.Listener {
	if s.tokens == nil {
		return ln
	}
	return tokenListener{Listener: ln, t: s.tokens}
}

// Handler returns the root handler of the node.
func (s *Server) Handler() http.Handler { return s.handler }

// auth says who may call a route.
type auth int

const (
	authNone auth = iota
	authOutlet
	authAdmin
	authDistributor // admin or distributor
	authOptional    // anyone; an admin token, if sent, is recognised (IsAdmin)
)

func (s *Server) routes() {
	ops := func(pattern string, h http.HandlerFunc) { s.handle(pattern, ClassOps, authNone, h) }
	ops("GET /healthz", s.healthz)
	ops("GET /readyz", s.readyz)
	ops("GET /metrics", promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{}).ServeHTTP)

	if s.cfg.Role != RolePublic {
		o := func(pattern string, h http.HandlerFunc) { s.handle(pattern, ClassOutlet, authOutlet, h) }
		o("GET /api/v2/outlet", s.getOutlet)
		o("POST /api/v2/outlet/check", s.check)
		o("POST /api/v2/outlet/sales", s.sell)
		o("GET /api/v2/outlet/sales", s.recentSales)
		o("POST /api/v2/outlet/sales/{sale_id}/cancel", s.cancel)
		o("POST /api/v2/outlet/deliveries", s.deliver)
		o("POST /api/v2/outlet/stock", s.correctStock)
		o("POST /api/v2/outlet/suspend", s.suspend)
		o("POST /api/v2/outlet/resume", s.resume)

		a := func(pattern string, h http.HandlerFunc) { s.handle(pattern, ClassAdmin, authAdmin, h) }
		a("PUT /api/v2/admin/outlets", s.importOutlets)
		a("POST /api/v2/admin/tokens", s.issueToken)
		a("POST /api/v2/admin/tokens/bulk", s.issueTokens)
		a("POST /api/v2/admin/tokens/revoke", s.revokeToken)
		a("DELETE /api/v2/admin/tokens", s.revokeToken)
		a("GET /api/v2/admin/verify", s.verify)
		a("GET /api/v2/admin/conflicts", s.conflicts)
		s.handle("POST /api/v2/admin/deliveries", ClassAdmin, authDistributor, s.adminDeliveries)
		if s.cfg.SetPolicy != nil {
			a("PUT /api/v2/admin/policy", s.putPolicy)
		}
	}
	if s.cfg.Role != RoleLedger && s.cfg.Public != nil {
		// The open data API answers any origin (§4.1 CORS); outlet, admin
		// and page routes send no CORS headers, so browsers on other
		// origins cannot use them.
		for _, p := range []string{"/corona19-masks/", "/api/v2/outlets/", "/api/v2/summary", "/api/v2/rules", "/api/v2/places", "/openapi.json"} {
			s.handleRoute("GET "+p, ClassPublic, authNone, true, s.cfg.Public.ServeHTTP)
			s.handleRoute("OPTIONS "+p, ClassPublic, authNone, true, preflight)
		}
		s.handleRoute("GET /api/v2/stream", ClassStream, authNone, true, s.cfg.Public.ServeHTTP)
		s.handleRoute("OPTIONS /api/v2/stream", ClassPublic, authNone, true, preflight)
		// Below the exact v2 routes (a trailing slash, a typo), the public
		// handler's 404 with CORS, as under /api/v2/outlets/: a browser app
		// on another origin reads not_found instead of a CORS failure.
		for _, p := range []string{"/api/v2/summary/", "/api/v2/rules/", "/api/v2/places/", "/api/v2/stream/"} {
			s.handleRoute("GET "+p, ClassPublic, authNone, true, s.cfg.Public.ServeHTTP)
			s.handleRoute("OPTIONS "+p, ClassPublic, authNone, true, preflight)
		}
	}
	if s.cfg.Pages != nil {
		for _, p := range []string{"/{$}", "/status", "/static/", "/basemap.geojson"} {
			s.handle("GET "+p, ClassPublic, authNone, s.cfg.Pages.ServeHTTP)
		}
		s.handle("GET /api/v2/status", ClassPublic, authOptional, s.cfg.Pages.ServeHTTP)
	}
	if s.cfg.Pages != nil && s.cfg.Role != RolePublic {
		// The counter page, its assets and its service worker are outlet
		// traffic: a public flood must never keep a pharmacist from loading it.
		// A public node has no outlet routes (§4), the page included.
		for _, p := range []string{"/outlet", "/outlet/"} {
			s.handle("GET "+p, ClassOutlet, authNone, s.cfg.Pages.ServeHTTP)
		}
	}
	if s.cfg.Pages != nil {
		// The nation at a glance (DESIGN.md §4.5).
		s.handle("GET /overview", ClassPublic, authNone, s.cfg.Pages.ServeHTTP)
	}
	// Everything else lands here, so that 404 and 405 are JSON too.
	s.mux.HandleFunc("/", s.unmatched)
}

// CORS answers of the open data API (§4.1).
var (
	corsOrigin = []string{"*"}
	// Retry-After too (an extension): a browser app told 429 rate_limited
	// or 503 overloaded cannot read when to retry unless it is exposed (it
	// is not a CORS-safelisted response header).
	corsExpose  = []string{"ETag, X-Data-Version, X-Data-As-Of, Retry-After"}
	corsMethods = []string{"GET, HEAD, OPTIONS"}
	// What 2020 web apps and EventSource send: conditional requests, the
	// stream's resume point, and content negotiation.
	corsAllowHeaders = []string{"Accept, Accept-Language, Cache-Control, Content-Type, If-None-Match, Last-Event-ID"}
	corsMaxAge       = []string{"86400"}
)

// preflight answers a CORS preflight of a public route.
func preflight(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd["Access-Control-Allow-Methods"] = corsMethods
	hd["Access-Control-Allow-Headers"] = corsAllowHeaders
	hd["Access-Control-Max-Age"] = corsMaxAge
	w.WriteHeader(http.StatusNoContent)
}

// readBody reads the request body into memory (up to limit+1 bytes, to see
// that it is over). A body over limit is answered 413 here, whatever it
// holds: the handler's parser would otherwise call 2 MB of garbage
// malformed (400) before it reached the limit. One that says it is over
// is refused before a byte of it is read. Beyond its first bodyFree bytes,
// a body is held under res (bodybudget.go), which the caller releases once
// the handler is done with it.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64, res *bodyReservation) bool {
	if lb, ok := r.Body.(*leanBody); ok && !lb.closed {
		if int64(len(lb.b)) > limit {
			s.writeError(w, r, errBodyTooLarge(limit))
			return false
		}
		// The lean path read it already: its bytes, without a copy. They
		// are the connection's buffer's, valid while the handler runs —
		// what parses them (parseSale, encoding/json) copies what it keeps.
		b := lb.b
		lb.rd.Reset(b)
		lb.held = heldBody{Reader: &lb.rd, b: b}
		r.Body = &lb.held
		return true
	}
	if r.ContentLength > limit {
		s.writeError(w, r, errBodyTooLarge(limit))
		return false
	}
	var b []byte
	var err error
	if r.ContentLength >= 0 && r.ContentLength < bodyFree || res.b == nil {
		b, err = readAllSized(io.LimitReader(r.Body, limit+1), min(r.ContentLength, limit+1))
	} else {
		b, err = readBudgeted(r.Context(), r.Body, r.ContentLength, limit, res)
	}
	r.Body.Close()
	if err != nil {
		if publicmask.ErrorCode(err) == publicmask.EOverloaded {
			s.writeError(w, r, err)
			return false
		}
		writeErrorCode(w, r, publicmask.EBadRequest, "could not read the request body")
		return false
	}
	if int64(len(b)) > limit {
		s.writeError(w, r, errBodyTooLarge(limit))
		return false
	}
	r.Body = &heldBody{Reader: bytes.NewReader(b), b: b}
	return true
}

// readAllSized is io.ReadAll into a buffer made for size bytes (a
// request's Content-Length; ≤ 0 if unknown) and one more, so that the end
// is seen without growing it: io.ReadAll grew a 10 MB import body from 512
// bytes by doubling, 21 MB allocated for each.
func readAllSized(r io.Reader, size int64) ([]byte, error) {
	if size <= 0 {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, size+1)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) { // longer than it said: grow as io.ReadAll does
			b = append(b, 0)[:len(b)]
		}
	}
}

type tokenKey struct{}

type adminKey struct{}

// IsAdmin reports whether the request of ctx carried the admin token (on
// routes where it is optional, such as /api/v2/status).
func IsAdmin(ctx context.Context) bool {
	ok, _ := ctx.Value(adminKey{}).(bool)
	return ok
}

func tokenOf(r *http.Request) publicmask.Token {
	if ri := infoOf(r); ri != nil && ri.hasTok {
		return ri.tok
	}
	t, _ := r.Context().Value(tokenKey{}).(publicmask.Token)
	return t
}

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, need auth) (publicmask.Token, ledger.OutletRef, bool) {
	h := headerValue(r.Header, "Authorization")
	scheme, tok, _ := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > 256 {
		writeErrorCode(w, r, publicmask.EUnauthorized, "a bearer token is required")
		return publicmask.Token{}, 0, false
	}
	// The cache answers nearly every request: the guard, a context and a
	// closure, is made only for a token it does not know.
	var t publicmask.Token
	var ref ledger.OutletRef // the token's outlet, from the cache
	var cached bool
	var err error
	if lc, ok := r.Context().(*leanCtx); ok {
		// A lean connection keeps its last token's SHA-256 (the token
		// caches' key): its next requests, which nearly always send the
		// same token, are not hashed again. The caches still answer each
		// request (expiry, revocation).
		if lc.tok != tok {
			lc.tok, lc.tokSum = tok, sha256.Sum256([]byte(tok))
		}
		t, ref, cached, err = s.led.CachedTokenSum(lc.tokSum)
	} else {
		t, ref, cached, err = s.led.CachedToken(tok)
	}
	if !cached {
		t, err = s.led.Authenticate(s.authGuard(r), tok)
	}
	if err != nil {
		s.writeError(w, r, err)
		return publicmask.Token{}, 0, false
	}
	ok := false
	switch need {
	case authOutlet:
		ok = t.Role == publicmask.RoleOutlet && t.Outlet != ""
	case authAdmin:
		ok = t.Role == publicmask.RoleAdmin
	case authDistributor:
		ok = t.Role == publicmask.RoleAdmin || t.Role == publicmask.RoleDistributor
	}
	if !ok {
		writeErrorCode(w, r, publicmask.EForbidden, "this token may not use this route")
		return publicmask.Token{}, 0, false
	}
	return t, ref, true
}

// authGuard is r's context with the per-client limit of failed token
// look-ups (ledger.WithAuthGuard).
func (s *Server) authGuard(r *http.Request) context.Context {
	return ledger.WithAuthGuard(r.Context(), func() (func(bool), error) {
		release, ok := s.authFails.reserve(s.clients.key(r), time.Now())
		if !ok {
			class := ClassOutlet
			if ri := infoOf(r); ri != nil {
				class = ri.class
			}
			s.metrics.limited.WithLabelValues(class).Inc()
			return nil, errAuthLimited
		}
		return func(found bool) { release(!found) }, nil
	})
}

var errAuthLimited = publicmask.Errorf(publicmask.ERateLimited, "too many unknown tokens from this client; retry shortly")

// methods tried when a path matched no pattern for its method.
var methods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch}

// unmatched answers 404 or, when the path exists under another method, 405
// with Allow — as JSON, which the mux's own answers are not.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range methods {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "/" && p != "" {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	if len(allow) == 0 && s.cfg.Pages != nil && httpx.WantsPage(r) {
		s.cfg.Pages.ServeHTTP(w, r) // the pages' "not found" page
		return
	}
	if len(allow) == 0 {
		writeErrorCode(w, r, publicmask.ENotFound, "no such route")
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeErrorCode(w, r, codeMethodNotAllowed, "method "+r.Method+" not allowed here; allowed: "+strings.Join(allow, ", "))
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "role": s.cfg.Role})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			msg := "not ready"
			if c := publicmask.ErrorCode(err); c != publicmask.EInternal {
				msg = publicmask.ErrorMessage(err)
			}
			s.unready.Occurred(1, func() {
				s.logger(r).Warn("not ready", "err", err.Error())
			}, func(st ratelog.Stats) {
				s.logger(r).Warn("still not ready", "probes", st.Count, "unready_s", time.Since(st.Since).Seconds(), "err", err.Error())
			})
			writeErrorCode(w, r, publicmask.EStoreUnavailable, msg)
			return
		}
	}
	if s.unready.Active() {
		s.unready.End(func(st ratelog.Stats) {
			s.logger(r).Info("ready again", "unready_probes", st.Count, "unready_s", time.Since(st.Since).Seconds())
		})
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "role": s.cfg.Role})
}
