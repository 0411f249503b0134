package rush

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// The raw client sends what net/http would (method, prefixed path, Host,
// headers, body), reuses its connections, keeps only the bodies asked
// for, reads Retry-After, and reports a timeout as
// context.DeadlineExceeded, which sell counts as "timeout".
func TestRawClient(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/pre/slow":
			time.Sleep(300 * time.Millisecond)
		case "/pre/busy":
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		w.Write([]byte(r.Method + " " + r.URL.Path + " " + r.Header.Get("Authorization") + " " + string(b)))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	rc := newRawClient(100*time.Millisecond, 4)
	defer rc.closeIdle()
	tg := rc.target(srv.URL + "/pre/")
	if tg == nil {
		t.Fatal("plain http target not served")
	}
	if rc.target("https://example.org") != nil {
		t.Fatal("https served by the raw client")
	}
	for range 3 {
		a, err := rc.do(tg, http.MethodPost, "/echo", []string{"Authorization", "Bearer x"}, []byte(`{"a":1}`), nil)
		if err != nil || a.status != 200 || string(a.body) != `POST /pre/echo Bearer x {"a":1}` {
			t.Fatalf("post: %d %q %v", a.status, a.body, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for three sequential requests, want 1", n)
	}
	a, err := rc.do(tg, http.MethodGet, "/busy", nil, nil, func(status int) bool { return status == 200 })
	if err != nil || a.status != 503 || a.retryAfter != "3" || a.body != nil {
		t.Fatalf("busy: %d %q %q %v", a.status, a.retryAfter, a.body, err)
	}
	if _, err := rc.do(tg, http.MethodGet, "/slow", nil, nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow: %v, want a deadline error", err)
	}
	a, err = rc.do(tg, http.MethodGet, "/after", nil, nil, nil)
	if err != nil || string(a.body) != "GET /pre/after  " {
		t.Fatalf("after a timeout: %q %v", a.body, err)
	}
}
