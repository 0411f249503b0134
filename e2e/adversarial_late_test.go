package e2e

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// TestAdversarialLateSales backdates sales against the real binary
// (DESIGN.md §4.3): over quota, during a suspension, beyond stock, into last
// week while the outlet was online, older than the late window, and an
// offline sale synced within a minute. Each is answered as the contract
// says and listed in the conflicts with its reason; stock never goes below
// zero; verify is ok and counts the conflicts. The outlets' earlier writes
// come from a first run of the server, so "online" is judged from the store
// (this process's memory of requests starts empty).
func TestAdversarialLateSales(t *testing.T) {
	skipShort(t, "runs the real server twice")
	db := filepath.Join(t.TempDir(), "pm.db")
	// Monday 2020-03-16 09:00: birth years ending 1 or 6 buy today.
	first := start(t, "--db", db, "--seed", "none", "--clock", "2020-03-16T09:00:00+09:00")
	codes, tok := setupOutlets(t, first, 4, 10)
	a, b, c, d := codes[0], codes[1], codes[2], codes[3]
	first.mustCall("POST", "/api/v2/outlet/suspend", tok[b], nil, nil, 200)
	first.mustCall("POST", "/api/v2/outlet/stock", tok[c], map[string]any{"txn_id": "count-c", "count": 1}, nil, 201)
	first.mustCall("POST", "/api/v2/outlet/sales", tok[d], map[string]any{"txn_id": "d-live", "buyer": id("860315", '1', 1), "quantity": 1}, nil, 201)
	first.stop()

	s := start(t, "--db", db, "--seed", "none", "--clock", "2020-03-16T10:00:00+09:00")
	b81 := id("810315", '1', 7)
	type receipt struct {
		SaleID          string   `json:"sale_id"`
		SoldAt          string   `json:"sold_at"`
		Late            bool     `json:"late"`
		Conflict        string   `json:"conflict"`
		ConflictReasons []string `json:"conflict_reasons"`
		Items           []struct {
			RemainingThisWeek *int `json:"remaining_this_week"`
		} `json:"items"`
		Outlet struct {
			Stock int `json:"stock"`
		} `json:"outlet"`
	}
	sell := func(outlet string, body map[string]any, want int) (receipt, []byte) {
		t.Helper()
		status, raw := post(t, s, "/api/v2/outlet/sales", tok[outlet], body)
		if status != want {
			t.Fatalf("sale %v at %s: %d %s, want %d", body["txn_id"], outlet, status, raw, want)
		}
		var r receipt
		json.Unmarshal(raw, &r)
		return r, raw
	}
	wantLate := func(r receipt, reasons ...string) {
		t.Helper()
		if !r.Late || strings.Join(r.ConflictReasons, ",") != strings.Join(reasons, ",") || r.Outlet.Stock < 0 {
			t.Fatalf("late sale receipt %+v, want flagged %v", r, reasons)
		}
	}

	// Over quota: a live purchase of 2, then a backdated one.
	sell(a, map[string]any{"txn_id": "a-live", "buyer": b81, "quantity": 2}, 201)
	overBody := map[string]any{"txn_id": "a-late", "buyer": b81, "quantity": 2, "sold_at": "2020-03-16T09:30:00+09:00"}
	over, overRaw := sell(a, overBody, 201)
	wantLate(over, "quota_exceeded")
	// The same, queued offline and synced within a minute: recorded and
	// flagged, never refused as a live sale would be.
	off, _ := sell(a, map[string]any{"txn_id": "a-off", "buyer": b81, "quantity": 1, "offline": true, "sold_at": "2020-03-16T09:59:50+09:00"}, 201)
	wantLate(off, "quota_exceeded")
	// A retry of the backdated sale answers the first receipt byte for byte.
	if status, raw := post(t, s, "/api/v2/outlet/sales", tok[a], overBody); status != 200 || !bytes.Equal(raw, overRaw) {
		t.Fatalf("replay: %d %s, want 200 %s", status, raw, overRaw)
	}

	// During a suspension (B suspended at 09:00 and still is).
	var e errBody
	s.mustCall("POST", "/api/v2/outlet/sales", tok[b], map[string]any{"txn_id": "b-live", "buyer": id("860315", '2', 2), "quantity": 1}, &e, 422)
	if e.Error.Code != "sales_suspended" {
		t.Fatalf("live sale at a suspended outlet: %s", e.Error.Code)
	}
	susp, _ := sell(b, map[string]any{"txn_id": "b-late", "buyer": id("860315", '2', 2), "quantity": 1, "sold_at": "2020-03-16T09:30:00+09:00"}, 201)
	wantLate(susp, "sales_suspended")
	var chk struct {
		Eligible bool    `json:"eligible"`
		Reason   *string `json:"reason"`
	}
	s.mustCall("POST", "/api/v2/outlet/check", tok[b], map[string]any{"buyer": id("860315", '1', 3)}, &chk, 200)
	if chk.Eligible || chk.Reason == nil || *chk.Reason != "sales_suspended" {
		t.Fatalf("check at a suspended outlet: %+v", chk)
	}

	// Beyond stock: C counted 1 mask at 09:00; 2 were handed over at 09:30.
	short, _ := sell(c, map[string]any{"txn_id": "c-late", "buyer": id("860315", '1', 4), "quantity": 2, "sold_at": "2020-03-16T09:30:00+09:00"}, 201)
	wantLate(short, "out_of_stock")
	if short.Outlet.Stock != 0 {
		t.Fatalf("stock after a late sale beyond it: %d, want 0", short.Outlet.Stock)
	}

	// Into last week (Sunday evening) while D was online (its 09:00 sale).
	lastWeek, _ := sell(d, map[string]any{"txn_id": "d-late", "buyer": b81, "quantity": 2, "sold_at": "2020-03-15T20:00:00+09:00"}, 201)
	wantLate(lastWeek, "late_while_online")
	// A late sale counts in the week of its sold_at: a buyer who took 2
	// on Sunday may take 2 again on Monday.
	b81b := id("810315", '2', 8)
	sell(d, map[string]any{"txn_id": "d-late2", "buyer": b81b, "quantity": 2, "sold_at": "2020-03-15T20:30:00+09:00"}, 201)
	sell(d, map[string]any{"txn_id": "d-live2", "buyer": b81b, "quantity": 2}, 201)

	// Older than the late window (24 h): refused, nothing recorded.
	s.mustCall("POST", "/api/v2/outlet/sales", tok[d], map[string]any{"txn_id": "d-old", "buyer": id("860315", '1', 9), "quantity": 1, "sold_at": "2020-03-15T09:59:00+09:00"}, &e, 422)
	if e.Error.Code != "late_sale_too_old" {
		t.Fatalf("a sale 24 h old: %s", e.Error.Code)
	}

	var conflicts struct {
		Conflicts []struct {
			TxnID     string   `json:"txn_id"`
			Outlet    string   `json:"outlet"`
			Conflict  string   `json:"conflict"`
			Reasons   []string `json:"reasons"`
			Shortfall int      `json:"shortfall"`
		} `json:"conflicts"`
		Outlets []struct {
			Outlet    string `json:"outlet"`
			LateSales int    `json:"late_sales"`
			Conflicts int    `json:"conflicts"`
		} `json:"outlets"`
	}
	s.mustCall("GET", "/api/v2/admin/conflicts", adminToken, nil, &conflicts, 200)
	got := map[string]string{}
	for _, c := range conflicts.Conflicts {
		got[c.TxnID] = c.Conflict
		if c.TxnID == "c-late" && c.Shortfall != 1 {
			t.Errorf("c-late shortfall %d, want 1", c.Shortfall)
		}
	}
	want := map[string]string{"a-late": "quota_exceeded", "a-off": "quota_exceeded", "b-late": "sales_suspended", "c-late": "out_of_stock", "d-late": "late_while_online", "d-late2": "late_while_online"}
	if len(got) != len(want) {
		t.Errorf("conflicts %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("conflict of %s = %q, want %q", k, got[k], v)
		}
	}
	perOutlet := map[string][2]int{}
	for _, o := range conflicts.Outlets {
		perOutlet[o.Outlet] = [2]int{o.LateSales, o.Conflicts}
	}
	if perOutlet[a] != [2]int{2, 2} || perOutlet[b] != [2]int{1, 1} || perOutlet[c] != [2]int{1, 1} || perOutlet[d] != [2]int{2, 2} {
		t.Errorf("late sales per outlet %v", perOutlet)
	}

	verify := func(conflicts int) {
		t.Helper()
		var rep struct {
			OK         bool  `json:"ok"`
			Conflicts  int   `json:"conflicts"`
			Violations []any `json:"violations"`
		}
		s.mustCall("GET", "/api/v2/admin/verify", adminToken, nil, &rep, 200)
		if !rep.OK || rep.Conflicts != conflicts {
			t.Fatalf("verify %+v, want ok with %d conflicts", rep, conflicts)
		}
		for _, code := range codes {
			var o struct {
				Stock int `json:"stock"`
			}
			s.mustCall("GET", "/api/v2/outlet", tok[code], nil, &o, 200)
			if o.Stock < 0 {
				t.Fatalf("outlet %s stock %d", code, o.Stock)
			}
		}
	}
	verify(6)
	// Cancelling the sale beyond stock takes its shortfall back: 1 again.
	var cancel struct {
		Outlet struct {
			Stock int `json:"stock"`
		} `json:"outlet"`
	}
	s.mustCall("POST", "/api/v2/outlet/sales/"+short.SaleID+"/cancel", tok[c], nil, &cancel, 200)
	if cancel.Outlet.Stock != 1 {
		t.Fatalf("stock after cancelling the late sale: %d, want 1", cancel.Outlet.Stock)
	}
	verify(5)
}

// post sends a JSON body and returns the status and the raw answer.
func post(t *testing.T, s *server, path, token string, body any) (int, []byte) {
	t.Helper()
	code, _, raw, err := s.send("POST", path, token, body)
	if err != nil {
		t.Fatal(err)
	}
	return code, raw
}
