package ledger_test

import (
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/policy"
)

// TestCancelRestoresSplitCounts: under the May 2020 rules (one weekday and
// one weekend purchase, 3 masks), cancelling gives back exactly the slot
// the sale used, and verify agrees at every step.
func TestCancelRestoresSplitCounts(t *testing.T) {
	e := testenv.NewWith(t, testenv.Options{Policy: policy.Korea2020()})
	e.Clock.Set(time.Date(2020, 5, 20, 10, 0, 0, 0, policy.Seoul)) // Wednesday
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 100)
	b83 := testenv.Born(1983, 1)
	weekday, _, err := sell(e, "10000001", "wd", b83, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sell(e, "10000001", "wd2", b83, 1); code(err) != publicmask.EQuotaExceeded {
		t.Fatalf("second weekday purchase: %v", err)
	}
	e.Clock.Set(time.Date(2020, 5, 23, 10, 0, 0, 0, policy.Seoul)) // Saturday
	weekend, _, err := sell(e, "10000001", "we", b83, 1)
	if err != nil {
		t.Fatalf("weekend purchase: %v", err)
	}
	mustVerify(t, e)
	if _, err := e.Ledger.Cancel(ctx, "10000001", weekend.SaleID); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, e)
	// The weekend slot is free again; the weekday one is still used.
	if _, _, err := sell(e, "10000001", "we2", b83, 1); err != nil {
		t.Fatalf("weekend purchase after cancelling the weekend one: %v", err)
	}
	if _, _, err := sell(e, "10000001", "we3", b83, 1); code(err) != publicmask.EQuotaExceeded {
		t.Fatalf("third purchase: %v", err)
	}
	// Cancelling the weekday sale frees its masks but not a weekend slot.
	if _, err := e.Ledger.Cancel(ctx, "10000001", weekday.SaleID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sell(e, "10000001", "we4", b83, 1); code(err) != publicmask.EQuotaExceeded {
		t.Fatalf("a second weekend purchase after cancelling the weekday one: %v", err)
	}
	mustVerify(t, e)
	v, _ := e.Ledger.Outlet(ctx, "10000001")
	if v.Stock != 99 {
		t.Fatalf("stock %d, want 99 (100 − the one weekend mask that stands)", v.Stock)
	}
}
