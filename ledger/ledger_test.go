package ledger_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
)

var ctx = context.Background()

func code(err error) string { return publicmask.ErrorCode(err) }

func sell(e *testenv.Env, outlet, txn, buyer string, qty int) (*ledger.Receipt, bool, error) {
	return e.Ledger.Sell(ctx, ledger.SaleRequest{Outlet: outlet, TxnID: txn, Buyer: buyer, Quantity: qty})
}

func check(e *testenv.Env, outlet, buyer string) (*ledger.CheckResult, error) {
	return e.Ledger.Check(ctx, ledger.SaleRequest{Outlet: outlet, Buyer: buyer, Quantity: 1})
}

// behindTheLedger changes an outlet (and whatever else change writes) in
// the store directly, as a bug or an operator with SQL might.
func behindTheLedger(t *testing.T, e *testenv.Env, code string, change func(tx publicmask.Tx, o *publicmask.Outlet) error) {
	t.Helper()
	err := e.Store.Write(ctx, func(tx publicmask.Tx) error {
		o, err := tx.LockOutlet(code)
		if err != nil {
			return err
		}
		if err := change(tx, &o); err != nil {
			return err
		}
		return tx.SaveOutlet(&o)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// wantOneViolation fails t unless verify reports exactly one violation, of
// kind.
func wantOneViolation(t *testing.T, e *testenv.Env, kind string) {
	t.Helper()
	rep, _ := e.Ledger.Verify(ctx)
	if rep.OK || len(rep.Violations) != 1 || rep.Violations[0].Kind != kind {
		t.Fatalf("verify: %+v, want one %s", rep, kind)
	}
}

func mustVerify(t *testing.T, e *testenv.Env) {
	t.Helper()
	rep, err := e.Ledger.Verify(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK {
		t.Fatalf("verify: %+v", rep.Violations)
	}
}

// TestRationingCoreOnWednesday walks the rationing core's rules, step by
// step, on Wednesday 2020-03-11 under the standard policy: one purchase a
// week across outlets, the weekday rotation, check digits, idempotent
// retries, stock, suspension and cancel. Each step builds on the last.
func TestRationingCoreOnWednesday(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 250)
	e.AddOutlet(t, "10000002", publicmask.TypePharmacy, 250)
	e.AddOutlet(t, "10000003", publicmask.TypePharmacy, 0)
	b83 := testenv.Born(1983, 1)
	step := func(name string, f func(t *testing.T)) {
		if !t.Run(name, f) {
			t.FailNow()
		}
	}
	var first *ledger.Receipt

	step("a 1983 buyer takes 2 masks on Wednesday", func(t *testing.T) {
		r, replayed, err := sell(e, "10000001", "t1", b83, 2)
		if err != nil || replayed {
			t.Fatalf("first sale: %v replayed=%v", err, replayed)
		}
		if r.Outlet.Stock != 248 || r.Items[0].Quantity != 2 || *r.Items[0].RemainingThisWeek != 0 || r.Items[0].Role != "buyer" {
			t.Fatalf("receipt: %+v", r)
		}
		first = r
	})
	step("the same buyer is refused at another outlet", func(t *testing.T) {
		if _, _, err := sell(e, "10000002", "t2", b83, 1); code(err) != publicmask.EQuotaExceeded {
			t.Fatalf("second outlet: %v, want quota_exceeded", err)
		}
	})
	step("a 1984 buyer is refused on Wednesday", func(t *testing.T) {
		if _, _, err := sell(e, "10000001", "t3", testenv.Born(1984, 2), 1); code(err) != publicmask.ENotEligibleToday {
			t.Fatalf("born 1984 on Wednesday: %v", err)
		}
	})
	step("a wrong check digit is an invalid ID", func(t *testing.T) {
		bad := []byte(testenv.Born(1983, 3))
		bad[12] = '0' + (bad[12]-'0'+1)%10
		if _, _, err := sell(e, "10000001", "t4", string(bad), 1); code(err) != publicmask.EInvalidID {
			t.Fatalf("bad check digit: %v", err)
		}
	})
	step("a retry with the same body gets the first receipt", func(t *testing.T) {
		r2, replayed, err := sell(e, "10000001", "t1", b83, 2)
		if err != nil || !replayed || r2.SaleID != first.SaleID || r2.Outlet.Stock != 248 {
			t.Fatalf("replay: %+v replayed=%v err=%v", r2, replayed, err)
		}
	})
	step("the hyphenated ID is the same request", func(t *testing.T) {
		hy := b83[:6] + "-" + b83[6:]
		if r3, replayed, err := sell(e, "10000001", "t1", hy, 2); err != nil || !replayed || r3.SaleID != first.SaleID {
			t.Fatalf("hyphenated replay: %v %v", replayed, err)
		}
	})
	step("the same txn_id with another body is a conflict", func(t *testing.T) {
		if _, _, err := sell(e, "10000001", "t1", b83, 1); code(err) != publicmask.ETxnConflict {
			t.Fatalf("reuse with other body: %v", err)
		}
	})
	step("an outlet without stock refuses", func(t *testing.T) {
		if _, _, err := sell(e, "10000003", "t5", testenv.Born(1988, 5), 1); code(err) != publicmask.EOutOfStock {
			t.Fatalf("no stock: %v", err)
		}
	})
	step("a suspended outlet refuses and shows break", func(t *testing.T) {
		if _, err := e.Ledger.SetSuspended(ctx, "10000002", true); err != nil {
			t.Fatal(err)
		}
		if _, _, err := sell(e, "10000002", "t6", testenv.Born(1988, 7), 1); code(err) != publicmask.ESalesSuspended {
			t.Fatalf("suspended: %v", err)
		}
		v, _ := e.Ledger.Outlet(ctx, "10000002")
		if v.RemainStat == nil || *v.RemainStat != publicmask.StatBreak {
			t.Fatalf("suspended outlet shows %v", v.RemainStat)
		}
	})
	step("cancel returns the stock, only at the selling outlet", func(t *testing.T) {
		c, err := e.Ledger.Cancel(ctx, "10000001", first.SaleID)
		if err != nil || c.Outlet.Stock != 250 {
			t.Fatalf("cancel: %+v %v", c, err)
		}
		if _, err := e.Ledger.Cancel(ctx, "10000002", first.SaleID); code(err) != publicmask.ENotFound {
			t.Fatalf("cancel at another outlet: %v", err)
		}
	})
	step("cancel frees the week's quota", func(t *testing.T) {
		if _, _, err := sell(e, "10000001", "t7", b83, 2); err != nil {
			t.Fatalf("after cancel: %v", err)
		}
		v, _ := e.Ledger.Outlet(ctx, "10000001")
		if v.SoldToday != 2 || v.Stock != 248 {
			t.Fatalf("outlet view: %+v", v)
		}
	})
	// The cumulative sold count is the forecast's input on every node.
	step("the stored sold count took the cancelled sale back", func(t *testing.T) {
		if o, err := e.Store.Outlet(ctx, "10000001"); err != nil || o.Sold != 2 {
			t.Fatalf("stored sold = %d (%v), want 2 (2 sold, 2 cancelled, 2 sold)", o.Sold, err)
		}
	})
	mustVerify(t, e)
}

func TestCheck(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 100)
	b83, b84 := testenv.Born(1983, 1), testenv.Born(1984, 2)
	res, err := check(e, "10000001", b83)
	if err != nil || !res.Eligible || *res.Persons[0].RemainingThisWeek != 2 {
		t.Fatalf("check: %+v %v", res, err)
	}
	res, _ = check(e, "10000001", b84)
	if res.Eligible || *res.Persons[0].Reason != publicmask.ENotEligibleToday || res.Persons[0].NextDate == nil || *res.Persons[0].NextDate != "2020-03-12" {
		t.Fatalf("check 1984: %+v", res.Persons[0])
	}
	if _, _, err := sell(e, "10000001", "t1", b83, 2); err != nil {
		t.Fatal(err)
	}
	res, _ = check(e, "10000001", b83)
	if res.Eligible || *res.Persons[0].Reason != publicmask.EQuotaExceeded || *res.Persons[0].RemainingThisWeek != 0 {
		t.Fatalf("check after buying: %+v", res.Persons[0])
	}
}

func TestProxySaleAllOrNothing(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 100)
	parent := testenv.Born(1983, 1)
	elder := testenv.Born(1938, 2) // born 1938: Wednesday digit 8
	child := testenv.Born(2012, 3) // born 2012: Tuesday
	falseChild := testenv.Born(1988, 5)
	// An elderly person on their own day: accepted, with each quota used.
	r, _, err := e.Ledger.Sell(ctx, ledger.SaleRequest{Outlet: "10000001", TxnID: "p1", Buyer: parent, Quantity: 0,
		OnBehalfOf: []ledger.PersonInput{{ID: elder, Category: policy.CategoryElderly, Quantity: 2}}})
	if err != nil || len(r.Items) != 2 || r.Items[1].Role != "proxy" || r.Outlet.Stock != 98 {
		t.Fatalf("elderly proxy: %+v %v", r, err)
	}
	// A child on the parent's day (not the child's) on 11 March: refused, and nothing recorded.
	_, _, err = e.Ledger.Sell(ctx, ledger.SaleRequest{Outlet: "10000001", TxnID: "p2", Buyer: parent, Quantity: 2,
		OnBehalfOf: []ledger.PersonInput{{ID: child, Category: policy.CategoryChild, Quantity: 2}}})
	if err == nil {
		t.Fatal("child proxy on the parent's day accepted on 2020-03-11")
	}
	if _, _, err := sell(e, "10000001", "p3", parent, 2); err != nil {
		t.Fatalf("parent's own purchase after the refused proxy sale: %v", err)
	}
	_, _, err = e.Ledger.Sell(ctx, ledger.SaleRequest{Outlet: "10000001", TxnID: "p4", Buyer: testenv.Born(1978, 7), Quantity: 1,
		OnBehalfOf: []ledger.PersonInput{{ID: falseChild, Category: policy.CategoryChild, Quantity: 1}}})
	if code(err) != publicmask.EProxyNotAllowed {
		t.Fatalf("false child: %v", err)
	}
	mustVerify(t, e)
}

func TestLateSaleConflict(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 100)
	b83 := testenv.Born(1983, 1)
	if _, _, err := sell(e, "10000001", "live", b83, 2); err != nil {
		t.Fatal(err)
	}
	// An offline sale of the same person an hour ago arrives late: recorded,
	// flagged, and not a violation.
	r, _, err := e.Ledger.Sell(ctx, ledger.SaleRequest{Outlet: "10000001", TxnID: "late", Buyer: b83, Quantity: 2, SoldAt: e.Clock.Now().Add(-time.Hour)})
	if err != nil || r.Conflict != publicmask.EQuotaExceeded {
		t.Fatalf("late sale: %+v %v", r, err)
	}
	c, _ := e.Ledger.Conflicts(ctx, 10)
	if len(c) != 1 || c[0].ID != r.SaleID {
		t.Fatalf("conflicts: %+v", c)
	}
	rep, _ := e.Ledger.Verify(ctx)
	if !rep.OK || rep.Checked.Conflicts != 1 {
		t.Fatalf("verify: %+v", rep)
	}
	// The outbox retrying a live sale with its hand-over time is the same sale.
	r2, replayed, err := e.Ledger.Sell(ctx, ledger.SaleRequest{Outlet: "10000001", TxnID: "live", Buyer: b83, Quantity: 2, SoldAt: e.Clock.Now().Add(-time.Minute)})
	if err != nil || !replayed || r2.Conflict != "" {
		t.Fatalf("outbox retry of a live sale: %+v replayed=%v err=%v", r2, replayed, err)
	}
	// A sold_at only seconds old is a live sale: the rules refuse it.
	if _, _, err := e.Ledger.Sell(ctx, ledger.SaleRequest{Outlet: "10000001", TxnID: "recent", Buyer: b83, Quantity: 2, SoldAt: e.Clock.Now().Add(-time.Second)}); code(err) != publicmask.EQuotaExceeded {
		t.Fatalf("sale with sold_at 1 s ago over quota: %v, want quota_exceeded", err)
	}
	// Too old for an outbox: refused.
	_, _, err = e.Ledger.Sell(ctx, ledger.SaleRequest{Outlet: "10000001", TxnID: "old", Buyer: b83, Quantity: 1, SoldAt: e.Clock.Now().AddDate(0, 0, -8)})
	if code(err) != publicmask.ELateSaleTooOld {
		t.Fatalf("8-day-old sale: %v", err)
	}
}

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

func TestVerifyFindsTampering(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 100)
	if _, _, err := sell(e, "10000001", "t1", testenv.Born(1983, 1), 2); err != nil {
		t.Fatal(err)
	}
	// Change stock behind the ledger's back.
	behindTheLedger(t, e, "10000001", func(tx publicmask.Tx, o *publicmask.Outlet) error {
		o.Stock += 5
		return nil
	})
	wantOneViolation(t, e, "stock_mismatch")
}

func TestPurgeAcrossClockJump(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 100)
	if _, _, err := sell(e, "10000001", "t1", testenv.Born(1983, 1), 2); err != nil {
		t.Fatal(err)
	}
	if n, _ := e.Ledger.Purge(ctx); n != 0 {
		t.Fatalf("purged %d rows inside the window", n)
	}
	e.Clock.Advance(3 * 7 * 24 * time.Hour)
	if n, err := e.Ledger.Purge(ctx); err != nil || n != 1 {
		t.Fatalf("purge after 3 weeks = %d, %v", n, err)
	}
	mustVerify(t, e)
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

func TestNoRawIDInStore(t *testing.T) {
	e := testenv.New(t)
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 100)
	id := testenv.Born(1983, 12345)
	if _, _, err := sell(e, "10000001", "t1", id, 2); err != nil {
		t.Fatal(err)
	}
	if _, _, err := sell(e, "10000001", "t2", id, 2); err == nil {
		t.Fatal("second sale accepted")
	}
	testenv.AssertNoRawID(t, e.Store.Path(), id)
}

// parallelism × GOMAXPROCS concurrent clients, as many counters over HTTP.
const parallelism = 64

// BenchmarkSell measures durable sales/s through the ledger's group commit
// on SQLite (synchronous=FULL): every acknowledged sale is on disk.
func BenchmarkSell(b *testing.B) {
	e := testenv.New(b)
	const outlets = 100
	for i := range outlets {
		e.AddOutlet(b, fmt.Sprintf("3%07d", i), publicmask.TypePharmacy, 100_000)
	}
	var n atomic.Int64
	b.SetParallelism(parallelism) // many concurrent clients, as over HTTP
	b.ResetTimer()
	cpu0 := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			id := testenv.ID(fmt.Sprintf("%02d%02d%02d", []int{83, 88, 3, 8}[i%4], 1+i/100000%12, 1+i/8%28), "1133"[i%4], int(i%100000))
			_, _, err := sell(e, fmt.Sprintf("3%07d", i%outlets), fmt.Sprintf("b%d", i), id, 1)
			if err != nil && code(err) != publicmask.EQuotaExceeded {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sales/s")
	// The process's CPU (clients, ledger and store) per sale: less
	// sensitive than sales/s to what else the machine runs.
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/sale")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestCancelRestoresSplitCounts: under the May 2020 rules (one weekday and
// one weekend purchase, 3 masks), cancelling gives back exactly the slot
// the sale used, and verify agrees at every step.
func TestCancelRestoresSplitCounts(t *testing.T) {
	e := testenv.NewWith(t, testenv.Options{Policy: policy.Korea2020()})
	e.Clock.Set(time.Date(2020, 5, 20, 10, 0, 0, 0, publicmask.Seoul)) // Wednesday
	e.AddOutlet(t, "10000001", publicmask.TypePharmacy, 100)
	b83 := testenv.Born(1983, 1)
	weekday, _, err := sell(e, "10000001", "wd", b83, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := sell(e, "10000001", "wd2", b83, 1); code(err) != publicmask.EQuotaExceeded {
		t.Fatalf("second weekday purchase: %v", err)
	}
	e.Clock.Set(time.Date(2020, 5, 23, 10, 0, 0, 0, publicmask.Seoul)) // Saturday
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

// TestRepeatedAnswersIdentical: a cancel and a delivery answered again give
// the same bytes as their first answer, even when the service clock has
// finer than microsecond precision (the store keeps microseconds).
func TestRepeatedAnswersIdentical(t *testing.T) {
	e := testenv.New(t)
	e.Clock.Set(time.Date(2020, 3, 11, 10, 0, 0, 123456789, publicmask.Seoul))
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
	outlets := importPharmacies(t, e, "2", n)
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
			// The answer's bytes come with the result (SQLite takes the
			// bulk path): the receipt as recorded, then its replay.
			if want, _ := r.Receipt.MarshalJSON(); !bytes.Equal(r.JSON, want) {
				t.Fatalf("round %d line %d: JSON %s, want the receipt's %s", round, j, r.JSON, want)
			}
		}
		if code(res[n].Error) != publicmask.ENotFound {
			t.Fatalf("unknown outlet: %+v", res[n])
		}
	}
	mustVerify(t, e)
}
