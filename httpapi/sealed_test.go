package httpapi

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
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
