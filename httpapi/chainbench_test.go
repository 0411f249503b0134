package httpapi

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// BenchmarkPublicChain is the middleware of a public v1 read around a
// handler that writes a storesByGeo-sized answer with the public headers:
// what the chain costs per request beside the answer itself.
func BenchmarkPublicChain(b *testing.B) {
	body := make([]byte, 9306)
	pub := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd["Content-Type"] = []string{"application/json; charset=utf-8"}
		hd["Cache-Control"] = []string{"public, max-age=1"}
		hd["Vary"] = []string{"Accept-Encoding"}
		hd["Etag"] = []string{`"v1-abc"`}
		hd["X-Data-Version"] = []string{"1"}
		hd["X-Data-As-Of"] = []string{"2020-03-11T08:00:00+09:00"}
		hd["Content-Length"] = []string{strconv.Itoa(len(body))}
		w.WriteHeader(200)
		w.Write(body)
	})
	srv := newServer(Config{Public: pub, Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))}, newFake())
	h := srv.Handler()
	req := httptest.NewRequest("GET", "/corona19-masks/v1/storesByGeo/json?lat=37.5665&lng=126.978&m=1000", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatal(w.Code)
		}
	}
}
