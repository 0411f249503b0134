package httpapi

import (
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/publicmask/publicmask/internal/httpx"
)

// Writing a response is the one step that waits on the client's network, so
// it happens after the admission slot is released (DESIGN.md §2 Isolation):
// a handler writes into a heldWriter while it holds the slot, and the bytes
// go out afterwards under a write deadline scaled to their size. A client
// that reads slowly, or pipelines requests and never reads, then costs only
// its own connection.

// BodyWriter is implemented by the ResponseWriter handed to handlers of the
// public, outlet and admin classes: WriteBody hands a finished body over
// without copying it. owned says whether b was made for this response alone
// (it then counts against the cap on bytes held by responses being
// written); a body shared from a long-lived cache does not. done, if not
// nil, runs once b has been written (or abandoned), e.g. to return a pooled
// buffer.
type BodyWriter interface {
	WriteBody(b []byte, owned bool, done func())
}

// Write deadlines: a floor for small answers plus the time the body takes at
// a slow mobile link's rate; a client slower than that is cut off.
const (
	writeFloor    = 10 * time.Second
	writeMinRate  = 16 << 10 // bytes per second
	writeCeiling  = 5 * time.Minute
	defaultHeldMB = 64
	// defaultHeldPerClientMB: one client address's share; a slow client
	// that reaches it is refused (429) before the others feel the global
	// cap.
	defaultHeldPerClientMB = 8
)

func writeTimeout(n int) time.Duration {
	secs := float64(n) / writeMinRate
	if secs >= writeCeiling.Seconds() {
		return writeCeiling
	}
	return min(writeFloor+time.Duration(secs*float64(time.Second)), writeCeiling)
}

// writeJSONOwned is httpx.WriteJSONBytes for a body made for this answer
// alone: b and its newline are handed over to a BodyWriter instead of being
// copied into the held buffer (a delivery list's answer is ~12 MB for
// 50,000 lines, and the held buffer grew to it by doubling). b's spare
// capacity takes the newline when it has room.
func writeJSONOwned(w http.ResponseWriter, status int, b []byte) {
	bw, ok := w.(BodyWriter)
	if !ok {
		httpx.WriteJSONBytes(w, status, b)
		return
	}
	httpx.SetJSONHeaders(w.Header(), len(b)+1)
	w.WriteHeader(status)
	bw.WriteBody(append(b, '\n'), true, nil)
}

var heldPool = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// heldWriter collects a response while its handler holds a slot.
type heldWriter struct {
	w      http.ResponseWriter
	status int
	buf    *[]byte // private copy of what was written with Write
	body   []byte  // handed over by WriteBody
	owned  bool
	done   func()
	// What send counted as held, undone by sent.
	srv     *Server
	counted int64
	key     netip.Addr
}

// sent: the answer send gave is on the network or dropped. Its bytes are
// no longer held, and its buffer is freed.
func (h *heldWriter) sent() {
	if h.counted > 0 {
		h.srv.held.Add(-h.counted)
		h.srv.heldBy.add(h.key, -h.counted)
		h.counted = 0
	}
	h.free()
}

func (h *heldWriter) Header() http.Header { return h.w.Header() }

func (h *heldWriter) WriteHeader(code int) {
	if h.status == 0 && code >= 200 {
		h.status = code
	}
}

func (h *heldWriter) Write(b []byte) (int, error) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	if h.buf == nil {
		h.buf = heldPool.Get().(*[]byte)
	}
	if h.body != nil { // a Write after WriteBody: keep the order
		*h.buf = append(*h.buf, h.body...)
		h.finishBody()
	}
	*h.buf = append(*h.buf, b...)
	return len(b), nil
}

func (h *heldWriter) WriteBody(b []byte, owned bool, done func()) {
	if h.status == 0 {
		h.status = http.StatusOK
	}
	if h.body != nil || (h.buf != nil && len(*h.buf) > 0) {
		h.Write(b)
		if done != nil {
			done()
		}
		return
	}
	h.body, h.owned, h.done = b, owned, done
}

// Flush does nothing: nothing may reach the client before the slot is
// released.
func (h *heldWriter) Flush() {}

func (h *heldWriter) finishBody() {
	if h.done != nil {
		h.done()
	}
	h.body, h.done = nil, nil
}

// payload is the body to send and how many of its bytes count as held.
func (h *heldWriter) payload() (b []byte, counted int64) {
	if h.body != nil {
		if h.owned {
			return h.body, int64(len(h.body))
		}
		return h.body, 0
	}
	if h.buf != nil {
		return *h.buf, int64(len(*h.buf))
	}
	return nil, 0
}

func (h *heldWriter) free() {
	h.finishBody()
	if h.buf != nil {
		if cap(*h.buf) <= 1<<20 {
			*h.buf = (*h.buf)[:0]
			heldPool.Put(h.buf)
		}
		h.buf = nil
	}
}

// lateSender is a ResponseWriter that puts its answer on the network only
// after the handler has returned (the lean path, lean.go). send gives it
// the body it is about to write, which it then keeps by reference instead
// of copying, and the heldWriter, whose sent it calls once the answer is
// written or dropped: the held bytes count (MaxHeldBytes, MaxHeldPerClient), and the
// buffer stays the body's, until the client has taken them.
type lateSender interface {
	sendLate(body []byte, h *heldWriter)
}

// lateSenderOf finds a lateSender under w's wrappers (the access log's
// recorder), or nil.
func lateSenderOf(w http.ResponseWriter) lateSender {
	for {
		if ls, ok := w.(lateSender); ok {
			return ls
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return nil
		}
		w = u.Unwrap()
	}
}

// send writes a held response to the client, after the slot is released.
func (s *Server) send(w http.ResponseWriter, r *http.Request, h *heldWriter) {
	b, counted := h.payload()
	if counted > 0 {
		k := s.clients.key(r)
		s.held.Add(counted)
		s.heldBy.add(k, counted)
		h.srv, h.counted, h.key = s, counted, k
	}
	// h.sent, once the answer is written or dropped (no closure: one
	// allocation a request fewer).
	if ls := lateSenderOf(w); ls != nil {
		ls.sendLate(b, h)
	} else {
		defer h.sent()
	}
	status := h.status
	if status == 0 {
		status = http.StatusOK
	}
	hd := w.Header()
	if status != http.StatusNoContent && status != http.StatusNotModified && r.Method != http.MethodHead {
		if vs := hd["Content-Length"]; len(vs) == 0 || vs[0] == "" {
			// A length rather than chunks: the connection can be reused.
			hd["Content-Length"] = httpx.LengthValue(len(b))
		}
	}
	http.NewResponseController(w).SetWriteDeadline(time.Now().Add(writeTimeout(len(b))))
	w.WriteHeader(status)
	if len(b) > 0 {
		w.Write(b)
	}
}

// heldByClient counts the held bytes of each client address.
type heldByClient struct {
	mu sync.Mutex
	m  map[netip.Addr]int64
	n  int // len(m), readable without the lock only as a hint
}

func (h *heldByClient) add(k netip.Addr, d int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[netip.Addr]int64)
	}
	if v := h.m[k] + d; v > 0 {
		h.m[k] = v
	} else {
		delete(h.m, k)
	}
	h.n = len(h.m)
}

func (h *heldByClient) get(k netip.Addr) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.m[k]
}

func (h *heldByClient) any() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n > 0
}
