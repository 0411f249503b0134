package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/publicmask/publicmask"
)

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
		if err := readYourPersonWeeks(tx, week); err != nil {
			return err
		}
		return readYourSales(tx, o.Code)
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

// readYourPersonWeeks: in one transaction, PersonWeeks sees the rows
// PutPersonWeek wrote, whether the person was read before or not.
func readYourPersonWeeks(tx publicmask.Tx, week string) error {
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
	return nil
}

// readYourSales: in one transaction, Sale sees InsertSale and
// MarkSaleCancelled, and Idempotency sees PutIdempotency.
func readYourSales(tx publicmask.Tx, code string) error {
	if err := tx.InsertSale(sale("s1", code, t0, 2, "p")); err != nil {
		return err
	}
	got2, err := tx.Sale("s1")
	if err != nil || len(got2.Items) != 1 || got2.Items[0].Person != "p" {
		return fmt.Errorf("tx.Sale after InsertSale = %+v, %v", got2, err)
	}
	if err := tx.MarkSaleCancelled("s1", t0); err != nil {
		return err
	}
	if got2, _ := tx.Sale("s1"); !got2.CancelledAt.Equal(t0) {
		return fmt.Errorf("tx.Sale after MarkSaleCancelled = %+v", got2)
	}
	rec := publicmask.IdemRecord{Outlet: code, TxnID: "t1", BodyHash: "h", Response: []byte("{}"), CreatedAt: t0}
	if err := tx.PutIdempotency(rec); err != nil {
		return err
	}
	if _, ok, err := tx.Idempotency(code, "t1"); err != nil || !ok {
		return fmt.Errorf("tx.Idempotency after PutIdempotency: ok=%v err=%v", ok, err)
	}
	return nil
}

// testSaleRecord: a sale's idempotency record, written with the sale in
// one transaction (as the ledger does), reads back exactly, alone and in
// bulk; no second record of its txn_id is accepted, whichever kind wrote
// the first (a store may keep a sale's record in the sale's row).
func testSaleRecord(t *testing.T, s publicmask.Store) {
	ctx := context.Background()
	saveOutlets(t, s, "00000001")
	body := []byte(`{"sale_id":"s1","items":[]}`)
	sl := sale("s1", "00000001", t0, 2, "p1")
	rec := publicmask.IdemRecord{Outlet: "00000001", TxnID: sl.TxnID, BodyHash: "hs", Response: body, CreatedAt: t0}
	delivery := publicmask.IdemRecord{Outlet: "00000001", TxnID: "txn-d1", BodyHash: "hd", Response: []byte(`{"d":1}`), CreatedAt: t0}
	write(t, s, func(tx publicmask.Tx) error {
		if err := tx.PutIdempotency(delivery); err != nil {
			return err
		}
		if err := tx.PutIdempotency(rec); err != nil {
			return err
		}
		return tx.InsertSale(sl)
	})
	write(t, s, func(tx publicmask.Tx) error {
		for _, want := range []publicmask.IdemRecord{rec, delivery} {
			got, ok, err := tx.Idempotency(want.Outlet, want.TxnID)
			if err != nil || !ok || got.BodyHash != want.BodyHash || string(got.Response) != string(want.Response) || !got.CreatedAt.Equal(t0) {
				return fmt.Errorf("record of %s: %+v %v %v", want.TxnID, got, ok, err)
			}
		}
		bt, ok := tx.(publicmask.BulkTx)
		if !ok {
			return nil
		}
		got, err := bt.Idempotencies([]publicmask.IdemKey{{Outlet: "00000001", TxnID: rec.TxnID}, {Outlet: "00000001", TxnID: "txn-d1"}, {Outlet: "00000001", TxnID: "none"}})
		if err != nil || len(got) != 2 || string(got[publicmask.IdemKey{Outlet: "00000001", TxnID: rec.TxnID}].Response) != string(body) {
			return fmt.Errorf("bulk records: %+v %v", got, err)
		}
		return nil
	})
	again := func(id string, r publicmask.IdemRecord, withSale bool) error {
		return s.Write(ctx, func(tx publicmask.Tx) error {
			if err := tx.PutIdempotency(r); err != nil {
				return err
			}
			if !withSale {
				return nil
			}
			sl2 := sale(id, "00000001", t0, 1, "p2")
			sl2.TxnID = r.TxnID
			return tx.InsertSale(sl2)
		})
	}
	for i, c := range []struct {
		name     string
		r        publicmask.IdemRecord
		withSale bool
	}{
		{"a record over a sale's", rec, false},
		{"a sale's record over a sale's", rec, true},
		{"a sale's record over a delivery's", delivery, true},
	} {
		if err := again(fmt.Sprintf("s%d", i+2), c.r, c.withSale); err == nil {
			t.Errorf("%s accepted", c.name)
		}
	}
	if got, err := s.RecentSales(ctx, "00000001", 10); err != nil || len(got) != 1 {
		t.Fatalf("sales after the refused records: %d %v", len(got), err)
	}
}
