package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestNewUserScenario walks the rationing core's rules over HTTP, step by
// step, against a server seeded with the national demo, on Wednesday
// 2020-03-11; then a restart keeps everything. Each step builds on the last.
func TestNewUserScenario(t *testing.T) {
	dir := realRunDir(t, "runs a real server with the national demo")
	args := []string{"--db", filepath.Join(dir, "pm.db"), "--clock", "2020-03-11T10:00:00+09:00"}
	srv := start(t, args...)
	step := func(name string, f func(t *testing.T, s *server)) {
		if !t.Run(name, func(t *testing.T) { f(t, srv.on(t)) }) {
			t.FailNow()
		}
	}
	sale := func(txn, buyer string, qty int) map[string]any {
		return map[string]any{"txn_id": txn, "buyer": buyer, "quantity": qty}
	}
	tok := map[string]string{}
	wantErr := func(t *testing.T, s *server, outlet string, body map[string]any, status int, code string) {
		t.Helper()
		var e errBody
		s.mustCall("POST", "/api/v2/outlet/sales", tok[outlet], body, &e, status)
		if e.Error.Code != code {
			t.Fatalf("error code %q, want %q (%s)", e.Error.Code, code, e.Error.Message)
		}
	}
	var a, b, empty string
	b83 := born83(1)
	var first saleReceipt

	step("the demo has about 26,000 outlets; three pharmacies get tokens", func(t *testing.T, s *server) {
		var stores struct {
			TotalCount int `json:"totalCount"`
			StoreInfos []struct {
				Code string `json:"code"`
				Type string `json:"type"`
			} `json:"storeInfos"`
		}
		s.mustCall("GET", "/corona19-masks/v1/stores/json?perPage=5000", "", nil, &stores, 200)
		if stores.TotalCount < 25000 || stores.TotalCount > 27500 {
			t.Fatalf("demo seed has %d outlets, want about 26,000", stores.TotalCount)
		}
		var pharmacies []string
		for _, si := range stores.StoreInfos {
			if si.Type == "01" && len(pharmacies) < 3 {
				pharmacies = append(pharmacies, si.Code)
			}
		}
		if len(pharmacies) < 3 {
			t.Fatalf("only %d pharmacies on the first page", len(pharmacies))
		}
		for _, c := range pharmacies {
			tok[c] = s.outletToken(adminToken, c)
		}
		a, b, empty = pharmacies[0], pharmacies[1], pharmacies[2]
	})
	step("a 1983 buyer takes 2; quota, weekday and check digit refuse", func(t *testing.T, s *server) {
		s.mustCall("POST", "/api/v2/outlet/sales", tok[a], sale("t1", b83, 2), &first, 201)
		wantErr(t, s, b, sale("t2", b83, 1), 422, "quota_exceeded")
		wantErr(t, s, a, sale("t3", id("840315", '1', 2), 1), 422, "not_eligible_today")
		bad := []byte(born83(3))
		bad[12] = '0' + (bad[12]-'0'+1)%10
		wantErr(t, s, a, sale("t4", string(bad), 1), 400, "invalid_id")
	})
	step("a retry gets the first sale; another body under the txn_id is a conflict", func(t *testing.T, s *server) {
		var again saleReceipt
		s.mustCall("POST", "/api/v2/outlet/sales", tok[a], sale("t1", b83, 2), &again, 200)
		if again.SaleID != first.SaleID {
			t.Fatalf("replay gave sale %s, first was %s", again.SaleID, first.SaleID)
		}
		wantErr(t, s, a, sale("t1", b83, 1), 409, "txn_conflict")
	})
	step("an outlet without stock refuses", func(t *testing.T, s *server) {
		var st struct {
			Stock int `json:"stock"`
		}
		s.mustCall("POST", "/api/v2/outlet/stock", tok[empty], map[string]any{"txn_id": "count-0", "count": 0}, &st, 201)
		wantErr(t, s, empty, sale("t5", born83(5), 1), 422, "out_of_stock")
	})
	step("a suspended outlet refuses and shows break", func(t *testing.T, s *server) {
		s.mustCall("POST", "/api/v2/outlet/suspend", tok[b], nil, nil, 200)
		wantErr(t, s, b, sale("t6", born83(7), 1), 422, "sales_suspended")
		var view struct {
			RemainStat string `json:"remain_stat"`
			Suspended  bool   `json:"suspended"`
		}
		s.mustCall("GET", "/api/v2/outlet", tok[b], nil, &view, 200)
		if view.RemainStat != "break" || !view.Suspended {
			t.Fatalf("suspended outlet: %+v", view)
		}
		s.mustCall("POST", "/api/v2/outlet/resume", tok[b], nil, nil, 200)
	})
	step("cancel frees the quota", func(t *testing.T, s *server) {
		s.mustCall("POST", "/api/v2/outlet/sales/"+first.SaleID+"/cancel", tok[a], nil, nil, 200)
		s.mustCall("POST", "/api/v2/outlet/sales", tok[b], sale("t7", b83, 2), nil, 201)
	})
	step("forty buyers trying four times at once get one purchase each", func(t *testing.T, s *server) {
		oneEach(t, 40, func(i, try int) (*server, string, map[string]any) {
			o := []string{a, b}[try%2]
			return s, tok[o], sale(fmt.Sprintf("c%d-%d", i, try), born83(1000+i), 2)
		})
		s.mustVerify(t, "after the concurrent buyers")
	})
	step("every hop is measured", func(t *testing.T, s *server) {
		metrics := s.metrics(t)
		for _, name := range []string{
			"publicmask_http_request_duration_seconds_bucket{", "publicmask_http_requests_total{",
			"publicmask_sales_total{outcome=\"quota_exceeded\"}", "publicmask_ledger_batch_size_bucket{",
			"publicmask_ledger_commit_seconds_bucket{", "publicmask_snapshot_freshness_seconds_bucket{",
			"publicmask_snapshot_version ", "publicmask_store_connections_open ", "publicmask_http_shed_total{",
			"publicmask_ledger_wait_seconds_bucket{hop=\"queue\"", "publicmask_ledger_wait_seconds_bucket{hop=\"commit\"",
			"publicmask_ledger_wait_seconds_bucket{hop=\"wake\"", "go_sched_latencies_seconds_bucket{", "go_gc_pauses_seconds_bucket{",
			"publicmask_sqlite_wal_flush_seconds_bucket{", "publicmask_sqlite_checkpoint_seconds_bucket{pass=\"passive\"",
		} {
			if !strings.Contains(metrics, name) {
				t.Errorf("/metrics lacks %s", name)
			}
		}
	})
	step("a restart keeps stock, quotas and a consistent ledger", func(t *testing.T, s *server) {
		var before struct {
			Stock int `json:"stock"`
		}
		s.mustCall("GET", "/api/v2/outlet", tok[a], nil, &before, 200)
		s.stop()
		s2 := start(t, args...)
		var after struct {
			Stock int `json:"stock"`
		}
		s2.mustCall("GET", "/api/v2/outlet", tok[a], nil, &after, 200)
		if after.Stock != before.Stock {
			t.Fatalf("stock after restart %d, before %d", after.Stock, before.Stock)
		}
		var e errBody
		s2.mustCall("POST", "/api/v2/outlet/sales", tok[a], sale("t8", b83, 1), &e, 422)
		s2.mustVerify(t, "after restart")
		s2.stop()
	})
	step("no raw ID in the database files", func(t *testing.T, _ *server) {
		assertNoRawIDs(t, dir, []acked{{buyer: b83}, {buyer: born83(1000)}})
	})
}
