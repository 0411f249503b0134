package sqlite

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// After a statement fails, SQLite may have rolled the transaction back by
// itself (the batch's INSERT OR ROLLBACK): a later statement of the same
// Write would then run, and commit, on its own. Each must return the first
// failure without running, and so must the commit, even when fn ignores
// the failure and returns nil.
func TestStatementsAfterAFailedOneDoNotRun(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	const week = "2020-03-09"
	at := time.Unix(1583884800, 0)
	outlet := &publicmask.Outlet{Code: "10000001", Name: "약국", Addr: "서울", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127, Stock: 100, UpdatedAt: at}
	sale := func() *publicmask.Sale {
		return &publicmask.Sale{ID: "s1", Outlet: outlet.Code, TxnID: "t-s1", SoldAt: at, RecordedAt: at, Week: week, Quantity: 1,
			Items: []publicmask.SaleItem{{Role: "buyer", Person: "b", Quantity: 1}}}
	}
	if err := s.Write(ctx, func(w publicmask.Tx) error {
		if err := w.SaveOutlet(outlet); err != nil {
			return err
		}
		return w.InsertSale(sale())
	}); err != nil {
		t.Fatal(err)
	}
	token := func(h string) publicmask.Token {
		return publicmask.Token{Hash: h, Role: publicmask.RoleAdmin, CreatedAt: at}
	}
	var first error // the driver's error, as the transaction keeps it
	err := s.Write(ctx, func(w publicmask.Tx) error {
		if err := w.InsertSale(sale()); err != nil { // the same id: its INSERT OR ROLLBACK fails
			return err
		}
		if err := w.PutToken(token("t1")); err == nil { // flushes the sale first
			t.Fatal("a second sale s1 was written")
		}
		first = w.(*tx).err
		if first == nil {
			t.Fatal("the failed statement was not kept as the transaction's failure")
		}
		if err := w.PutToken(token("t2")); !errors.Is(err, first) {
			t.Errorf("a statement after the failed one: %v, want the failure %v", err, first)
		}
		s2 := sale()
		s2.ID, s2.TxnID = "s2", "t-s2"
		if err := w.InsertSale(s2); err != nil {
			return err
		}
		if err := w.PutToken(token("t2")); !errors.Is(err, first) { // the batch's statements (rawexec.go) first
			t.Errorf("a batch's flush after the failed statement: %v, want the failure %v", err, first)
		}
		if _, err := w.Sale("s1"); !errors.Is(err, first) {
			t.Errorf("a read after the failed statement: %v, want the failure %v", err, first)
		}
		if _, err := w.PersonWeeks(week, []string{"b"}); !errors.Is(err, first) {
			t.Errorf("a person-week read after the failed statement: %v, want the failure %v", err, first)
		}
		return nil // fn goes on as if nothing failed
	})
	if !errors.Is(err, first) {
		t.Errorf("Write after a failed statement: %v, want the failure %v", err, first)
	}
	var n int
	if err := s.writer.QueryRowContext(ctx, `SELECT count(*) FROM tokens`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d tokens committed by statements after the failed one", n)
	}
	if err := s.writer.QueryRowContext(ctx, `SELECT count(*) FROM sales WHERE id = 's2'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("a sale flushed after the failed statement committed")
	}
	// The next Write starts clean.
	if err := s.Write(ctx, func(w publicmask.Tx) error { return w.PutToken(token("t3")) }); err != nil {
		t.Fatalf("the next write: %v", err)
	}
}

// A flush that fails its own check (a second record for a txn_id), not a
// statement, drops its pending rows: it is the transaction's failure too,
// so a Write whose fn goes on commits nothing (the review of 73f9eb7).
func TestAFailedFlushCheckIsStickyToo(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	at := time.Unix(1583884800, 0)
	outlet := &publicmask.Outlet{Code: "10000001", Name: "약국", Addr: "서울", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127, Stock: 100, UpdatedAt: at}
	rec := publicmask.IdemRecord{Outlet: outlet.Code, TxnID: "t1", BodyHash: "h", Response: []byte(`{}`), CreatedAt: at}
	if err := s.Write(ctx, func(w publicmask.Tx) error {
		if err := w.SaveOutlet(outlet); err != nil {
			return err
		}
		return w.PutIdempotency(rec)
	}); err != nil {
		t.Fatal(err)
	}
	token := func(h string) publicmask.Token {
		return publicmask.Token{Hash: h, Role: publicmask.RoleAdmin, CreatedAt: at}
	}
	err := s.Write(ctx, func(w publicmask.Tx) error {
		if err := w.PutIdempotency(rec); err != nil { // held: checked at the flush
			return err
		}
		if err := w.PutToken(token("t1")); err == nil { // flushes: the check fails
			t.Fatal("the second record for t1 was not refused")
		}
		w.PutToken(token("t2")) // fn goes on, and returns nil
		return nil
	})
	var n int
	if qerr := s.writer.QueryRowContext(ctx, `SELECT count(*) FROM tokens`).Scan(&n); qerr != nil {
		t.Fatal(qerr)
	}
	if err == nil || n != 0 {
		t.Errorf("Write after a failed flush check: err=%v, %d token(s) committed (want an error and none)", err, n)
	}
}
