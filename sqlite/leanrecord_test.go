package sqlite

import (
	"context"
	"strings"
	"testing"

	"github.com/publicmask/publicmask"
)

// TestLeanDeliveryRecords: the writer's transaction keeps a delivery
// line's record given without its receipt (Response nil, Delivery set:
// publicmask.DeliveryRecorder) in its delivery's row, compact, and gives
// it back so; such a record that is not its delivery's, or that would go
// to the idempotency table (no delivery row to hold it), fails the
// transaction instead of being kept without an answer.
func TestLeanDeliveryRecords(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	code := "10000001"
	err := s.Write(ctx, func(tx publicmask.Tx) error {
		if _, ok := tx.(publicmask.DeliveryRecorder); !ok {
			t.Fatal("the writer's transaction is no DeliveryRecorder")
		}
		return tx.SaveOutlet(&publicmask.Outlet{Code: code, Name: "약국", Addr: "서울", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127})
	})
	if err != nil {
		t.Fatal(err)
	}
	hash := strings.Repeat("0f", 32)
	lean := func(txn, id string) publicmask.IdemRecord {
		return publicmask.IdemRecord{Outlet: code, TxnID: txn, BodyHash: hash, CreatedAt: tRec,
			Delivery: &publicmask.DeliveryRecord{ID: id, Quantity: 5, Stock: 5}}
	}
	deliver := func(rec publicmask.IdemRecord, id string) error {
		return s.Write(ctx, func(tx publicmask.Tx) error {
			bt := tx.(publicmask.BulkTx)
			if err := bt.PutIdempotencies([]publicmask.IdemRecord{rec}); err != nil {
				return err
			}
			if id == "" {
				return nil
			}
			return bt.InsertDeliveries([]*publicmask.Delivery{{ID: id, Outlet: code, TxnID: rec.TxnID, Quantity: 5, At: tRec}})
		})
	}
	if err := deliver(lean("txn-1", "d1"), "d1"); err != nil {
		t.Fatal(err)
	}
	err = s.Write(ctx, func(tx publicmask.Tx) error {
		got, ok, err := tx.Idempotency(code, "txn-1")
		if err != nil || !ok || got.Response != nil || got.Delivery == nil || *got.Delivery != (publicmask.DeliveryRecord{ID: "d1", Quantity: 5, Stock: 5}) || got.BodyHash != hash {
			t.Errorf("the lean record: %+v %v %v", got, ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var typ string
	var size, stock int
	if err := s.reader.QueryRow(`SELECT typeof(response), length(response), stock FROM deliveries WHERE txn_id = 'txn-1'`).Scan(&typ, &size, &stock); err != nil || typ != "blob" || size != 0 || stock != 5 {
		t.Fatalf("the row: response %s of %d bytes, stock %d, %v", typ, size, stock, err)
	}
	if err := deliver(lean("txn-2", "d-other"), "d2"); err == nil || !strings.Contains(err.Error(), "not its delivery's") {
		t.Errorf("a lean record of another delivery: %v", err)
	}
	if err := deliver(lean("txn-3", "d3"), ""); err == nil || !strings.Contains(err.Error(), "no receipt") {
		t.Errorf("a lean record without its delivery: %v", err)
	}
	var n int
	if err := s.reader.QueryRow(`SELECT (SELECT count(*) FROM deliveries) + (SELECT count(*) FROM idempotency)`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows after the refused writes: %d %v", n, err)
	}
}
