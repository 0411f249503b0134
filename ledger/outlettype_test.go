package ledger_test

import (
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/policy"
)

// TestVerifyKeepsTheOutletTypeOfEachSale: verify judges a sale again with
// the outlet type it was judged with, not the one the outlet was
// re-imported with since (DESIGN.md §4.4, "under the rules in force at each
// sale"). Under the 2020 rules post offices are closed at weekends and
// pharmacies are not: a pharmacy's Saturday sale, the pharmacy then
// re-registered as a post office, was reported as outlet_closed (found by
// an audit against the binary).
func TestVerifyKeepsTheOutletTypeOfEachSale(t *testing.T) {
	e := testenv.NewWith(t, testenv.Options{Policy: policy.Korea2020()})
	e.Clock.Set(time.Date(2020, 3, 14, 10, 0, 0, 0, publicmask.Seoul)) // Saturday
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 100)
	if _, _, err := sell(e, "10000001", "t1", testenv.Born(1983, 1), 2); err != nil {
		t.Fatalf("a pharmacy's Saturday sale: %v", err)
	}
	mustVerify(t, e)
	if _, err := e.Ledger.ImportOutlets(ctx, []publicmask.Outlet{{
		Code: "10000001", Name: "우체국 10000001", Addr: "서울특별시 강북구 솔매로 38 (미아동)", Type: publicmask.TypePost,
		Lat: 37.6254369, Lng: 127.0164096,
	}}); err != nil {
		t.Fatal(err)
	}
	// The new type is in force for the sales after it.
	if _, _, err := sell(e, "10000001", "t2", testenv.Born(1984, 2), 2); code(err) != publicmask.EOutletClosed {
		t.Fatalf("a post office's Saturday sale: %v, want outlet_closed", err)
	}
	mustVerify(t, e)
}

// TestVerifyJudgesUntypedSalesWithTheCurrentType: a sale recorded before
// sales kept their outlet's type (its type "") is judged with the outlet's
// type now, as verify always did: a post office's Saturday sale written
// behind the ledger's back is still a violation.
func TestVerifyJudgesUntypedSalesWithTheCurrentType(t *testing.T) {
	e := testenv.NewWith(t, testenv.Options{Policy: policy.Korea2020()})
	sat := time.Date(2020, 3, 14, 10, 0, 0, 0, publicmask.Seoul)
	e.Clock.Set(sat)
	e.AddOutlet(t, "10000001", publicmask.TypePost, 0)
	if err := e.Store.Write(ctx, func(tx publicmask.Tx) error {
		return tx.InsertSale(&publicmask.Sale{ID: "s-old", Outlet: "10000001", TxnID: "old", SoldAt: sat, RecordedAt: sat,
			Week: "2020-03-09", Weekend: true, Quantity: 1,
			Items: []publicmask.SaleItem{{Role: policy.RoleBuyer, Person: "p-old", BirthYear: 1983, Quantity: 1}}})
	}); err != nil {
		t.Fatal(err)
	}
	rep, err := e.Ledger.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var rule bool
	for _, v := range rep.Violations {
		rule = rule || v.Kind == "rule" && v.Sale == "s-old"
	}
	if rep.OK || !rule {
		t.Fatalf("verify: %+v, want the untyped sale judged a rule violation by the post office's type", rep)
	}
}
