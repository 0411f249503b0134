// Package httpapi is the HTTP adapter of publicmask: the outlet and admin
// APIs of DESIGN.md §4.3–4.4, operations endpoints (§4.5), and the middleware
// every request passes (request ID, access log, metrics, panic recovery,
// admission control per class). The public read API and the pages are
// handlers of their own, mounted here by Config.Public and Config.Pages.
package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
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

	MaxBodyBytes   int64 // JSON bodies; default 1 MiB
	ImportMaxBytes int64 // outlet import and delivery lists; default 32 MiB

	// Admission limits. Outlet and admin requests beyond their in-flight
	// limit wait in a bounded queue for at most QueueTimeout; public
	// requests beyond theirs are shed at once.
	OutletInFlight int // default 512 (two full group-commit batches)
	OutletQueue    int // default 4096
	AdminInFlight  int // default 16
	AdminQueue     int // default 256
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
	QueueTimeout   time.Duration // default 10 s

	// PublicRate limits each client of the public API to this many
	// requests per second (token bucket, bursts of twice that); 0 = off.
	PublicRate float64
	// TrustProxy lists proxy addresses or CIDRs whose X-Forwarded-For is
	// believed when keying the rate limit.
	TrustProxy []string
	// SetPolicy replaces the rules in force (PUT /api/v2/admin/policy);
	// nil: the route is 404.
	SetPolicy func(*policy.Policy)
}

// Server is the HTTP front of one node.
type Server struct {
	cfg     Config
	led     ledgerAPI
	log     *slog.Logger
	metrics *metrics
	gates   map[string]*gate
	mux     *http.ServeMux
	handler http.Handler
	limiter *limiter
}

// ledgerAPI is what the handlers use of *ledger.Ledger; an interface so
// that the HTTP layer can be tested without a store.
type ledgerAPI interface {
	Now() time.Time
	Sell(ctx context.Context, req ledger.SaleRequest) (*ledger.Receipt, bool, error)
	Check(ctx context.Context, outlet, buyer string, onBehalfOf []ledger.PersonInput) (*ledger.CheckResult, error)
	Cancel(ctx context.Context, outlet, saleID string) (*ledger.CancelReceipt, error)
	Deliver(ctx context.Context, outlet, txnID string, qty int) (*ledger.StockReceipt, bool, error)
	DeliverMany(ctx context.Context, lines []ledger.DeliveryRequest) ([]ledger.DeliveryResult, error)
	CorrectStock(ctx context.Context, outlet, txnID string, count int) (*ledger.StockReceipt, bool, error)
	SetSuspended(ctx context.Context, outlet string, suspended bool) (*ledger.OutletView, error)
	Outlet(ctx context.Context, code string) (*ledger.OutletView, error)
	RecentSales(ctx context.Context, outlet string, limit int) ([]publicmask.Sale, error)
	ImportOutlets(ctx context.Context, outlets []publicmask.Outlet) (int, error)
	IssueToken(ctx context.Context, role, outlet string) (string, error)
	Authenticate(ctx context.Context, token string) (publicmask.Token, error)
	RevokeToken(ctx context.Context, token string) error
	Verify(ctx context.Context) (*ledger.VerifyReport, error)
	Conflicts(ctx context.Context, limit int) ([]publicmask.Sale, error)
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
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.OutletInFlight, 512)
	def(&cfg.OutletQueue, 4096)
	def(&cfg.AdminInFlight, 16)
	def(&cfg.AdminQueue, 256)
	def(&cfg.PublicInFlight, 4*runtime.GOMAXPROCS(0))
	def(&cfg.PublicQueue, 64*runtime.GOMAXPROCS(0))
	if cfg.PublicWait <= 0 {
		cfg.PublicWait = 20 * time.Millisecond
	}
	def(&cfg.StreamInFlight, 10000)
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 1 << 20
	}
	if cfg.ImportMaxBytes <= 0 {
		cfg.ImportMaxBytes = 32 << 20
	}
	if cfg.QueueTimeout <= 0 {
		cfg.QueueTimeout = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registerer == nil && cfg.Gatherer == nil {
		reg := prometheus.NewRegistry()
		cfg.Registerer, cfg.Gatherer = reg, reg
	} else if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry() // metrics kept, not exported
	} else if cfg.Gatherer == nil {
		if g, ok := cfg.Registerer.(prometheus.Gatherer); ok {
			cfg.Gatherer = g
		} else {
			cfg.Gatherer = prometheus.DefaultGatherer
		}
	}

	s := &Server{cfg: cfg, led: led, log: cfg.Logger, mux: http.NewServeMux()}
	s.metrics = newMetrics(cfg.Registerer)
	s.gates = map[string]*gate{
		ClassOutlet: newGate(s.metrics, ClassOutlet, cfg.OutletInFlight, cfg.OutletQueue, cfg.QueueTimeout),
		ClassAdmin:  newGate(s.metrics, ClassAdmin, cfg.AdminInFlight, cfg.AdminQueue, cfg.QueueTimeout),
		ClassPublic: newGate(s.metrics, ClassPublic, cfg.PublicInFlight, cfg.PublicQueue, cfg.PublicWait),
		ClassStream: newGate(s.metrics, ClassStream, cfg.StreamInFlight, 0, 0),
	}
	if cfg.PublicRate > 0 {
		l, err := newLimiter(cfg.PublicRate, cfg.TrustProxy)
		if err != nil {
			panic(fmt.Sprintf("httpapi: TrustProxy: %v", err))
		}
		s.limiter = l
	}
	s.routes()
	s.handler = s.outer(s.mux)
	return s
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
		for _, p := range []string{"/corona19-masks/", "/api/v2/outlets/", "/api/v2/summary", "/api/v2/rules", "/api/v2/places", "/openapi.json"} {
			s.handle("GET "+p, ClassPublic, authNone, s.cfg.Public.ServeHTTP)
		}
		s.handle("GET /api/v2/stream", ClassStream, authNone, s.cfg.Public.ServeHTTP)
	}
	if s.cfg.Pages != nil {
		for _, p := range []string{"/{$}", "/outlet", "/status", "/static/", "/basemap.geojson", "/api/v2/status"} {
			s.handle("GET "+p, ClassPublic, authNone, s.cfg.Pages.ServeHTTP)
		}
	}
	// Everything else lands here, so that 404 and 405 are JSON too.
	s.mux.HandleFunc("/", s.unmatched)
}

// handle registers a route with its class gate and authentication.
func (s *Server) handle(pattern string, class string, need auth, h http.HandlerFunc) {
	g := s.gates[class]
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		ri := infoOf(r)
		if ri != nil {
			ri.route, ri.class = pattern, class
		}
		// Authenticate before admission, so that requests without a valid
		// token never take an outlet or admin slot.
		if need != authNone {
			tok, ok := s.authenticate(w, r, need)
			if !ok {
				return
			}
			if ri != nil {
				ri.outlet = tok.Outlet
			}
			r = r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok))
		}
		if (class == ClassPublic || class == ClassStream) && !s.rateLimit(w, r) {
			return
		}
		if g != nil {
			if err := g.acquire(r.Context()); err != nil {
				s.writeError(w, r, err)
				return
			}
			defer g.release()
		}
		h(w, r)
	})
}

type tokenKey struct{}

func tokenOf(r *http.Request) publicmask.Token {
	t, _ := r.Context().Value(tokenKey{}).(publicmask.Token)
	return t
}

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, need auth) (publicmask.Token, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > 256 {
		writeErrorCode(w, r, publicmask.EUnauthorized, "a bearer token is required")
		return publicmask.Token{}, false
	}
	t, err := s.led.Authenticate(r.Context(), tok)
	if err != nil {
		s.writeError(w, r, err)
		return publicmask.Token{}, false
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
		return publicmask.Token{}, false
	}
	return t, true
}

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
			s.logger(r).Warn("not ready", "err", err.Error())
			writeErrorCode(w, r, publicmask.EStoreUnavailable, msg)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "role": s.cfg.Role})
}
