package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// TestSaleFirstItemMigrates: since migration 00016 a sale's first item is in
// its row and only the others in sale_items, while the sales recorded
// before keep all their items in sale_items. A store migrated forward, with
// sales of both forms (one item, several, none; plain and conflicting),
// answers Sale, SalesSince and Conflicts with each sale as it was
// recorded, and Purge clears the person keys of both; 00016's Down puts
// every item back into sale_items in order. Fails if a reader reads only
// one form, if the writer keeps a one-item sale's item in sale_items, or
// if the purge misses the rows' items.
func TestSaleFirstItemMigrates(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pm.db")
	at := func(min int) time.Time { return tRec.Add(time.Duration(min) * time.Minute) }
	mk := func(id string, min int, conflict string, persons ...string) publicmask.Sale {
		s := publicmask.Sale{ID: id, Outlet: "10000001", TxnID: "txn-" + id, SoldAt: at(min), RecordedAt: at(min + 1), Week: "2020-03-09", Quantity: 2 * len(persons), Conflict: conflict, Late: conflict != ""}
		for i, p := range persons {
			it := publicmask.SaleItem{Role: "buyer", Person: p, BirthYear: 1980 + i, Quantity: 2}
			if i > 0 {
				it.Role, it.Category = "proxy", "child"
			}
			s.Items = append(s.Items, it)
		}
		return s
	}
	// Recorded before 00016, as its writer did: items from idx 0.
	old := []publicmask.Sale{
		mk("s01", 1, "", "pa"),
		mk("s02", 2, "", "pb", "pc", "pd"),
		mk("s03", 3, ""),
		mk("s04", 4, "over_quota", "pe", "pf"),
		mk("s05", 5, "over_quota", "pg"),
	}
	db := migratedBefore(t, path, "00016")
	for _, q := range []string{
		`INSERT INTO outlet_registry (id, code, name, addr, type, lat, lng) VALUES (1, '10000001', '약국', '서울', '01', 37.5, 127)`,
		`INSERT INTO outlets (code, reg, stock, version) VALUES ('10000001', 1, 100, 1)`,
		`INSERT INTO outlet_changes (version, code) VALUES (1, '10000001')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range old {
		if _, err := db.Exec(`INSERT INTO sales (id, outlet, txn_id, sold_at, recorded_at, week, weekend, quantity, conflict, late) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?)`,
			s.ID, s.Outlet, s.TxnID, micro(s.SoldAt), micro(s.RecordedAt), s.Week, s.Quantity, s.Conflict, s.Late); err != nil {
			t.Fatal(err)
		}
		for i, it := range s.Items {
			if _, err := db.Exec(`INSERT INTO sale_items (sale_id, idx, role, person, category, birth_year, quantity) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				s.ID, i, it.Role, it.Person, it.Category, it.BirthYear, it.Quantity); err != nil {
				t.Fatal(err)
			}
		}
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	count := func(q string) int {
		t.Helper()
		var n int
		if err := s.reader.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The migration moved nothing: every old item is where it was.
	if n := count(`SELECT count(*) FROM sale_items`); n != 7 {
		t.Fatalf("sale_items after 00016: %d rows, want the 7 recorded before", n)
	}
	if n := count(`SELECT count(*) FROM sales WHERE item_role IS NOT NULL`); n != 0 {
		t.Fatalf("%d old sales hold an item in their row after 00016", n)
	}
	check := func(what string, want []publicmask.Sale) {
		t.Helper()
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			for _, w := range want {
				got, err := tx.Sale(w.ID)
				if err != nil {
					return err
				}
				if !reflect.DeepEqual(got, w) {
					t.Errorf("%s: Sale(%s) = %+v, want %+v", what, w.ID, got, w)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var all []publicmask.Sale
		if err := s.SalesSince(ctx, time.Time{}, func(sl publicmask.Sale) error { all = append(all, sl); return nil }); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(all, want) {
			t.Errorf("%s: SalesSince = %+v\nwant %+v", what, all, want)
		}
		var conflicts []publicmask.Sale
		for i := len(want) - 1; i >= 0; i-- { // newest first
			if want[i].Conflict != "" {
				conflicts = append(conflicts, want[i])
			}
		}
		got, err := s.Conflicts(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, conflicts) {
			t.Errorf("%s: Conflicts = %+v\nwant %+v", what, got, conflicts)
		}
	}
	check("old rows after 00016", old)

	// Recorded since: the first item in the row.
	recent := []publicmask.Sale{
		mk("s06", 6, "", "ph"),
		mk("s07", 7, "", "pi", "pj"),
		mk("s08", 8, ""),
		mk("s09", 9, "over_quota", "pk", "pl", "pm"),
		mk("s10", 10, "over_quota", "pn"),
	}
	if err := s.Write(ctx, func(tx publicmask.Tx) error {
		for i := range recent {
			if err := tx.InsertSale(&recent[i]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A batch of plain one-buyer sales (multiSaleBuyer: the role and the
	// empty category are constants), and one whose one item is not a
	// buyer's.
	buyers := []publicmask.Sale{mk("s11", 11, "", "po"), mk("s12", 12, "", "pp")}
	proxy := mk("s13", 13, "", "pq")
	proxy.Items[0].Role, proxy.Items[0].Category = "proxy", "senior"
	for _, batch := range [][]publicmask.Sale{buyers, {proxy}} {
		if err := s.Write(ctx, func(tx publicmask.Tx) error {
			for i := range batch {
				if err := tx.InsertSale(&batch[i]); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	recent = append(append(recent, buyers...), proxy)
	if n := count(`SELECT count(*) FROM sale_items`); n != 7+1+2 {
		t.Fatalf("sale_items after the new sales: %d rows, want 10 (a new sale's items after its first)", n)
	}
	if n := count(`SELECT count(*) FROM sale_items WHERE sale_id >= 's06' AND idx = 0`); n != 0 {
		t.Fatalf("%d new sales keep their first item in sale_items", n)
	}
	all := append(append([]publicmask.Sale{}, old...), recent...)
	check("both forms", all)
	s.Close()
	if s, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	check("both forms, reopened", all)

	// The purge clears every person key, in either place, in chunks.
	defer func(n int) { purgeChunk = n }(purgeChunk)
	purgeChunk = 2
	if _, err := s.Purge(ctx, "2020-03-16"); err != nil {
		t.Fatal(err)
	}
	for i := range all {
		all[i].Items = append([]publicmask.SaleItem(nil), all[i].Items...)
		for j := range all[i].Items {
			all[i].Items[j].Person = ""
		}
	}
	check("after the purge", all)
	s.Close()

	// Down: every item in sale_items again, at its index.
	src, err := fs.ReadFile(migrations, "migrations/00016_sale_first_item.sql")
	if err != nil {
		t.Fatal(err)
	}
	_, down, ok := strings.Cut(string(src), "-- +goose Down")
	if !ok {
		t.Fatal("00016 has no Down section")
	}
	db, err = sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(down); err != nil {
		t.Fatal(err)
	}
	var got []string
	rows, err := db.Query(`SELECT sale_id, idx, role, category, birth_year, quantity FROM sale_items ORDER BY sale_id, idx`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, role, category string
		var idx, year, qty int
		if err := rows.Scan(&id, &idx, &role, &category, &year, &qty); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprint(id, idx, role, category, year, qty))
	}
	rows.Close()
	var want []string
	for _, sl := range all {
		for i, it := range sl.Items {
			want = append(want, fmt.Sprint(sl.ID, i, it.Role, it.Category, it.BirthYear, it.Quantity))
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("sale_items after 00016's Down:\n%q\nwant\n%q", got, want)
	}
}
