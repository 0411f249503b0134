package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/httpx"
	"github.com/publicmask/publicmask/internal/testenv"
)

// The exact routes answer every request as the mux alone would: the same
// handler, r.Pattern, status, redirect and Allow.
func TestExactRoutesAsMux(t *testing.T) {
	patterns := []string{
		"POST /api/v2/outlet/sales", "GET /api/v2/outlet/sales", "POST /api/v2/outlet/sales/{sale_id}/cancel",
		"GET /api/v2/outlet", "POST /api/v2/outlet/check", "GET /corona19-masks/", "OPTIONS /corona19-masks/",
		"GET /api/v2/summary", "OPTIONS /api/v2/summary", "GET /{$}", "GET /outlet", "GET /outlet/", "GET /static/",
		"DELETE /api/v2/admin/tokens", "POST /api/v2/admin/tokens/revoke", "/",
	}
	mux := http.NewServeMux()
	var exact exactRoutes
	for _, p := range patterns {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s|%s|%s", p, r.Pattern, r.PathValue("sale_id"))
		})
		mux.Handle(p, h)
		exact.add(p, h)
	}
	for _, want := range []string{"/api/v2/outlet/sales", "/api/v2/outlet", "/api/v2/summary", "/outlet", "/api/v2/admin/tokens"} {
		if len(exact[want]) == 0 {
			t.Errorf("%s not an exact route", want)
		}
	}
	for _, not := range []string{"/corona19-masks/", "/outlet/", "/", "/{$}", "/api/v2/outlet/sales/{sale_id}/cancel"} {
		if len(exact[not]) != 0 {
			t.Errorf("%s taken as an exact route", not)
		}
	}
	fast := exact.with(mux)
	targets := []string{
		"/api/v2/outlet/sales", "/api/v2/outlet/sales/", "/api/v2/outlet/sales?x=1", "/api/v2/outlet/%73ales",
		"//api/v2/outlet/sales", "/api/v2/./outlet/sales", "/api/v2/outlet/sales/s-1/cancel", "/api/v2/outlet/x/../sales",
		"/api/v2/outlet", "/api/v2/summary", "/outlet", "/outlet/", "/", "/corona19-masks/v1/stores/json", "/nope",
		"/api/v2/admin/tokens", "/api/v2/admin/tokens/revoke", "/API/v2/outlet/sales", "/api/v2/outlet/sales%2F", "/api/v2/outlet%2Fsales", "/api/v2/outlet/./sales",
	}
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "post", "CONNECT"} {
		for _, target := range targets {
			req := func() *http.Request {
				r := httptest.NewRequest("GET", "http://x"+target, nil)
				r.Method = m
				return r
			}
			a, b := httptest.NewRecorder(), httptest.NewRecorder()
			mux.ServeHTTP(a, req())
			fast.ServeHTTP(b, req())
			if a.Code != b.Code || a.Body.String() != b.Body.String() ||
				a.Header().Get("Location") != b.Header().Get("Location") || a.Header().Get("Allow") != b.Header().Get("Allow") {
				t.Errorf("%s %s: mux %d %q %v, exact %d %q %v", m, target, a.Code, a.Body, a.Header(), b.Code, b.Body, b.Header())
			}
		}
	}
	r := httptest.NewRequest("OPTIONS", "*", nil)
	a, b := httptest.NewRecorder(), httptest.NewRecorder()
	mux.ServeHTTP(a, r)
	fast.ServeHTTP(b, r)
	if a.Code != b.Code {
		t.Errorf("OPTIONS *: mux %d, exact %d", a.Code, b.Code)
	}
}

// A route's cached series count exactly what WithLabelValues would, from
// many goroutines, past the number of statuses it keeps (16).
func TestRouteMetricsAsLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	rm := &routeMetrics{m: m, route: "POST /x", class: ClassOutlet}
	if n := collectCount(m.duration); n != 0 {
		t.Fatalf("%d duration series before the first request", n)
	}
	codes := []int{}
	for c := 200; c < 225; c++ {
		codes = append(codes, c)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				rm.observe(codes[(i+g)%len(codes)], time.Millisecond)
			}
		}()
	}
	wg.Wait()
	total := 0.0
	for _, c := range codes {
		var d dto.Metric
		m.requests.WithLabelValues("POST /x", ClassOutlet, strconv.Itoa(c)).Write(&d)
		v := d.GetCounter().GetValue()
		if v != 8*200/float64(len(codes)) {
			t.Errorf("code %d: %v", c, v)
		}
		total += v
	}
	if total != 1600 {
		t.Errorf("total %v", total)
	}
	if n := rm.n.Load(); n != 16 {
		t.Errorf("%d statuses kept", n)
	}
	// The histogram has the one series.
	if n := collectCount(m.duration); n != 1 {
		t.Errorf("%d duration series", n)
	}
}

// A route renamed by SetRoute (a delegated handler) and an unmatched
// request are counted under their own labels, not the route's cached
// series.
func TestRouteMetricsRenamed(t *testing.T) {
	reg := prometheus.NewRegistry()
	pub := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetRoute(r.Context(), "GET /api/v2/summary (renamed)")
		w.WriteHeader(204)
	})
	h := newHarness(t, Config{Registerer: reg, Gatherer: reg, Public: pub})
	h.do("GET", "/api/v2/summary", "", "")
	h.do("GET", "/api/v2/summary", "", "")
	h.do("GET", "/nope", "", "")
	body := h.do("GET", "/metrics", "", "").Body.String()
	for _, want := range []string{
		`publicmask_http_requests_total{class="public",code="204",route="GET /api/v2/summary (renamed)"} 2`,
		`publicmask_http_requests_total{class="public",code="404",route="unmatched"} 1`,
		`publicmask_http_request_duration_seconds_count{class="public",route="GET /api/v2/summary (renamed)"} 2`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, `route="GET /api/v2/summary"}`) {
		t.Errorf("the renamed route counted under its pattern too")
	}
}

func TestLengthValue(t *testing.T) {
	for _, n := range []int{0, 1, 9, 10, 99, 100, 201, 2048, 4095, 4096, 123456, -1} {
		for range 2 { // made, then shared
			v := httpx.LengthValue(n)
			if len(v) != 1 || v[0] != strconv.Itoa(n) || cap(v) != 1 {
				t.Fatalf("%d: %q (cap %d)", n, v, cap(v))
			}
		}
	}
	h := http.Header{}
	h["Content-Length"] = httpx.LengthValue(42)
	h.Add("Content-Length", "7") // a full slice: copied, the shared one untouched
	if v := httpx.LengthValue(42); len(v) != 1 || v[0] != "42" {
		t.Fatalf("shared value changed: %q", v)
	}
}

// The lean writer's head is what net/http writes of the same header map
// (http.Header.Write: sorted, invalid names dropped, CR/LF as spaces,
// trimmed), for maps of every size around the insertion sort's limit.
func TestLeanHeadAsHeaderWrite(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"X-Request-Id", "Content-Type", "Cache-Control", "X-Content-Type-Options", "Content-Length",
		"Etag", "Vary", "X-Data-Version", "X-Data-As-Of", "Access-Control-Allow-Origin", "Retry-After", "A", "Z",
		"X-B", "X-A", "Bad Name", "", "Www-Authenticate", "Allow", "Date", "Connection", "Content-Encoding",
		"X-1", "X-2", "X-3", "X-4", "X-5", "x-lower"}
	values := []string{"", "v", " padded ", "a\r\nb", "x\ny", "\tt", "application/json; charset=utf-8"}
	for size := range 25 {
		for range 20 {
			h := http.Header{}
			for _, i := range rng.Perm(len(names))[:min(size, len(names))] {
				vs := make([]string, 1+rng.IntN(2))
				for j := range vs {
					vs[j] = values[rng.IntN(len(values))]
				}
				h[names[i]] = vs
			}
			var w leanWriter
			w.reset()
			for k, v := range h {
				w.h[k] = v
			}
			w.WriteHeader(200)
			var want bytes.Buffer
			bw := bufio.NewWriter(&want)
			h.Write(bw)
			bw.Flush()
			if string(w.head) != want.String() {
				t.Fatalf("%d names %v:\nlean %q\nwant %q", size, slices.Sorted(func(yield func(string) bool) {
					for k := range h {
						if !yield(k) {
							return
						}
					}
				}), w.head, want.String())
			}
		}
	}
}

// collectCount is how many series c has.
func collectCount(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for range ch {
		n++
	}
	return n
}

// A lean connection keeps its last token's hash, never its answer: a token
// revoked between two sales of one connection is refused at the next one,
// and tokens that change on a connection are each judged as themselves.
func TestLeanTokenRevokedOnTheConnection(t *testing.T) {
	led, tok := saleEnv(t)
	ctx := context.Background()
	tok2, err := led.IssueToken(ctx, publicmask.RoleOutlet, "A0000001")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := led.IssueToken(ctx, publicmask.RoleAdmin, "")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(Config{Logger: benchLogger()}, led)
	ll, c, br := dialLean(t, srv)
	body := `{"txn_id":"t-0000000001","buyer":"` + testenv.ID("830101", '1', 1) + `","quantity":2}`
	sale := func(tok string) string {
		return "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok +
			"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	do := func(tok string, want int) { t.Helper(); exchangeOne(t, c, br, sale(tok), want) }
	do(tok, http.StatusCreated)
	do(tok, http.StatusCreated)
	do(tok2, http.StatusCreated)
	do("pm_o_unknown", http.StatusUnauthorized)
	do(admin, http.StatusForbidden) // an admin token may not sell
	do(tok, http.StatusCreated)
	if err := led.RevokeToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	do(tok, http.StatusUnauthorized)
	do(tok2, http.StatusCreated)
	do(tok, http.StatusUnauthorized)
	if n, h := ll.Counts(); n != 9 || h != 0 {
		t.Fatalf("lean %d, handed over %d; want 9, 0", n, h)
	}
}

// A lean connection's requests share the storage of their reqInfo: nothing
// of one request's (its ID, route, error, outlet) reaches the next one's
// access log or answer.
func TestLeanRequestInfoNotCarriedOver(t *testing.T) {
	logs := &syncBuffer{}
	led, tok := saleEnv(t)
	srv := newServer(Config{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))}, led)
	ll, c, br := dialLean(t, srv)
	good := `{"txn_id":"t-0000000001","buyer":"` + testenv.ID("830101", '1', 1) + `","quantity":2}`
	sale := func(head, body string) string {
		return "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + tok + "\r\n" + head +
			"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	}
	ids := []string{}
	do := func(req string, want int) {
		t.Helper()
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("status %d, want %d", resp.StatusCode, want)
		}
		ids = append(ids, resp.Header.Get("X-Request-Id"))
	}
	do(sale("X-Request-Id: first-1\r\n", `{"txn_id":`), http.StatusBadRequest)
	do(sale("", good), http.StatusCreated)
	do(sale("X-Request-Id: third-3\r\n", good), http.StatusCreated)
	do(sale("", good), http.StatusCreated)
	if n, _ := ll.Counts(); n != 4 {
		t.Fatalf("%d lean requests", n)
	}
	if ids[0] != "first-1" || ids[2] != "third-3" || ids[1] == ids[0] || ids[3] == ids[2] || ids[1] == ids[3] || ids[1] == "" {
		t.Fatalf("request IDs %q", ids)
	}
	var lines []map[string]any
	for l := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m["msg"] == "http" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 4 {
		t.Fatalf("%d access log lines: %s", len(lines), logs)
	}
	for i, m := range lines {
		if m["request_id"] != ids[i] || m["route"] != "POST /api/v2/outlet/sales" || m["outlet"] != "A0000001" {
			t.Errorf("line %d: %v (id %s)", i, m, ids[i])
		}
		if _, has := m["error"]; has != (i == 0) {
			t.Errorf("line %d: error %v", i, m["error"])
		}
	}
}

// dialLean serves srv's handler through its lean listener on a port of
// its own and dials one connection to it, closed when the test ends.
func dialLean(t *testing.T, srv *Server) (*LeanListener, net.Conn, *bufio.Reader) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 90 * time.Second}
	ll := srv.LeanListener(ln, hs)
	go hs.Serve(ll)
	t.Cleanup(func() { hs.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return ll, c, bufio.NewReader(c)
}
