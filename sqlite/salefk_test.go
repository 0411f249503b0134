package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/publicmask/publicmask"
)

// TestSalesMigrateWithoutForeignKeys: migration 00012 takes the foreign
// keys of sales (to outlets) and sale_items (to sales) out of the schema,
// as 00009 did for deliveries: every connection reads the tables so, after
// a reopen too; the rows stay (a sale, its items and the record in its
// row, written before it); the database passes integrity_check; and the
// writer's multi-row inserts of a batch's sales and items run no
// foreign-key check (without the migration their programs hold the
// checks' opcodes: a seek of the outlet, of the sale's items, of each
// item's sale).
func TestSalesMigrateWithoutForeignKeys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pm.db")
	db := migratedBefore(t, path, "00012")
	for _, q := range []string{
		`INSERT INTO outlets (code, name, addr, type, lat, lng, stock, version) VALUES ('10000001', '약국', '서울', '01', 37.5, 127, 15, 1)`,
		`INSERT INTO outlet_changes (version, code) VALUES (1, '10000001')`,
		`INSERT INTO sales (rowid, id, outlet, txn_id, sold_at, recorded_at, week, weekend, quantity, body_hash, response)
			VALUES (7, 's1', '10000001', 'txn-s1', 1, 1, '2020-03-09', 0, 2, 'h1', '{"sale_id":"s1"}')`,
		`INSERT INTO sale_items (sale_id, idx, role, person, category, birth_year, quantity) VALUES ('s1', 0, 'buyer', 'p1', '', 1983, 2)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	check := func(s *Store, ids ...string) {
		t.Helper()
		for name, q := range map[string]interface {
			QueryRow(string, ...any) *sql.Row
		}{"writer": s.writer, "reader": s.reader} {
			for _, table := range []string{"sales", "sale_items"} {
				var fks int
				if err := q.QueryRow(`SELECT count(*) FROM pragma_foreign_key_list(?)`, table).Scan(&fks); err != nil || fks != 0 {
					t.Fatalf("%s' foreign keys seen by the %s after 00012: %d %v", table, name, fks, err)
				}
			}
		}
		for _, m := range []*multiSQL{&multiSale, &multiSalePlain, &multiSaleBuyer, &multiItem} {
			for _, n := range []int{1, 2, maxMultiRows} {
				ops := explainOps(t, s, m.query(n), n*m.cols, func(op string, _, _ int64) bool { return strings.HasPrefix(op, "Fk") })
				if len(ops) > 0 {
					t.Fatalf("the writer's %.20s… of %d rows checks foreign keys: %v", m.head, n, ops)
				}
			}
		}
		var ok string
		if err := s.reader.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
			t.Fatalf("integrity_check after 00012: %q %v", ok, err)
		}
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			for _, id := range ids {
				sl, err := tx.Sale(id)
				if err != nil || sl.Outlet != "10000001" || sl.Quantity != 2 || len(sl.Items) != 1 || sl.Items[0].Person != "p"+id[1:] {
					t.Errorf("sale %s after 00012: %+v %v", id, sl, err)
				}
				rec, ok, err := tx.Idempotency("10000001", "txn-"+id)
				if err != nil || !ok || string(rec.Response) != `{"sale_id":"`+id+`"}` {
					t.Errorf("record of %s after 00012: %+v %v %v", id, rec, ok, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sell := func(s *Store, id string) {
		t.Helper()
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			o, err := tx.LockOutlet("10000001")
			if err != nil {
				return err
			}
			txn := "txn-" + id
			if err := tx.PutIdempotency(publicmask.IdemRecord{Outlet: o.Code, TxnID: txn, BodyHash: "h-" + id, Response: []byte(`{"sale_id":"` + id + `"}`), CreatedAt: tRec}); err != nil {
				return err
			}
			sl := &publicmask.Sale{ID: id, Outlet: o.Code, TxnID: txn, SoldAt: tRec, RecordedAt: tRec, Week: "2020-03-09", Quantity: 2,
				Items: []publicmask.SaleItem{{Role: "buyer", Person: "p" + id[1:], BirthYear: 1983, Quantity: 2}}}
			if err := tx.InsertSale(sl); err != nil {
				return err
			}
			o.Stock -= 2
			o.Sold += 2
			return tx.SaveOutlet(&o)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	check(s, "s1")
	sell(s, "s2")
	check(s, "s1", "s2")
	s.Close()
	if s, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sell(s, "s3")
	check(s, "s1", "s2", "s3")
	var stock int
	if err := s.reader.QueryRow(`SELECT stock FROM outlets WHERE code = '10000001'`).Scan(&stock); err != nil || stock != 11 {
		t.Fatalf("stock after two sales: %d %v", stock, err)
	}
	s.Close()

	// The Down section puts both keys back, and the rows satisfy them.
	src, err := fs.ReadFile(migrations, "migrations/00012_sales_without_foreign_keys.sql")
	if err != nil {
		t.Fatal(err)
	}
	_, down, ok := strings.Cut(string(src), "-- +goose Down")
	if !ok {
		t.Fatal("00012 has no Down section")
	}
	db, err = sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(down); err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]string{"sales": "outlets", "sale_items": "sales"} {
		var parent string
		if err := db.QueryRow(`SELECT group_concat("table") FROM pragma_foreign_key_list(?)`, table).Scan(&parent); err != nil || parent != want {
			t.Fatalf("%s's foreign key after 00012's Down: %q %v", table, parent, err)
		}
	}
	var violations int
	if err := db.QueryRow(`SELECT count(*) FROM pragma_foreign_key_check`).Scan(&violations); err != nil || violations != 0 {
		t.Fatalf("foreign_key_check after 00012's Down: %d %v", violations, err)
	}
}
