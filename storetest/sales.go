package storetest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

func testSales(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	saveOutlets(t, s, "00000001")
	s1 := sale("s1", "00000001", t0, 2, "aaaa", "bbbb")
	s2 := sale("s2", "00000001", t0.Add(time.Hour), 2, "cccc")
	s0 := sale("s0", "00000001", t0.Add(-time.Hour), 1, "dddd")
	write(t, s, func(tx publicmask.Tx) error {
		for _, x := range []*publicmask.Sale{s1, s2, s0} {
			if err := tx.InsertSale(x); err != nil {
				return err
			}
		}
		return nil
	})
	write(t, s, func(tx publicmask.Tx) error {
		got, err := tx.Sale("s1")
		if err != nil {
			return err
		}
		if got.Quantity != 2 || len(got.Items) != 2 || got.Items[1].Person != "bbbb" || got.Items[1].Category != "child" || !got.SoldAt.Equal(t0) || !got.CancelledAt.IsZero() {
			return fmt.Errorf("tx.Sale round trip: %+v", got)
		}
		if _, err := tx.Sale("nope"); publicmask.ErrorCode(err) != publicmask.ENotFound {
			return fmt.Errorf("missing sale: %v", err)
		}
		return tx.MarkSaleCancelled("s2", t0.Add(2*time.Hour))
	})
	var order []string
	var items int
	if err := s.SalesSince(ctx, t0, func(x publicmask.Sale) error {
		order = append(order, x.ID)
		items += len(x.Items)
		if x.ID == "s2" && !x.CancelledAt.Equal(t0.Add(2*time.Hour)) {
			t.Errorf("cancel not recorded: %+v", x)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(order, []string{"s1", "s2"}) || items != 3 {
		t.Fatalf("SalesSince = %v with %d items", order, items)
	}
	n, err := s.SoldSince(ctx, "00000001", t0.Add(-2*time.Hour))
	if err != nil || n != 3 { // s0 + s1; s2 cancelled
		t.Fatalf("SoldSince = %d, %v; want 3", n, err)
	}
	recent, err := s.RecentSales(ctx, "00000001", 2)
	if err != nil || len(recent) != 2 || recent[0].ID != "s2" || recent[1].ID != "s1" {
		t.Fatalf("RecentSales = %+v, %v", recent, err)
	}
}

func testTotals(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	saveOutlets(t, s, "00000001", "00000002")
	write(t, s, func(tx publicmask.Tx) error {
		if err := tx.InsertDelivery(&publicmask.Delivery{ID: "d1", Outlet: "00000001", TxnID: "d1", Quantity: 100, At: t0}); err != nil {
			return err
		}
		if err := tx.InsertDelivery(&publicmask.Delivery{ID: "d2", Outlet: "00000001", TxnID: "d2", Quantity: 50, At: t0}); err != nil {
			return err
		}
		if err := tx.InsertCorrection(&publicmask.Correction{ID: "c1", Outlet: "00000001", TxnID: "c1", Count: 140, Delta: -7, At: t0}); err != nil {
			return err
		}
		late := sale("s1", "00000001", t0, 3, "aaaa")
		late.Conflict = "quota_exceeded"
		if err := tx.InsertSale(late); err != nil {
			return err
		}
		if err := tx.InsertSale(sale("s2", "00000001", t0, 2, "bbbb")); err != nil {
			return err
		}
		if err := tx.InsertSale(sale("s3", "00000001", t0, 5, "cccc")); err != nil {
			return err
		}
		return tx.MarkSaleCancelled("s3", t0)
	})
	totals, err := s.OutletTotals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []publicmask.OutletTotals{{Code: "00000001", Delivered: 150, Sold: 5, Corrections: -7}, {Code: "00000002"}}
	if !slices.Equal(totals, want) {
		t.Fatalf("OutletTotals = %+v, want %+v", totals, want)
	}
	c, err := s.Conflicts(ctx, 10)
	if err != nil || len(c) != 1 || c[0].ID != "s1" || c[0].Conflict != "quota_exceeded" || len(c[0].Items) != 1 || c[0].Items[0].Quantity != 3 {
		t.Fatalf("Conflicts = %+v, %v", c, err)
	}
}

// testLateSales: the late flag, the shortfall and the conflict reasons round
// trip; a shortfall correction counts in the totals like any correction;
// late sales are counted per outlet.
func testLateSales(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	saveOutlets(t, s, "00000001", "00000002", "00000003")
	late := sale("late1", "00000001", t0.Add(-2*time.Hour), 5, "aaaa")
	late.RecordedAt, late.Late, late.Shortfall, late.Conflict = t0, true, 3, "quota_exceeded,out_of_stock"
	clean := sale("late2", "00000001", t0.Add(-time.Hour), 1, "bbbb")
	clean.RecordedAt, clean.Late = t0, true
	other := sale("late3", "00000002", t0.Add(-time.Hour), 1, "cccc")
	other.RecordedAt, other.Late, other.Conflict = t0, true, "late_while_online"
	write(t, s, func(tx publicmask.Tx) error {
		if err := tx.InsertDelivery(&publicmask.Delivery{ID: "d1", Outlet: "00000001", TxnID: "d1", Quantity: 2, At: t0.Add(-3 * time.Hour)}); err != nil {
			return err
		}
		for _, x := range []*publicmask.Sale{late, clean, other, sale("live", "00000003", t0, 1, "dddd")} {
			if err := tx.InsertSale(x); err != nil {
				return err
			}
		}
		if err := tx.InsertCorrection(&publicmask.Correction{ID: "c1", Outlet: "00000001", TxnID: "txn-late1", Kind: publicmask.CorrectionShortfall, SaleID: "late1", Count: 0, Delta: 3, At: t0}); err != nil {
			return err
		}
		// An empty kind is a physical count.
		if err := tx.InsertCorrection(&publicmask.Correction{ID: "c2", Outlet: "00000002", TxnID: "c2", Count: 0, Delta: 1, At: t0}); err != nil {
			return err
		}
		got, err := tx.Sale("late1")
		if err != nil {
			return err
		}
		if !got.Late || got.Shortfall != 3 || got.Conflict != "quota_exceeded,out_of_stock" || !got.RecordedAt.Equal(t0) || !got.SoldAt.Equal(t0.Add(-2*time.Hour)) {
			return fmt.Errorf("late sale round trip: %+v", got)
		}
		return nil
	})
	var seen []publicmask.Sale
	if err := s.SalesSince(ctx, t0.Add(-3*time.Hour), func(x publicmask.Sale) error { seen = append(seen, x); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 4 || !seen[0].Late || seen[0].Shortfall != 3 || seen[3].Late {
		t.Fatalf("SalesSince lost the late fields: %+v", seen)
	}
	totals, err := s.OutletTotals(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// 2 delivered − 6 sold + 3 shortfall = −1 is what the stock must equal;
	// the ledger keeps it ≥ 0 by sizing the shortfall, not the store.
	if totals[0].Code != "00000001" || totals[0].Delivered != 2 || totals[0].Sold != 6 || totals[0].Corrections != 3 ||
		totals[0].Shortfall != 3 || totals[0].ShortfallCorrections != 3 || totals[1].Shortfall != 0 || totals[1].ShortfallCorrections != 0 {
		t.Fatalf("totals with a shortfall: %+v", totals[0])
	}
	// Cancelled with its shortfall taken back: both sides drop to zero.
	write(t, s, func(tx publicmask.Tx) error {
		if err := tx.MarkSaleCancelled("late1", t0.Add(time.Minute)); err != nil {
			return err
		}
		return tx.InsertCorrection(&publicmask.Correction{ID: "c3", Outlet: "00000001", TxnID: "txn-late1", Kind: publicmask.CorrectionShortfallReversed, SaleID: "late1", Delta: -3, At: t0.Add(time.Minute)})
	})
	if totals, _ := s.OutletTotals(ctx); totals[0].Shortfall != 0 || totals[0].ShortfallCorrections != 0 || totals[0].Sold != 1 || totals[0].Corrections != 0 {
		t.Fatalf("totals after cancelling a shortfall sale: %+v", totals[0])
	}
	counts, err := s.LateSaleCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []publicmask.LateSaleCount{{Outlet: "00000001", Late: 2, Conflicts: 1}, {Outlet: "00000002", Late: 1, Conflicts: 1}}
	if !slices.Equal(counts, want) {
		t.Fatalf("LateSaleCounts = %+v, want %+v", counts, want)
	}
	c, err := s.Conflicts(ctx, 10)
	if err != nil || len(c) != 2 || c[0].ID != "late3" || c[1].ID != "late1" || c[1].Shortfall != 3 || !c[1].Late || c[1].CancelledAt.IsZero() {
		t.Fatalf("Conflicts = %+v, %v", c, err)
	}
}

// testSalesSinceOrder: SalesSince returns sales in insertion order (not by
// ID, not by sold_at: a late sale recorded after others is judged after
// them), each once with exactly its items in their order, a sale without
// items included, and nothing sold before since.
func testSalesSinceOrder(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	saveOutlets(t, s, "00000001", "00000002")
	want := []*publicmask.Sale{
		sale("s9", "00000002", t0.Add(time.Hour), 3, "aaaa", "bbbb", "cccc"),
		sale("s1", "00000001", t0.Add(2*time.Hour), 1, "dddd"),
		sale("s5", "00000001", t0, 2), // no items: a shape no ledger writes, read all the same
		sale("s3", "00000002", t0.Add(30*time.Minute), 2, "aaaa", "eeee"),
	}
	write(t, s, func(tx publicmask.Tx) error {
		for _, x := range append([]*publicmask.Sale{sale("s0", "00000001", t0.Add(-time.Hour), 1, "zzzz")}, want[:2]...) {
			if err := tx.InsertSale(x); err != nil {
				return err
			}
		}
		return nil
	})
	write(t, s, func(tx publicmask.Tx) error {
		for _, x := range want[2:] {
			if err := tx.InsertSale(x); err != nil {
				return err
			}
		}
		return nil
	})
	var got []publicmask.Sale
	if err := s.SalesSince(ctx, t0, func(x publicmask.Sale) error { got = append(got, x); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("SalesSince returned %d sales, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.ID != w.ID || g.Outlet != w.Outlet || !g.SoldAt.Equal(w.SoldAt) || g.Quantity != w.Quantity || !slices.Equal(g.Items, w.Items) {
			t.Errorf("sale %d = %+v, want %+v", i, g, *w)
		}
	}
}

func testPersonWeeks(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	a := publicmask.PersonWeek{Person: "aaaa", Week: "2020-03-09", Usage: publicmask.Usage{Quantity: 2, Purchases: 1, WeekdayPurchases: 1}}
	write(t, s, func(tx publicmask.Tx) error {
		if err := tx.PutPersonWeek(a); err != nil {
			return err
		}
		b := a
		b.Week = "2020-03-16"
		b.Quantity = 1
		return tx.PutPersonWeek(b)
	})
	a.Quantity, a.Purchases, a.WeekendPurchases = 3, 2, 1
	write(t, s, func(tx publicmask.Tx) error {
		if err := tx.PutPersonWeek(a); err != nil { // upsert
			return err
		}
		m, err := tx.PersonWeeks("2020-03-09", []string{"aaaa", "bbbb"})
		if err != nil {
			return err
		}
		if len(m) != 1 || m["aaaa"] != a {
			return fmt.Errorf("PersonWeeks in tx = %+v", m)
		}
		return nil
	})
	m, err := s.PersonWeeks(ctx, "2020-03-16", []string{"aaaa"})
	if err != nil || m["aaaa"].Quantity != 1 {
		t.Fatalf("PersonWeeks = %+v, %v", m, err)
	}
	var weeks []string
	if err := s.PersonWeeksSince(ctx, "2020-03-10", func(pw publicmask.PersonWeek) error {
		weeks = append(weeks, pw.Week)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(weeks, []string{"2020-03-16"}) {
		t.Fatalf("PersonWeeksSince = %v", weeks)
	}
}

func testPurge(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	saveOutlets(t, s, "00000001")
	old := sale("old", "00000001", t0, 2, "aaaa")
	// A sale of several items: each item's person key goes, wherever a
	// store keeps the first and the others.
	multi := sale("multi", "00000001", t0.Add(time.Minute), 6, "bbbb", "cccc", "dddd")
	cur := sale("cur", "00000001", t0.AddDate(0, 0, 21), 2, "aaaa")
	cur.Week = "2020-03-30"
	write(t, s, func(tx publicmask.Tx) error {
		for _, pw := range []publicmask.PersonWeek{{Person: "aaaa", Week: "2020-03-09", Usage: publicmask.Usage{Quantity: 2, Purchases: 1}}, {Person: "aaaa", Week: "2020-03-30", Usage: publicmask.Usage{Quantity: 2, Purchases: 1}}} {
			if err := tx.PutPersonWeek(pw); err != nil {
				return err
			}
		}
		if err := tx.InsertSale(old); err != nil {
			return err
		}
		if err := tx.InsertSale(multi); err != nil {
			return err
		}
		return tx.InsertSale(cur)
	})
	n, err := s.Purge(ctx, "2020-03-16")
	if err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v; want 1 row", n, err)
	}
	m, _ := s.PersonWeeks(ctx, "2020-03-09", []string{"aaaa"})
	if len(m) != 0 {
		t.Fatal("old person week survived the purge")
	}
	m, _ = s.PersonWeeks(ctx, "2020-03-30", []string{"aaaa"})
	if len(m) != 1 {
		t.Fatal("current person week purged")
	}
	var persons, roles []string
	var qty int
	if err := s.SalesSince(ctx, time.Time{}, func(x publicmask.Sale) error {
		for _, it := range x.Items {
			persons = append(persons, it.Person)
			roles = append(roles, it.Role+"/"+it.Category)
		}
		qty += x.Quantity
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(persons, []string{"", "", "", "", "aaaa"}) || qty != 10 {
		t.Fatalf("after purge persons=%q qty=%d; want the old sales' items anonymised, quantities kept", persons, qty)
	}
	if want := []string{"buyer/", "buyer/", "proxy/child", "proxy/child", "buyer/"}; !slices.Equal(roles, want) {
		t.Fatalf("after purge items' roles/categories %q, want %q kept", roles, want)
	}
}

// testPurgeMany purges more person-weeks than one purge chunk holds: every
// chunk runs, and the count adds up.
func testPurgeMany(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	const n = 11_000
	write(t, s, func(tx publicmask.Tx) error {
		for i := range n {
			if err := tx.PutPersonWeek(publicmask.PersonWeek{Person: fmt.Sprintf("p%06d", i), Week: "2020-03-09", Usage: publicmask.Usage{Quantity: 1, Purchases: 1}}); err != nil {
				return err
			}
		}
		return tx.PutPersonWeek(publicmask.PersonWeek{Person: "keep", Week: "2020-03-30", Usage: publicmask.Usage{Quantity: 1, Purchases: 1}})
	})
	got, err := s.Purge(ctx, "2020-03-16")
	if err != nil || got != n {
		t.Fatalf("Purge = %d, %v; want %d", got, err, n)
	}
	left := 0
	if err := s.PersonWeeksSince(ctx, "", func(pw publicmask.PersonWeek) error { left++; return nil }); err != nil {
		t.Fatal(err)
	}
	if left != 1 {
		t.Fatalf("%d person-weeks left, want only the current one", left)
	}
}

// testPurgeSaleRecords: the purge forgets the idempotency records of the
// sales recorded before the purged week, wherever a store keeps them (the
// sale's own row included), and keeps the current ones: an old txn_id is no
// longer answered from its first response.
func testPurgeSaleRecords(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	saveOutlets(t, s, "00000001")
	old := sale("old", "00000001", t0, 2, "aaaa")
	cur := sale("cur", "00000001", t0.AddDate(0, 0, 21), 2, "bbbb")
	cur.Week = "2020-03-30"
	for _, sl := range []*publicmask.Sale{old, cur} {
		write(t, s, func(tx publicmask.Tx) error {
			if err := tx.PutIdempotency(publicmask.IdemRecord{Outlet: sl.Outlet, TxnID: sl.TxnID, BodyHash: "h-" + sl.ID, Response: []byte(`{"sale_id":"` + sl.ID + `"}`), CreatedAt: sl.RecordedAt}); err != nil {
				return err
			}
			return tx.InsertSale(sl)
		})
	}
	if _, err := s.Purge(ctx, "2020-03-16"); err != nil {
		t.Fatal(err)
	}
	write(t, s, func(tx publicmask.Tx) error {
		if r, ok, err := tx.Idempotency("00000001", old.TxnID); err != nil || ok {
			return fmt.Errorf("old sale's record after the purge: %+v %v %v", r, ok, err)
		}
		if r, ok, err := tx.Idempotency("00000001", cur.TxnID); err != nil || !ok || string(r.Response) != `{"sale_id":"cur"}` {
			return fmt.Errorf("current sale's record after the purge: %+v %v %v", r, ok, err)
		}
		if bt, ok := tx.(publicmask.BulkTx); ok {
			got, err := bt.Idempotencies([]publicmask.IdemKey{{Outlet: "00000001", TxnID: old.TxnID}, {Outlet: "00000001", TxnID: cur.TxnID}})
			if err != nil || len(got) != 1 {
				return fmt.Errorf("bulk records after the purge: %+v %v", got, err)
			}
		}
		return nil
	})
	got, err := s.RecentSales(ctx, "00000001", 10)
	if err != nil || len(got) != 2 {
		t.Fatalf("sales after the purge: %d %v; the sales themselves stay", len(got), err)
	}
}

// testSaleOutletType: a sale's outlet type (the one the ledger judged it
// with, which verify judges it with again) round trips, whatever the form
// of the batch that wrote it — one buyer each, several items, a late sale
// with conflicts — and whichever types a batch mixes; a sale written
// without one reads back without one.
func testSaleOutletType(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	saveOutlets(t, s, "00000001", "00000002", "00000003")
	typed := func(x *publicmask.Sale, typ string) *publicmask.Sale { x.OutletType = typ; return x }
	late := typed(sale("late", "00000003", t0.Add(-time.Hour), 2, "ffff"), publicmask.TypeNonghyup)
	late.RecordedAt, late.Late, late.Conflict, late.Shortfall = t0, true, "outlet_closed", 1
	batches := [][]*publicmask.Sale{
		{
			typed(sale("b1", "00000001", t0, 1, "aaaa"), publicmask.TypePharmacy),
			typed(sale("b2", "00000002", t0, 1, "bbbb"), publicmask.TypePost),
			typed(sale("b3", "00000001", t0, 1, "cccc"), publicmask.TypePharmacy),
			typed(sale("b4", "00000003", t0, 1, "dddd"), publicmask.TypeNonghyup),
		},
		{typed(sale("multi", "00000002", t0, 2, "eeee", "eeef"), publicmask.TypePost)},
		{late},
		{sale("untyped", "00000001", t0, 1, "gggg")},
	}
	want := map[string]string{}
	for _, b := range batches {
		write(t, s, func(tx publicmask.Tx) error {
			for _, x := range b {
				want[x.ID] = x.OutletType
				if err := tx.InsertSale(x); err != nil {
					return err
				}
			}
			return nil
		})
	}
	got := map[string]string{}
	if err := s.SalesSince(ctx, time.Time{}, func(x publicmask.Sale) error {
		got[x.ID] = x.OutletType
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("sales' outlet types read back %v, want %v", got, want)
	}
}
