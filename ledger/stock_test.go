package ledger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
)

func TestCorrectionStocksANeverStockedOutlet(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 0)
	if v, _ := e.Ledger.Outlet(ctx, "10000001"); v.RemainStat != nil {
		t.Fatalf("never stocked outlet shows %v", *v.RemainStat)
	}
	if _, _, err := e.Ledger.CorrectStock(ctx, "10000001", "c1", 50); err != nil {
		t.Fatal(err)
	}
	if v, _ := e.Ledger.Outlet(ctx, "10000001"); v.RemainStat == nil || *v.RemainStat != publicmask.StatSome || v.StockAt == nil {
		t.Fatalf("after a count of 50: %+v", v)
	}
}

func TestDeliveriesAndCorrections(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 0)
	r, replayed, err := e.Ledger.Deliver(ctx, "10000001", "d1", 250)
	if err != nil || replayed || r.Stock != 250 || r.Status != publicmask.StatPlenty {
		t.Fatalf("deliver: %+v %v", r, err)
	}
	if r2, replayed, _ := e.Ledger.Deliver(ctx, "10000001", "d1", 250); !replayed || r2.ID != r.ID {
		t.Fatal("delivery replay not idempotent")
	}
	if _, _, err := e.Ledger.Deliver(ctx, "10000001", "d1", 251); code(err) != publicmask.ETxnConflict {
		t.Fatalf("delivery txn reuse: %v", err)
	}
	if _, _, err := e.Ledger.Deliver(ctx, "10000001", "d2", 0); code(err) != publicmask.EBadRequest {
		t.Fatalf("zero delivery: %v", err)
	}
	c, _, err := e.Ledger.CorrectStock(ctx, "10000001", "c1", 240)
	if err != nil || c.Stock != 240 {
		t.Fatalf("correction: %+v %v", c, err)
	}
	res, err := e.Ledger.DeliverMany(ctx, []ledger.DeliveryRequest{{Outlet: "10000001", Quantity: 10, TxnID: "m1"}, {Outlet: "99999999", Quantity: 10, TxnID: "m2"}, {Outlet: "10000001", Quantity: -1, TxnID: "m3"}})
	if err != nil || res[0].Error != nil || res[0].Receipt.Stock != 250 || code(res[1].Error) != publicmask.ENotFound || code(res[2].Error) != publicmask.EBadRequest {
		t.Fatalf("deliver many: %+v %v", res, err)
	}
	mustVerify(t, e)
}

// TestRepeatedAnswersIdentical: a cancel and a delivery answered again give
// the same bytes as their first answer, even when the service clock has
// finer than microsecond precision (the store keeps microseconds).
func TestRepeatedAnswersIdentical(t *testing.T) {
	e := testenv.New(t)
	e.Clock.Set(time.Date(2020, 3, 11, 10, 0, 0, 123456789, policy.Seoul))
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 100)
	r, _, err := sell(e, "10000001", "t1", testenv.Born(1983, 1), 2)
	if err != nil {
		t.Fatal(err)
	}
	first, err := e.Ledger.Cancel(ctx, "10000001", r.SaleID)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.Ledger.Cancel(ctx, "10000001", r.SaleID)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := mustJSON(t, first), mustJSON(t, again); a != b {
		t.Errorf("cancel answered again differs:\n first %s\n again %s", a, b)
	}
	d1, _, err := e.Ledger.Deliver(ctx, "10000001", "d1", 10)
	if err != nil {
		t.Fatal(err)
	}
	d2, _, err := e.Ledger.Deliver(ctx, "10000001", "d1", 10)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := mustJSON(t, d1), mustJSON(t, d2); a != b {
		t.Errorf("delivery answered again differs:\n first %s\n again %s", a, b)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A delivery list longer than one transaction's chunk: every line lands on
// its own outlet, in the caller's order, errors included, and a replay of
// the whole list answers each line as before.
func TestDeliverManyInChunks(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	const n = 4500
	var outlets []publicmask.Outlet
	for i := range n {
		outlets = append(outlets, publicmask.Outlet{Code: fmt.Sprintf("2%07d", i), Name: "약국", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127})
	}
	if _, err := e.Ledger.ImportOutlets(ctx, outlets); err != nil {
		t.Fatal(err)
	}
	var lines []ledger.DeliveryRequest
	for i := n - 1; i >= 0; i-- { // reverse code order: results must follow the caller's
		lines = append(lines, ledger.DeliveryRequest{Outlet: outlets[i].Code, Quantity: 1 + i%7, TxnID: "open"})
	}
	lines = append(lines, ledger.DeliveryRequest{Outlet: "99999999", Quantity: 5, TxnID: "x"})
	for round := range 2 {
		res, err := e.Ledger.DeliverMany(ctx, lines)
		if err != nil {
			t.Fatal(err)
		}
		for j, r := range res[:n] {
			i := n - 1 - j
			if r.Error != nil || r.Outlet != outlets[i].Code || r.Receipt.Stock != 1+i%7 || r.Replayed != (round == 1) {
				t.Fatalf("round %d line %d: %+v", round, j, r)
			}
		}
		if code(res[n].Error) != publicmask.ENotFound {
			t.Fatalf("unknown outlet: %+v", res[n])
		}
	}
	mustVerify(t, e)
}
