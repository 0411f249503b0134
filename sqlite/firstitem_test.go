package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
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
	// A batch of plain sales each with one buyer item and no category goes
	// through multiSaleBuyer (its role and empty category are the
	// statement's constants); any other plain batch through multiSalePlain,
	// which binds them: one whose one item is a proxy's, and three whose
	// first sale has a buyer item and whose second a buyer item with a
	// category, a proxy item without one, or two items. Fails if the
	// writer picks multiSaleBuyer for a batch that is not all buyers
	// (their roles or categories would be read back as the constants).
	buyers := []publicmask.Sale{mk("s11", 11, "", "po"), mk("s12", 12, "", "pp")}
	proxy := mk("s13", 13, "", "pq")
	proxy.Items[0].Role, proxy.Items[0].Category = "proxy", "senior"
	mixedCat := []publicmask.Sale{mk("s14", 14, "", "pr"), mk("s15", 15, "", "ps")}
	mixedCat[1].Items[0].Category = "senior"
	mixedRole := []publicmask.Sale{mk("s16", 16, "", "pt"), mk("s17", 17, "", "pu")}
	mixedRole[1].Items[0].Role = "proxy"
	mixedTwo := []publicmask.Sale{mk("s18", 18, "", "pv"), mk("s19", 19, "", "pw", "px")}
	for _, batch := range [][]publicmask.Sale{buyers, {proxy}, mixedCat, mixedRole, mixedTwo} {
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
	for _, b := range [][]publicmask.Sale{buyers, {proxy}, mixedCat, mixedRole, mixedTwo} {
		recent = append(recent, b...)
	}
	if n := count(`SELECT count(*) FROM sale_items`); n != 7+1+2+1 {
		t.Fatalf("sale_items after the new sales: %d rows, want 11 (a new sale's items after its first)", n)
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
	s.Close()
	// A copy of the store before the purge, for 00016's Down below: it
	// must keep every person key.
	unpurged := filepath.Join(t.TempDir(), "unpurged.db")
	copyFile(t, path, unpurged)
	if s, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	before := make([]publicmask.Sale, len(all))
	for i := range all {
		before[i] = all[i]
		before[i].Items = append([]publicmask.SaleItem(nil), all[i].Items...)
	}

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

	// Down: every item in sale_items again, at its index, with its person
	// key (none after the purge). Fails if Down loses a row's item or any
	// of its values.
	downItems(t, unpurged, before)
	downItems(t, path, all)
}

// downItems runs 00016's Down on the store at path and checks that
// sale_items holds want's items, every one at its index.
func downItems(t *testing.T, path string, want []publicmask.Sale) {
	t.Helper()
	src, err := fs.ReadFile(migrations, "migrations/00016_sale_first_item.sql")
	if err != nil {
		t.Fatal(err)
	}
	_, down, ok := strings.Cut(string(src), "-- +goose Down")
	if !ok {
		t.Fatal("00016 has no Down section")
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(down); err != nil {
		t.Fatal(err)
	}
	var got []string
	rows, err := db.Query(`SELECT sale_id, idx, role, person, category, birth_year, quantity FROM sale_items ORDER BY sale_id, idx`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, role, person, category string
		var idx, year, qty int
		if err := rows.Scan(&id, &idx, &role, &person, &category, &year, &qty); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprint(id, " ", idx, " ", role, " ", person, " ", category, " ", year, " ", qty))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	var exp []string
	for _, sl := range want {
		for i, it := range sl.Items {
			exp = append(exp, fmt.Sprint(sl.ID, " ", i, " ", it.Role, " ", it.Person, " ", it.Category, " ", it.BirthYear, " ", it.Quantity))
		}
	}
	if !reflect.DeepEqual(got, exp) {
		t.Fatalf("%s: sale_items after 00016's Down:\n%q\nwant\n%q", filepath.Base(path), got, exp)
	}
}

// copyFile copies the closed store at from to to, with its WAL when one is
// left: Close checkpoints and deletes it as a rule, but CI on 70c2d9b found
// one left once, and the next open recovers from it (the shared-memory
// index is rebuilt, so it is not copied).
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(from + suffix)
		if suffix != "" && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPurgeLateSale: the purge's one walk of sales clears a row's item
// person by the sale's week and its record by when it was recorded. A late
// sale of a purged week recorded after the cutoff loses its person key and
// keeps its record; one recorded before loses both. Fails if the walk
// clears either by the other's rule.
func TestPurgeLateSale(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	code := seedOutlets(t, s, 1)[0]
	mk := func(id string, sold, recorded time.Time) (publicmask.Sale, publicmask.IdemRecord) {
		sl := publicmask.Sale{ID: id, Outlet: code, TxnID: "txn-" + id, SoldAt: sold, RecordedAt: recorded, Week: "2020-03-09", Quantity: 2,
			Items: []publicmask.SaleItem{{Role: "buyer", Person: "p-" + id, BirthYear: 1980, Quantity: 2}}, Late: recorded.Sub(sold) > time.Hour}
		return sl, publicmask.IdemRecord{Outlet: code, TxnID: sl.TxnID, BodyHash: "h-" + id, Response: []byte(`{"sale_id":"` + id + `"}`), CreatedAt: recorded}
	}
	kst := time.FixedZone("KST", 9*3600)
	early, earlyRec := mk("early", time.Date(2020, 3, 12, 10, 0, 0, 0, kst), time.Date(2020, 3, 12, 10, 0, 1, 0, kst))
	late, lateRec := mk("late", time.Date(2020, 3, 13, 10, 0, 0, 0, kst), time.Date(2020, 3, 16, 9, 0, 0, 0, kst))
	for _, p := range []struct {
		sl  publicmask.Sale
		rec publicmask.IdemRecord
	}{{early, earlyRec}, {late, lateRec}} {
		if err := s.Write(ctx, func(tx publicmask.Tx) error {
			if err := tx.PutIdempotency(p.rec); err != nil {
				return err
			}
			return tx.InsertSale(&p.sl)
		}); err != nil {
			t.Fatal(err)
		}
	}
	defer func(n int) { purgeChunk = n }(purgeChunk)
	purgeChunk = 1
	if _, err := s.Purge(ctx, "2020-03-16"); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, func(tx publicmask.Tx) error {
		for _, id := range []string{"early", "late"} {
			got, err := tx.Sale(id)
			if err != nil {
				return err
			}
			if len(got.Items) != 1 || got.Items[0].Person != "" {
				t.Errorf("%s's items after the purge: %+v, want its person key cleared", id, got.Items)
			}
		}
		if r, ok, err := tx.Idempotency(code, early.TxnID); err != nil || ok {
			t.Errorf("early sale's record after the purge: %+v %v %v, want none", r, ok, err)
		}
		if r, ok, err := tx.Idempotency(code, late.TxnID); err != nil || !ok || string(r.Response) != string(lateRec.Response) || r.BodyHash != lateRec.BodyHash {
			t.Errorf("late sale's record (recorded after the cutoff) after the purge: %+v %v %v, want it kept", r, ok, err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
