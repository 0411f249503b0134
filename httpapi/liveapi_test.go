package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/publicmask/publicmask/internal/testdata"
	"github.com/publicmask/publicmask/internal/testenv"
)

// liveAPI is the HTTP API over the real ledger and a temporary SQLite store
// (in this process, unlike the e2e package's real binary), with the clock on
// Wednesday 2020-03-11 10:00 KST under `standard`.
type liveAPI struct {
	t     *testing.T
	env   *testenv.Env
	url   string
	logs  *syncBuffer
	admin string
}

func newAPI(t *testing.T) *liveAPI {
	env := testenv.New(t)
	logs := &syncBuffer{}
	srv := New(Config{Ledger: env.Ledger, Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return &liveAPI{t: t, env: env, url: ts.URL, logs: logs, admin: env.AdminToken}
}

// on is e for the subtest t: its helpers fail t, not the test that made e.
func (e *liveAPI) on(t *testing.T) *liveAPI {
	c := *e
	c.t = t
	return &c
}

type resp struct {
	status int
	body   []byte
	header http.Header
}

func (r resp) code() string {
	var e errorBody
	json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (r resp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (e *liveAPI) call(method, path, token, ct, body string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{res.StatusCode, b, res.Header}
}

func (e *liveAPI) post(path, token, body string) resp { return e.call("POST", path, token, "", body) }

func (e *liveAPI) sale(token, txn, buyer string, qty int) resp {
	return e.post("/api/v2/outlet/sales", token, fmt.Sprintf(`{"txn_id":%q,"buyer":%q,"quantity":%d}`, txn, buyer, qty))
}

// setup imports outlets over the admin API, stocks some, and issues tokens.
func (e *liveAPI) setup() map[string]string {
	t := e.t
	csv := "code,name,addr,type,lat,lng\n" +
		"10000001,가약국,서울특별시 강북구 솔매로 38 (미아동),01,37.6254369,127.0164096\n" +
		"10000002,나약국,서울특별시 강북구 삼양로 247 3층 (미아동),01,37.6255182,127.017747\n" +
		"10000003,다약국,서울특별시 강북구 삼양로 255 (미아동),01,37.6261612,127.0180494\n" +
		"10000004,라약국,서울특별시 강북구 솔샘로 254 (미아동),01,37.627357,127.018375\n" +
		"5128205445,영주농협하나로마트평은점,경상북도 영주시 평은면 금광1리 260번지,03,,\n"
	r := e.call("PUT", "/api/v2/admin/outlets", e.admin, "text/csv", csv)
	var imp struct {
		Upserted int
		Rejected []struct {
			Line   int
			Code   string
			Reason string
		}
	}
	r.decode(t, &imp)
	if r.status != 200 || imp.Upserted != 4 || len(imp.Rejected) != 1 || imp.Rejected[0].Code != "5128205445" {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	r = e.post("/api/v2/admin/deliveries", e.admin,
		`[{"outlet":"10000001","quantity":100,"txn_id":"open-1"},{"outlet":"10000002","quantity":100,"txn_id":"open-2"},{"outlet":"10000004","quantity":100,"txn_id":"open-4"},{"outlet":"99999999","quantity":5,"txn_id":"open-x"}]`)
	var del struct{ Results []deliveryLineOut }
	r.decode(t, &del)
	if r.status != 200 || len(del.Results) != 4 || !del.Results[0].OK || !del.Results[2].OK || del.Results[3].OK || del.Results[3].Error.Code != "not_found" {
		t.Fatalf("deliveries: %d %s", r.status, r.body)
	}
	r = e.post("/api/v2/admin/tokens/bulk", e.admin, `{"outlets":["10000001","10000002","10000003","10000004"]}`)
	var bulk struct{ Tokens map[string]string }
	r.decode(t, &bulk)
	if r.status != 201 || len(bulk.Tokens) != 4 {
		t.Fatalf("tokens: %d %s", r.status, r.body)
	}
	if r := e.post("/api/v2/admin/tokens", e.admin, `{"role":"outlet","outlet":"77777777"}`); r.status != 404 || r.code() != "not_found" {
		t.Fatalf("token for unknown outlet: %d %s", r.status, r.body)
	}
	return bulk.Tokens
}

// The rationing core's rules over HTTP, step by step, on Wednesday
// 2020-03-11: each step builds on the last.
func TestSaleRulesOverHTTP(t *testing.T) {
	api := newAPI(t)
	tok := api.setup()
	a, b, c, d := tok["10000001"], tok["10000002"], tok["10000003"], tok["10000004"]
	step := func(name string, f func(t *testing.T, e *liveAPI)) {
		if !t.Run(name, func(t *testing.T) { f(t, api.on(t)) }) {
			t.FailNow()
		}
	}
	born83, born78 := testenv.Born(1983, 1), testenv.Born(1978, 5)
	bad := born83[:12] + string(rune('0'+(born83[12]-'0'+1)%10))
	var first resp
	var rec struct {
		SaleID string `json:"sale_id"`
		Items  []struct {
			Role              string
			Quantity          int
			RemainingThisWeek *int `json:"remaining_this_week"`
		}
		Outlet struct {
			Stock      int
			RemainStat string `json:"remain_stat"`
		}
	}

	step("a 1983 buyer takes 2 masks at outlet A", func(t *testing.T, e *liveAPI) {
		first = e.sale(a, "s-83", born83, 2)
		first.decode(t, &rec)
		if first.status != 201 || rec.SaleID == "" || rec.Outlet.Stock != 98 || len(rec.Items) != 1 || rec.Items[0].RemainingThisWeek == nil || *rec.Items[0].RemainingThisWeek != 0 {
			t.Fatalf("1983 at A: %d %s", first.status, first.body)
		}
	})
	step("refusals: quota at outlet B, wrong weekday, wrong check digit", func(t *testing.T, e *liveAPI) {
		if r := e.sale(b, "s-83b", born83, 1); r.status != 422 || r.code() != "quota_exceeded" {
			t.Errorf("1983 at B: %d %s", r.status, r.body)
		}
		if r := e.sale(a, "s-84", testenv.Born(1984, 2), 1); r.status != 422 || r.code() != "not_eligible_today" {
			t.Errorf("1984: %d %s", r.status, r.body)
		}
		if r := e.sale(a, "s-bad", bad, 1); r.status != 400 || r.code() != "invalid_id" {
			t.Errorf("bad check digit: %d %s", r.status, r.body)
		}
	})
	step("a retry gets the same answer with 200; another body under the txn_id 409", func(t *testing.T, e *liveAPI) {
		replay := e.sale(a, "s-83", born83, 2)
		if replay.status != 200 || !bytes.Equal(replay.body, first.body) {
			t.Errorf("replay: %d %s", replay.status, replay.body)
		}
		var rec2 struct {
			SaleID string `json:"sale_id"`
		}
		replay.decode(t, &rec2)
		if rec2.SaleID != rec.SaleID {
			t.Errorf("replay answered sale %q, first was %q", rec2.SaleID, rec.SaleID)
		}
		if r := e.sale(a, "s-83", born83, 1); r.status != 409 || r.code() != "txn_conflict" {
			t.Errorf("txn reuse: %d %s", r.status, r.body)
		}
	})
	step("an outlet that never received stock refuses", func(t *testing.T, e *liveAPI) {
		if r := e.sale(c, "s-c", testenv.Born(1988, 3), 1); r.status != 422 || r.code() != "out_of_stock" {
			t.Errorf("no stock: %d %s", r.status, r.body)
		}
	})
	step("a suspended outlet refuses and shows break until resumed", func(t *testing.T, e *liveAPI) {
		if r := e.post("/api/v2/outlet/suspend", d, ""); r.status != 200 {
			t.Fatalf("suspend: %d %s", r.status, r.body)
		}
		if r := e.sale(d, "s-d", testenv.Born(1988, 4), 1); r.status != 422 || r.code() != "sales_suspended" {
			t.Errorf("suspended: %d %s", r.status, r.body)
		}
		var ov struct {
			Code       string
			RemainStat *string `json:"remain_stat"`
			Suspended  bool
		}
		e.call("GET", "/api/v2/outlet", d, "", "").decode(t, &ov)
		if ov.Code != "10000004" || !ov.Suspended || ov.RemainStat == nil || *ov.RemainStat != "break" {
			t.Errorf("suspended outlet view: %+v", ov)
		}
		if r := e.post("/api/v2/outlet/resume", d, ""); r.status != 200 {
			t.Fatalf("resume: %d", r.status)
		}
		if r := e.sale(d, "s-d2", testenv.Born(1988, 4), 1); r.status != 201 {
			t.Errorf("after resume: %d %s", r.status, r.body)
		}
	})
	step("cancel frees the quota, only at the selling outlet", func(t *testing.T, e *liveAPI) {
		var s78 struct {
			SaleID string `json:"sale_id"`
		}
		e.sale(a, "s-78", born78, 2).decode(t, &s78)
		if r := e.post("/api/v2/outlet/sales/"+s78.SaleID+"/cancel", b, ""); r.status != 404 || r.code() != "not_found" {
			t.Errorf("B cancels A's sale: %d %s", r.status, r.body)
		}
		if r := e.sale(b, "s-78b", born78, 2); r.code() != "quota_exceeded" {
			t.Errorf("before cancel: %d %s", r.status, r.body)
		}
		if r := e.post("/api/v2/outlet/sales/"+s78.SaleID+"/cancel", a, ""); r.status != 200 {
			t.Fatalf("cancel: %d %s", r.status, r.body)
		}
		if r := e.sale(b, "s-78c", born78, 2); r.status != 201 {
			t.Errorf("after cancel: %d %s", r.status, r.body)
		}
	})
	step("the check says the same without recording", func(t *testing.T, e *liveAPI) {
		var chk struct {
			Eligible bool
			Persons  []struct {
				Reason *string
			}
		}
		e.post("/api/v2/outlet/check", a, fmt.Sprintf(`{"buyer":%q}`, born83)).decode(t, &chk)
		if chk.Eligible || len(chk.Persons) != 1 || chk.Persons[0].Reason == nil || *chk.Persons[0].Reason != "quota_exceeded" {
			t.Errorf("check: %+v", chk)
		}
	})
	step("the counter page's list has no person keys and marks the cancelled sale", func(t *testing.T, e *liveAPI) {
		r := e.call("GET", "/api/v2/outlet/sales?limit=10", a, "", "")
		var list struct {
			Sales []saleOut
		}
		r.decode(t, &list)
		cancelled := 0
		for _, s := range list.Sales {
			if s.Cancelled {
				cancelled++
			}
		}
		if r.status != 200 || len(list.Sales) != 2 || cancelled != 1 {
			t.Errorf("recent sales: %d %s", r.status, r.body)
		}
	})
	step("outlet tokens stay out of admin routes; a revoked token is refused", func(t *testing.T, e *liveAPI) {
		if r := e.call("GET", "/api/v2/admin/verify", a, "", ""); r.status != 403 {
			t.Errorf("outlet token on verify: %d", r.status)
		}
		if r := e.post("/api/v2/admin/tokens/revoke", e.admin, fmt.Sprintf(`{"token":%q}`, c)); r.status != 200 {
			t.Errorf("revoke: %d %s", r.status, r.body)
		}
		if r := e.call("GET", "/api/v2/outlet", c, "", ""); r.status != 401 {
			t.Errorf("revoked token: %d", r.status)
		}
	})
	step("the ledger verifies and no raw ID reached the log", func(t *testing.T, e *liveAPI) {
		e.verifyOK()
		for _, id := range []string{born83, born78, bad} {
			for _, form := range []string{id, id[:6] + "-" + id[6:]} {
				if strings.Contains(e.logs.String(), form) {
					t.Fatalf("raw ID in the log")
				}
			}
		}
	})
}

func (e *liveAPI) verifyOK() {
	e.t.Helper()
	r := e.call("GET", "/api/v2/admin/verify", e.admin, "", "")
	var v struct {
		OK         bool
		Violations []json.RawMessage
	}
	r.decode(e.t, &v)
	if r.status != 200 || !v.OK || v.Violations == nil || len(v.Violations) != 0 {
		e.t.Fatalf("verify: %d %s", r.status, r.body)
	}
}

// Dozens of buyers each trying four times at once across two outlets get
// exactly one purchase each, and the stock matches.
func TestConcurrentBuyersGetOnePurchaseEach(t *testing.T) {
	e := newAPI(t)
	tok := e.setup()
	outlets := []string{tok["10000001"], tok["10000002"]}
	const buyers, tries = 40, 4
	var (
		mu  sync.Mutex
		ok  = map[string]int{}
		bad []string
		wg  sync.WaitGroup
	)
	for i := range buyers {
		id := testenv.Born(1983, 100+i)
		for j := range tries {
			wg.Go(func() {
				r := e.sale(outlets[j%2], fmt.Sprintf("c-%d-%d", i, j), id, 1)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case r.status == 201:
					ok[id]++
				case r.code() != "quota_exceeded":
					bad = append(bad, fmt.Sprintf("%d %s", r.status, r.body))
				}
			})
		}
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("unexpected answers: %v", bad[:min(5, len(bad))])
	}
	sold := 0
	for id, n := range ok {
		if n != 1 {
			t.Errorf("buyer %s… bought %d times", id[:2], n)
		}
		sold += n
	}
	if len(ok) != buyers {
		t.Errorf("%d buyers bought, want %d", len(ok), buyers)
	}
	stock := 0
	for _, tk := range outlets {
		var v struct{ Stock int }
		e.call("GET", "/api/v2/outlet", tk, "", "").decode(t, &v)
		stock += v.Stock
	}
	if stock != 200-sold {
		t.Errorf("stock %d, want %d", stock, 200-sold)
	}
	e.verifyOK()
}

// A late sale from an outlet's offline outbox is accepted with its sold_at.
func TestLateSaleFromOutbox(t *testing.T) {
	e := newAPI(t)
	tok := e.setup()
	id := testenv.Born(1983, 7)
	// Tuesday evening: 1983 was not eligible then, but the masks were
	// handed over; the ledger records it and lists the conflict.
	r := e.post("/api/v2/outlet/sales", tok["10000001"], fmt.Sprintf(`{"txn_id":"late-1","buyer":%q,"quantity":1,"sold_at":"2020-03-10T18:00:00+09:00"}`, id))
	if r.status != 201 {
		t.Fatalf("late sale: %d %s", r.status, r.body)
	}
	var rec struct {
		SoldAt string `json:"sold_at"`
	}
	r.decode(t, &rec)
	if ts, err := time.Parse(time.RFC3339, rec.SoldAt); err != nil || !ts.Equal(time.Date(2020, 3, 10, 9, 0, 0, 0, time.UTC)) {
		t.Errorf("sold_at = %s", rec.SoldAt)
	}
	r = e.call("GET", "/api/v2/admin/conflicts", e.admin, "", "")
	var cs struct{ Conflicts []conflictOut }
	r.decode(t, &cs)
	if r.status != 200 || len(cs.Conflicts) != 1 || cs.Conflicts[0].Conflict != "not_eligible_today" || cs.Conflicts[0].TxnID != "late-1" {
		t.Errorf("conflicts: %d %s", r.status, r.body)
	}
	e.verifyOK()
}

// Quantities, IDs, categories and times are judged by the domain: the sale
// and the check refuse the same inputs with the contract's codes, and a
// refused sale names who was refused.
func TestDomainValidatesSaleAndCheck(t *testing.T) {
	e := newAPI(t)
	tok := e.setup()["10000001"]
	obo := func(n int) string {
		var ps []string
		for i := range n {
			ps = append(ps, fmt.Sprintf(`{"id":%q,"category":"child","quantity":1}`, testenv.Born(2012, i)))
		}
		return `"quantity":0,"on_behalf_of":[` + strings.Join(ps, ",") + `]`
	}
	buyer := testenv.Born(1983, 1)
	for _, tc := range []struct {
		name, fields string
		status       int
		code, say    string
	}{
		{"quantity negative", `"quantity":-1`, 400, "bad_request", "quantity"},
		{"quantity 11", `"quantity":11`, 400, "bad_request", "quantity: must be 0–10"},
		{"quantity 0 alone", `"quantity":0`, 400, "bad_request", "quantity"},
		{"11 proxies", obo(11), 400, "bad_request", "on_behalf_of: at most 10"},
		{"proxy category", `"quantity":0,"on_behalf_of":[{"id":"` + testenv.Born(2012, 1) + `","category":"cousin","quantity":1}]`, 400, "bad_request", "category"},
		{"proxy quantity 0", `"quantity":0,"on_behalf_of":[{"id":"` + testenv.Born(2012, 1) + `","category":"child","quantity":0}]`, 400, "bad_request", "on_behalf_of[0].quantity"},
		{"proxy bad check digit", `"quantity":0,"on_behalf_of":[{"id":"1203151234560","category":"child","quantity":1}]`, 400, "invalid_id", "on_behalf_of[0].id"},
		{"sold_at future", `"quantity":1,"sold_at":"2020-03-11T10:10:00+09:00"`, 400, "bad_request", "sold_at"},
		{"sold_at older than the late window", `"quantity":1,"sold_at":"2020-03-10T09:59:00+09:00"`, 422, "late_sale_too_old", "late window"},
		{"offline without sold_at", `"quantity":1,"offline":true`, 400, "bad_request", "sold_at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/api/v2/outlet/sales", "/api/v2/outlet/check"} {
				r := e.post(path, tok, `{"txn_id":"v","buyer":"`+buyer+`",`+tc.fields+`}`)
				var body errorBody
				json.Unmarshal(r.body, &body)
				if r.status != tc.status || body.Error.Code != tc.code || !strings.Contains(body.Error.Message, tc.say) {
					t.Errorf("%s: %d %s, want %d %s mentioning %q", path, r.status, r.body, tc.status, tc.code, tc.say)
				}
				if strings.Contains(string(r.body), buyer) {
					t.Errorf("%s echoed the buyer ID: %s", path, r.body)
				}
			}
		})
	}
	// A refusal names each person, the reason and the next date.
	r := e.post("/api/v2/outlet/sales", tok, fmt.Sprintf(`{"txn_id":"r1","buyer":%q,"quantity":1}`, testenv.Born(1984, 1)))
	var ref errorBody
	r.decode(t, &ref)
	if r.status != 422 || ref.Error.Code != "not_eligible_today" || len(ref.Error.Persons) != 1 || ref.Error.Persons[0].Role != "buyer" ||
		ref.Error.Persons[0].Reason == nil || *ref.Error.Persons[0].Reason != "not_eligible_today" || ref.Error.Persons[0].NextDate == nil || *ref.Error.Persons[0].NextDate != "2020-03-12" {
		t.Errorf("refusal: %d %s", r.status, r.body)
	}
}

// TestBuyerIDVectorsOverHTTP: every vector of the shared buyer-ID file
// (copied to rrn/testdata) through the check, as an outside checker sends
// it: a valid ID is judged, anything else is 400 invalid_id (DESIGN.md
// §4.3) — the empty ID too, which the HTTP layer once called a missing
// field (bad_request).
func TestBuyerIDVectorsOverHTTP(t *testing.T) {
	e := newAPI(t)
	tok := e.setup()["10000001"]
	rows := testdata.CSV(t, "../rrn/testdata/rrn-vectors.csv")
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, row := range rows[1:] {
		id, valid := row[col["id"]], row[col["valid"]] == "true"
		body, _ := json.Marshal(map[string]string{"buyer": id})
		r := e.post("/api/v2/outlet/check", tok, string(body))
		switch {
		case valid && r.status != 200:
			t.Errorf("%q (%s): %d %s, want 200", id, row[col["reason"]], r.status, r.body)
		case !valid && (r.status != 400 || r.code() != "invalid_id"):
			t.Errorf("%q (%s): %d %s, want 400 invalid_id", id, row[col["reason"]], r.status, r.body)
		}
	}
	// A proxy's ID is a buyer ID: empty is invalid_id as well.
	r := e.post("/api/v2/outlet/sales", tok, `{"txn_id":"p","buyer":"`+testenv.Born(1983, 1)+`","quantity":0,"on_behalf_of":[{"id":"","category":"child","quantity":1}]}`)
	if r.status != 400 || r.code() != "invalid_id" || !strings.Contains(string(r.body), "on_behalf_of[0].id") {
		t.Errorf("empty proxy ID: %d %s, want 400 invalid_id naming on_behalf_of[0].id", r.status, r.body)
	}
}

// The check takes the sale's exact body and agrees with the sale: a parent
// (not on their day) buying only for a child (on the child's day).
func TestCheckTakesTheSaleBody(t *testing.T) {
	e := newAPI(t)
	tok := e.setup()["10000001"]
	body := fmt.Sprintf(`{"txn_id":"p1","buyer":%q,"quantity":0,"on_behalf_of":[{"id":%q,"category":"child","quantity":1}]}`, testenv.Born(1984, 1), testenv.Born(2013, 2))
	var chk struct {
		Eligible bool    `json:"eligible"`
		Reason   *string `json:"reason"`
		Persons  []struct {
			Role              string `json:"role"`
			Eligible          bool   `json:"eligible"`
			RemainingThisWeek *int   `json:"remaining_this_week"`
		} `json:"persons"`
	}
	r := e.post("/api/v2/outlet/check", tok, body)
	r.decode(t, &chk)
	if r.status != 200 || !chk.Eligible || chk.Reason != nil || len(chk.Persons) != 2 || chk.Persons[1].Role != "proxy" || *chk.Persons[1].RemainingThisWeek != 2 {
		t.Fatalf("check: %d %s", r.status, r.body)
	}
	r = e.post("/api/v2/outlet/sales", tok, body)
	var rec struct {
		Items []struct {
			RemainingThisWeek *int `json:"remaining_this_week"`
		} `json:"items"`
	}
	r.decode(t, &rec)
	if r.status != 201 || len(rec.Items) != 2 || *rec.Items[1].RemainingThisWeek != 0 {
		t.Fatalf("sale: %d %s", r.status, r.body)
	}
	// The same check now: what the receipt said remains.
	r = e.post("/api/v2/outlet/check", tok, body)
	r.decode(t, &chk)
	if chk.Eligible || chk.Reason == nil || *chk.Reason != "quota_exceeded" || *chk.Persons[1].RemainingThisWeek != 0 {
		t.Fatalf("check after the sale: %s", r.body)
	}
	var o struct {
		Limits struct {
			MaxQuantityPerPerson int `json:"max_quantity_per_person"`
		} `json:"limits"`
		ProxyCategories []struct {
			Name     string `json:"name"`
			BornFrom int    `json:"born_from"`
		} `json:"proxy_categories"`
		IDCheck struct {
			Weights          []int `json:"weights"`
			VerifyCheckDigit bool  `json:"verify_check_digit"`
		} `json:"id_check"`
	}
	r = e.call("GET", "/api/v2/outlet", tok, "", "")
	r.decode(t, &o)
	if o.Limits.MaxQuantityPerPerson != 10 || len(o.ProxyCategories) != 4 || o.ProxyCategories[0].Name != "child" || o.ProxyCategories[0].BornFrom != 2010 ||
		len(o.IDCheck.Weights) != 12 || !o.IDCheck.VerifyCheckDigit {
		t.Fatalf("GET /api/v2/outlet: %s", r.body)
	}
}

// The national list of April 2020 through PUT /api/v2/admin/outlets: all
// but the five rows without coordinates are upserted.
func TestImportNationalList2020(t *testing.T) {
	data, err := os.ReadFile(testdata.Path(t, "outlets-2020/stores-2020-04.csv"))
	if err != nil {
		t.Fatal(err)
	}
	e := newAPI(t)
	r := e.call("PUT", "/api/v2/admin/outlets", e.admin, "text/csv; charset=utf-8", string(data))
	var imp struct {
		Upserted int
		Rejected []json.RawMessage
	}
	r.decode(t, &imp)
	if r.status != 200 || imp.Upserted != 26284 || len(imp.Rejected) != 5 {
		t.Fatalf("import: %d upserted %d rejected %d", r.status, imp.Upserted, len(imp.Rejected))
	}
	// Importing again changes nothing.
	r = e.call("PUT", "/api/v2/admin/outlets", e.admin, "", string(data))
	r.decode(t, &imp)
	if r.status != 200 || imp.Upserted != 0 {
		t.Errorf("second import: %d upserted %d", r.status, imp.Upserted)
	}
}
