package httpapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/seal"
)

func newSealAPI(t *testing.T) (*liveAPI, *seal.Key) {
	env := testenv.New(t)
	k, err := seal.NewKey(env.Secret)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	srv := New(Config{Ledger: env.Ledger, Seal: k, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &liveAPI{t: t, env: env, url: ts.URL, logs: logs, admin: env.AdminToken}, k
}

func sealIDs(t *testing.T, pub, outlet, txn, buyer string, proxies []map[string]any) string {
	t.Helper()
	pt, _ := json.Marshal(map[string]any{"buyer": buyer, "on_behalf_of": proxies})
	s, err := seal.Seal(pub, pt, outlet, txn)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A sealed sale and its plain equivalent are one sale: the same verdict,
// the same receipt on replay, the same conflict with another body.
func TestSealedSaleIsThePlainSale(t *testing.T) {
	e, k := newSealAPI(t)
	tok := e.setup()
	a := tok["10000001"]

	var ov struct {
		Code    string `json:"code"`
		SealKey string `json:"seal_key"`
	}
	e.call("GET", "/api/v2/outlet", a, "", "").decode(t, &ov)
	if ov.SealKey != k.PublicKey() || ov.Code != "10000001" {
		t.Fatalf("GET /api/v2/outlet: code %q, seal_key %q; want the server's key", ov.Code, ov.SealKey)
	}

	buyer := "8303151234561"
	child := []map[string]any{{"id": "1303013234561", "category": "child", "quantity": 1}}
	sealed := sealIDs(t, ov.SealKey, "10000001", "s-1", buyer, child)
	body := fmt.Sprintf(`{"txn_id":"s-1","quantity":1,"sealed":%q}`, sealed)
	first := e.post("/api/v2/outlet/sales", a, body)
	if first.status != 201 {
		t.Fatalf("sealed sale: %d %s", first.status, first.body)
	}
	// The plain body of the same sale replays it (200, same receipt).
	plain := fmt.Sprintf(`{"txn_id":"s-1","buyer":%q,"quantity":1,"on_behalf_of":[{"id":"1303013234561","category":"child","quantity":1}]}`, buyer)
	again := e.post("/api/v2/outlet/sales", a, plain)
	if again.status != 200 || string(again.body) != string(first.body) {
		t.Fatalf("plain replay of a sealed sale: %d %s; first %s", again.status, again.body, first.body)
	}
	// A fresh seal of the same IDs replays it too (each seal differs).
	if r := e.post("/api/v2/outlet/sales", a, fmt.Sprintf(`{"txn_id":"s-1","quantity":1,"sealed":%q}`, sealIDs(t, ov.SealKey, "10000001", "s-1", buyer, child))); r.status != 200 || string(r.body) != string(first.body) {
		t.Fatalf("sealed replay: %d %s", r.status, r.body)
	}
	// Another buyer under the same txn_id: 409, sealed or not.
	other := sealIDs(t, ov.SealKey, "10000001", "s-1", "8303151234577", child)
	if r := e.post("/api/v2/outlet/sales", a, fmt.Sprintf(`{"txn_id":"s-1","quantity":1,"sealed":%q}`, other)); r.status != 409 || r.code() != "txn_conflict" {
		t.Fatalf("sealed body with another buyer under the same txn_id: %d %s", r.status, r.body)
	}
	// The same buyer again in a new transaction: refused as the plain sale
	// would be (one purchase a week), with the same code.
	s2 := sealIDs(t, ov.SealKey, "10000001", "s-2", buyer, nil)
	sr := e.post("/api/v2/outlet/sales", a, fmt.Sprintf(`{"txn_id":"s-2","quantity":1,"sealed":%q}`, s2))
	pr := e.post("/api/v2/outlet/sales", a, fmt.Sprintf(`{"txn_id":"s-3","buyer":%q,"quantity":1}`, buyer))
	if sr.status != pr.status || sr.code() != pr.code() || sr.status != 422 {
		t.Fatalf("second purchase: sealed %d %s, plain %d %s", sr.status, sr.body, pr.status, pr.body)
	}

	bad := []struct{ name, body string }{
		{"other txn_id", fmt.Sprintf(`{"txn_id":"s-9","quantity":1,"sealed":%q}`, sealed)},
		{"sealed and buyer", fmt.Sprintf(`{"txn_id":"s-1","buyer":%q,"quantity":1,"sealed":%q}`, buyer, sealed)},
		{"garbage", `{"txn_id":"s-8","quantity":1,"sealed":"v1.AAAA"}`},
	}
	for _, c := range bad {
		if r := e.post("/api/v2/outlet/sales", a, c.body); r.status != 400 || r.code() != "bad_request" {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
	}
	// Another outlet's token cannot open this outlet's sealed body.
	if r := e.post("/api/v2/outlet/sales", tok["10000002"], body); r.status != 400 {
		t.Errorf("sealed body under another outlet's token: %d %s", r.status, r.body)
	}
}

// The check takes the sale's whole body and gives exactly the verdict the
// sale would get (DESIGN.md §4.3), and a whole sale body may come sealed
// (§6.2) or carry a txn_id the sale refuses. The check used to ignore both:
// a sealed body was judged as one without a buyer (400 invalid_id where the
// sale answers 201), and a malformed txn_id was judged eligible (200 where
// the sale answers 400 bad_request).
func TestCheckGivesTheSaleVerdictForItsWholeBody(t *testing.T) {
	e, k := newSealAPI(t)
	tok := e.setup()
	a := tok["10000001"]
	buyer := "8303151234561" // born 1983: may buy on Wednesday, the test clock's day

	sealed := sealIDs(t, k.PublicKey(), "10000001", "c-1", buyer, nil)
	body := fmt.Sprintf(`{"txn_id":"c-1","quantity":1,"sealed":%q}`, sealed)
	var chk struct {
		Eligible bool `json:"eligible"`
		Persons  []struct {
			Role              string `json:"role"`
			RemainingThisWeek int    `json:"remaining_this_week"`
		} `json:"persons"`
	}
	r := e.post("/api/v2/outlet/check", a, body)
	r.decode(t, &chk)
	if r.status != 200 || !chk.Eligible || len(chk.Persons) != 1 || chk.Persons[0].Role != "buyer" || chk.Persons[0].RemainingThisWeek != 2 {
		t.Fatalf("check of a sealed sale body: %d %s, want 200 eligible with the buyer", r.status, r.body)
	}
	// A sealed body the sale cannot open, the check cannot either: another
	// outlet's token, or another txn_id.
	for name, c := range map[string]struct{ token, body string }{
		"another outlet": {tok["10000002"], body},
		"another txn_id": {a, fmt.Sprintf(`{"txn_id":"c-2","quantity":1,"sealed":%q}`, sealed)},
	} {
		for _, path := range []string{"/api/v2/outlet/check", "/api/v2/outlet/sales"} {
			if r := e.post(path, c.token, c.body); r.status != 400 || r.code() != "bad_request" {
				t.Errorf("%s, %s: %d %s, want 400 bad_request", name, path, r.status, r.body)
			}
		}
	}
	// A txn_id the sale refuses: the check refuses it too. Left out, as the
	// counter page sends its checks, it is not asked for.
	for _, txn := range []string{"has space", strings.Repeat("x", 65), "t-" + buyer} {
		b := fmt.Sprintf(`{"txn_id":%q,"buyer":%q,"quantity":1}`, txn, buyer)
		for _, path := range []string{"/api/v2/outlet/check", "/api/v2/outlet/sales"} {
			if r := e.post(path, a, b); r.status != 400 || r.code() != "bad_request" || !strings.Contains(string(r.body), "txn_id") {
				t.Errorf("txn_id %q, %s: %d %s, want 400 bad_request about txn_id", txn, path, r.status, r.body)
			}
		}
	}
	if r := e.post("/api/v2/outlet/check", a, fmt.Sprintf(`{"buyer":%q,"quantity":1}`, buyer)); r.status != 200 {
		t.Errorf("check without txn_id: %d %s", r.status, r.body)
	}
	// The sealed sale itself, then the check agrees with what it recorded.
	if r := e.post("/api/v2/outlet/sales", a, body); r.status != 201 {
		t.Fatalf("sealed sale: %d %s", r.status, r.body)
	}
	r = e.post("/api/v2/outlet/check", a, fmt.Sprintf(`{"txn_id":"c-3","quantity":1,"sealed":%q}`, sealIDs(t, k.PublicKey(), "10000001", "c-3", buyer, nil)))
	var after struct {
		Eligible bool    `json:"eligible"`
		Reason   *string `json:"reason"`
	}
	r.decode(t, &after)
	if r.status != 200 || after.Eligible || after.Reason == nil || *after.Reason != "quota_exceeded" {
		t.Errorf("sealed check after the sale: %d %s, want 200 quota_exceeded", r.status, r.body)
	}
}
