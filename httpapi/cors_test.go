package httpapi

import (
	"net/http"
	"strings"
	"testing"
)

// The open data API answers any origin; outlet, admin, page and operations
// routes send no CORS headers (DESIGN.md §4.1).
func TestCORS(t *testing.T) {
	pub := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "bad") {
			w.WriteHeader(400)
			return
		}
		w.Write([]byte("{}"))
	})
	pages := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("page")) })
	h := newHarness(t, Config{Public: pub, Pages: pages})

	publicGets := []string{
		"/corona19-masks/v1/storesByGeo/json?lat=37.5&lng=127",
		"/corona19-masks/v1/storesByGeo/json/?lat=37.5&lng=127&m=5000",
		"/corona19-masks/v1/stores/json",
		"/corona19-masks/v1/bad",
		"/api/v2/outlets/near?lat=37.5&lng=127",
		"/api/v2/outlets/11111111",
		"/api/v2/summary",
		"/api/v2/rules?date=2020-03-11",
		"/api/v2/stream?lat=37.5&lng=127",
		"/openapi.json",
		// Typos and trailing slashes below v2 routes: a readable 404.
		"/api/v2/summary/",
		"/api/v2/rules/?date=2020-03-11",
		"/api/v2/places/x",
		"/api/v2/stream/",
	}
	for _, p := range publicGets {
		rec := h.do("GET", p, "", "")
		if got := rec.Header().Get("Access-Control-Allow-Origin"); got != "*" {
			t.Errorf("GET %s (%d): Access-Control-Allow-Origin %q, want *", p, rec.Code, got)
		}
		if got := rec.Header().Get("Access-Control-Expose-Headers"); got != "ETag, X-Data-Version, X-Data-As-Of, Retry-After" {
			t.Errorf("GET %s: Access-Control-Expose-Headers %q", p, got)
		}
		pre := h.do("OPTIONS", p, "", "")
		if pre.Code != http.StatusNoContent {
			t.Errorf("OPTIONS %s: %d, want 204", p, pre.Code)
		}
		for hdr, want := range map[string]string{
			"Access-Control-Allow-Origin":  "*",
			"Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
		} {
			if got := pre.Header().Get(hdr); got != want {
				t.Errorf("OPTIONS %s: %s %q, want %q", p, hdr, got, want)
			}
		}
		if got := pre.Header().Get("Access-Control-Allow-Headers"); !strings.Contains(got, "If-None-Match") || !strings.Contains(got, "Last-Event-ID") {
			t.Errorf("OPTIONS %s: Access-Control-Allow-Headers %q", p, got)
		}
	}

	for _, c := range []struct{ method, path string }{
		{"GET", "/api/v2/outlet"},
		{"POST", "/api/v2/outlet/sales"},
		{"OPTIONS", "/api/v2/outlet/sales"},
		{"OPTIONS", "/api/v2/outlet"},
		{"POST", "/api/v2/admin/tokens"},
		{"OPTIONS", "/api/v2/admin/tokens"},
		{"GET", "/"},
		{"GET", "/outlet"},
		{"GET", "/status"},
		{"GET", "/api/v2/status"},
		{"GET", "/metrics"},
		{"GET", "/healthz"},
		{"OPTIONS", "/"},
	} {
		rec := h.do(c.method, c.path, "", "")
		for k := range rec.Header() {
			if strings.HasPrefix(k, "Access-Control-") {
				t.Errorf("%s %s (%d) sends %s", c.method, c.path, rec.Code, k)
			}
		}
		if c.method == "OPTIONS" && rec.Code < 400 {
			t.Errorf("OPTIONS %s: %d, want an error (no preflight for non-public routes)", c.path, rec.Code)
		}
	}
}

// A public request shed by admission control still carries the CORS
// headers, so that a page on another origin can read the 503 and back off.
func TestCORSOnShed(t *testing.T) {
	block, entered := make(chan struct{}), make(chan struct{}, 1)
	pub := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-block
	})
	h := newHarness(t, Config{Public: pub, PublicInFlight: 1, PublicQueue: 1})
	done := make(chan struct{})
	go func() {
		h.do("GET", "/api/v2/summary", "", "")
		close(done)
	}()
	<-entered // the only slot is taken: the next request waits 20 ms, then is shed
	rec := h.do("GET", "/api/v2/summary", "", "")
	close(block)
	<-done
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("no shed: %d", rec.Code)
	}
	if rec.Header().Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("shed answer lacks CORS: %v", rec.Header())
	}
}
