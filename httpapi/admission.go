package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask"
)

// Admission (DESIGN.md §2 Isolation): each class has its own gate. Outlet
// and admin requests wait in a bounded queue; public requests are shed
// early; streams hold a slot of their own class for their whole life. A
// slot is never held while waiting on the client's network: the handler
// writes into a heldWriter under the slot, and the bytes go out after it is
// released (send, write.go).

// admission is the last middleware of a route: it runs the handler under a
// slot of the class's gate.
func (s *Server) admission(class string) Middleware {
	g := s.gates[class]
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch class {
			case ClassStream:
				s.serveStream(w, r, g, next.ServeHTTP)
				return
			case ClassPublic:
				if !s.admitHeld(w, r, g) {
					return
				}
			}
			var hw *heldWriter
			ri := infoOf(r)
			if ri != nil {
				ri.held = heldWriter{w: w}
				hw = &ri.held
			} else {
				hw = &heldWriter{w: w}
			}
			if !s.run(g, hw, r, ri, next.ServeHTTP) {
				return
			}
			s.send(w, r, hw)
		})
	}
}

// run runs h into hw while holding a slot of g; false when the request was
// not admitted (the refusal is already written). ri is r's record (nil: it
// has none). An outlet's request takes a place of its outlet's line first
// (outletShares). Its waits there and in the gate's queue end by its
// admission deadline (admitBy), which its body's wait for room
// (bodyBudget) shared before.
func (s *Server) run(g *gate, hw *heldWriter, r *http.Request, ri *reqInfo, h http.HandlerFunc) bool {
	by := s.admitBy(ri)
	if g != nil && g.class == ClassOutlet && s.shares != nil {
		if ri != nil && ri.hasTok {
			if err := s.shares.acquire(r.Context(), ri.tok.Outlet, by); err != nil {
				if err == errOutletShare {
					s.metrics.limited.WithLabelValues(ClassOutlet).Inc()
					hw.w.Header().Set("Retry-After", "1")
				}
				s.writeError(hw.w, r, err)
				return false
			}
			defer s.shares.release(ri.tok.Outlet)
		}
	}
	if g != nil {
		if err := g.acquire(r.Context(), by); err != nil {
			s.writeError(hw.w, r, err)
			return false
		}
		defer g.release()
	}
	h(hw, r)
	return true
}

// admitBy is when the waits of ri's request for admission end: QueueTimeout
// after its arrival, one deadline for every stage it may wait in (its
// body's room, its outlet's line, the gate's queue), so that together they
// wait no longer than one of them alone (DESIGN.md §4: at most 2 s, then
// 503 overloaded). Zero — each wait its own timeout — for the classes
// without a due time (public: its gate's short wait; streams) and for a
// request without a record.
func (s *Server) admitBy(ri *reqInfo) time.Time {
	if ri == nil || ri.dueMs == 0 || ri.arrived == 0 {
		return time.Time{}
	}
	return stampTime(ri.arrived).Add(s.cfg.QueueTimeout)
}

// serveStream runs a live stream: it holds a stream slot for its whole life
// (the stream class has its own limit), and one client address may hold at
// most StreamsPerClient of them.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, g *gate, h http.HandlerFunc) {
	key := s.clients.key(r)
	if !s.streams.acquire(key) {
		s.metrics.limited.WithLabelValues(ClassStream).Inc()
		w.Header().Set("Retry-After", "10")
		writeErrorCode(w, r, publicmask.ERateLimited, "too many live streams from this client")
		return
	}
	defer s.streams.release(key)
	if err := g.acquire(r.Context(), time.Time{}); err != nil {
		s.writeError(w, r, err)
		return
	}
	defer g.release()
	h(w, r)
}

// admitHeld refuses a public request, before any work, when the answers
// being written hold more bytes than the cap (503 overloaded, shed) or
// when this client's answers alone hold more than its share (429: a slow
// client is refused, not the others). It reports whether the request may go on.
func (s *Server) admitHeld(w http.ResponseWriter, r *http.Request, g *gate) bool {
	if s.held.Load() >= s.cfg.MaxHeldBytes {
		g.shed.Inc()
		s.writeError(w, r, errOverloaded)
		return false
	}
	if s.heldBy.any() && s.heldBy.get(s.clients.key(r)) >= s.cfg.MaxHeldPerClient {
		s.metrics.limited.WithLabelValues(ClassPublic).Inc()
		w.Header().Set("Retry-After", "5")
		writeErrorCode(w, r, publicmask.ERateLimited, "this client's answers are still being sent; read them first")
		return false
	}
	return true
}

// gate is the admission control of one class: at most cap(slots) requests
// run; with a queue, up to cap(queue) more wait (FIFO, as channel senders
// are) for at most timeout; without one, the excess is shed at once.
type gate struct {
	class    string
	slots    chan struct{}
	queue    chan struct{} // nil: shed immediately
	timeout  time.Duration
	inFlight prometheus.Gauge
	queued   prometheus.Gauge
	shed     prometheus.Counter
}

func newGate(m *metrics, class string, inFlight, queue int, timeout time.Duration) *gate {
	g := &gate{
		class:    class,
		slots:    make(chan struct{}, inFlight),
		timeout:  timeout,
		inFlight: m.inFlight.WithLabelValues(class),
		queued:   m.queued.WithLabelValues(class),
		shed:     m.shed.WithLabelValues(class),
	}
	if queue > 0 {
		g.queue = make(chan struct{}, queue)
	}
	return g
}

// acquire admits the request or reports why not: errOverloaded when the
// limit and queue are full or the wait timed out, ctx.Err() when the client
// gave up while queued. A request that must wait waits until by (zero: for
// the gate's timeout); one whose by has passed is refused at once.
func (g *gate) acquire(ctx context.Context, by time.Time) error {
	select {
	case g.slots <- struct{}{}:
		g.inFlight.Inc()
		return nil
	default:
	}
	if g.queue == nil {
		g.shed.Inc()
		return errOverloaded
	}
	wait := g.timeout
	if !by.IsZero() {
		wait = time.Until(by)
	}
	if wait <= 0 {
		g.shed.Inc()
		return errOverloaded
	}
	select {
	case g.queue <- struct{}{}:
	default:
		g.shed.Inc()
		return errOverloaded
	}
	g.queued.Inc()
	defer func() { <-g.queue; g.queued.Dec() }()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		g.inFlight.Inc()
		return nil
	case <-t.C:
		g.shed.Inc()
		return errOverloaded
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *gate) release() {
	<-g.slots
	g.inFlight.Dec()
}

var errOverloaded = publicmask.Errorf(publicmask.EOverloaded, "the server is busy, retry shortly")
