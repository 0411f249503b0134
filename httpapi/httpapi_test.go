package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask"
)

type harness struct {
	t    *testing.T
	srv  *Server
	fake *fakeLedger
	h    http.Handler
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHarness(t *testing.T, cfg Config) *harness {
	t.Helper()
	logs := &syncBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	fake := newFake()
	var led ledgerAPI = fake
	if cfg.Role == RolePublic {
		led = nil
	}
	srv := newServer(cfg, led)
	return &harness{t: t, srv: srv, fake: fake, h: srv.Handler(), logs: logs}
}

func (h *harness) do(method, path, token, body string) *httptest.ResponseRecorder {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	return rec
}

// errorOf checks that rec is a JSON error with status and returns its code.
func errorOf(t *testing.T, rec *httptest.ResponseRecorder, status int) string {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type = %q", ct)
	}
	var e errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("not a JSON error body: %s (%v)", rec.Body, err)
	}
	return e.Error.Code
}

// Every ledger error reaches the client with its contract status; internal
// errors lose their detail; 503s carry Retry-After.
func TestLedgerErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{publicmask.Errorf(publicmask.EQuotaExceeded, "bought this week"), 422, "quota_exceeded"},
		{publicmask.Errorf(publicmask.ENotEligibleToday, "not today"), 422, "not_eligible_today"},
		{publicmask.Errorf(publicmask.EInvalidID, "bad id"), 400, "invalid_id"},
		{publicmask.Errorf(publicmask.ETxnConflict, "reused"), 409, "txn_conflict"},
		{publicmask.Errorf(publicmask.EOutOfStock, "empty"), 422, "out_of_stock"},
		{publicmask.Errorf(publicmask.ESalesSuspended, "break"), 422, "sales_suspended"},
		{publicmask.Errorf(publicmask.EStoreUnavailable, "db down"), 503, "store_unavailable"},
		{fmt.Errorf("wrapped: %w", publicmask.Errorf(publicmask.ENotFound, "no sale")), 404, "not_found"},
		{errors.New("sqlite: disk I/O error at /secret/path"), 500, "internal"},
	} {
		h := newHarness(t, Config{})
		h.fake.err = tc.err
		rec := h.do("POST", "/api/v2/outlet/sales", "tokA", `{"txn_id":"t1","buyer":"8303151992777","quantity":2}`)
		if got := errorOf(t, rec, tc.status); got != tc.code {
			t.Errorf("%v: code %q, want %q", tc.err, got, tc.code)
		}
		if tc.status == 503 && rec.Header().Get("Retry-After") == "" {
			t.Errorf("%v: no Retry-After", tc.err)
		}
		if tc.code == "internal" {
			if strings.Contains(rec.Body.String(), "secret") {
				t.Errorf("internal detail leaked: %s", rec.Body)
			}
			if !strings.Contains(h.logs.String(), "disk I/O error") {
				t.Errorf("internal error not logged")
			}
		}
	}
}

func TestRequestID(t *testing.T) {
	h := newHarness(t, Config{})
	a := h.do("GET", "/healthz", "", "")
	b := h.do("GET", "/nope", "", "")
	if a.Header().Get("X-Request-ID") == "" || b.Header().Get("X-Request-ID") == "" ||
		a.Header().Get("X-Request-ID") == b.Header().Get("X-Request-ID") {
		t.Fatalf("request IDs %q %q", a.Header().Get("X-Request-ID"), b.Header().Get("X-Request-ID"))
	}
	req := httptest.NewRequest("GET", "/healthz", nil)
	req.Header.Set("X-Request-ID", "lb-1234.abc")
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Request-ID"); got != "lb-1234.abc" {
		t.Errorf("incoming ID not kept: %q", got)
	}
	req.Header.Set("X-Request-ID", "evil\nlog line "+strings.Repeat("x", 100))
	rec = httptest.NewRecorder()
	h.h.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Request-ID"); strings.Contains(got, "evil") || got == "" {
		t.Errorf("bad incoming ID accepted: %q", got)
	}
	if !strings.Contains(h.logs.String(), `"request_id":"lb-1234.abc"`) {
		t.Errorf("request ID missing from the access log: %s", h.logs)
	}
}

func TestPanicIs500JSON(t *testing.T) {
	h := newHarness(t, Config{Public: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })})
	rec := h.do("GET", "/api/v2/summary", "", "")
	if code := errorOf(t, rec, 500); code != "internal" {
		t.Fatalf("code %q", code)
	}
	if rec.Header().Get("X-Request-ID") == "" {
		t.Error("no request ID on the 500")
	}
	if !strings.Contains(h.logs.String(), "panic serving request") || !strings.Contains(h.logs.String(), "boom") {
		t.Errorf("panic not logged: %s", h.logs)
	}
	// The server keeps serving.
	if rec := h.do("GET", "/healthz", "", ""); rec.Code != 200 {
		t.Fatalf("after panic: %d", rec.Code)
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	h := newHarness(t, Config{})
	if code := errorOf(t, h.do("GET", "/api/v2/nothing", "", ""), 404); code != "not_found" {
		t.Errorf("code %q", code)
	}
	rec := h.do("DELETE", "/api/v2/outlet/sales", "tokA", "")
	if code := errorOf(t, rec, 405); code != codeMethodNotAllowed {
		t.Errorf("code %q", code)
	}
	if allow := rec.Header().Get("Allow"); !strings.Contains(allow, "GET") || !strings.Contains(allow, "POST") {
		t.Errorf("Allow = %q", allow)
	}
}

func TestRoles(t *testing.T) {
	public := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("public")) })
	pub := newHarness(t, Config{Role: RolePublic, Public: public})
	for _, p := range []struct{ method, path string }{
		{"GET", "/api/v2/outlet"}, {"POST", "/api/v2/outlet/sales"}, {"PUT", "/api/v2/admin/outlets"},
		{"GET", "/api/v2/admin/verify"}, {"POST", "/api/v2/admin/tokens"},
	} {
		if code := errorOf(t, pub.do(p.method, p.path, "admin", `{}`), 404); code != "not_found" {
			t.Errorf("public role %s %s: %q", p.method, p.path, code)
		}
	}
	if rec := pub.do("GET", "/corona19-masks/v1/stores/json", "", ""); rec.Code != 200 || rec.Body.String() != "public" {
		t.Errorf("public route on public node: %d %s", rec.Code, rec.Body)
	}
	led := newHarness(t, Config{Role: RoleLedger, Public: public})
	for _, p := range []string{"/corona19-masks/v1/stores/json", "/api/v2/outlets/near?lat=37&lng=127", "/api/v2/summary", "/openapi.json"} {
		errorOf(t, led.do("GET", p, "", ""), 404)
	}
	if rec := led.do("GET", "/api/v2/outlet", "tokA", ""); rec.Code != 200 {
		t.Errorf("outlet route on ledger node: %d", rec.Code)
	}
	all := newHarness(t, Config{Public: public})
	for _, p := range []string{"/corona19-masks/v1/stores/json", "/api/v2/outlets/12345678", "/api/v2/stream?lat=1", "/api/v2/rules"} {
		if rec := all.do("GET", p, "", ""); rec.Code != 200 {
			t.Errorf("all role %s: %d", p, rec.Code)
		}
	}
}

func TestAuth(t *testing.T) {
	h := newHarness(t, Config{})
	rec := h.do("GET", "/api/v2/outlet", "", "")
	if code := errorOf(t, rec, 401); code != "unauthorized" {
		t.Errorf("no token: %q", code)
	}
	if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("WWW-Authenticate = %q", rec.Header().Get("WWW-Authenticate"))
	}
	errorOf(t, h.do("GET", "/api/v2/outlet", "nosuch", ""), 401)
	req := httptest.NewRequest("GET", "/api/v2/outlet", nil)
	req.Header.Set("Authorization", "Basic dG9rQQ==")
	r2 := httptest.NewRecorder()
	h.h.ServeHTTP(r2, req)
	errorOf(t, r2, 401)

	for _, tc := range []struct {
		method, path, token string
		status              int
	}{
		{"GET", "/api/v2/admin/verify", "tokA", 403},
		{"GET", "/api/v2/admin/verify", "dist", 403},
		{"GET", "/api/v2/outlet", "admin", 403},
		{"GET", "/api/v2/outlet", "dist", 403},
		{"GET", "/api/v2/admin/verify", "admin", 200},
		{"POST", "/api/v2/admin/deliveries", "tokA", 403},
	} {
		rec := h.do(tc.method, tc.path, tc.token, `[{"outlet":"A0000001","quantity":5,"txn_id":"d1"}]`)
		if tc.status == 403 {
			if code := errorOf(t, rec, 403); code != "forbidden" {
				t.Errorf("%s %s with %s: %q", tc.method, tc.path, tc.token, code)
			}
		} else if rec.Code != tc.status {
			t.Errorf("%s %s with %s: %d", tc.method, tc.path, tc.token, rec.Code)
		}
	}
	if rec := h.do("POST", "/api/v2/admin/deliveries", "dist", `[{"outlet":"A0000001","quantity":5,"txn_id":"d1"}]`); rec.Code != 200 {
		t.Errorf("distributor deliveries: %d %s", rec.Code, rec.Body)
	}
}

// An outlet token acts for its own outlet whatever the request says: the
// outlet routes take no outlet parameter, and unknown fields are refused.
func TestOutletTokenActsOnlyForItsOutlet(t *testing.T) {
	h := newHarness(t, Config{})
	for _, tc := range []struct{ method, path, body, call string }{
		{"GET", "/api/v2/outlet", "", "Outlet A0000001"},
		{"POST", "/api/v2/outlet/sales", `{"txn_id":"t","buyer":"8303151992777","quantity":1}`, "Sell A0000001"},
		{"POST", "/api/v2/outlet/sales/s-1/cancel", "", "Cancel A0000001"},
		{"POST", "/api/v2/outlet/deliveries", `{"txn_id":"d","quantity":100}`, "Deliver A0000001"},
		{"POST", "/api/v2/outlet/stock", `{"txn_id":"c","count":3}`, "CorrectStock A0000001"},
		{"POST", "/api/v2/outlet/suspend", "", "SetSuspended A0000001"},
		{"POST", "/api/v2/outlet/check", `{"buyer":"8303151992777"}`, "Check A0000001"},
		{"GET", "/api/v2/outlet/sales", "", "RecentSales A0000001"},
	} {
		rec := h.do(tc.method, tc.path, "tokA", tc.body)
		if rec.Code >= 300 {
			t.Errorf("%s %s: %d %s", tc.method, tc.path, rec.Code, rec.Body)
		}
		if got := h.fake.lastCall(); got != tc.call {
			t.Errorf("%s %s: ledger call %q, want %q", tc.method, tc.path, got, tc.call)
		}
	}
	// Naming outlet B in the body is refused, not obeyed.
	rec := h.do("POST", "/api/v2/outlet/deliveries", "tokA", `{"txn_id":"d2","quantity":100,"outlet":"B0000002"}`)
	errorOf(t, rec, 400)
	if got := h.fake.lastCall(); strings.Contains(got, "B0000002") {
		t.Errorf("acted for B: %q", got)
	}
}

func TestBadBodies(t *testing.T) {
	h := newHarness(t, Config{})
	judgedByLedger := map[string]bool{"txn missing": true, "txn bad chars": true, "txn too long": true,
		"delivery 0": true, "delivery huge": true, "delivery no txn": true, "count negative": true}
	big := `{"txn_id":"t","buyer":"` + strings.Repeat("1", 2<<20) + `"}`
	for _, tc := range []struct {
		name, path, body string
		status           int
		code, mention    string
	}{
		{"2 MB body", "/api/v2/outlet/sales", big, 413, "body_too_large", ""},
		// Too large whatever it holds: the size is judged before the syntax.
		{"2 MB not JSON", "/api/v2/outlet/sales", strings.Repeat("a", 2<<20), 413, "body_too_large", ""},
		{"2 MB check not JSON", "/api/v2/outlet/check", strings.Repeat("a", 2<<20), 413, "body_too_large", ""},
		{"empty body", "/api/v2/outlet/sales", "", 400, "bad_request", "empty"},
		{"malformed", "/api/v2/outlet/sales", `{"txn_id":"t",`, 400, "bad_request", "malformed"},
		{"not JSON", "/api/v2/outlet/sales", `txn_id=t`, 400, "bad_request", "malformed"},
		{"two values", "/api/v2/outlet/sales", `{"txn_id":"t","buyer":"8303151992777","quantity":1} {}`, 400, "bad_request", "single"},
		{"array", "/api/v2/outlet/sales", `[]`, 400, "bad_request", "object"},
		{"unknown field", "/api/v2/outlet/sales", `{"txn_id":"t","buyer":"8303151992777","quantity":1,"qty":2}`, 400, "bad_request", "unknown field: qty"},
		{"quantity string", "/api/v2/outlet/sales", `{"txn_id":"t","buyer":"8303151992777","quantity":"2"}`, 400, "bad_request", "quantity: wrong type"},
		{"quantity float", "/api/v2/outlet/sales", `{"txn_id":"t","buyer":"8303151992777","quantity":1.5}`, 400, "bad_request", "quantity: wrong type"},
		{"quantity huge", "/api/v2/outlet/sales", `{"txn_id":"t","buyer":"8303151992777","quantity":1e30}`, 400, "bad_request", "quantity: wrong type"},
		{"buyer number", "/api/v2/outlet/sales", `{"txn_id":"t","buyer":8303151992777,"quantity":1}`, 400, "bad_request", "buyer: wrong type (got number"},
		{"buyer missing", "/api/v2/outlet/sales", `{"txn_id":"t","quantity":1}`, 400, "invalid_id", "buyer"},
		{"buyer absurd", "/api/v2/outlet/sales", `{"txn_id":"t","buyer":"` + strings.Repeat("9", 40) + `","quantity":1}`, 400, "invalid_id", ""},
		{"txn missing", "/api/v2/outlet/sales", `{"buyer":"8303151992777","quantity":1}`, 400, "bad_request", "txn_id"},
		{"txn bad chars", "/api/v2/outlet/sales", `{"txn_id":"a b/c","buyer":"8303151992777","quantity":1}`, 400, "bad_request", "txn_id"},
		{"txn too long", "/api/v2/outlet/sales", `{"txn_id":"` + strings.Repeat("a", 65) + `","buyer":"8303151992777","quantity":1}`, 400, "bad_request", "txn_id"},
		{"sold_at garbage", "/api/v2/outlet/sales", `{"txn_id":"t","buyer":"8303151992777","quantity":1,"sold_at":"yesterday"}`, 400, "bad_request", "sold_at"},
		{"delivery 0", "/api/v2/outlet/deliveries", `{"txn_id":"d","quantity":0}`, 400, "bad_request", "quantity"},
		{"delivery huge", "/api/v2/outlet/deliveries", `{"txn_id":"d","quantity":100001}`, 400, "bad_request", "quantity"},
		{"delivery no txn", "/api/v2/outlet/deliveries", `{"quantity":5}`, 400, "bad_request", "txn_id"},
		{"count missing", "/api/v2/outlet/stock", `{"txn_id":"c"}`, 400, "bad_request", "count"},
		{"count negative", "/api/v2/outlet/stock", `{"txn_id":"c","count":-3}`, 400, "bad_request", "count"},
		{"check no buyer", "/api/v2/outlet/check", `{}`, 400, "invalid_id", "buyer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(h.fake.calls)
			rec := h.do("POST", tc.path, "tokA", tc.body)
			if code := errorOf(t, rec, tc.status); code != tc.code {
				t.Errorf("code %q, want %q (%s)", code, tc.code, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), tc.mention) {
				t.Errorf("message does not mention %s: %s", tc.mention, rec.Body)
			}
			if strings.Contains(rec.Body.String(), "8303151992777") {
				t.Errorf("buyer ID echoed: %s", rec.Body)
			}
			// txn_ids, quantities and counts are the domain's to judge
			// (ledger/limits.go); the shape alone never reaches the ledger.
			if len(h.fake.calls) != n && !judgedByLedger[tc.name] {
				t.Errorf("the ledger was called: %v", h.fake.calls[n:])
			}
		})
	}
	if strings.Contains(h.logs.String(), "8303151992777") || strings.Contains(h.logs.String(), "1203011234567") {
		t.Error("a buyer ID reached the log")
	}
	if rec := h.do("GET", "/readyz", "", ""); rec.Code != 200 {
		t.Errorf("not ready after bad bodies: %d", rec.Code)
	}
}

func TestSaleAccepted(t *testing.T) {
	h := newHarness(t, Config{})
	body := `{"txn_id":"t-1","buyer":"830315-1992777","quantity":0,"sold_at":"2020-03-10T18:00:00+09:00","on_behalf_of":[{"id":"1203011234567","category":"child","quantity":2}]}`
	rec := h.do("POST", "/api/v2/outlet/sales", "tokA", body)
	if rec.Code != 201 {
		t.Fatalf("first: %d %s", rec.Code, rec.Body)
	}
	if rec := h.do("POST", "/api/v2/outlet/sales", "tokA", body); rec.Code != 200 {
		t.Fatalf("replay: %d %s", rec.Code, rec.Body)
	}
	req := h.fake.sales[0]
	if req.Outlet != "A0000001" || req.Buyer != "830315-1992777" || len(req.OnBehalfOf) != 1 ||
		req.OnBehalfOf[0].Quantity != 2 || req.SoldAt.IsZero() {
		t.Errorf("request = %+v", req)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
}

func TestRecentSalesHidePersons(t *testing.T) {
	h := newHarness(t, Config{})
	rec := h.do("GET", "/api/v2/outlet/sales?limit=5", "tokA", "")
	if rec.Code != 200 || strings.Contains(rec.Body.String(), "PERSONKEY") || !strings.Contains(rec.Body.String(), `"cancelled":true`) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	errorOf(t, h.do("GET", "/api/v2/outlet/sales?limit=0", "tokA", ""), 400)
	errorOf(t, h.do("GET", "/api/v2/outlet/sales?limit=x", "tokA", ""), 400)
	rec = h.do("GET", "/api/v2/admin/conflicts", "admin", "")
	if rec.Code != 200 || strings.Contains(rec.Body.String(), "PERSONKEY") || !strings.Contains(rec.Body.String(), `"birth_year":1983`) {
		t.Fatalf("conflicts: %d %s", rec.Code, rec.Body)
	}
}

func TestAdmin(t *testing.T) {
	h := newHarness(t, Config{})
	csv := "code,name,addr,type,lat,lng\nA0000001,가약국,서울,01,37.5,127\nX1,no coords,서울,03,,\n"
	for _, ct := range []string{"text/csv", ""} {
		req := httptest.NewRequest("PUT", "/api/v2/admin/outlets", strings.NewReader(csv))
		req.Header.Set("Authorization", "Bearer admin")
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		rec := httptest.NewRecorder()
		h.h.ServeHTTP(rec, req)
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"upserted":1`) || !strings.Contains(rec.Body.String(), `"rejected":[{"line":3,"code":"X1","reason":"missing coordinates"}]`) {
			t.Errorf("CSV import (%q): %d %s", ct, rec.Code, rec.Body)
		}
	}
	rec := h.do("PUT", "/api/v2/admin/outlets", "admin", `{"storeInfos":[{"code":"A1","name":"n","addr":"a","type":"02","lat":"37","lng":"127"}]}`)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"upserted":1,"rejected":[]`) || h.fake.imported[0].Type != "02" {
		t.Errorf("JSON import: %d %s", rec.Code, rec.Body)
	}
	errorOf(t, h.do("PUT", "/api/v2/admin/outlets", "admin", `{"nope":1}`), 400)

	rec = h.do("POST", "/api/v2/admin/tokens", "admin", `{"role":"outlet","outlet":"A0000001"}`)
	if rec.Code != 201 || !strings.Contains(rec.Body.String(), `"token":"tok-outlet-A0000001"`) {
		t.Errorf("issue: %d %s", rec.Code, rec.Body)
	}
	if code := errorOf(t, h.do("POST", "/api/v2/admin/tokens", "admin", `{"role":"outlet","outlet":"Z9"}`), 404); code != "not_found" {
		t.Errorf("unknown outlet: %q", code)
	}
	errorOf(t, h.do("POST", "/api/v2/admin/tokens", "admin", `{"role":"admin"}`), 400)
	errorOf(t, h.do("POST", "/api/v2/admin/tokens", "admin", `{"role":"outlet"}`), 400)
	if rec := h.do("POST", "/api/v2/admin/tokens", "admin", `{"role":"distributor"}`); rec.Code != 201 {
		t.Errorf("distributor token: %d", rec.Code)
	}

	rec = h.do("POST", "/api/v2/admin/tokens/bulk", "admin", `{"outlets":["A0000001","B0000002","Z9","A0000001"]}`)
	var bulk struct {
		Tokens   map[string]string
		Rejected []struct{ Code, Reason string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &bulk); err != nil || rec.Code != 201 ||
		len(bulk.Tokens) != 2 || bulk.Tokens["B0000002"] != "tok-outlet-B0000002" || len(bulk.Rejected) != 1 || bulk.Rejected[0].Code != "Z9" {
		t.Errorf("bulk: %d %s", rec.Code, rec.Body)
	}
	if rec := h.do("POST", "/api/v2/admin/tokens/revoke", "admin", `{"token":"tokB"}`); rec.Code != 200 {
		t.Errorf("revoke: %d", rec.Code)
	}
	if rec := h.do("DELETE", "/api/v2/admin/tokens", "admin", `{"token":"tokB"}`); rec.Code != 200 {
		t.Errorf("revoke by DELETE: %d", rec.Code)
	}

	rec = h.do("POST", "/api/v2/admin/deliveries", "admin",
		`[{"outlet":"A0000001","quantity":250,"txn_id":"d1"},{"outlet":"Z9","quantity":5,"txn_id":"d2"},{"outlet":"B0000002","quantity":-5,"txn_id":"d3"}]`)
	var dres struct {
		Results []deliveryLineOut
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &dres); err != nil || rec.Code != 200 || len(dres.Results) != 3 {
		t.Fatalf("deliveries: %d %s", rec.Code, rec.Body)
	}
	if !dres.Results[0].OK || dres.Results[0].Receipt.Stock != 250 ||
		dres.Results[1].OK || dres.Results[1].Error.Code != "not_found" ||
		dres.Results[2].OK || dres.Results[2].Error.Code != "bad_request" {
		t.Errorf("deliveries: %s", rec.Body)
	}
	if rec := h.do("GET", "/api/v2/admin/verify", "admin", ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"violations":[]`) {
		t.Errorf("verify: %d %s", rec.Code, rec.Body)
	}
}

func TestImportBodyLimit(t *testing.T) {
	h := newHarness(t, Config{ImportMaxBytes: 1 << 20})
	body := "code,name,addr,type,lat,lng\n" + strings.Repeat("A1,n,a,01,37,127\n", 2<<20/17)
	if code := errorOf(t, h.do("PUT", "/api/v2/admin/outlets", "admin", body), 413); code != "body_too_large" {
		t.Errorf("code %q", code)
	}
}

func TestHealthReady(t *testing.T) {
	h := newHarness(t, Config{Ready: func(ctx context.Context) error { return errors.New("ping: connection refused") }})
	if rec := h.do("GET", "/healthz", "", ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), `"ok"`) {
		t.Errorf("healthz: %d %s", rec.Code, rec.Body)
	}
	rec := h.do("GET", "/readyz", "", "")
	if code := errorOf(t, rec, 503); code != "store_unavailable" || rec.Header().Get("Retry-After") == "" {
		t.Errorf("readyz: %q %v", code, rec.Header())
	}
	if strings.Contains(rec.Body.String(), "refused") {
		t.Errorf("internal detail leaked: %s", rec.Body)
	}
	ok := newHarness(t, Config{})
	if rec := ok.do("GET", "/readyz", "", ""); rec.Code != 200 {
		t.Errorf("readyz nil: %d", rec.Code)
	}
}

// TestReadyzLogPaced: a node that stays unready is probed by its load
// balancer every second or so; on main each probe logged a WARN line (on a
// full disk, to the disk that is full). The change of state is logged, then
// at most a line per unreadyLogEvery with the count, and the return.
func TestReadyzLogPaced(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	h := newHarness(t, Config{Ready: func(ctx context.Context) error {
		if failing.Load() {
			return errors.New("disk full")
		}
		return nil
	}})
	for range 100 {
		errorOf(t, h.do("GET", "/readyz", "", ""), 503)
	}
	if n := strings.Count(h.logs.String(), `"level":"WARN"`); n != 1 || !strings.Contains(h.logs.String(), "not ready") {
		t.Errorf("%d WARN lines after 100 probes, want 1 (not ready):\n%s", n, h.logs.String())
	}
	failing.Store(false)
	for range 3 {
		if rec := h.do("GET", "/readyz", "", ""); rec.Code != 200 {
			t.Fatalf("readyz: %d", rec.Code)
		}
	}
	logs := h.logs.String()
	if n := strings.Count(logs, "ready again"); n != 1 || !strings.Contains(logs, `"unready_probes":100`) {
		t.Errorf("the return is not logged once with the count:\n%s", logs)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := newHarness(t, Config{Registerer: reg, Gatherer: reg})
	h.do("POST", "/api/v2/outlet/sales/s-1/cancel", "tokA", "")
	h.do("GET", "/api/v2/outlet", "", "")
	rec := h.do("GET", "/metrics", "", "")
	body := rec.Body.String()
	for _, want := range []string{
		`publicmask_http_requests_total{class="outlet",code="200",route="POST /api/v2/outlet/sales/{sale_id}/cancel"} 1`,
		`publicmask_http_requests_total{class="outlet",code="401",route="GET /api/v2/outlet"} 1`,
		`publicmask_http_request_duration_seconds_bucket{class="outlet",route="POST /api/v2/outlet/sales/{sale_id}/cancel",le="0.005"}`,
		`publicmask_http_in_flight{class="public"} 0`,
		`publicmask_http_shed_total{class="public"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, `route="/api/v2/outlet/sales/s-1/cancel"`) {
		t.Error("raw path used as a route label")
	}
	// A second server on the same registry reuses the collectors.
	newHarness(t, Config{Registerer: reg, Gatherer: reg})
}

func TestPagesMounted(t *testing.T) {
	pages := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("page " + r.URL.Path)) })
	h := newHarness(t, Config{Pages: pages})
	for _, p := range []string{"/", "/outlet", "/status", "/static/app.js", "/?lat=37.5&lng=127"} {
		if rec := h.do("GET", p, "", ""); rec.Code != 200 || !strings.HasPrefix(rec.Body.String(), "page /") {
			t.Errorf("%s: %d %s", p, rec.Code, rec.Body)
		}
	}
	errorOf(t, h.do("GET", "/index.php", "", ""), 404)
	errorOf(t, h.do("POST", "/", "", ""), 405)
}

// The counter page, its assets and its service worker are outlet routes: a
// public node, which has no outlet API for them to call, answers 404 like
// for the API (nginx sends /outlet to the ledger nodes); the others serve it.
func TestCounterPageOnlyOnLedgerRoles(t *testing.T) {
	public := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("public")) })
	pages := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("page")) })
	paths := []string{"/outlet", "/outlet/sw.js", "/outlet/v-1/js/outlet.js"}
	pub := newHarness(t, Config{Role: RolePublic, Public: public, Pages: pages})
	for _, p := range paths {
		if code := errorOf(t, pub.do("GET", p, "", ""), 404); code != "not_found" {
			t.Errorf("public role GET %s: %q", p, code)
		}
	}
	for _, p := range []string{"/", "/status", "/overview"} {
		if rec := pub.do("GET", p, "", ""); rec.Code != 200 || rec.Body.String() != "page" {
			t.Errorf("public role GET %s: %d %s", p, rec.Code, rec.Body)
		}
	}
	for _, role := range []string{RoleAll, RoleLedger} {
		h := newHarness(t, Config{Role: role, Public: public, Pages: pages})
		for _, p := range paths {
			if rec := h.do("GET", p, "", ""); rec.Code != 200 || rec.Body.String() != "page" {
				t.Errorf("%s role GET %s: %d %s", role, p, rec.Code, rec.Body)
			}
		}
	}
}

// A delivery list's slice is sized from the body before decoding: bodies
// that are not a list of lines still answer as before.
func TestDeliveryListShapes(t *testing.T) {
	h := newHarness(t, Config{})
	for _, c := range []struct{ body, want string }{
		{`[]`, "body must be an array of 1–100000 delivery lines"},
		{`null`, "body must be an array of 1–100000 delivery lines"},
		{`{}`, "body must be a JSON array, not object"},
		{`[{"outlet":"A0000001","quantity":1,"txn_id":"d1"}] {}`, "body must contain a single JSON value"},
		{`[{"outlet":"A0000001","quantity":"1","txn_id":"d1"}]`, "quantity: wrong type (got string, want integer)"},
	} {
		rec := h.do("POST", "/api/v2/admin/deliveries", "admin", c.body)
		var e struct {
			Error struct{ Code, Message string }
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || rec.Code != 400 || e.Error.Message != c.want {
			t.Errorf("%s: %d %s, want 400 %q", c.body, rec.Code, rec.Body, c.want)
		}
	}
	rec := h.do("POST", "/api/v2/admin/deliveries", "admin", `[{"outlet":"A0000001","quantity":1,"txn_id":"d1"},{"outlet":"A0000001","quantity":2,"txn_id":"d2"}]`)
	var dres struct{ Results []deliveryLineOut }
	if err := json.Unmarshal(rec.Body.Bytes(), &dres); err != nil || rec.Code != 200 || len(dres.Results) != 2 || !dres.Results[0].OK || !dres.Results[1].OK || dres.Results[1].TxnID != "d2" {
		t.Errorf("list: %d %s", rec.Code, rec.Body)
	}
}
