package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/publicmask/publicmask"
)

// deliverWithRecords writes deliveries of code as the ledger's delivery
// list does: the lines' records, then the deliveries, in bulk.
func deliverWithRecords(s *Store, code string, txns ...string) error {
	return s.Write(context.Background(), func(tx publicmask.Tx) error {
		bt := tx.(publicmask.BulkTx)
		var ds []*publicmask.Delivery
		var recs []publicmask.IdemRecord
		for _, txn := range txns {
			ds = append(ds, &publicmask.Delivery{ID: "d-" + txn, Outlet: code, TxnID: txn, Quantity: 5, At: tRec})
			recs = append(recs, publicmask.IdemRecord{Outlet: code, TxnID: txn, BodyHash: "h-" + txn, Response: []byte(`{"id":"d-` + txn + `"}`), CreatedAt: tRec})
		}
		if err := bt.PutIdempotencies(recs); err != nil {
			return err
		}
		return bt.InsertDeliveries(ds)
	})
}

// TestDeliveryCarriesItsRecord: a delivery list's records go into the
// deliveries' rows (migration 00007), not the idempotency table; they read
// back from there, one by one and in bulk, after the store is reopened
// too; a second record of one of their txn_ids is refused; the purge
// forgets them.
func TestDeliveryCarriesItsRecord(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pm.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	code := "10000001"
	err = s.Write(ctx, func(tx publicmask.Tx) error {
		return tx.SaveOutlet(&publicmask.Outlet{Code: code, Name: "약국", Addr: "서울특별시 중구", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := deliverWithRecords(s, code, "t1", "t2"); err != nil {
		t.Fatal(err)
	}
	var inTable, inRows int
	if err := s.reader.QueryRow(`SELECT count(*) FROM idempotency`).Scan(&inTable); err != nil || inTable != 0 {
		t.Fatalf("idempotency table rows: %d %v", inTable, err)
	}
	if err := s.reader.QueryRow(`SELECT count(*) FROM deliveries WHERE response IS NOT NULL`).Scan(&inRows); err != nil || inRows != 2 {
		t.Fatalf("deliveries with their record: %d %v", inRows, err)
	}
	check := func(s *Store) {
		t.Helper()
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			got, ok, err := tx.Idempotency(code, "t2")
			if err != nil || !ok || string(got.Response) != `{"id":"d-t2"}` || got.BodyHash != "h-t2" || !got.CreatedAt.Equal(tRec) {
				t.Errorf("record read back: %+v %v %v", got, ok, err)
			}
			m, err := tx.(publicmask.BulkTx).Idempotencies([]publicmask.IdemKey{{Outlet: code, TxnID: "t1"}, {Outlet: code, TxnID: "t3"}})
			if r := m[publicmask.IdemKey{Outlet: code, TxnID: "t1"}]; err != nil || len(m) != 1 || string(r.Response) != `{"id":"d-t1"}` {
				t.Errorf("records in bulk: %+v %v", m, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check(s)
	// Without a look-up first: the store's own check refuses it.
	err = deliverWithRecords(s, code, "t3", "t1")
	if err == nil || !strings.Contains(err.Error(), "already has an idempotency record") {
		t.Fatalf("a second record of a txn_id: %v", err)
	}
	s.Close()
	if s, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The background filter of txn_ids with a record, built from the
	// store, holds the deliveries' records too: otherwise a replayed
	// line would be taken for a new one without a look-up.
	f := waitIdemFilter(t, s)
	for _, k := range []string{"t1", "t2"} {
		if !f.mayHaveHash(idemHash(code, k)) {
			t.Errorf("the rebuilt records' filter misses the delivery record of %s", k)
		}
	}
	check(s)
	if _, err := s.Purge(ctx, "2020-03-16"); err != nil {
		t.Fatal(err)
	}
	if err := s.reader.QueryRow(`SELECT count(*) FROM deliveries WHERE response IS NOT NULL OR body_hash <> ''`).Scan(&inRows); err != nil || inRows != 0 {
		t.Fatalf("deliveries with a record after the purge: %d %v", inRows, err)
	}
}

// TestDeliveryRecordsMigrateForward: a delivery whose record is in the
// idempotency table (before migration 00007) still replays after it, and
// the deliveries are still summed by outlet.
func TestDeliveryRecordsMigrateForward(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pm.db")
	db := migratedBefore(t, path, "00007")
	for _, q := range []string{
		`INSERT INTO outlets (code, name, addr, type, lat, lng, stock, version) VALUES ('10000001', '약국', '서울', '01', 37.5, 127, 8, 1)`,
		`INSERT INTO deliveries (id, outlet, txn_id, quantity, at) VALUES ('d1', '10000001', 'txn-d1', 8, 1)`,
		`INSERT INTO idempotency (outlet, txn_id, body_hash, response, created_at) VALUES ('10000001', 'txn-d1', 'h', '{"id":"d1"}', 1)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Write(ctx, func(tx publicmask.Tx) error {
		got, ok, err := tx.Idempotency("10000001", "txn-d1")
		if err != nil || !ok || string(got.Response) != `{"id":"d1"}` {
			t.Errorf("old record after the migration: %+v %v %v", got, ok, err)
		}
		m, err := tx.(publicmask.BulkTx).Idempotencies([]publicmask.IdemKey{{Outlet: "10000001", TxnID: "txn-d1"}})
		if err != nil || len(m) != 1 {
			t.Errorf("old record in bulk: %+v %v", m, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var sum int
	if err := s.reader.QueryRow(`SELECT COALESCE(SUM(quantity), 0) FROM deliveries WHERE outlet = '10000001'`).Scan(&sum); err != nil || sum != 8 {
		t.Fatalf("delivered: %d %v", sum, err)
	}
}

// TestDeliveriesMigrateWithoutForeignKey: migration 00009 takes the foreign
// key to outlets out of deliveries' schema (every connection reads it so,
// the writer's own and the readers', after a reopen too), without touching
// the rows: their rowids, records and sums stay, the database passes
// integrity_check, and a delivery list written after it replays and counts
// as before.
func TestDeliveriesMigrateWithoutForeignKey(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pm.db")
	db := migratedBefore(t, path, "00009")
	for _, q := range []string{
		`INSERT INTO outlets (code, name, addr, type, lat, lng, stock, version) VALUES ('10000001', '약국', '서울', '01', 37.5, 127, 15, 1)`,
		`INSERT INTO deliveries (rowid, id, outlet, txn_id, quantity, at, body_hash, response) VALUES (7, 'd1', '10000001', 'txn-d1', 8, 1, 'h1', '{"id":"d1"}')`,
		`INSERT INTO deliveries (rowid, id, outlet, txn_id, quantity, at) VALUES (9, 'd2', '10000001', 'txn-d2', 7, 2)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	check := func(s *Store, want int) {
		t.Helper()
		for name, q := range map[string]interface {
			QueryRow(string, ...any) *sql.Row
		}{"writer": s.writer, "reader": s.reader} {
			var fks int
			if err := q.QueryRow(`SELECT count(*) FROM pragma_foreign_key_list('deliveries')`).Scan(&fks); err != nil || fks != 0 {
				t.Fatalf("deliveries' foreign keys seen by the %s after 00009: %d %v", name, fks, err)
			}
		}
		var ok, rows string
		if err := s.reader.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
			t.Fatalf("integrity_check after 00009: %q %v", ok, err)
		}
		if err := s.reader.QueryRow(`SELECT group_concat(rowid || ':' || id, ',') FROM (SELECT rowid, id FROM deliveries ORDER BY rowid)`).Scan(&rows); err != nil || !strings.HasPrefix(rows, "7:d1,9:d2") {
			t.Fatalf("rows after 00009: %q %v", rows, err)
		}
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			got, ok, err := tx.Idempotency("10000001", "txn-d1")
			if err != nil || !ok || string(got.Response) != `{"id":"d1"}` {
				t.Errorf("record after 00009: %+v %v %v", got, ok, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		totals, err := s.OutletTotals(ctx)
		if err != nil || len(totals) != 1 || totals[0].Delivered != want {
			t.Fatalf("delivered after 00009: %+v %v", totals, err)
		}
	}
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	check(s, 15)
	if err := deliverWithRecords(s, "10000001", "t3"); err != nil {
		t.Fatal(err)
	}
	check(s, 20)
	s.Close()
	if s, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s, 20)
}
