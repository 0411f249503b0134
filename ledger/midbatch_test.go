package ledger_test

import (
	"context"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
)

// TestQuotaAcrossAMidBatchFlush: a buyer's first masks of the week are sold;
// then one group commit runs, in outlet order, a sale of one more mask to
// the buyer at outlet A, a request at B that reads a sale (a cancellation's
// first step: the transaction writes its pending rows there), and a sale of
// one more at C. Under the 2020 rules of June (3 a week, any number of
// purchases) the buyer had 2, the sale at A makes 3: the sale at C must be
// refused, and verify must find nothing wrong.
func TestQuotaAcrossAMidBatchFlush(t *testing.T) {
	ctx := context.Background()
	e := testenv.NewWith(t, testenv.Options{Policy: policy.Korea2020()})
	e.Clock.Set(time.Date(2020, 6, 3, 10, 0, 0, 0, publicmask.Seoul)) // a Wednesday
	for _, code := range []string{"20000001", "20000002", "20000003"} {
		e.AddOutlet(t, code, publicmask.TypePharmacy, 100)
	}
	buyer := testenv.Born(1983, 7)
	r, _, err := e.Ledger.Sell(ctx, ledger.SaleRequest{Outlet: "20000001", TxnID: "first", Buyer: buyer, Quantity: 2})
	if err != nil {
		t.Fatal(err)
	}
	errs, otherErr := e.Ledger.SellAround(ctx, []ledger.SaleRequest{
		{Outlet: "20000001", TxnID: "second", Buyer: buyer, Quantity: 1},
		{Outlet: "20000003", TxnID: "third", Buyer: buyer, Quantity: 1},
	}, "20000002", func(tx publicmask.Tx) error {
		_, err := tx.Sale(r.SaleID)
		return err
	})
	if otherErr != nil || errs[0] != nil {
		t.Fatalf("the request at B: %v; the second sale: %v", otherErr, errs[0])
	}
	if publicmask.ErrorCode(errs[1]) != publicmask.EQuotaExceeded {
		t.Errorf("the third mask of the week: %v, want %s", errs[1], publicmask.EQuotaExceeded)
	}
	rep, err := e.Ledger.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Errorf("verify: %+v", rep)
	}
}
