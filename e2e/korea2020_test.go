package e2e

import (
	"path/filepath"
	"slices"
	"testing"
)

// TestKorea2020Timeline walks the 2020 timeline under --policy korea-2020
// against the real binary, restarting the server with its clock on each
// date (data persists across restarts): the rules endpoint, proxies, post
// offices at weekends, the split purchase of May, the close in July, and
// verify across every rule change.
func TestKorea2020Timeline(t *testing.T) {
	dir := realRunDir(t, "restarts a real server many times")
	db := filepath.Join(dir, "pm.db")
	at := func(date string) *server {
		return start(t, "--db", db, "--seed", "none", "--policy", "korea-2020", "--clock", date+"T10:00:00+09:00")
	}

	s := at("2020-03-08")
	// The rules endpoint, date by date (it takes the date as a parameter).
	type rules struct {
		SalesOpen   bool  `json:"sales_open"`
		DigitsToday []int `json:"digits_today"`
		WeeklyQuota *int  `json:"weekly_quota"`
		Person      *struct {
			MayBuy bool `json:"may_buy"`
			Quota  *int `json:"quota"`
		} `json:"person"`
	}
	get := func(q string) rules {
		var r rules
		s.mustCall("GET", "/api/v2/rules?"+q, "", nil, &r, 200)
		return r
	}
	anyone := func(date string) {
		t.Helper()
		if r := get("date=" + date); !r.SalesOpen || r.DigitsToday != nil {
			t.Errorf("%s: want anyone may buy, got %+v", date, r)
		}
	}
	only38 := func(date string) {
		t.Helper()
		if r := get("date=" + date); !r.SalesOpen || !slices.Equal(r.DigitsToday, []int{3, 8}) {
			t.Errorf("%s: want only 3/8, got %+v", date, r)
		}
	}
	quota := func(q string, want int) {
		t.Helper()
		r := get(q)
		got := r.WeeklyQuota
		if r.Person != nil {
			got = r.Person.Quota
		}
		if got == nil || *got != want {
			t.Errorf("%s: quota %v, want %d", q, got, want)
		}
	}
	anyone("2020-03-08")
	only38("2020-03-11")
	anyone("2020-03-14")
	only38("2020-04-15") // election day: an ordinary Wednesday before 27 April
	anyone("2020-04-30")
	anyone("2020-05-05")
	quota("date=2020-04-24", 2)
	quota("date=2020-04-27", 3)
	quota("date=2020-06-03&birth_year=2005", 5)
	quota("date=2020-06-03&birth_year=1983", 3)
	quota("date=2020-06-18", 10)
	if r := get("date=2020-07-12"); r.SalesOpen {
		t.Errorf("2020-07-12: sales open, want closed")
	}

	codes, tokens := setupOutlets(t, s, 1, 1000)
	pharmacy := codes[0]
	var po struct {
		Upserted int `json:"upserted"`
	}
	s.mustCall("PUT", "/api/v2/admin/outlets", adminToken, "code,name,addr,type,lat,lng\n80000001,솔매우체국,서울특별시 강북구 솔매로 1 (미아동),02,37.62,127.01\n", &po, 200)
	pt := s.outletToken(adminToken, "80000001")
	s.mustCall("POST", "/api/v2/outlet/deliveries", pt, map[string]any{"txn_id": "po-open", "quantity": 500}, nil, 201)
	s.stop()

	parent := born83(1)
	child := id("120315", '3', 2) // born 2012: a Tuesday person
	elder := id("380315", '2', 3) // born 1938: a Wednesday person
	fakeChild := id("900315", '1', 4)
	other := id("750315", '1', 5) // born 1975: a Friday person
	sale := func(txn, buyer string, qty int, proxies ...map[string]any) map[string]any {
		body := map[string]any{"txn_id": txn, "buyer": buyer, "quantity": qty}
		if len(proxies) > 0 {
			body["on_behalf_of"] = proxies
		}
		return body
	}
	expect := func(s *server, token string, body map[string]any, status int, code string) {
		t.Helper()
		var e errBody
		s.mustCall("POST", "/api/v2/outlet/sales", token, body, &e, status)
		if e.Error.Code != code {
			t.Fatalf("%v: code %q (%s), want %q", body["txn_id"], e.Error.Code, e.Error.Message, code)
		}
	}
	tok := tokens[pharmacy]
	childProxy := map[string]any{"id": child, "category": "child", "quantity": 2}

	s = at("2020-03-11") // Wednesday
	expect(s, tok, sale("w1-child", parent, 2, childProxy), 422, "not_eligible_today")
	expect(s, tok, sale("w1-elder", other, 0, map[string]any{"id": elder, "category": "elderly", "quantity": 2}), 201, "")
	expect(s, tok, sale("w1-fake", other, 0, map[string]any{"id": fakeChild, "category": "child", "quantity": 1}), 422, "proxy_not_allowed")
	s.stop()

	s = at("2020-03-14") // Saturday
	expect(s, pt, sale("w1-po", born83(6), 2), 422, "outlet_closed")
	expect(s, tok, sale("w1-sat", born83(6), 2), 201, "")
	s.stop()

	s = at("2020-03-18") // Wednesday, after the 16 March minor rule
	expect(s, tok, sale("w2-child", parent, 2, childProxy), 201, "")
	s.stop()

	s = at("2020-05-20") // Wednesday: quota 3, one weekday and one weekend purchase
	expect(s, tok, sale("may-1", parent, 2), 201, "")
	expect(s, tok, sale("may-2", parent, 1), 422, "quota_exceeded")
	s.stop()
	s = at("2020-05-23") // Saturday
	expect(s, tok, sale("may-3", parent, 1), 201, "")
	expect(s, tok, sale("may-4", parent, 1), 422, "quota_exceeded")
	// The pharmacy re-registered as a post office, closed at weekends: its
	// Saturday sale stands, judged by the type in force at it (DESIGN.md
	// §4.4), not outlet_closed by the type it has now.
	s.mustCall("PUT", "/api/v2/admin/outlets", adminToken, "code,name,addr,type,lat,lng\n"+pharmacy+",시험우체국,서울특별시 강북구 솔매로 10 (미아동),02,37.62,127.0164\n", nil, 200)
	expect(s, tok, sale("may-5", born83(7), 1), 422, "outlet_closed")
	s.mustVerify(t, "in May")
	s.stop()

	s = at("2020-07-12")
	expect(s, tok, sale("jul", parent, 1), 422, "sales_closed")
	s.mustVerify(t, "in July")
	s.stop()
}
