package ledger_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
)

// TestGroupCommitOutcomes: in one group commit a refusal (reject) answers
// only its own request while the others commit; any other error rolls the
// batch back and every request is run again alone, so that only the failing
// one fails and each of the others keeps what its last run did.
func TestGroupCommitOutcomes(t *testing.T) {
	e := testenv.New(t)
	put := func(tx publicmask.Tx, hash string) error {
		return tx.PutToken(publicmask.Token{Hash: hash, Role: publicmask.RoleDistributor, CreatedAt: e.Ledger.Now()})
	}
	stored := func(hash string) bool {
		_, err := e.Store.Token(ctx, hash)
		return err == nil
	}
	t.Run("a refusal answers only its request", func(t *testing.T) {
		refusal := publicmask.Errorf(publicmask.EOutOfStock, "only 0 masks in stock")
		errs := e.Ledger.CommitOps(
			func(tx publicmask.Tx) error { return put(tx, "a") },
			func(tx publicmask.Tx) error { return ledger.Reject(refusal) },
			func(tx publicmask.Tx) error { return put(tx, "c") },
		)
		if errs[0] != nil || errs[2] != nil {
			t.Fatalf("the others were refused too: %v", errs)
		}
		if errs[1] != refusal { // the refusal itself, not the marker around it
			t.Fatalf("refused with %#v, want %#v", errs[1], refusal)
		}
		if !stored("a") || !stored("c") {
			t.Fatal("the requests beside a refusal did not commit")
		}
	})
	t.Run("a failure is retried alone", func(t *testing.T) {
		runs := 0
		// The healthy request runs first: its batch write is rolled back
		// with the failure, then it runs again alone.
		errs := e.Ledger.CommitOps(
			func(tx publicmask.Tx) error { runs++; return put(tx, "e") },
			func(tx publicmask.Tx) error {
				if err := put(tx, "d"); err != nil {
					return err
				}
				return errors.New("disk on fire")
			},
		)
		if errs[0] != nil || code(errs[1]) != publicmask.EStoreUnavailable {
			t.Fatalf("outcomes %v, want nil and store_unavailable", errs)
		}
		if runs != 2 {
			t.Fatalf("the healthy request ran %d times, want 2 (in the batch, then alone)", runs)
		}
		if stored("d") || !stored("e") {
			t.Fatalf("after the retry: d stored %v (want false), e stored %v (want true)", stored("d"), stored("e"))
		}
	})
}

// TestSaleRetriedAloneAnswersWhatCommitted: a sale whose batch failed
// because of another request is recorded again alone; its answer is the
// receipt of that second record (a new sale id), the one the store keeps,
// not the first run's, which was rolled back.
func TestSaleRetriedAloneAnswersWhatCommitted(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 100)
	req := ledger.SaleRequest{Outlet: "10000001", TxnID: "t1", Buyer: testenv.Born(1983, 1), Quantity: 2}
	r, saleErr, otherErr := e.Ledger.SellBeside(ctx, req, func(publicmask.Tx) error { return errors.New("disk on fire") })
	if saleErr != nil || code(otherErr) != publicmask.EStoreUnavailable {
		t.Fatalf("outcomes %v, %v; want nil and store_unavailable", saleErr, otherErr)
	}
	if r == nil {
		t.Fatal("no receipt for the committed sale")
	}
	recent, err := e.Store.RecentSales(ctx, "10000001", 10)
	if err != nil || len(recent) != 1 {
		t.Fatalf("sales stored: %+v %v", recent, err)
	}
	if r.SaleID != recent[0].ID || r.Outlet.Stock != 98 {
		t.Fatalf("the receipt says sale %s, stock %d; the store keeps %s", r.SaleID, r.Outlet.Stock, recent[0].ID)
	}
	// A retry of the txn_id replays that receipt byte for byte.
	again, replayed, err := e.Ledger.Sell(ctx, req)
	if err != nil || !replayed || !bytes.Equal(again.JSON(), r.JSON()) {
		t.Fatalf("retry: %+v %v %v", again, replayed, err)
	}
	mustVerify(t, e)
}
