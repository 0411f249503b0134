package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/migration"
)

var tRec = time.Date(2020, 3, 11, 1, 0, 0, 0, time.UTC)

func recordedSale(id, code string, qty int, person string) (*publicmask.Sale, publicmask.IdemRecord) {
	s := &publicmask.Sale{ID: id, Outlet: code, TxnID: "txn-" + id, SoldAt: tRec, RecordedAt: tRec, Week: "2020-03-09", Quantity: qty,
		Items: []publicmask.SaleItem{{Role: "buyer", Person: person, BirthYear: 1983, Quantity: qty}}}
	return s, publicmask.IdemRecord{Outlet: code, TxnID: s.TxnID, BodyHash: "h-" + id, Response: []byte(`{"sale_id":"` + id + `"}`), CreatedAt: tRec}
}

// TestSaleCarriesItsRecord: a sale recorded as the ledger records it
// (its txn_id's record, then the sale) leaves no row in the idempotency
// table — the record is in the sale's row — and reads back from there.
func TestSaleCarriesItsRecord(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	sl, rec := recordedSale("s1", "10000001", 2, hexKey(1))
	err := s.Write(ctx, func(tx publicmask.Tx) error {
		o := &publicmask.Outlet{Code: "10000001", Name: "약국", Addr: "서울특별시 중구", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127, Stock: 10}
		if err := tx.SaveOutlet(o); err != nil {
			return err
		}
		if err := tx.PutIdempotency(rec); err != nil {
			return err
		}
		return tx.InsertSale(sl)
	})
	if err != nil {
		t.Fatal(err)
	}
	var inTable int
	var hash string
	var resp []byte
	if err := s.reader.QueryRow(`SELECT count(*) FROM idempotency`).Scan(&inTable); err != nil || inTable != 0 {
		t.Fatalf("idempotency table rows: %d %v", inTable, err)
	}
	if err := s.reader.QueryRow(`SELECT body_hash, response FROM sales WHERE id = 's1'`).Scan(&hash, &resp); err != nil || hash != rec.BodyHash || string(resp) != string(rec.Response) {
		t.Fatalf("sale row: %q %q %v", hash, resp, err)
	}
	err = s.Write(ctx, func(tx publicmask.Tx) error {
		got, ok, err := tx.Idempotency("10000001", rec.TxnID)
		if err != nil || !ok || string(got.Response) != string(rec.Response) || !got.CreatedAt.Equal(tRec) {
			t.Errorf("record read back: %+v %v %v", got, ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRefusedRecordLeavesTheCopyAsTheStore: a transaction whose held rows
// (a sale, its record, its person-week, the outlet's stock) are refused
// when they are written at its end — its txn_id was recorded before —
// changes nothing, in the database or in the writer's copy.
func TestRefusedRecordLeavesTheCopyAsTheStore(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	code, p1, p2 := "10000001", hexKey(1), hexKey(2)
	sell := func(sl *publicmask.Sale, rec publicmask.IdemRecord, person string) error {
		return s.Write(ctx, func(tx publicmask.Tx) error {
			o, err := tx.LockOutlet(code)
			if err != nil {
				return err
			}
			usage, err := tx.PersonWeeks("2020-03-09", []string{person})
			if err != nil {
				return err
			}
			pw := usage[person]
			pw.Person, pw.Week = person, "2020-03-09"
			pw.Add(sl.Quantity, false)
			if err := tx.PutIdempotency(rec); err != nil {
				return err
			}
			if err := tx.PutPersonWeek(pw); err != nil {
				return err
			}
			if err := tx.InsertSale(sl); err != nil {
				return err
			}
			o.Stock -= sl.Quantity
			o.Sold += sl.Quantity
			return tx.SaveOutlet(&o)
		})
	}
	err := s.Write(ctx, func(tx publicmask.Tx) error {
		o := &publicmask.Outlet{Code: code, Name: "약국", Addr: "서울특별시 중구", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127, Stock: 10}
		return tx.SaveOutlet(o)
	})
	if err != nil {
		t.Fatal(err)
	}
	first, rec := recordedSale("s1", code, 2, p1)
	if err := sell(first, rec, p1); err != nil {
		t.Fatal(err)
	}
	second, _ := recordedSale("s2", code, 1, p2)
	second.TxnID = first.TxnID
	rec2 := rec
	rec2.BodyHash = "other"
	err = sell(second, rec2, p2)
	if err == nil || !strings.Contains(err.Error(), "already has an idempotency record") {
		t.Fatalf("a second record of a txn_id: %v", err)
	}
	if o, ok := s.hot.outlet(code); !ok || o.Stock != 8 || o.Sold != 2 {
		t.Fatalf("the copy after the refused transaction: %+v %v", o, ok)
	}
	sameAsDB(t, s, []string{code}, []string{"2020-03-09"}, []string{p1, p2})
	if got, err := s.RecentSales(ctx, code, 10); err != nil || len(got) != 1 {
		t.Fatalf("sales: %d %v", len(got), err)
	}
}

// migratedBefore is a store at path migrated up to, not including, the
// migration named from version on: a database as an older release left it.
// The caller closes it.
func migratedBefore(t *testing.T, path, version string) *sql.DB {
	t.Helper()
	old := fstest.MapFS{}
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() < version {
			b, err := fs.ReadFile(migrations, "migrations/"+e.Name())
			if err != nil {
				t.Fatal(err)
			}
			old[e.Name()] = &fstest.MapFile{Data: b}
		}
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migration.Up(context.Background(), db, old, migration.SQLite); err != nil {
		t.Fatal(err)
	}
	return db
}

// TestRecordsMigrateForward: a database whose sales' records are in the
// idempotency table (before migration 00006) still replays them after the
// migration, and its sales are still read by outlet.
func TestRecordsMigrateForward(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pm.db")
	db := migratedBefore(t, path, "00006")
	for _, q := range []string{
		`INSERT INTO outlets (code, name, addr, type, lat, lng, stock, version) VALUES ('10000001', '약국', '서울', '01', 37.5, 127, 8, 1)`,
		`INSERT INTO sales (id, outlet, txn_id, sold_at, recorded_at, week, weekend, quantity) VALUES ('s1', '10000001', 'txn-s1', 1, 1, '2020-03-09', 0, 2)`,
		`INSERT INTO idempotency (outlet, txn_id, body_hash, response, created_at) VALUES ('10000001', 'txn-s1', 'h', '{"sale_id":"s1"}', 1)`,
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
		got, ok, err := tx.Idempotency("10000001", "txn-s1")
		if err != nil || !ok || string(got.Response) != `{"sale_id":"s1"}` {
			t.Errorf("old record after the migration: %+v %v %v", got, ok, err)
		}
		m, err := tx.(publicmask.BulkTx).Idempotencies([]publicmask.IdemKey{{Outlet: "10000001", TxnID: "txn-s1"}})
		if err != nil || len(m) != 1 {
			t.Errorf("old record in bulk: %+v %v", m, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.SoldSince(ctx, "10000001", time.UnixMicro(0)); err != nil || n != 2 {
		t.Fatalf("sold since after the migration: %d %v", n, err)
	}
}

// TestHeldStockChangeOfAMissingRow: a stock-only change of an outlet the
// writer holds is written by one UPDATE for the batch; should the row be
// missing (the update changes fewer rows than it holds), the outlets are
// upserted whole, as a registry change would be.
func TestHeldStockChangeOfAMissingRow(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	code := "10000001"
	err := s.Write(ctx, func(tx publicmask.Tx) error {
		o := &publicmask.Outlet{Code: code, Name: "약국", Addr: "서울특별시 중구", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127, Stock: 10}
		return tx.SaveOutlet(o)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, func(tx publicmask.Tx) error { _, err := tx.LockOutlet(code); return err }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.writer.Exec(`DELETE FROM outlets WHERE code = ?`, code); err != nil {
		t.Fatal(err)
	}
	err = s.Write(ctx, func(tx publicmask.Tx) error {
		o, err := tx.LockOutlet(code) // from the copy
		if err != nil {
			return err
		}
		o.Stock = 7
		return tx.SaveOutlet(&o)
	})
	if err != nil {
		t.Fatal(err)
	}
	if o := dbOutlet(t, s, code); o.Stock != 7 || o.Name != "약국" {
		t.Fatalf("row after the stock change: %+v", o)
	}
	checkChangeLog(t, s.reader) // the row inserted again is in the log (migration 00010)
}

// TestPurgeClearsSaleRecordsInChunks: sales recorded before the purged week
// lose their record in chunks smaller than their number, interleaved with
// later sales that keep theirs.
func TestPurgeClearsSaleRecordsInChunks(t *testing.T) {
	defer func(old int) { purgeChunk = old }(purgeChunk)
	purgeChunk = 3
	s := openTest(t)
	ctx := context.Background()
	const n = 20
	err := s.Write(ctx, func(tx publicmask.Tx) error {
		o := &publicmask.Outlet{Code: "10000001", Name: "약국", Addr: "서울특별시 중구", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127, Stock: 100}
		if err := tx.SaveOutlet(o); err != nil {
			return err
		}
		for i := range n {
			sl, rec := recordedSale(fmt.Sprint("s", i), "10000001", 1, hexKey(i))
			if i%4 == 3 { // a later sale
				sl.RecordedAt, sl.SoldAt, sl.Week = tRec.AddDate(0, 0, 14), tRec.AddDate(0, 0, 14), "2020-03-23"
				rec.CreatedAt = sl.RecordedAt
			}
			if err := tx.PutIdempotency(rec); err != nil {
				return err
			}
			if err := tx.InsertSale(sl); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Purge(ctx, "2020-03-16"); err != nil {
		t.Fatal(err)
	}
	var kept, cleared int
	if err := s.reader.QueryRow(`SELECT count(*) FILTER (WHERE response IS NOT NULL AND week = '2020-03-23'), count(*) FILTER (WHERE response IS NULL AND body_hash = '' AND week = '2020-03-09') FROM sales`).Scan(&kept, &cleared); err != nil {
		t.Fatal(err)
	}
	if kept != n/4 || cleared != n-n/4 {
		t.Fatalf("after the purge: %d later records kept (want %d), %d old ones cleared (want %d)", kept, n/4, cleared, n-n/4)
	}
}
