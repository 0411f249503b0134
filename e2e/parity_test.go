package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// parityDeployment is one way of running the service: the nodes that take
// writes (in turn, one per step) and the node that serves public reads.
type parityDeployment struct {
	name    string
	writers []*server
	reader  *server
	tokens  map[string]string // outlet code → token
	ids     map[string]string // placeholder → this deployment's ID (sale_id by txn)
	names   map[string]string // this deployment's ID → placeholder
	step    int
}

// parityStep is one request of the script. path may name a sale by the
// txn_id that made it: {sale:TXN}. token is "admin", "outlet:CODE" or "".
type parityStep struct {
	name, method, path, token string
	body                      any
	public                    bool // a public read: wait for the reader to catch up
}

// TestStoreParity runs one script of requests against a SQLite node, a
// PostgreSQL node of role all, and two PostgreSQL ledger nodes (in turn)
// with a public node (DESIGN.md §2, §3: SQLite for one machine, PostgreSQL
// for production, the same contract): every answer — status, JSON fields,
// error codes and messages, receipts, replays, quota decisions, cancels,
// late sales and the check's verdict on them, verify and the conflicts,
// stock on v1 and v2 reads — must be the same, once IDs, tokens and the
// times of now are replaced by placeholders. A public read on the public
// node is retried for up to 3 s (its snapshot follows the store, ≤ 1 s).
func TestStoreParity(t *testing.T) {
	skipShort(t, "runs five real processes")
	dir := t.TempDir()
	secret := secretFile(t, dir)
	clock := []string{"--seed", "none", "--clock", "2020-03-11T10:00:00+09:00", "--secret-file", secret}
	lite := start(t, append([]string{"--db", filepath.Join(dir, "pm.db")}, clock...)...)
	all := start(t, append([]string{"--db", pgDSN(t)}, clock...)...)
	dsn := pgDSN(t)
	l1 := start(t, append([]string{"--db", dsn, "--role", "ledger"}, clock...)...)
	l2 := start(t, append([]string{"--db", dsn, "--role", "ledger"}, clock...)...)
	pub := start(t, append([]string{"--db", dsn, "--role", "public"}, clock...)...)
	deps := []*parityDeployment{
		{name: "sqlite", writers: []*server{lite}, reader: lite},
		{name: "postgres", writers: []*server{all}, reader: all},
		{name: "postgres 2 ledger nodes", writers: []*server{l1, l2}, reader: pub},
	}
	for _, d := range deps {
		d.tokens, d.ids, d.names = map[string]string{}, map[string]string{}, map[string]string{}
	}

	const a, b, c = "91000001", "91000002", "91000003"
	csv := "code,name,addr,type,lat,lng\n" +
		a + ",시험약국,서울특별시 강북구 솔매로 10 (미아동),01,37.620000,127.016400\n" +
		b + ",시험우체국,서울특별시 강북구 솔매로 11 (미아동),02,37.621000,127.016400\n" +
		c + ",시험하나로마트,서울특별시 강북구 솔매로 12 (미아동),03,37.622000,127.016400\n" +
		"9100000x,bad,서울특별시 강북구,09,37.6,127.0\n"
	b83 := func(n int) string { return born83(n) }
	b84 := id("840315", '1', 5)
	child := id("130315", '3', 6)  // born 2013: a child, buys on Wednesdays
	elder1 := id("330315", '1', 7) // born 1933
	elder2 := id("380315", '2', 8) // born 1938
	late := "2020-03-11T08:00:00+09:00"

	steps := []parityStep{
		{name: "import", method: "PUT", path: "/api/v2/admin/outlets", token: "admin", body: csv},
		{name: "admin deliveries", method: "POST", path: "/api/v2/admin/deliveries", token: "admin", body: []map[string]any{{"outlet": a, "quantity": 120, "txn_id": "d-a"}, {"outlet": b, "quantity": 5, "txn_id": "d-b"}}},
		{name: "admin deliveries replay", method: "POST", path: "/api/v2/admin/deliveries", token: "admin", body: []map[string]any{{"outlet": a, "quantity": 120, "txn_id": "d-a"}, {"outlet": b, "quantity": 5, "txn_id": "d-b"}}},
		{name: "admin delivery unknown outlet", method: "POST", path: "/api/v2/admin/deliveries", token: "admin", body: []map[string]any{{"outlet": "99999999", "quantity": 1, "txn_id": "d-x"}}},
		{name: "outlet a", method: "GET", path: "/api/v2/outlet", token: "outlet:" + a},
		{name: "outlet c (never stocked)", method: "GET", path: "/api/v2/outlet", token: "outlet:" + c},
		{name: "v1 stores", method: "GET", path: "/corona19-masks/v1/stores/json?perPage=500", public: true},
		{name: "v1 sales", method: "GET", path: "/corona19-masks/v1/sales/json", public: true},
		{name: "v1 geo", method: "GET", path: "/corona19-masks/v1/storesByGeo/json?lat=37.62&lng=127.0164&m=500", public: true},
		{name: "v2 outlet b", method: "GET", path: "/api/v2/outlets/" + b, public: true},
		{name: "check b83", method: "POST", path: "/api/v2/outlet/check", token: "outlet:" + a, body: map[string]any{"buyer": b83(1)}},
		{name: "sale t1", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + a, body: map[string]any{"txn_id": "t1", "buyer": b83(1), "quantity": 2}},
		{name: "sale t1 replay", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + a, body: map[string]any{"txn_id": "t1", "buyer": b83(1), "quantity": 2}},
		{name: "sale t1 other body", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + a, body: map[string]any{"txn_id": "t1", "buyer": b83(1), "quantity": 1}},
		{name: "sale t2 over quota", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + a, body: map[string]any{"txn_id": "t2", "buyer": b83(1), "quantity": 1}},
		{name: "sale t2 at b over quota", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + b, body: map[string]any{"txn_id": "t2", "buyer": b83(1), "quantity": 1}},
		{name: "check b83 after", method: "POST", path: "/api/v2/outlet/check", token: "outlet:" + b, body: map[string]any{"buyer": b83(1)}},
		{name: "sale not today", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + a, body: map[string]any{"txn_id": "t3", "buyer": b84, "quantity": 1}},
		{name: "sale invalid id", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + a, body: map[string]any{"txn_id": "t4", "buyer": "8303151234560", "quantity": 1}},
		{name: "sale quantity 11", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + a, body: map[string]any{"txn_id": "t5", "buyer": b83(2), "quantity": 11}},
		{name: "sale malformed", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + a, body: `{"txn_id":"t6","buyer":`},
		{name: "sale no token", method: "POST", path: "/api/v2/outlet/sales", body: map[string]any{"txn_id": "t7", "buyer": b83(2), "quantity": 1}},
		{name: "sale admin token", method: "POST", path: "/api/v2/outlet/sales", token: "admin", body: map[string]any{"txn_id": "t7", "buyer": b83(2), "quantity": 1}},
		{name: "sale proxy child", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + a, body: map[string]any{"txn_id": "t8", "buyer": b83(3), "quantity": 0, "on_behalf_of": []map[string]any{{"id": child, "category": "child", "quantity": 2}}}},
		{name: "sale proxy not allowed", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + a, body: map[string]any{"txn_id": "t9", "buyer": b83(4), "quantity": 1, "on_behalf_of": []map[string]any{{"id": b83(5), "category": "child", "quantity": 1}}}},
		{name: "sale elders", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + a, body: map[string]any{"txn_id": "t10", "buyer": elder1, "quantity": 1, "on_behalf_of": []map[string]any{{"id": elder2, "category": "elderly", "quantity": 2}}}},
		{name: "sale b 1", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + b, body: map[string]any{"txn_id": "b1", "buyer": b83(11), "quantity": 2}},
		{name: "sale b 2", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + b, body: map[string]any{"txn_id": "b2", "buyer": b83(12), "quantity": 2}},
		{name: "sale b out of stock", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + b, body: map[string]any{"txn_id": "b3", "buyer": b83(13), "quantity": 2}},
		{name: "check b out of stock", method: "POST", path: "/api/v2/outlet/check", token: "outlet:" + b, body: map[string]any{"buyer": b83(13), "quantity": 2}},
		{name: "sale c no stock", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + c, body: map[string]any{"txn_id": "c1", "buyer": b83(14), "quantity": 1}},
		{name: "v2 outlet b after", method: "GET", path: "/api/v2/outlets/" + b, public: true},
		{name: "v1 geo after", method: "GET", path: "/corona19-masks/v1/storesByGeo/json?lat=37.62&lng=127.0164&m=500", public: true},
		{name: "suspend a", method: "POST", path: "/api/v2/outlet/suspend", token: "outlet:" + a},
		{name: "sale suspended", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + a, body: map[string]any{"txn_id": "t11", "buyer": b83(15), "quantity": 1}},
		{name: "check suspended", method: "POST", path: "/api/v2/outlet/check", token: "outlet:" + a, body: map[string]any{"buyer": b83(15)}},
		{name: "v1 geo suspended", method: "GET", path: "/corona19-masks/v1/storesByGeo/json?lat=37.62&lng=127.0164&m=500", public: true},
		{name: "resume a", method: "POST", path: "/api/v2/outlet/resume", token: "outlet:" + a},
		{name: "cancel t1", method: "POST", path: "/api/v2/outlet/sales/{sale:t1}/cancel", token: "outlet:" + a},
		{name: "cancel t1 again", method: "POST", path: "/api/v2/outlet/sales/{sale:t1}/cancel", token: "outlet:" + a},
		{name: "cancel t1 at b", method: "POST", path: "/api/v2/outlet/sales/{sale:t1}/cancel", token: "outlet:" + b},
		{name: "cancel unknown", method: "POST", path: "/api/v2/outlet/sales/s2222222222222222222222/cancel", token: "outlet:" + a},
		{name: "sale t12 after cancel", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + a, body: map[string]any{"txn_id": "t12", "buyer": b83(1), "quantity": 2}},
		{name: "t1 replay after cancel", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + a, body: map[string]any{"txn_id": "t1", "buyer": b83(1), "quantity": 2}},
		{name: "count a", method: "POST", path: "/api/v2/outlet/stock", token: "outlet:" + a, body: map[string]any{"txn_id": "cnt1", "count": 100}},
		{name: "count a replay", method: "POST", path: "/api/v2/outlet/stock", token: "outlet:" + a, body: map[string]any{"txn_id": "cnt1", "count": 100}},
		{name: "count a other", method: "POST", path: "/api/v2/outlet/stock", token: "outlet:" + a, body: map[string]any{"txn_id": "cnt1", "count": 99}},
		{name: "delivery c", method: "POST", path: "/api/v2/outlet/deliveries", token: "outlet:" + c, body: map[string]any{"txn_id": "dc1", "quantity": 30}},
		{name: "delivery c replay", method: "POST", path: "/api/v2/outlet/deliveries", token: "outlet:" + c, body: map[string]any{"txn_id": "dc1", "quantity": 30}},
		{name: "delivery c other", method: "POST", path: "/api/v2/outlet/deliveries", token: "outlet:" + c, body: map[string]any{"txn_id": "dc1", "quantity": 31}},
		// Late sales (§4.3).
		{name: "check late not today", method: "POST", path: "/api/v2/outlet/check", token: "outlet:" + a, body: map[string]any{"buyer": b84, "quantity": 1, "sold_at": late}},
		{name: "late not today", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + a, body: map[string]any{"txn_id": "l1", "buyer": b84, "quantity": 1, "sold_at": late}},
		{name: "late not today replay", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + a, body: map[string]any{"txn_id": "l1", "buyer": b84, "quantity": 1, "sold_at": late, "offline": true}},
		{name: "late over quota offline", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + a, body: map[string]any{"txn_id": "l2", "buyer": b83(1), "quantity": 1, "offline": true, "sold_at": "2020-03-11T09:59:50+09:00"}},
		{name: "late too old", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + a, body: map[string]any{"txn_id": "l3", "buyer": b83(20), "quantity": 1, "sold_at": "2020-03-10T09:00:00+09:00"}},
		{name: "check late out of stock", method: "POST", path: "/api/v2/outlet/check", token: "outlet:" + b, body: map[string]any{"buyer": b83(21), "quantity": 2, "sold_at": late}},
		{name: "late out of stock", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + b, body: map[string]any{"txn_id": "l4", "buyer": b83(21), "quantity": 2, "sold_at": late}},
		{name: "outlet b shortfall", method: "GET", path: "/api/v2/outlet", token: "outlet:" + b},
		{name: "late yesterday", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + c, body: map[string]any{"txn_id": "l5", "buyer": b83(22), "quantity": 1, "sold_at": "2020-03-10T16:00:00+09:00"}},
		{name: "conflicts", method: "GET", path: "/api/v2/admin/conflicts", token: "admin"},
		{name: "cancel late shortfall", method: "POST", path: "/api/v2/outlet/sales/{sale:l4}/cancel", token: "outlet:" + b},
		{name: "outlet b after cancel", method: "GET", path: "/api/v2/outlet", token: "outlet:" + b},
		{name: "conflicts after cancel", method: "GET", path: "/api/v2/admin/conflicts", token: "admin"},
		{name: "verify", method: "GET", path: "/api/v2/admin/verify", token: "admin"},
		{name: "recent sales a", method: "GET", path: "/api/v2/outlet/sales", token: "outlet:" + a},
		{name: "recent sales b", method: "GET", path: "/api/v2/outlet/sales?limit=2", token: "outlet:" + b},
		{name: "outlet a end", method: "GET", path: "/api/v2/outlet", token: "outlet:" + a},
		{name: "v1 stores end", method: "GET", path: "/corona19-masks/v1/stores/json?perPage=500", public: true},
		{name: "v1 sales end", method: "GET", path: "/corona19-masks/v1/sales/json", public: true},
		{name: "v1 geo end", method: "GET", path: "/corona19-masks/v1/storesByGeo/json?lat=37.62&lng=127.0164&m=500", public: true},
		{name: "v1 addr end", method: "GET", path: "/corona19-masks/v1/storesByAddr/json?address=" + urlq("서울특별시 강북구 미아동"), public: true},
		{name: "v2 near end", method: "GET", path: "/api/v2/outlets/near?lat=37.62&lng=127.0164&m=500", public: true},
		{name: "v2 summary end", method: "GET", path: "/api/v2/summary", public: true},
		{name: "rules", method: "GET", path: "/api/v2/rules?date=2020-03-11&birth_year=1983", public: true},
		// More refusals and the registry.
		{name: "check late proxies", method: "POST", path: "/api/v2/outlet/check", token: "outlet:" + a, body: map[string]any{"buyer": b83(30), "quantity": 1, "sold_at": late, "on_behalf_of": []map[string]any{{"id": elder1, "category": "elderly", "quantity": 1}}}},
		{name: "check long txn_id", method: "POST", path: "/api/v2/outlet/check", token: "outlet:" + a, body: map[string]any{"txn_id": strings.Repeat("x", 300), "buyer": b83(30)}},
		{name: "sale empty txn_id", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + a, body: map[string]any{"txn_id": "", "buyer": b83(30), "quantity": 1}},
		{name: "bulk tokens", method: "POST", path: "/api/v2/admin/tokens/bulk", token: "admin", body: map[string]any{"outlets": []string{a, "99999999"}}},
		{name: "distributor delivery", method: "POST", path: "/api/v2/admin/deliveries", token: "distributor", body: []map[string]any{{"outlet": b, "quantity": 40, "txn_id": "dist-1"}, {"outlet": b, "quantity": 0, "txn_id": "dist-2"}}},
		{name: "distributor verify", method: "GET", path: "/api/v2/admin/verify", token: "distributor"},
		{name: "re-register c as a post office", method: "PUT", path: "/api/v2/admin/outlets", token: "admin", body: []map[string]any{
			{"code": c, "name": "시험우체국2", "addr": "서울특별시 강북구 솔매로 12 (미아동)", "type": "02", "lat": 37.622, "lng": 127.0164},
			{"code": "91000009", "name": "x", "addr": "서울특별시 강북구 솔매로 13 (미아동)", "type": "01", "lat": 12.0, "lng": 127.0164}}},
		{name: "verify after re-registration", method: "GET", path: "/api/v2/admin/verify", token: "admin"},
		{name: "sale at c now a post office", method: "POST", path: "/api/v2/outlet/sales", token: "outlet:" + c, body: map[string]any{"txn_id": "c2", "buyer": b83(31), "quantity": 1}},
		{name: "v2 outlet c", method: "GET", path: "/api/v2/outlets/" + c, public: true},
		{name: "v2 unknown outlet", method: "GET", path: "/api/v2/outlets/99999999", public: true},
		{name: "v1 page 2", method: "GET", path: "/corona19-masks/v1/stores/json?page=2&perPage=500", public: true},
		{name: "v1 addr sido only", method: "GET", path: "/corona19-masks/v1/storesByAddr/json?address=" + urlq("서울특별시"), public: true},
		{name: "v1 geo no lat", method: "GET", path: "/corona19-masks/v1/storesByGeo/json?lng=127.0164", public: true},
		{name: "v1 sales end 2", method: "GET", path: "/corona19-masks/v1/sales/json", public: true},
		{name: "conflicts end", method: "GET", path: "/api/v2/admin/conflicts", token: "admin"},
		{name: "verify end", method: "GET", path: "/api/v2/admin/verify", token: "admin"},
	}

	// Tokens: issued on the first writer of each deployment.
	for _, d := range deps {
		d.writers[0].on(t).mustCall("PUT", "/api/v2/admin/outlets", adminToken, csv, nil, 200)
		for _, code := range []string{a, b, c} {
			d.tokens[code] = d.writers[0].on(t).outletToken(adminToken, code)
		}
		var tok struct {
			Token string `json:"token"`
		}
		d.writers[0].on(t).mustCall("POST", "/api/v2/admin/tokens", adminToken, map[string]string{"role": "distributor"}, &tok, 201)
		d.tokens["distributor"] = tok.Token
	}
	// (The import step of the script upserts the same rows again.)
	for _, st := range steps {
		var want parityAnswer
		for i, d := range deps {
			got := d.do(t, st, nil)
			if i == 0 {
				want = got
				t.Logf("%s: %d %.400s", st.name, got.status, got.body)
				continue
			}
			if st.public && !got.equal(want) {
				deadline := time.Now().Add(3 * time.Second)
				for !got.equal(want) && time.Now().Before(deadline) {
					time.Sleep(50 * time.Millisecond)
					got = d.do(t, st, &got)
				}
			}
			if !got.equal(want) {
				t.Errorf("%s: %s differs from %s:\n%s: %d %s %s\n%s: %d %s %s", st.name, d.name, deps[0].name,
					deps[0].name, want.status, want.ctype, want.body, d.name, got.status, got.ctype, got.body)
			}
		}
	}
}

// selloutWhenEmpty fails t if an answer shows an outlet that is empty or
// suspended with a sellout_at (DESIGN.md §4.2: null when it is not
// selling, is suspended or is empty; empty is 0–1 masks, §1.3).
func selloutWhenEmpty(t *testing.T, dep, step string, body []byte) {
	t.Helper()
	type outlet struct {
		Code       string  `json:"code"`
		RemainStat *string `json:"remain_stat"`
		Forecast   *struct {
			SelloutAt *string `json:"sellout_at"`
		} `json:"forecast"`
	}
	var v struct {
		outlet
		Outlets []outlet `json:"outlets"`
	}
	if json.Unmarshal(body, &v) != nil {
		return
	}
	for _, o := range append(v.Outlets, v.outlet) {
		if o.RemainStat != nil && (*o.RemainStat == "empty" || *o.RemainStat == "break") && o.Forecast != nil && o.Forecast.SelloutAt != nil {
			t.Errorf("%s: %s: outlet %s is %s with a sellout_at %s (DESIGN.md §4.2: null when empty or suspended)", step, dep, o.Code, *o.RemainStat, *o.Forecast.SelloutAt)
		}
	}
}

func urlq(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		if c == ' ' {
			b.WriteString("%20")
		} else if c < 0x80 {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// parityAnswer is an answer with IDs, tokens and the times of now replaced.
type parityAnswer struct {
	status int
	ctype  string
	body   string
}

func (x parityAnswer) equal(y parityAnswer) bool { return x == y }

var parityMu sync.Mutex

var (
	seoul       = time.FixedZone("KST", 9*3600)
	parityClock = time.Date(2020, 3, 11, 10, 0, 0, 0, seoul)
)

// do sends st to the deployment (its next writer, or its reader for a
// public read). again: the answer of a previous try of the same public
// read (its IDs are not named twice).
func (d *parityDeployment) do(t *testing.T, st parityStep, again *parityAnswer) parityAnswer {
	t.Helper()
	s := d.reader
	if !st.public {
		if again == nil {
			d.step++
		}
		s = d.writers[d.step%len(d.writers)]
	}
	path := st.path
	for ph, id := range d.ids {
		path = strings.ReplaceAll(path, "{"+ph+"}", id)
	}
	tok := ""
	switch {
	case st.token == "admin":
		tok = adminToken
	case strings.HasPrefix(st.token, "outlet:"):
		tok = d.tokens[strings.TrimPrefix(st.token, "outlet:")]
	case st.token != "":
		tok = d.tokens[st.token]
	}
	code, hdr, raw, err := s.send(st.method, path, tok, st.body)
	if err != nil {
		t.Fatalf("%s on %s: %v", st.name, d.name, err)
	}
	// Remember the sale a txn made: {sale:TXN} names it in later paths.
	var r struct {
		SaleID string `json:"sale_id"`
	}
	if json.Unmarshal(raw, &r) == nil && r.SaleID != "" {
		if m, ok := st.body.(map[string]any); ok {
			d.ids["sale:"+m["txn_id"].(string)] = r.SaleID
		}
	}
	selloutWhenEmpty(t, d.name, st.name, raw)
	return parityAnswer{status: code, ctype: hdr.Get("Content-Type"), body: d.normalise(raw)}
}

var (
	// An RFC 3339 time or a v1 time ("2020/03/11 10:00:01").
	parityTime = regexp.MustCompile(`"(\d{4})[-/](\d\d)[-/](\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?"`)
	// IDs the ledger makes: sales (s + 21 characters of sorted base32), and
	// the like.
	parityID   = regexp.MustCompile(`\b[a-z][2-7a-z]{20,26}\b`)
	parityTok  = regexp.MustCompile(`"pm_[a-z]_[a-z2-7]+"`)
	paritySeal = regexp.MustCompile(`"seal_key":\{[^}]*\}`)
	// Figures that depend on when things happened in real time.
	parityRate = regexp.MustCompile(`"(sales_per_hour|version)":[0-9.e+-]+`)
	// A sell-out time is projected from the rate its node saw at change
	// time (DESIGN.md §6.7): a ledger node that learns of another's sales
	// from the feed saw them in other polls, and may project none where
	// the selling node projects one (CI on 7b7013b: null against a time).
	paritySellout = regexp.MustCompile(`"sellout_at":("[^"]*"|null)`)
	// A store's epoch is random, a new one at every start of a writing node
	// (epoch.go).
	parityEpoch = regexp.MustCompile(`"epoch":"[0-9a-f]*"`)
)

// normalise replaces what differs between deployments by nature: IDs
// (named in order of appearance, the same across the script), tokens, the
// times at or after the service clock's start (the nodes' clocks started
// at different instants) and real-time rates.
func (d *parityDeployment) normalise(raw []byte) string {
	parityMu.Lock()
	defer parityMu.Unlock()
	s := string(raw)
	s = parityTok.ReplaceAllString(s, `"<token>"`)
	s = paritySeal.ReplaceAllString(s, `"seal_key":<key>`)
	s = parityRate.ReplaceAllStringFunc(s, func(m string) string { return m[:strings.Index(m, ":")+1] + "<n>" })
	s = paritySellout.ReplaceAllString(s, `"sellout_at":<projected>`)
	s = parityEpoch.ReplaceAllString(s, `"epoch":"<epoch>"`)
	s = parityTime.ReplaceAllStringFunc(s, func(m string) string {
		v := strings.Trim(m, `"`)
		at, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			at, err = time.ParseInLocation("2006/01/02 15:04:05", v, seoul)
		}
		if err == nil && !at.Before(parityClock) {
			return `"<now>"`
		}
		return m
	})
	s = parityID.ReplaceAllStringFunc(s, func(id string) string {
		if !strings.ContainsAny(id, "234567") || !isSortedID(id) {
			return id
		}
		ph, ok := d.names[id]
		if !ok {
			ph = fmt.Sprintf("<id%d>", len(d.names)+1)
			d.names[id] = ph
		}
		return ph
	})
	// Masks sold per 10 minutes are compared too: a node that follows
	// the feed may see a sale and its cancel between two polls as
	// nothing, so every node counts a cancel as masks unsold (snapshot
	// collect), and the series agree (the test runs inside one bin).
	var v any
	if json.Unmarshal([]byte(s), &v) == nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.Encode(v) // keys sorted: field order is not compared
		return strings.TrimSpace(buf.String())
	}
	return s
}

// isSortedID: every character of an ID after its prefix is of the sorted
// base32 alphabet.
func isSortedID(id string) bool {
	return !slices.ContainsFunc([]byte(id[1:]), func(c byte) bool {
		return !(c >= '2' && c <= '7' || c >= 'a' && c <= 'z')
	})
}

// TestPostgresCrossedProxies: two ledger nodes sell at once to the same
// two people, each the other's proxy (buyer A for B on one node, buyer B
// for A on the other), and one of them alone on a third request (DESIGN.md
// §1.2: nobody can exceed their quota, whatever the concurrency and however
// many outlets they visit; §2: the database arbitrates, sorted lock order,
// retry on 40P01). Exactly one sale of each group is recorded, the others
// are refused with quota_exceeded — never a 5xx — and verify is ok.
func TestPostgresCrossedProxies(t *testing.T) {
	skipShort(t, "runs two real processes")
	dsn := pgDSN(t)
	common := []string{"--db", dsn, "--secret-file", secretFile(t, t.TempDir()), "--seed", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	l1 := start(t, append([]string{"--role", "ledger"}, common...)...)
	l2 := start(t, append([]string{"--role", "ledger"}, common...)...)
	codes, tokens := setupOutlets(t, l1, 3, 10000)
	const groups = 60
	var mu sync.Mutex
	ok := make([]string, groups) // the tries recorded, by number
	for g := range groups {
		e1, e2 := id("330315", '1', 100+g), id("380315", '2', 200+g) // born 1933 and 1938: Wednesday, elderly
		tries := []struct {
			s    *server
			code string
			body map[string]any
		}{
			{l1, codes[0], map[string]any{"txn_id": fmt.Sprintf("x%d-1", g), "buyer": e1, "quantity": 1, "on_behalf_of": []map[string]any{{"id": e2, "category": "elderly", "quantity": 1}}}},
			{l2, codes[1], map[string]any{"txn_id": fmt.Sprintf("x%d-2", g), "buyer": e2, "quantity": 1, "on_behalf_of": []map[string]any{{"id": e1, "category": "elderly", "quantity": 1}}}},
			{l2, codes[2], map[string]any{"txn_id": fmt.Sprintf("x%d-3", g), "buyer": e1, "quantity": 2}},
			{l1, codes[2], map[string]any{"txn_id": fmt.Sprintf("x%d-4", g), "buyer": e2, "quantity": 2}},
		}
		var wg sync.WaitGroup
		for i, tr := range tries {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a := askPg(tr.s, 30*time.Second, "POST", "/api/v2/outlet/sales", tokens[tr.code], tr.body)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case a.code == 201:
					ok[g] += fmt.Sprint(i + 1)
				case a.code == 422 && a.errCode == "quota_exceeded":
				default:
					t.Errorf("group %d, txn %s: %v", g, tr.body["txn_id"], a)
				}
			}()
		}
		wg.Wait()
	}
	for g, got := range ok {
		// A crossed sale excludes every other try; the two single ones
		// (different people) exclude only the crossed ones.
		b := []byte(got)
		slices.Sort(b)
		if got := string(b); got != "1" && got != "2" && got != "34" {
			t.Errorf("group %d: tries %q recorded, want one crossed sale or both single ones", g, got)
		}
	}
	l1.mustVerify(t, "after the crossed proxies")
}

// TestPostgresCancelRacesSale: while one ledger node cancels a person's
// sale, the other sells to that person again, at the same outlet or
// another (DESIGN.md §4.3: a cancel restores the quota; §1.2: nobody
// exceeds it, whatever the concurrency). The new sale is recorded only if
// the cancel came first; nothing is answered with a 5xx; the person never
// holds more than the week's quota in sales not cancelled; verify is ok.
func TestPostgresCancelRacesSale(t *testing.T) {
	skipShort(t, "runs two real processes")
	dsn := pgDSN(t)
	common := []string{"--db", dsn, "--secret-file", secretFile(t, t.TempDir()), "--seed", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	l1 := start(t, append([]string{"--role", "ledger"}, common...)...)
	l2 := start(t, append([]string{"--role", "ledger"}, common...)...)
	codes, tokens := setupOutlets(t, l1, 2, 10000)
	const people = 40
	resold, refused := 0, 0
	for p := range people {
		buyer := born83(3000 + p)
		first, second := codes[0], codes[p%2] // half at the same outlet, half at the other
		var r saleReceipt
		l1.mustCall("POST", "/api/v2/outlet/sales", tokens[first], map[string]any{"txn_id": fmt.Sprintf("c%d-1", p), "buyer": buyer, "quantity": 2}, &r, 201)
		var wg sync.WaitGroup
		var cancel, sale pgAnswer
		wg.Add(2)
		go func() {
			defer wg.Done()
			cancel = askPg(l2, 30*time.Second, "POST", "/api/v2/outlet/sales/"+r.SaleID+"/cancel", tokens[first], nil)
		}()
		go func() {
			defer wg.Done()
			sale = askPg(l1, 30*time.Second, "POST", "/api/v2/outlet/sales", tokens[second], map[string]any{"txn_id": fmt.Sprintf("c%d-2", p), "buyer": buyer, "quantity": 2})
		}()
		wg.Wait()
		if cancel.code != 200 {
			t.Errorf("person %d: cancel %v", p, cancel)
		}
		switch {
		case sale.code == 201:
			resold++
		case sale.code == 422 && sale.errCode == "quota_exceeded":
			refused++
		default:
			t.Errorf("person %d: sale after or during the cancel: %v", p, sale)
		}
		// Either way the person may buy now only if nothing stands.
		var e errBody
		code, _ := l2.call("POST", "/api/v2/outlet/sales", tokens[codes[1]], map[string]any{"txn_id": fmt.Sprintf("c%d-3", p), "buyer": buyer, "quantity": 1}, &e)
		if sale.code == 201 && (code != 422 || e.Error.Code != "quota_exceeded") {
			t.Errorf("person %d: a third sale after the resale answered %d %s", p, code, e.Error.Code)
		}
		if sale.code == 422 && code != 201 {
			t.Errorf("person %d: a sale after the cancel answered %d %s", p, code, e.Error.Code)
		}
	}
	t.Logf("%d sales made again while the cancel ran, %d refused (the sale came first)", resold, refused)
	l2.mustVerify(t, "after the cancels raced the sales")
}

// TestPostgresVerifyWhileSelling: verify on either ledger node while both
// sell, cancel and take deliveries (DESIGN.md §4.4: one consistent
// snapshot of totals, sales and person-weeks) is ok every time.
func TestPostgresVerifyWhileSelling(t *testing.T) {
	skipShort(t, "runs two real processes under load")
	dsn := pgDSN(t)
	common := []string{"--db", dsn, "--secret-file", secretFile(t, t.TempDir()), "--seed", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	nodes := []*server{
		start(t, append([]string{"--role", "ledger"}, common...)...),
		start(t, append([]string{"--role", "ledger"}, common...)...),
	}
	codes, tokens := setupOutlets(t, nodes[0], 4, 100000)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for n, s := range nodes {
		for w := range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					c := codes[(w+i)%len(codes)]
					var r saleReceipt
					code, _ := s.call("POST", "/api/v2/outlet/sales", tokens[c], map[string]any{"txn_id": fmt.Sprintf("v%d-%d-%d", n, w, i), "buyer": born83(w*10000 + i%10000), "quantity": 1 + i%2}, &r)
					switch {
					case code == 201 && i%5 == 0:
						s.call("POST", "/api/v2/outlet/sales/"+r.SaleID+"/cancel", tokens[c], nil, nil)
					case code == 201 && i%7 == 0:
						s.call("POST", "/api/v2/outlet/deliveries", tokens[c], map[string]any{"txn_id": fmt.Sprintf("vd%d-%d-%d", n, w, i), "quantity": 3}, nil)
					}
				}
			}()
		}
	}
	for i := range 12 {
		time.Sleep(250 * time.Millisecond)
		nodes[i%2].mustVerify(t, fmt.Sprintf("while selling (%d)", i))
	}
	close(stop)
	wg.Wait()
	nodes[0].mustVerify(t, "after the load")
	var rep struct {
		Checked map[string]int `json:"checked"`
	}
	nodes[1].mustCall("GET", "/api/v2/admin/verify", adminToken, nil, &rep, 200)
	if rep.Checked["sales"] < 100 {
		t.Fatalf("verify checked %v: the load sold too little to test anything", rep.Checked)
	}
	t.Logf("verify checked %v", rep.Checked)
}

// TestSalesSeriesCountsCancels: /api/v2/summary's sales_per_10min (the
// /overview chart) counts masks sold net of cancels on every kind of node —
// a SQLite node (its snapshot told of every commit), a PostgreSQL node
// in one process and a public node following that store's feed, which
// may see a sale and its cancel as one change, as nothing — so the nodes
// show one series. (A node told of every commit counted a cancelled sale
// as sold; a feed follower counted it or not, depending on its polls.)
func TestSalesSeriesCountsCancels(t *testing.T) {
	skipShort(t, "runs real servers on SQLite and PostgreSQL")
	dsn := pgDSN(t)
	clk := []string{"--seed", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	lite := start(t, append([]string{"--db", filepath.Join(t.TempDir(), "pm.db")}, clk...)...)
	pg := start(t, append([]string{"--db", dsn, "--secret-file", secretFile(t, t.TempDir())}, clk...)...)
	pub := start(t, append([]string{"--role", "public", "--db", dsn}, clk...)...)
	want := 0
	for _, s := range []*server{lite, pg} {
		codes, tokens := setupOutlets(t, s, 2, 100)
		want = 0
		for i := range 12 {
			c := codes[i%2]
			var r saleReceipt
			s.mustCall("POST", "/api/v2/outlet/sales", tokens[c], map[string]any{"txn_id": fmt.Sprintf("s%d", i), "buyer": born83(i), "quantity": 1 + i%2}, &r, 201)
			want += 1 + i%2
			if i%3 == 0 { // cancelled at once: often within one poll of the public node
				s.mustCall("POST", "/api/v2/outlet/sales/"+r.SaleID+"/cancel", tokens[c], nil, nil, 200)
				want -= 1 + i%2
			}
		}
	}
	series := func(s *server) (counts []int) {
		var sum struct {
			Sales struct {
				Counts []int `json:"counts"`
			} `json:"sales_per_10min"`
		}
		s.mustCall("GET", "/api/v2/summary", "", nil, &sum, 200)
		return sum.Sales.Counts
	}
	total := func(c []int) (n int) {
		for _, x := range c {
			n += x
		}
		return n
	}
	var got [3][]int
	for i, s := range []*server{lite, pg, pub} {
		deadline := time.Now().Add(5 * time.Second)
		for got[i] = series(s); total(got[i]) != want && time.Now().Before(deadline); got[i] = series(s) {
			time.Sleep(50 * time.Millisecond)
		}
	}
	for i, name := range []string{"sqlite", "postgres", "public"} {
		if total(got[i]) != want {
			t.Errorf("%s: sales_per_10min totals %d, want %d (masks sold less those cancelled)", name, total(got[i]), want)
		}
	}
	if !slices.Equal(got[0], got[1]) || !slices.Equal(got[1], got[2]) {
		t.Errorf("the series differ: sqlite %v, postgres %v, public %v", got[0], got[1], got[2])
	}
}
