package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/publicmask/publicmask"
)

// deliveriesSchema is what sqlite_schema says of deliveries and its
// indexes (type, name, root page, text), in order.
func deliveriesSchema(t *testing.T, db interface {
	Query(string, ...any) (*sql.Rows, error)
}) []string {
	t.Helper()
	rows, err := db.Query(`SELECT type, name, rootpage, coalesce(sql, 'NULL') FROM sqlite_schema WHERE tbl_name = 'deliveries' ORDER BY type, name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var typ, name, text string
		var root int64
		if err := rows.Scan(&typ, &name, &root, &text); err != nil {
			t.Fatal(err)
		}
		out = append(out, strings.Join([]string{typ, name, text}, " | "))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// deliveryInsertWrites is how many B-trees the writer's multi-row insert
// of delivery lines writes (the OpenWrite cursors of its program).
func deliveryInsertWrites(t *testing.T, s *Store, n int) int {
	t.Helper()
	q, _ := sqlDeliveriesGroup.text(n)
	return len(explainOps(t, s, q, 8*n, func(op string, _, _ int64) bool { return op == "OpenWrite" }))
}

// TestDeliveriesWithoutIDIndex: migration 00015 takes the index of the
// deliveries' ids away (the PRIMARY KEY's automatic index), so that a
// delivery line writes two B-trees (the table, deliveries_outlet_txn), not
// three. Rows and records written before it stay, and are found as
// before — by the bulk look-up, by the one-row look-up a retried single
// delivery takes, and by the look-up of binaries before 00014
// (response IS NOT NULL, on the same index); the database passes
// integrity_check (the index's pages were freed, not leaked); every
// connection, after a reopen too, reads the table without the key; the
// Down section gives the schema back as it was, and Up applies again.
// Fails without 00015 (three B-trees, the automatic index still there).
func TestDeliveriesWithoutIDIndex(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pm.db")
	db := migratedBefore(t, path, "00015")
	before := deliveriesSchema(t, db)
	if !slices.ContainsFunc(before, func(s string) bool { return strings.Contains(s, "sqlite_autoindex_deliveries_1") }) {
		t.Fatalf("before 00015 deliveries has no automatic index: %q", before)
	}
	hash := strings.Repeat("ab", 32)
	for _, q := range []string{
		`INSERT INTO outlet_registry (id, code, name, addr, type, lat, lng) VALUES (1, '10000001', '약국', '서울', '01', 37.5, 127)`,
		`INSERT INTO outlets (code, reg, stock, version) VALUES ('10000001', 1, 50, 1)`,
		`INSERT INTO outlet_changes (version, code) VALUES (1, '10000001')`,
		// A line's record with its receipt, and one kept compact (00014).
		`INSERT INTO deliveries (id, outlet, txn_id, quantity, at, body_hash, response, stock)
			VALUES ('d1', '10000001', 'txn-full', 20, 1, 'h-full', '{"id":"d1"}', NULL)`,
		`INSERT INTO deliveries (id, outlet, txn_id, quantity, at, body_hash, response, stock)
			VALUES ('d2', '10000001', 'txn-compact', 30, 2, x'` + hash + `', x'', 50)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	check := func(s *Store, when string) {
		t.Helper()
		for name, q := range map[string]interface {
			QueryRow(string, ...any) *sql.Row
		}{"writer": s.writer, "reader": s.reader} {
			var n int
			if err := q.QueryRow(`SELECT count(*) FROM pragma_index_list('deliveries') WHERE name <> 'deliveries_outlet_txn'`).Scan(&n); err != nil || n != 0 {
				t.Fatalf("%s: the %s sees %d indexes of deliveries besides deliveries_outlet_txn (%v)", when, name, n, err)
			}
		}
		if w := deliveryInsertWrites(t, s, 2); w != 2 {
			t.Fatalf("%s: the writer's insert of delivery lines writes %d B-trees, want 2", when, w)
		}
		var ok string
		if err := s.reader.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
			t.Fatalf("%s: integrity_check: %q %v", when, ok, err)
		}
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			full, ok, err := tx.Idempotency("10000001", "txn-full")
			if err != nil || !ok || string(full.Response) != `{"id":"d1"}` || full.BodyHash != "h-full" {
				t.Errorf("%s: the full record: %+v %v %v", when, full, ok, err)
			}
			m, err := tx.(publicmask.BulkTx).Idempotencies([]publicmask.IdemKey{{Outlet: "10000001", TxnID: "txn-full"}, {Outlet: "10000001", TxnID: "txn-compact"}})
			if err != nil || len(m) != 2 {
				t.Fatalf("%s: records in bulk: %+v %v", when, m, err)
			}
			c := m[publicmask.IdemKey{Outlet: "10000001", TxnID: "txn-compact"}]
			if c.Delivery == nil || *c.Delivery != (publicmask.DeliveryRecord{ID: "d2", Quantity: 30, Stock: 50}) || c.BodyHash != hash || c.Response != nil {
				t.Errorf("%s: the compact record: %+v %+v", when, c, c.Delivery)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// The look-up of a binary from before 00014 (sqlite.go at 29a0ab4)
		// finds both rows through the same index.
		var n int
		if err := s.reader.QueryRow(`SELECT count(*) FROM deliveries WHERE outlet = '10000001' AND txn_id IN ('txn-full', 'txn-compact') AND response IS NOT NULL`).Scan(&n); err != nil || n != 2 {
			t.Errorf("%s: the old look-up finds %d records (%v)", when, n, err)
		}
		rows, err := s.reader.Query(`EXPLAIN QUERY PLAN SELECT body_hash FROM deliveries WHERE outlet = '10000001' AND txn_id = 'txn-full' AND response IS NOT NULL`)
		if err != nil {
			t.Fatal(err)
		}
		var plan string
		for rows.Next() {
			var id, parent, unused int64
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan += detail
		}
		if err := rows.Close(); err != nil || !strings.Contains(plan, "deliveries_outlet_txn") {
			t.Errorf("%s: the look-up's plan: %q %v", when, plan, err)
		}
	}
	deliver := func(s *Store, id, txn string) {
		t.Helper()
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			if _, err := tx.LockOutlet("10000001"); err != nil {
				return err
			}
			return tx.(publicmask.BulkTx).InsertDeliveries([]*publicmask.Delivery{{ID: id, Outlet: "10000001", TxnID: txn, Quantity: 5, At: tRec}})
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	check(s, "after 00015")
	deliver(s, "d3", "txn-3")
	s.Close()
	if s, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	check(s, "after a reopen")
	deliver(s, "d4", "txn-4")
	var sum int
	if err := s.reader.QueryRow(`SELECT sum(quantity) FROM deliveries WHERE outlet = '10000001'`).Scan(&sum); err != nil || sum != 60 {
		t.Fatalf("the outlet's deliveries: %d %v", sum, err)
	}
	s.Close()

	// Down gives the schema back as it was before 00015 (the automatic
	// index with its text NULL, the PRIMARY KEY in the table's text).
	src, err := os.ReadFile("migrations/00015_deliveries_without_id_index.sql")
	if err != nil {
		t.Fatal(err)
	}
	_, down, ok := strings.Cut(string(src), "-- +goose Down")
	if !ok {
		t.Fatal("00015 has no Down section")
	}
	if db, err = sql.Open("sqlite", "file:"+path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(down); err != nil {
		t.Fatal(err)
	}
	if after := deliveriesSchema(t, db); !slices.Equal(after, before) {
		t.Fatalf("after Down:\n%q\nwant\n%q", after, before)
	}
	var check2 string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check2); err != nil || check2 != "ok" {
		t.Fatalf("integrity_check after Down: %q %v", check2, err)
	}
	if _, err := db.Exec(`INSERT INTO deliveries (id, outlet, txn_id, quantity, at) VALUES ('d1', '10000001', 'txn-dup', 1, 3)`); err == nil {
		t.Fatal("after Down, a repeated id was inserted")
	}
	if _, err := db.Exec(`DELETE FROM goose_db_version WHERE version_id = 15`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if s, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check(s, "after Down and Up again")
}

// TestDeliveriesIDIndexGuard: if the deliveries table's text in the schema
// is not the one 00015 edits (a store this project did not make), the
// migration fails and leaves the store as it was (version 14, the key and
// its index, integrity ok), instead of dropping the index of a key the
// table still declares — a malformed store. Fails if 00015 renames the
// index whatever its replace() did.
func TestDeliveriesIDIndexGuard(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pm.db")
	db := migratedBefore(t, path, "00015")
	for _, q := range []string{
		`INSERT INTO deliveries (id, outlet, txn_id, quantity, at) VALUES ('d1', 'o', 't1', 1, 1), ('d2', 'o', 't2', 1, 1)`,
		`PRAGMA writable_schema = ON`,
		`UPDATE sqlite_schema SET sql = replace(sql, 'id       TEXT PRIMARY KEY,', 'id TEXT PRIMARY KEY,') WHERE type = 'table' AND name = 'deliveries'`,
		`PRAGMA writable_schema = RESET`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	if s, err := Open(context.Background(), path); err == nil {
		s.Close()
		t.Fatal("00015 applied to a deliveries table whose text it does not know")
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var check string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check after the refused migration: %q %v", check, err)
	}
	var version int
	if err := db.QueryRow(`SELECT max(version_id) FROM goose_db_version WHERE is_applied`).Scan(&version); err != nil || version != 14 {
		t.Fatalf("version %d (%v), want 14", version, err)
	}
	if got := deliveriesSchema(t, db); !slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "sqlite_autoindex_deliveries_1") }) {
		t.Fatalf("the key's index is gone: %q", got)
	}
	if _, err := db.Exec(`INSERT INTO deliveries (id, outlet, txn_id, quantity, at) VALUES ('d3', 'o', 't3', 1, 1)`); err != nil {
		t.Fatalf("insert after the refused migration: %v", err)
	}
}
