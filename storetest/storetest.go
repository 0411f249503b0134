// Package storetest is the conformance suite that every publicmask.Store
// must pass. Store packages call Run from their tests with a constructor
// that returns a fresh, empty store.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// Run runs the suite. open must return an empty store; Run closes it.
func Run(t *testing.T, open func(t *testing.T) publicmask.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s publicmask.Store)
	}{
		{"OutletsAndVersions", testOutletsAndVersions},
		{"RollbackLeavesNothing", testRollback},
		{"Idempotency", testIdempotency},
		{"PersonWeeks", testPersonWeeks},
		{"SalesAndItems", testSales},
		{"TotalsAndConflicts", testTotals},
		{"Tokens", testTokens},
		{"Purge", testPurge},
		{"PurgeInChunks", testPurgeMany},
		{"StockBeyond32Bits", testLargeStock},
		{"Meta", testMeta},
		{"ConcurrentWriters", testConcurrentWriters},
		{"ReadYourWritesInTx", testReadYourWrites},
		{"VersionsStampedOncePerWrite", testVersionsPerWrite},
		{"LateSalesAndShortfalls", testLateSales},
		{"SuspensionHistory", testSuspensions},
		{"OutletActive", testOutletActive},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

var t0 = time.Date(2020, 3, 11, 1, 0, 0, 0, time.UTC) // 10:00 KST, Wednesday

func outlet(code string) publicmask.Outlet {
	return publicmask.Outlet{Code: code, Name: "약국 " + code, Addr: "서울특별시 강북구 솔매로 38 (미아동)", Type: publicmask.TypePharmacy, Lat: 37.6254369, Lng: 127.0164096, UpdatedAt: t0}
}

func write(t *testing.T, s publicmask.Store, fn func(tx publicmask.Tx) error) {
	t.Helper()
	if err := s.Write(context.Background(), fn); err != nil {
		t.Fatalf("Write: %v", err)
	}
}

func saveOutlets(t *testing.T, s publicmask.Store, codes ...string) {
	t.Helper()
	write(t, s, func(tx publicmask.Tx) error {
		for _, c := range codes {
			o := outlet(c)
			if err := tx.SaveOutlet(&o); err != nil {
				return err
			}
		}
		return nil
	})
}

func testOutletsAndVersions(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	saveOutlets(t, s, "00000002", "00000001")
	list, v, err := s.Outlets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Code != "00000001" || list[1].Code != "00000002" {
		t.Fatalf("Outlets not ordered by code: %+v", list)
	}
	if v < 2 || list[0].Version == list[1].Version {
		t.Fatalf("versions not distinct/advancing: v=%d %d %d", v, list[0].Version, list[1].Version)
	}
	// Update one: its version must pass every earlier one. The version may
	// be stamped as late as the commit, so it is read after Write returns.
	var saved publicmask.Outlet
	stockAt := t0.Add(time.Minute)
	write(t, s, func(tx publicmask.Tx) error {
		o, err := tx.LockOutlet("00000002")
		if err != nil {
			return err
		}
		saved = o
		saved.Stock, saved.StockAt, saved.Suspended, saved.UpdatedAt, saved.Sold = 250, stockAt, true, stockAt, 1234
		return tx.SaveOutlet(&saved)
	})
	if saved.Version <= v {
		t.Fatalf("update version %d not above %d", saved.Version, v)
	}
	got, err := s.Outlet(ctx, "00000002")
	if err != nil {
		t.Fatal(err)
	}
	if got.Stock != 250 || got.Sold != 1234 || !got.Suspended || !got.StockAt.Equal(stockAt) || !got.UpdatedAt.Equal(stockAt) || got.Version != saved.Version {
		t.Fatalf("round trip lost fields: %+v", got)
	}
	if got.Name != "약국 00000002" || got.Lat != 37.6254369 || got.Lng != 127.0164096 || got.Type != "01" {
		t.Fatalf("registry fields changed: %+v", got)
	}
	ch, err := s.OutletChanges(ctx, v, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch) != 1 || ch[0].Code != "00000002" || ch[0].Version != saved.Version || ch[0].Sold != 1234 {
		t.Fatalf("OutletChanges after %d = %+v", v, ch)
	}
	if ch, _ := s.OutletChanges(ctx, 0, 1); len(ch) != 1 {
		t.Fatalf("limit not honoured: %d", len(ch))
	}
	if _, err := s.Outlet(ctx, "99999999"); publicmask.ErrorCode(err) != publicmask.ENotFound {
		t.Fatalf("missing outlet: %v", err)
	}
	write(t, s, func(tx publicmask.Tx) error {
		_, err := tx.LockOutlet("99999999")
		if publicmask.ErrorCode(err) != publicmask.ENotFound {
			return fmt.Errorf("LockOutlet of missing = %v", err)
		}
		if o, err := tx.LockOutlet("00000002"); err != nil || o.Sold != 1234 {
			return fmt.Errorf("LockOutlet lost sold: %+v %v", o, err)
		}
		return nil
	})
}

func testRollback(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	saveOutlets(t, s, "00000001")
	_, before, _ := s.Outlets(ctx)
	boom := errors.New("boom")
	err := s.Write(ctx, func(tx publicmask.Tx) error {
		o := outlet("00000009")
		if err := tx.SaveOutlet(&o); err != nil {
			return err
		}
		if err := tx.PutPersonWeek(publicmask.PersonWeek{Person: "p", Week: "2020-03-09", Usage: publicmask.Usage{Quantity: 2, Purchases: 1}}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write returned %v, want the callback's error", err)
	}
	if _, err := s.Outlet(ctx, "00000009"); publicmask.ErrorCode(err) != publicmask.ENotFound {
		t.Fatalf("rolled-back outlet exists: %v", err)
	}
	pw, _ := s.PersonWeeks(ctx, "2020-03-09", []string{"p"})
	if len(pw) != 0 {
		t.Fatalf("rolled-back person week exists: %+v", pw)
	}
	// The next version after a rollback must still be above every committed one.
	saveOutlets(t, s, "00000003")
	o, _ := s.Outlet(ctx, "00000003")
	if o.Version <= before {
		t.Fatalf("version after rollback %d not above %d", o.Version, before)
	}
}

func testIdempotency(t *testing.T, s publicmask.Store) {
	rec := publicmask.IdemRecord{Outlet: "00000001", TxnID: "t-1", BodyHash: "h1", Response: []byte(`{"a":1}`), CreatedAt: t0}
	write(t, s, func(tx publicmask.Tx) error {
		if _, ok, err := tx.Idempotency("00000001", "t-1"); err != nil || ok {
			return fmt.Errorf("before put: ok=%v err=%v", ok, err)
		}
		return tx.PutIdempotency(rec)
	})
	write(t, s, func(tx publicmask.Tx) error {
		got, ok, err := tx.Idempotency("00000001", "t-1")
		if err != nil || !ok {
			return fmt.Errorf("after put: ok=%v err=%v", ok, err)
		}
		if got.BodyHash != "h1" || string(got.Response) != `{"a":1}` || !got.CreatedAt.Equal(t0) {
			return fmt.Errorf("record changed: %+v", got)
		}
		// Same txn_id at another outlet is another request.
		if _, ok, _ := tx.Idempotency("00000002", "t-1"); ok {
			return errors.New("txn_id leaked across outlets")
		}
		return nil
	})
	// A second record with the same key must fail (the ledger relies on it).
	err := s.Write(context.Background(), func(tx publicmask.Tx) error { return tx.PutIdempotency(rec) })
	if err == nil {
		t.Fatal("duplicate idempotency record accepted")
	}
	// A store that claims txn_ids (publicmask.IdemClaimer): the first claim
	// inserts, a second one writes nothing and returns the first record, in
	// the same transaction and after it.
	write(t, s, func(tx publicmask.Tx) error {
		c, ok := tx.(publicmask.IdemClaimer)
		if !ok {
			return nil
		}
		first := publicmask.IdemRecord{Outlet: "00000001", TxnID: "t-2", BodyHash: "h2", Response: []byte(`{"b":2}`), CreatedAt: t0}
		if got, claimed, err := c.ClaimIdempotency(first); err != nil || !claimed || got.BodyHash != "h2" {
			return fmt.Errorf("first claim: %+v %v %v", got, claimed, err)
		}
		other := first
		other.BodyHash, other.Response = "h3", []byte(`{"c":3}`)
		for _, r := range []publicmask.IdemRecord{other, rec} {
			want := map[string]string{"t-2": `{"b":2}`, "t-1": `{"a":1}`}[r.TxnID]
			got, claimed, err := c.ClaimIdempotency(r)
			if err != nil || claimed || string(got.Response) != want {
				return fmt.Errorf("claim of a used txn_id %s: %+v %v %v", r.TxnID, got, claimed, err)
			}
		}
		return nil
	})
	write(t, s, func(tx publicmask.Tx) error {
		if got, ok, err := tx.Idempotency("00000001", "t-2"); ok && (err != nil || got.BodyHash != "h2") {
			return fmt.Errorf("after claims: %+v %v", got, err)
		}
		return nil
	})
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

func sale(id, outletCode string, at time.Time, qty int, persons ...string) *publicmask.Sale {
	s := &publicmask.Sale{ID: id, Outlet: outletCode, TxnID: "txn-" + id, SoldAt: at, RecordedAt: at, Week: "2020-03-09", Quantity: qty}
	for i, p := range persons {
		role := "buyer"
		if i > 0 {
			role = "proxy"
		}
		s.Items = append(s.Items, publicmask.SaleItem{Role: role, Person: p, Category: map[bool]string{true: "child"}[i > 0], BirthYear: 1983, Quantity: qty / len(persons)})
	}
	return s
}

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
			return fmt.Errorf("Sale round trip: %+v", got)
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

func testTokens(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	write(t, s, func(tx publicmask.Tx) error {
		return tx.PutToken(publicmask.Token{Hash: "h-outlet", Role: publicmask.RoleOutlet, Outlet: "00000001", CreatedAt: t0})
	})
	tok, err := s.Token(ctx, "h-outlet")
	if err != nil || tok.Role != publicmask.RoleOutlet || tok.Outlet != "00000001" || !tok.RevokedAt.IsZero() {
		t.Fatalf("Token = %+v, %v", tok, err)
	}
	write(t, s, func(tx publicmask.Tx) error { return tx.RevokeToken("h-outlet", t0.Add(time.Hour)) })
	tok, _ = s.Token(ctx, "h-outlet")
	if !tok.RevokedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("revocation not stored: %+v", tok)
	}
	if _, err := s.Token(ctx, "nope"); publicmask.ErrorCode(err) != publicmask.ENotFound {
		t.Fatalf("missing token: %v", err)
	}
}

func testPurge(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	saveOutlets(t, s, "00000001")
	old := sale("old", "00000001", t0, 2, "aaaa")
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
	var persons []string
	var qty int
	s.SalesSince(ctx, time.Time{}, func(x publicmask.Sale) error {
		persons = append(persons, x.Items[0].Person)
		qty += x.Quantity
		return nil
	})
	if !slices.Equal(persons, []string{"", "aaaa"}) || qty != 4 {
		t.Fatalf("after purge persons=%q qty=%d; want the old sale anonymised, quantities kept", persons, qty)
	}
}

func testMeta(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	if v, err := s.Meta(ctx, "k"); err != nil || v != "" {
		t.Fatalf("unset meta = %q, %v", v, err)
	}
	for _, v := range []string{"one", "two"} {
		if err := s.SetMeta(ctx, "k", v); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Meta(ctx, "k"); got != v {
			t.Fatalf("meta = %q, want %q", got, v)
		}
	}
	// InitMeta: the first value wins, and everyone is told the value in force.
	if v, err := s.InitMeta(ctx, "fp", "first"); err != nil || v != "first" {
		t.Fatalf("InitMeta on unset = %q, %v", v, err)
	}
	if v, err := s.InitMeta(ctx, "fp", "second"); err != nil || v != "first" {
		t.Fatalf("InitMeta on set = %q, %v; want the first value kept", v, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// testConcurrentWriters: many transactions incrementing one counter row at
// once must serialise (each read-modify-write sees the previous one).
func testConcurrentWriters(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	saveOutlets(t, s, "00000001")
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Write(ctx, func(tx publicmask.Tx) error {
				o, err := tx.LockOutlet("00000001")
				if err != nil {
					return err
				}
				pw, err := tx.PersonWeeks("2020-03-09", []string{"shared"})
				if err != nil {
					return err
				}
				p := pw["shared"]
				p.Person, p.Week = "shared", "2020-03-09"
				p.Quantity++
				if err := tx.PutPersonWeek(p); err != nil {
					return err
				}
				o.Stock++
				return tx.SaveOutlet(&o)
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent write: %v", err)
		}
	}
	o, _ := s.Outlet(ctx, "00000001")
	m, _ := s.PersonWeeks(ctx, "2020-03-09", []string{"shared"})
	if o.Stock != n || m["shared"].Quantity != n {
		t.Fatalf("lost updates: stock %d, quantity %d, want %d", o.Stock, m["shared"].Quantity, n)
	}
}

// testReadYourWrites: inside one Write, every read sees the writes made
// before it. The ledger relies on it when one batch holds two requests for
// the same person, txn_id, sale or new outlet (a store that defers writes
// must flush them before reading).
func testReadYourWrites(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	saveOutlets(t, s, "00000001")
	_, before, _ := s.Outlets(ctx)
	o := outlet("00000005") // new, never stocked
	week := "2020-03-09"
	write(t, s, func(tx publicmask.Tx) error {
		if err := tx.SaveOutlet(&o); err != nil {
			return err
		}
		// Rows referring to an outlet created in the same transaction.
		if err := tx.InsertDelivery(&publicmask.Delivery{ID: "d1", Outlet: o.Code, TxnID: "d1", Quantity: 100, At: t0}); err != nil {
			return err
		}
		got, err := tx.LockOutlet(o.Code)
		if err != nil {
			return fmt.Errorf("LockOutlet of an outlet saved in this tx: %w", err)
		}
		if got.Name != o.Name || got.Stock != 0 {
			return fmt.Errorf("LockOutlet after SaveOutlet = %+v", got)
		}
		o.Stock, o.StockAt = 100, t0
		if err := tx.SaveOutlet(&o); err != nil { // same pointer again
			return err
		}
		if got, _ := tx.LockOutlet(o.Code); got.Stock != 100 || !got.StockAt.Equal(t0) {
			return fmt.Errorf("LockOutlet after second SaveOutlet = %+v", got)
		}
		if err := tx.PutPersonWeek(publicmask.PersonWeek{Person: "p", Week: week, Usage: publicmask.Usage{Quantity: 2, Purchases: 1, WeekdayPurchases: 1}}); err != nil {
			return err
		}
		m, err := tx.PersonWeeks(week, []string{"p"})
		if err != nil {
			return err
		}
		if m["p"].Quantity != 2 {
			return fmt.Errorf("PersonWeeks after PutPersonWeek = %+v", m)
		}
		// Read first, then write and read again (a second request of the same
		// person in one batch).
		q, err := tx.PersonWeeks(week, []string{"q"})
		if err != nil || len(q) != 0 {
			return fmt.Errorf("absent person = %+v, %v", q, err)
		}
		if err := tx.PutPersonWeek(publicmask.PersonWeek{Person: "q", Week: week, Usage: publicmask.Usage{Quantity: 1, Purchases: 1, WeekdayPurchases: 1}}); err != nil {
			return err
		}
		q, err = tx.PersonWeeks(week, []string{"q", "p"})
		if err != nil || q["q"].Quantity != 1 || q["p"].Quantity != 2 {
			return fmt.Errorf("PersonWeeks after insert = %+v, %v", q, err)
		}
		if err := tx.PutPersonWeek(publicmask.PersonWeek{Person: "q", Week: week, Usage: publicmask.Usage{Quantity: 2, Purchases: 2, WeekdayPurchases: 2}}); err != nil {
			return err
		}
		if err := tx.InsertSale(sale("s1", o.Code, t0, 2, "p")); err != nil {
			return err
		}
		got2, err := tx.Sale("s1")
		if err != nil || len(got2.Items) != 1 || got2.Items[0].Person != "p" {
			return fmt.Errorf("Sale after InsertSale = %+v, %v", got2, err)
		}
		if err := tx.MarkSaleCancelled("s1", t0); err != nil {
			return err
		}
		if got2, _ := tx.Sale("s1"); !got2.CancelledAt.Equal(t0) {
			return fmt.Errorf("Sale after MarkSaleCancelled = %+v", got2)
		}
		rec := publicmask.IdemRecord{Outlet: o.Code, TxnID: "t1", BodyHash: "h", Response: []byte("{}"), CreatedAt: t0}
		if err := tx.PutIdempotency(rec); err != nil {
			return err
		}
		if _, ok, err := tx.Idempotency(o.Code, "t1"); err != nil || !ok {
			return fmt.Errorf("Idempotency after PutIdempotency: ok=%v err=%v", ok, err)
		}
		return nil
	})
	if o.Version <= before {
		t.Fatalf("version %d not stamped above %d by the time Write returned", o.Version, before)
	}
	got, err := s.Outlet(ctx, o.Code)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != o.Version || got.Stock != 100 || !got.StockAt.Equal(t0) {
		t.Fatalf("stored %+v, want the last saved state at version %d", got, o.Version)
	}
	m, _ := s.PersonWeeks(ctx, week, []string{"p", "q"})
	if m["p"].Quantity != 2 || m["q"].Quantity != 2 || m["q"].Purchases != 2 {
		t.Fatalf("person weeks = %+v", m)
	}
	// A never-stocked outlet keeps a zero StockAt (v1 shows null).
	if first, _ := s.Outlet(ctx, "00000001"); !first.StockAt.IsZero() || first.Stocked() {
		t.Fatalf("never-stocked outlet has StockAt %v", first.StockAt)
	}
}

// testVersionsPerWrite: a Write that saves several outlets, one of them
// several times through the same pointer (several sales at one outlet in a
// batch), leaves each with one final version, all above every earlier one;
// the change feed returns each outlet once, in version order.
func testVersionsPerWrite(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	saveOutlets(t, s, "00000001", "00000002", "00000003")
	_, before, _ := s.Outlets(ctx)
	var a, b publicmask.Outlet
	write(t, s, func(tx publicmask.Tx) error {
		var err error
		if a, err = tx.LockOutlet("00000002"); err != nil {
			return err
		}
		if b, err = tx.LockOutlet("00000001"); err != nil {
			return err
		}
		for i := range 3 {
			a.Stock = 10 + i
			if err := tx.SaveOutlet(&a); err != nil {
				return err
			}
		}
		b.Suspended = true
		return tx.SaveOutlet(&b)
	})
	if a.Version <= before || b.Version <= before || a.Version == b.Version {
		t.Fatalf("versions after write: a=%d b=%d, before=%d", a.Version, b.Version, before)
	}
	ch, err := s.OutletChanges(ctx, before, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch) != 2 || ch[0].Version >= ch[1].Version {
		t.Fatalf("changes after %d = %+v", before, ch)
	}
	for _, c := range ch {
		want := map[string]publicmask.Outlet{a.Code: a, b.Code: b}[c.Code]
		if c.Version != want.Version || c.Stock != want.Stock || c.Suspended != want.Suspended {
			t.Fatalf("change %+v, want %+v", c, want)
		}
	}
	_, after, _ := s.Outlets(ctx)
	if after != max(a.Version, b.Version) {
		t.Fatalf("Outlets version %d, want %d", after, max(a.Version, b.Version))
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

// testSuspensions: the suspension history answers "was the outlet
// suspended at t" for past instants, inside the writing transaction too.
func testSuspensions(t *testing.T, s publicmask.Store) {
	saveOutlets(t, s, "00000001", "00000002")
	at := func(h int) time.Time { return t0.Add(time.Duration(h) * time.Hour) }
	write(t, s, func(tx publicmask.Tx) error {
		if err := tx.StartSuspension("00000001", at(1)); err != nil {
			return err
		}
		// Read your writes: the open suspension covers later instants.
		if on, err := tx.SuspendedAt("00000001", at(2)); err != nil || !on {
			return fmt.Errorf("SuspendedAt inside the open suspension = %v, %v", on, err)
		}
		return tx.EndSuspension("00000001", at(3))
	})
	write(t, s, func(tx publicmask.Tx) error {
		if err := tx.StartSuspension("00000001", at(5)); err != nil {
			return err
		}
		// Suspended, resumed and suspended again at one instant (one batch):
		// the suspension is open again.
		if err := tx.EndSuspension("00000001", at(5)); err != nil {
			return err
		}
		return tx.StartSuspension("00000001", at(5))
	})
	write(t, s, func(tx publicmask.Tx) error {
		for _, c := range []struct {
			outlet string
			h      int
			want   bool
		}{
			{"00000001", 0, false}, {"00000001", 1, true}, {"00000001", 2, true}, {"00000001", 3, false},
			{"00000001", 4, false}, {"00000001", 5, true}, {"00000001", 100, true}, {"00000002", 2, false},
		} {
			got, err := tx.SuspendedAt(c.outlet, at(c.h))
			if err != nil {
				return err
			}
			if got != c.want {
				return fmt.Errorf("SuspendedAt(%s, +%dh) = %v, want %v", c.outlet, c.h, got, c.want)
			}
		}
		return nil
	})
}

// testOutletActive: an outlet's own writes — sales by the time they were
// recorded, cancels, counts, suspends and resumes — are evidence that it
// was online; deliveries and shortfall corrections are not its requests.
func testOutletActive(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	saveOutlets(t, s, "00000001", "00000002", "00000003", "00000004", "00000005", "00000006")
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	write(t, s, func(tx publicmask.Tx) error {
		// 1: a live sale at +30.
		if err := tx.InsertSale(sale("a", "00000001", at(30), 1, "aaaa")); err != nil {
			return err
		}
		// 2: a late sale sold at −600, recorded at +30.
		l := sale("b", "00000002", at(-600), 1, "bbbb")
		l.RecordedAt, l.Late = at(30), true
		if err := tx.InsertSale(l); err != nil {
			return err
		}
		// 3: a count at +30; a shortfall correction at +30 at 6.
		if err := tx.InsertCorrection(&publicmask.Correction{ID: "c", Outlet: "00000003", TxnID: "c", Count: 1, Delta: 1, At: at(30)}); err != nil {
			return err
		}
		if err := tx.InsertCorrection(&publicmask.Correction{ID: "c6", Outlet: "00000006", TxnID: "c6", Kind: publicmask.CorrectionShortfall, SaleID: "x", Delta: 1, At: at(30)}); err != nil {
			return err
		}
		// 4: resumed at +30 after a suspension from −600.
		if err := tx.StartSuspension("00000004", at(-600)); err != nil {
			return err
		}
		if err := tx.EndSuspension("00000004", at(30)); err != nil {
			return err
		}
		// 5: a sale at −600 cancelled at +30; a delivery at +30 at 6.
		if err := tx.InsertSale(sale("e", "00000005", at(-600), 1, "eeee")); err != nil {
			return err
		}
		if err := tx.MarkSaleCancelled("e", at(30)); err != nil {
			return err
		}
		return tx.InsertDelivery(&publicmask.Delivery{ID: "d6", Outlet: "00000006", TxnID: "d6", Quantity: 5, At: at(30)})
	})
	for _, code := range []string{"00000001", "00000002", "00000003", "00000004", "00000005", "00000006"} {
		for _, c := range []struct {
			after, until int
			want         bool
		}{
			{0, 60, true}, {0, 30, true}, {30, 60, false}, {-100, 29, false}, {31, 90, false},
		} {
			want := c.want && code != "00000006"
			got, err := s.OutletActive(ctx, code, at(c.after), at(c.until))
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("OutletActive(%s, (+%d, +%d]) = %v, want %v", code, c.after, c.until, got, want)
			}
		}
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

// testLargeStock: stock and the quantities behind it are never narrowed to
// 32 bits.
func testLargeStock(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	const big = 3_000_000_000 // > 2^31
	o := outlet("00000001")
	o.Stock, o.StockAt = big, t0
	write(t, s, func(tx publicmask.Tx) error {
		if err := tx.SaveOutlet(&o); err != nil {
			return err
		}
		if err := tx.InsertDelivery(&publicmask.Delivery{ID: "d1", Outlet: o.Code, TxnID: "t1", Quantity: big, At: t0}); err != nil {
			return err
		}
		return tx.InsertCorrection(&publicmask.Correction{ID: "c1", Outlet: o.Code, TxnID: "t2", Count: big, Delta: big - 1, At: t0})
	})
	got, err := s.Outlet(ctx, o.Code)
	if err != nil || got.Stock != big {
		t.Fatalf("stock read back = %d, %v; want %d", got.Stock, err, big)
	}
	tots, err := s.OutletTotals(ctx)
	if err != nil || len(tots) != 1 {
		t.Fatalf("OutletTotals = %v, %v", tots, err)
	}
	if tots[0].Delivered != big || tots[0].Stock != big {
		t.Fatalf("totals %+v; want delivered and stock %d", tots[0], big)
	}
}
