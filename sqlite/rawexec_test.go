package sqlite

import (
	"context"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// When a write's context ends mid-transaction (the ledger gives each group
// commit a deadline), database/sql rolls the transaction back from its own
// goroutine and keeps the connection. The held rows are written afterwards,
// on the driver connection directly (rawexec.go): they must fail, not run
// outside any transaction and stay in the store.
func TestRawStatementsEndWithTheWritesContext(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	if err := s.Write(ctx, func(tx publicmask.Tx) error {
		return tx.SaveOutlet(&publicmask.Outlet{Code: "A", Name: "a", Type: "01", Stock: 100})
	}); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	err := s.Write(wctx, func(tx publicmask.Tx) error {
		o, err := tx.LockOutlet("A")
		if err != nil {
			return err
		}
		if err := tx.InsertDelivery(&publicmask.Delivery{ID: "d1", Outlet: "A", TxnID: "t1", Quantity: 50, At: time.Now()}); err != nil {
			return err
		}
		o.Stock += 50
		if err := tx.SaveOutlet(&o); err != nil { // held until the end (buffer.go)
			return err
		}
		cancel()
		// database/sql's rollback runs on its own goroutine: give it time.
		time.Sleep(100 * time.Millisecond)
		return nil // the held rows are written now
	})
	if err == nil {
		t.Fatal("a write whose context ended before its held rows were written succeeded")
	}
	a, err := s.Outlet(ctx, "A")
	if err != nil {
		t.Fatal(err)
	}
	if a.Stock != 100 {
		t.Errorf("the failed write left stock %d, want 100", a.Stock)
	}
	if err := s.Write(ctx, func(tx publicmask.Tx) error {
		return tx.SaveOutlet(&publicmask.Outlet{Code: "B", Name: "b", Type: "01"})
	}); err != nil {
		t.Fatal(err)
	}
	b, err := s.Outlet(ctx, "B")
	if err != nil {
		t.Fatal(err)
	}
	if b.Version == a.Version {
		t.Errorf("A and B share version %d in the change feed", b.Version)
	}
}
