package sqlite

import (
	"context"
	"errors"
	"testing"

	"github.com/publicmask/publicmask"
)

// TestIdemMapsDoNotOutliveTheirTransaction: the known and absent maps a
// transaction leaves are kept for the next one (emptied): what a failed
// transaction recorded or found absent is not known to the next, which
// reads the store again.
func TestIdemMapsDoNotOutliveTheirTransaction(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	rec := publicmask.IdemRecord{Outlet: "10000001", TxnID: "t1", BodyHash: "h1", Response: []byte(`{"a":1}`), CreatedAt: tRec}
	fail := errors.New("rolled back")
	// A record put, then the transaction fails: nothing of it remains.
	err := s.Write(ctx, func(tx publicmask.Tx) error {
		if _, ok, err := tx.Idempotency(rec.Outlet, "t2"); err != nil || ok {
			t.Fatalf("t2 before: %v %v", ok, err)
		}
		if err := tx.PutIdempotency(rec); err != nil {
			return err
		}
		return fail
	})
	if !errors.Is(err, fail) {
		t.Fatal(err)
	}
	// t2 is recorded by another transaction (not through the maps).
	rec2 := rec
	rec2.TxnID, rec2.BodyHash = "t2", "h2"
	if err := s.Write(ctx, func(tx publicmask.Tx) error { return tx.PutIdempotency(rec2) }); err != nil {
		t.Fatal(err)
	}
	err = s.Write(ctx, func(tx publicmask.Tx) error {
		if got, ok, err := tx.Idempotency(rec.Outlet, "t1"); err != nil || ok {
			t.Errorf("t1 after its transaction failed: %+v %v %v", got, ok, err)
		}
		if got, ok, err := tx.Idempotency(rec.Outlet, "t2"); err != nil || !ok || got.BodyHash != "h2" {
			t.Errorf("t2, found absent by the failed transaction, then recorded: %+v %v %v", got, ok, err)
		}
		return tx.PutIdempotency(rec) // t1 is free again
	})
	if err != nil {
		t.Fatal(err)
	}
}
