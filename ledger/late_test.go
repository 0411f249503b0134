package ledger_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
)

func at(hhmm string) time.Time {
	t, err := time.ParseInLocation("2006-01-02 15:04", "2020-03-11 "+hhmm, publicmask.Seoul)
	if err != nil {
		panic(err)
	}
	return t
}

func late(e *testenv.Env, outlet, txn, buyer string, qty int, soldAt time.Time, offline bool) (*ledger.Receipt, error) {
	r, _, err := e.Ledger.Sell(ctx, ledger.SaleRequest{Outlet: outlet, TxnID: txn, Buyer: buyer, Quantity: qty, SoldAt: soldAt, Offline: offline})
	return r, err
}

func stockOf(t *testing.T, e *testenv.Env, outlet string) int {
	t.Helper()
	v, err := e.Ledger.Outlet(ctx, outlet)
	if err != nil {
		t.Fatal(err)
	}
	return v.Stock
}

// TestLateSaleReasons: each way a late sale can break the rules is recorded
// and flagged with its reason (DESIGN.md §4.3); stock never goes below zero;
// verify stays ok and counts the conflicts.
func TestLateSaleReasons(t *testing.T) {
	e := testenv.New(t)
	e.Clock.Set(at("08:00"))
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 100)
	e.AddOutlet(t, "10000002", publicmask.TypePharmacy, 1)
	e.AddOutlet(t, "10000003", publicmask.TypePharmacy, 100)
	e.AddOutlet(t, "10000004", publicmask.TypePharmacy, 100)
	// Outlet 1 suspends 08:00–08:30.
	if _, err := e.Ledger.SetSuspended(ctx, "10000001", true); err != nil {
		t.Fatal(err)
	}
	e.Clock.Set(at("08:30"))
	if _, err := e.Ledger.SetSuspended(ctx, "10000001", false); err != nil {
		t.Fatal(err)
	}
	// Outlet 3 makes a live sale at 09:00 (a stored write); outlet 4 is
	// only seen making requests at 09:00 (this node's memory).
	e.Clock.Set(at("09:00"))
	if _, _, err := sell(e, "10000003", "live3", testenv.Born(1988, 30), 1); err != nil {
		t.Fatal(err)
	}
	e.Ledger.NoteActivity("10000004")
	e.Clock.Set(at("10:00"))
	over := testenv.Born(1983, 1)
	if _, _, err := sell(e, "10000001", "live1", over, 2); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, outlet, buyer string
		qty                 int
		soldAt              time.Time
		offline             bool
		want                []string
		stock               int // after
	}{
		{"over quota", "10000001", over, 2, at("09:00"), false, []string{publicmask.EQuotaExceeded}, 96},
		{"wrong day", "10000001", testenv.Born(1984, 2), 1, at("09:00"), false, []string{publicmask.ENotEligibleToday}, 95},
		// Resuming at 08:30 was a request after sold_at: online then too.
		{"during a suspension", "10000001", testenv.Born(1988, 3), 1, at("08:15"), false, []string{publicmask.ESalesSuspended, publicmask.ConflictLateWhileOnline}, 94},
		{"after the suspension", "10000001", testenv.Born(1988, 4), 1, at("08:45"), false, nil, 93},
		{"beyond stock", "10000002", testenv.Born(1988, 5), 2, at("09:30"), false, []string{publicmask.EOutOfStock}, 0},
		{"beyond stock and over quota", "10000002", over, 1, at("09:30"), false, []string{publicmask.EQuotaExceeded, publicmask.EOutOfStock}, 0},
		{"online after sold_at (stored write)", "10000003", testenv.Born(1988, 6), 1, at("08:50"), false, []string{publicmask.ConflictLateWhileOnline}, 98},
		{"online only within the last 10 minutes", "10000003", testenv.Born(1988, 7), 1, at("09:30"), false, nil, 97},
		{"online after sold_at (requests in memory)", "10000004", testenv.Born(1988, 8), 1, at("08:50"), false, []string{publicmask.ConflictLateWhileOnline}, 99},
		{"offline, synced within a minute, over quota", "10000004", over, 1, at("09:59").Add(30 * time.Second), true, []string{publicmask.EQuotaExceeded}, 98},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := late(e, tc.outlet, "late-"+tc.soldAt.Format("1504")+"-"+tc.buyer[7:], tc.buyer, tc.qty, tc.soldAt, tc.offline)
			if err != nil {
				t.Fatalf("late sale refused: %v", err)
			}
			if !r.Late || !reflect.DeepEqual(r.ConflictReasons, tc.want) || (len(tc.want) > 0 && r.Conflict != tc.want[0]) {
				t.Errorf("receipt late=%v conflict=%q reasons=%v, want %v", r.Late, r.Conflict, r.ConflictReasons, tc.want)
			}
			if !r.SoldAt.Equal(tc.soldAt) {
				t.Errorf("sold_at %v, want %v", r.SoldAt, tc.soldAt)
			}
			if r.Outlet.Stock != tc.stock || stockOf(t, e, tc.outlet) != tc.stock {
				t.Errorf("stock %d, want %d", r.Outlet.Stock, tc.stock)
			}
		})
	}
	rep, err := e.Ledger.Verify(ctx)
	if err != nil || !rep.OK || rep.Conflicts != 8 {
		t.Fatalf("verify: %+v %v; want ok with 8 conflicts", rep, err)
	}
	cs, _ := e.Ledger.Conflicts(ctx, 100)
	counts, _ := e.Ledger.LateSaleCounts(ctx)
	if len(cs) != 8 {
		t.Errorf("%d conflicts listed, want 8", len(cs))
	}
	want := []publicmask.LateSaleCount{{Outlet: "10000001", Late: 4, Conflicts: 3}, {Outlet: "10000002", Late: 2, Conflicts: 2}, {Outlet: "10000003", Late: 2, Conflicts: 1}, {Outlet: "10000004", Late: 2, Conflicts: 2}}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("late counts %+v, want %+v", counts, want)
	}
}

// TestLateSaleTimes: the late window, the one-minute line between live and
// late, the offline flag and the week a late sale counts in.
func TestLateSaleTimes(t *testing.T) {
	e := testenv.New(t)
	e.Clock.Set(time.Date(2020, 3, 16, 9, 0, 0, 0, publicmask.Seoul)) // Monday
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 100)
	b83 := testenv.Born(1983, 1)
	now := e.Clock.Now()
	if _, err := late(e, "10000001", "old", b83, 1, now.Add(-25*time.Hour), false); code(err) != publicmask.ELateSaleTooOld {
		t.Fatalf("25 h old: %v, want late_sale_too_old", err)
	}
	if _, err := late(e, "10000001", "old-offline", b83, 1, now.Add(-25*time.Hour), true); code(err) != publicmask.ELateSaleTooOld {
		t.Fatalf("25 h old offline: %v, want late_sale_too_old", err)
	}
	if _, err := late(e, "10000001", "future", b83, 1, now.Add(10*time.Minute), true); code(err) != publicmask.EBadRequest {
		t.Fatalf("sold_at in the future: %v", err)
	}
	// Sunday evening, last week: counted there, not this week.
	r, err := late(e, "10000001", "sunday", b83, 2, now.Add(-14*time.Hour), false)
	if err != nil || r.Conflict != "" || *r.Items[0].RemainingThisWeek != 0 {
		t.Fatalf("Sunday sale: %+v %v", r, err)
	}
	if _, _, err := sell(e, "10000001", "monday", testenv.Born(1981, 2), 2); err != nil {
		t.Fatalf("live Monday sale: %v", err)
	}
	res, _ := check(e, "10000001", testenv.Born(1981, 3))
	if !res.Eligible {
		t.Fatalf("check of a Monday buyer: %+v", res)
	}
	// 1983 buys again on Wednesday of the new week: the Sunday sale was last week's.
	e.Clock.Set(time.Date(2020, 3, 18, 9, 0, 0, 0, publicmask.Seoul))
	if _, _, err := sell(e, "10000001", "wed", b83, 2); err != nil {
		t.Fatalf("Wednesday after a late Sunday sale: %v", err)
	}
	now = e.Clock.Now()
	// 30 s old, not offline: live, refused. Offline: late, recorded, flagged.
	if _, err := late(e, "10000001", "recent", b83, 1, now.Add(-30*time.Second), false); code(err) != publicmask.EQuotaExceeded {
		t.Fatalf("30 s old live sale over quota: %v", err)
	}
	if r, err := late(e, "10000001", "recent-off", b83, 1, now.Add(-30*time.Second), true); err != nil || r.Conflict != publicmask.EQuotaExceeded {
		t.Fatalf("30 s old offline sale over quota: %+v %v", r, err)
	}
	// A wider late window (a policy field) accepts older sales.
	p := policy.Standard()
	p.LateWindow = "72h"
	e.Ledger.SetPolicy(p)
	if r, err := late(e, "10000001", "two-days", testenv.Born(1986, 4), 1, now.Add(-48*time.Hour), true); err != nil || !r.Late {
		t.Fatalf("48 h old sale under a 72 h window: %+v %v", r, err)
	}
	mustVerify(t, e)
}

// TestCancelLateSaleReversesShortfall: cancelling a late sale that took
// more than the stock takes its shortfall correction back too.
func TestCancelLateSaleReversesShortfall(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 1)
	r, err := late(e, "10000001", "l1", testenv.Born(1988, 1), 2, e.Clock.Now().Add(-time.Hour), true)
	if err != nil || r.Outlet.Stock != 0 || r.Conflict != publicmask.EOutOfStock {
		t.Fatalf("late sale beyond stock: %+v %v", r, err)
	}
	if _, _, err := e.Ledger.Deliver(ctx, "10000001", "d2", 4); err != nil {
		t.Fatal(err)
	}
	mustVerify(t, e)
	c, err := e.Ledger.Cancel(ctx, "10000001", r.SaleID)
	if err != nil || c.Outlet.Stock != 5 { // 1 + 4 delivered, as if the sale never happened
		t.Fatalf("cancel: %+v %v; want stock 5", c, err)
	}
	if again, err := e.Ledger.Cancel(ctx, "10000001", r.SaleID); err != nil || again.Outlet.Stock != 5 {
		t.Fatalf("second cancel: %+v %v", again, err)
	}
	mustVerify(t, e)
}

// TestCheckAgreesWithSale: the check takes the sale's body and gives the
// verdict the sale then gets; what remains this week means the same in the
// check and in the receipt.
func TestCheckAgreesWithSale(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 100)
	e.AddOutlet(t, "10000002", publicmask.TypePharmacy, 1)
	parent := testenv.Born(1984, 1) // Thursday: not today
	child := func(n int) ledger.PersonInput {
		return ledger.PersonInput{ID: testenv.Born(2013, n), Category: policy.CategoryChild, Quantity: 1} // Wednesday
	}
	for i, tc := range []struct {
		name   string
		req    ledger.SaleRequest
		reason string
	}{
		{"parent buys only for a child", ledger.SaleRequest{Buyer: parent, Quantity: 0, OnBehalfOf: []ledger.PersonInput{child(1)}}, ""},
		{"parent takes one too", ledger.SaleRequest{Buyer: parent, Quantity: 1, OnBehalfOf: []ledger.PersonInput{child(2)}}, publicmask.ENotEligibleToday},
		{"child over quota", ledger.SaleRequest{Buyer: parent, Quantity: 0, OnBehalfOf: []ledger.PersonInput{{ID: testenv.Born(2013, 3), Category: policy.CategoryChild, Quantity: 3}}}, publicmask.EQuotaExceeded},
		{"elderly not allowed as child", ledger.SaleRequest{Buyer: parent, Quantity: 0, OnBehalfOf: []ledger.PersonInput{{ID: testenv.Born(1943, 4), Category: policy.CategoryChild, Quantity: 1}}}, publicmask.EProxyNotAllowed},
		{"own day", ledger.SaleRequest{Buyer: testenv.Born(1983, 5), Quantity: 2}, ""},
		{"beyond stock", ledger.SaleRequest{Outlet: "10000002", Buyer: testenv.Born(1983, 6), Quantity: 2}, publicmask.EOutOfStock},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			if req.Outlet == "" {
				req.Outlet = "10000001"
			}
			req.TxnID = "agree-" + string(rune('a'+i))
			res, err := e.Ledger.Check(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			r, _, serr := e.Ledger.Sell(ctx, req)
			if res.Eligible != (serr == nil) || (res.Reason == nil) != (serr == nil) || (serr != nil && *res.Reason != code(serr)) || code(serr) != tc.reason {
				t.Fatalf("check %+v (reason %v) but sale %v; want %q", res, res.Reason, serr, tc.reason)
			}
			if serr != nil {
				var pe *publicmask.Error
				if !asError(serr, &pe) || !reflect.DeepEqual(pe.Persons, res.Persons) {
					t.Fatalf("the refusal's persons %+v differ from the check's %+v", pe, res.Persons)
				}
				return
			}
			// After the sale, the check's remaining equals the receipt's.
			after, _ := e.Ledger.Check(ctx, req)
			for i, it := range r.Items {
				if !reflect.DeepEqual(it.RemainingThisWeek, after.Persons[i].RemainingThisWeek) {
					t.Errorf("person %d: receipt says %v remaining, check says %v", i, deref(it.RemainingThisWeek), deref(after.Persons[i].RemainingThisWeek))
				}
			}
		})
	}
	// A suspended outlet answers the check with a top-level reason.
	if _, err := e.Ledger.SetSuspended(ctx, "10000001", true); err != nil {
		t.Fatal(err)
	}
	res, err := e.Ledger.Check(ctx, ledger.SaleRequest{Outlet: "10000001", Buyer: testenv.Born(1988, 9), Quantity: 1})
	if err != nil || res.Eligible || res.Reason == nil || *res.Reason != publicmask.ESalesSuspended {
		t.Fatalf("check at a suspended outlet: %+v %v", res, err)
	}
}

func deref(p *int) any {
	if p == nil {
		return nil
	}
	return *p
}

func asError(err error, target **publicmask.Error) bool {
	e, ok := err.(*publicmask.Error)
	*target = e
	return ok
}

// TestOutletViewServesLimits: GET /api/v2/outlet's data for the counter
// page: the quantity bound, the proxy categories allowed today, the ID rule.
func TestOutletViewServesLimits(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 100)
	v, err := e.Ledger.Outlet(ctx, "10000001")
	if err != nil {
		t.Fatal(err)
	}
	if v.Limits.MaxQuantityPerPerson != publicmask.MaxQuantityPerPerson || v.Limits.LateWindowSeconds != 86400 || !v.IDCheck.VerifyCheckDigit || len(v.IDCheck.Weights) != 12 {
		t.Fatalf("limits %+v id check %+v", v.Limits, v.IDCheck)
	}
	// The served delivery and count bounds are the ones the ledger enforces.
	if ledger.CheckDelivery(v.Limits.MaxDelivery) != nil || ledger.CheckDelivery(v.Limits.MaxDelivery+1) == nil ||
		ledger.CheckCount(v.Limits.MaxCount) != nil || ledger.CheckCount(v.Limits.MaxCount+1) == nil {
		t.Fatalf("served bounds %+v differ from the ledger's", v.Limits)
	}
	var names []string
	for _, c := range v.ProxyCategories {
		names = append(names, c.Name)
	}
	if !reflect.DeepEqual(names, []string{"child", "elderly", "long_term_care", "disabled"}) {
		t.Fatalf("proxy categories today: %v", names)
	}
}

// TestVerifyFindsUnlinkedShortfall: a shortfall correction that no late
// sale accounts for is a violation, even when the stock adds up.
func TestVerifyFindsUnlinkedShortfall(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 10)
	behindTheLedger(t, e, "10000001", func(tx publicmask.Tx, o *publicmask.Outlet) error {
		o.Stock += 2
		return tx.InsertCorrection(&publicmask.Correction{ID: "cx", Outlet: o.Code, TxnID: "cx", Kind: publicmask.CorrectionShortfall, SaleID: "nope", Delta: 2, At: e.Clock.Now()})
	})
	wantOneViolation(t, e, "shortfall_unlinked")
}
