package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"path"
	"runtime/debug"
	"strings"
	"time"

	"github.com/publicmask/publicmask"
)

// Middleware wraps a handler with one concern.
type Middleware func(http.Handler) http.Handler

// Chain composes middlewares: the first is the outermost.
func Chain(ms ...Middleware) Middleware {
	return func(h http.Handler) http.Handler {
		for i := len(ms) - 1; i >= 0; i-- {
			h = ms[i](h)
		}
		return h
	}
}

// headerValue is h.Get(key) of a canonical key, without Get's check of
// the key's form.
func headerValue(h http.Header, key string) string {
	if vs := h[key]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// outer is the chain every request passes, outermost first: request ID,
// access log and metrics, panic recovery. Routing, authentication and
// admission happen inside the mux (route), which fills in reqInfo.
func (s *Server) outer(next http.Handler) http.Handler {
	return Chain(requestID, s.accessLog, s.recoverPanic)(next)
}

// requestID takes the client's X-Request-ID when it is a safe token, else
// makes one, echoes it, and starts the request's reqInfo.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := headerValue(r.Header, "X-Request-Id")
		if !validToken(id) {
			id = newRequestID()
		}
		if lc, ok := r.Context().(*leanCtx); ok && lc.ri == nil {
			// The lean path's request carries it (lean.go), in the
			// connection's storage: what refers to it (the request, its
			// context, the writers) is the connection's too and lives
			// no longer than the request (its held answer is written
			// before the next request is read).
			ri := &lc.riBuf
			*ri = reqInfo{id: id, route: "unmatched", class: ClassPublic}
			ri.idv[0] = id
			w.Header()["X-Request-Id"] = ri.idv[:]
			lc.ri = ri
			next.ServeHTTP(w, r)
			return
		}
		ri := &reqInfo{id: id, route: "unmatched", class: ClassPublic}
		ri.idv[0] = id
		w.Header()["X-Request-Id"] = ri.idv[:]
		next.ServeHTTP(w, r.WithContext(&reqCtx{Context: r.Context(), ri: ri}))
	})
}

// accessLog counts, times and logs every request once it is answered. A
// request aborted by http.ErrAbortHandler is neither counted nor logged.
// Its start is the request's arrival (reqInfo.arrived), which its waits
// are counted from: net/http has read the head by now (the body, if any,
// is read later); the lean path has read the whole request.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ri := infoOf(r)
		if ri == nil {
			ri = &reqInfo{route: "unmatched", class: ClassPublic}
		}
		ri.arrived = leanStamp(start)
		ri.rec = recorder{ResponseWriter: w}
		rw := &ri.rec
		next.ServeHTTP(rw, r)
		s.observe(r, ri, rw, time.Since(start))
	})
}

// recoverPanic turns a handler's panic into a logged 500 (or, when the
// answer had started, a noted internal error), except http.ErrAbortHandler,
// with which the server aborts the connection quietly, as intended.
func (s *Server) recoverPanic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.logger(r).Error("panic serving request", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if rw, ok := w.(*recorder); !ok || rw.status == 0 {
				writeErrorCode(w, r, publicmask.EInternal, "internal error")
			} else if ri := infoOf(r); ri != nil {
				ri.errCode = publicmask.EInternal
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// route is the chain of one route, inside the mux: CORS for the open data
// API, the route's name and class for the log, authentication (before
// admission, so that requests without a valid token never take an outlet
// or admin slot), the per-client rate of public reads, then admission.
func (s *Server) route(pattern, class string, need auth, withCORS bool) Middleware {
	var within time.Duration // public and stream requests have none
	if class == ClassOutlet || class == ClassAdmin {
		within = s.cfg.AnswerWithin
	}
	ms := []Middleware{tagRoute(pattern, class, within, &routeMetrics{m: s.metrics, route: pattern, class: class})}
	if withCORS {
		ms = append(ms, cors)
	}
	if need != authNone {
		ms = append(ms, s.authenticated(need, class))
	}
	if class == ClassPublic || class == ClassStream {
		ms = append(ms, s.rateLimited)
	}
	return Chain(append(ms, s.admission(class))...)
}

// handle registers a route with its class gate and authentication.
func (s *Server) handle(pattern string, class string, need auth, h http.HandlerFunc) {
	s.handleRoute(pattern, class, need, false, h)
}

// handleRoute is handle; withCORS makes every answer of the route, errors,
// sheds and rate limits included, readable by pages of any origin.
func (s *Server) handleRoute(pattern string, class string, need auth, withCORS bool, h http.HandlerFunc) {
	rh := s.route(pattern, class, need, withCORS)(h)
	s.mux.Handle(pattern, rh)
	s.exact.add(pattern, rh)
}

// exactRoutes are the routes whose pattern is a method and a literal path
// ("POST /api/v2/outlet/sales": no host, no wildcard, no trailing slash),
// by path. A request of that method whose URL path is that path, as it
// came (no escapes: RawPath empty) and therefore clean, goes to the
// route's handler without the mux's search (~2,600 instructions a sale):
// no other pattern can be more specific for it, and the mux would find
// that route (r.Pattern is set as the mux sets it; the route has no path
// values). Everything else — other methods (HEAD for a GET route
// included), escaped or unclean paths, "*" — goes to the mux.
type exactRoutes map[string][]exactRoute

type exactRoute struct {
	method, pattern string
	h               http.Handler
}

func (e *exactRoutes) add(pattern string, h http.Handler) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok || method == "" || !strings.HasPrefix(path, "/") || strings.HasSuffix(path, "/") ||
		strings.ContainsAny(path, "{}%") || cleanPath(path) != path {
		return
	}
	if *e == nil {
		*e = make(exactRoutes)
	}
	(*e)[path] = append((*e)[path], exactRoute{method: method, pattern: pattern, h: h})
}

// cleanPath is net/http's: path.Clean, a trailing slash kept.
func cleanPath(p string) string {
	np := path.Clean(p)
	if strings.HasSuffix(p, "/") && np != "/" {
		np += "/"
	}
	return np
}

// with is mux behind the exact routes.
func (e exactRoutes) with(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL != nil && r.URL.RawPath == "" && r.RequestURI != "*" {
			for _, rt := range e[r.URL.Path] {
				if rt.method == r.Method {
					r.Pattern = rt.pattern
					rt.h.ServeHTTP(w, r)
					return
				}
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// tagRoute names the route and class of the request for the metrics and
// the log; rm holds the route's series. A request of a route with within
// > 0 (outlet and admin) is answered within that of its arrival (due).
func tagRoute(pattern, class string, within time.Duration, rm *routeMetrics) Middleware {
	dueMs := uint32(within.Milliseconds())
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ri := infoOf(r); ri != nil {
				ri.route, ri.class, ri.rm, ri.dueMs = pattern, class, rm, dueMs
			}
			next.ServeHTTP(w, r)
		})
	}
}

// cors makes the answers of a public route readable by any origin (§4.1).
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd["Access-Control-Allow-Origin"] = corsOrigin
		hd["Access-Control-Expose-Headers"] = corsExpose
		next.ServeHTTP(w, r)
	})
}

// authenticated checks the bearer token the route needs (authOptional:
// an admin token, if one is sent) and, for token routes, reads the body
// before the slot is taken: a client that sends it slowly holds only its
// own connection.
func (s *Server) authenticated(need auth, class string) Middleware {
	bodyLimit := s.cfg.MaxBodyBytes
	if class == ClassAdmin {
		bodyLimit = s.cfg.ImportMaxBytes
	}
	budget := s.budgets[class]
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if need == authOptional {
				if headerValue(r.Header, "Authorization") != "" && s.led != nil {
					if _, _, ok := s.authenticate(w, r, authAdmin); !ok {
						return
					}
					r = r.WithContext(context.WithValue(r.Context(), adminKey{}, true))
				}
				next.ServeHTTP(w, r)
				return
			}
			tok, ref, ok := s.authenticate(w, r, need)
			if !ok {
				return
			}
			if tok.Role == publicmask.RoleOutlet {
				// Evidence that the outlet is online now (late_while_online):
				// by the cache's reference to the outlet when the token came
				// from the cache (no look-up by code), else by code.
				if ref != 0 {
					s.led.NoteActivityRef(ref)
				} else {
					s.led.NoteActivity(tok.Outlet)
				}
				if s.tokens != nil {
					// A sale to put first: the CPU tokens may engage
					// (cputoken.go). Only an authenticated outlet counts.
					s.tokens.sale()
				}
			}
			ri := infoOf(r)
			if ri != nil {
				ri.tok, ri.hasTok = tok, true
			} else {
				r = r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok))
			}
			if r.Body != nil && r.Body != http.NoBody {
				res := bodyReservation{b: budget, by: s.admitBy(ri)}
				defer res.release() // once the handler is done with the body
				if !s.readBody(w, r, bodyLimit, &res) {
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// rateLimited applies the per-client rate of public requests.
func (s *Server) rateLimited(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.rateLimit(w, r) {
			next.ServeHTTP(w, r)
		}
	})
}
