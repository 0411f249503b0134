package httpapi

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestChainOrder(t *testing.T) {
	var order []string
	mw := func(name string) Middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name+">")
				next.ServeHTTP(w, r)
				order = append(order, "<"+name)
			})
		}
	}
	h := Chain(mw("a"), mw("b"), mw("c"))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		order = append(order, "h")
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if got := strings.Join(order, " "); got != "a> b> c> h <c <b <a" {
		t.Fatalf("order %q", got)
	}
	if got := Chain()(http.NotFoundHandler()); got == nil {
		t.Fatal("empty chain")
	}
}

// A panic after the answer started is logged and noted, never answered
// twice; http.ErrAbortHandler passes through to the server.
func TestRecoverPanic(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	h := Chain(requestID, s.recoverPanic)
	rec := httptest.NewRecorder()
	h(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusAccepted)
		w.Write([]byte("partial"))
		panic("late")
	})).ServeHTTP(&recorder{ResponseWriter: rec}, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusAccepted || rec.Body.String() != "partial" {
		t.Fatalf("answered again after a late panic: %d %q", rec.Code, rec.Body)
	}
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Fatalf("recovered %v, want http.ErrAbortHandler re-raised", p)
		}
	}()
	h(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
}
