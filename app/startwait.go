package app

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/httpx"
	"github.com/publicmask/publicmask/web"
)

// A start that waits for space on a full disk (newEpoch) listens
// meanwhile, so that the operator and the load balancer see the node and
// why it waits (DESIGN.md §4.5) rather than a refused connection:
// /healthz 200, /readyz 503 store_unavailable with the cause, /status and
// /api/v2/status with the store's cause (disk_full), every other API
// request 503 store_unavailable with Retry-After. No ledger exists yet, so
// no sale can be taken before the store is set up. Serve takes the same
// listener over once the start is done: connections that arrive during
// the handover wait in the kernel's queue instead of being refused.
type startWait struct {
	ln *handoffListener
	hs *http.Server
}

// listenWhileWaiting starts the waiting server on the node's address.
func (n *Node) listenWhileWaiting() error {
	cfg := n.cfg
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	hl := &handoffListener{Listener: ln}
	var l net.Listener = hl
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			ln.Close()
			return err
		}
		l = tls.NewListener(hl, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	pages := web.Handler(web.Options{Tiles: cfg.Tiles, Status: n.waitingStatus})
	hs := &http.Server{
		Handler:           n.waitingHandler(pages),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	n.wait = &startWait{ln: hl, hs: hs}
	go hs.Serve(l)
	cfg.Logger.Info("listening while the start waits: /healthz, /readyz and /status answer, sales are refused until it is done", "addr", ln.Addr().String())
	return nil
}

func (n *Node) waitingHandler(pages http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/healthz":
			httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok", "role": n.cfg.Role})
		case r.URL.Path == "/readyz":
			httpx.WriteCode(w, publicmask.EStoreUnavailable, publicmask.ErrorMessage(n.startingErr()))
		case (r.Method == http.MethodGet || r.Method == http.MethodHead) &&
			(r.URL.Path == "/api/v2/status" || !strings.HasPrefix(r.URL.Path, "/api/")):
			pages.ServeHTTP(w, r) // the pages, their assets and the status JSON
		default:
			httpx.WriteCode(w, publicmask.EStoreUnavailable, publicmask.ErrorMessage(n.startingErr()))
		}
	})
}

// startingErr is why the node is not ready while it starts: the failed
// durable writes' cause, or, once they succeed, the rest of the start.
func (n *Node) startingErr() error {
	if err := n.writes.readyErr(); err != nil {
		return err
	}
	return publicmask.Errorf(publicmask.EStoreUnavailable, "the node is starting")
}

// waitingStatus is /api/v2/status while the start waits: the store's line
// (its cause, disk_full) and that the node is starting; brief or not (it
// has no history to leave out).
func (n *Node) waitingStatus(ctx context.Context, _ bool) (any, error) {
	return map[string]any{
		"now": n.Clock.Now().Format(time.RFC3339Nano), "role": n.cfg.Role,
		"store":    n.storeHealth(ctx, false),
		"starting": true, // a flag, not a sentence: the page lists unknown fields as they are
	}, nil
}

// handover stops the waiting server and gives its listener, open all
// along, to Serve.
func (sw *startWait) handover(ctx context.Context) net.Listener {
	sw.hs.Shutdown(ctx)
	sw.ln.reopen()
	return sw.ln.Listener
}

// close stops the waiting server and its listener (a start that failed).
func (sw *startWait) close() {
	sw.hs.Close()
	sw.ln.Listener.Close()
}

// handoffListener is a listener whose Close stops its Accept without
// closing the socket, so that the next server can take it over.
type handoffListener struct {
	net.Listener
	closed atomic.Bool
}

func (l *handoffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if l.closed.Load() {
		if c != nil {
			c.Close() // accepted during the handover: the client retries
		}
		return nil, net.ErrClosed
	}
	return c, err
}

func (l *handoffListener) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	// Wake the Accept in progress; the socket stays open.
	if tl, ok := l.Listener.(*net.TCPListener); ok {
		return tl.SetDeadline(time.Now())
	}
	return errors.ErrUnsupported
}

func (l *handoffListener) reopen() {
	if tl, ok := l.Listener.(*net.TCPListener); ok {
		tl.SetDeadline(time.Time{})
	}
}
