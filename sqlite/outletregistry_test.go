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

// TestOutletsMigrateToTwoTables: migration 00013 moves the outlets'
// registry fields to outlet_registry and leaves outlets the state columns
// and the registry row's id, rebuilt (its pages packed, not three quarters
// empty as DROP COLUMN would leave them). A new outlet's registry row is
// appended with the next id, a changed one rewritten in place. On a store made by the release before (foreign
// keys on, as the writer runs: corrections and suspensions refer to
// outlets) every outlet reads back exactly as before, through Outlet,
// Outlets and the change feed; writes go on (a sale, a delivery, a new
// outlet, a registry change), after a reopen too; integrity_check and
// foreign_key_check pass, and the keys still hold. The Down section puts
// the wide table back with every value.
func TestOutletsMigrateToTwoTables(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pm.db")
	db := migratedBefore(t, path, "00013")
	const n = 3000
	stamp := time.Date(2020, 3, 11, 0, 0, 0, 0, time.UTC)
	var want []publicmask.Outlet
	for i := range n {
		o := publicmask.Outlet{Code: fmt.Sprintf("1%07d", i), Name: fmt.Sprintf("약국 %d", i), Addr: fmt.Sprintf("서울특별시 중구 세종대로 %d길 %d, 1층 (태평로1가, 서울특별시청 지하 상가)", i%97, i),
			Type: []string{"01", "02", "03"}[i%3], Lat: 37.5 + float64(i)/1e5, Lng: 127 - float64(i)/1e5,
			Stock: i % 250, Suspended: i%7 == 0, Version: int64(i + 1), Sold: i % 13}
		if i%5 != 0 {
			o.StockAt = stamp.Add(time.Duration(i) * time.Microsecond)
			o.UpdatedAt = stamp.Add(time.Duration(2*i) * time.Microsecond)
		}
		want = append(want, o)
		if _, err := db.Exec(`INSERT INTO outlets (code, name, addr, type, lat, lng, stock, suspended, stock_at, updated_at, version, sold) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			o.Code, o.Name, o.Addr, o.Type, o.Lat, o.Lng, o.Stock, o.Suspended, nullMicro(o.StockAt), nullMicro(o.UpdatedAt), o.Version, o.Sold); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(`INSERT INTO outlet_changes (version, code) VALUES (?, ?)`, o.Version, o.Code); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO corrections (id, outlet, txn_id, count, delta, at) VALUES ('c1', '10000007', 'txn-c1', 5, -2, 1)`,
		`INSERT INTO suspensions (outlet, since) VALUES ('10000014', 1)`,
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
	check := func(s *Store, want []publicmask.Outlet) {
		t.Helper()
		got, version, err := s.Outlets(ctx)
		var latest int64
		for _, o := range want {
			latest = max(latest, o.Version)
		}
		if err != nil || version != latest {
			t.Fatalf("outlets: version %d, want %d, %v", version, latest, err)
		}
		if len(got) != len(want) {
			t.Fatalf("%d outlets, want %d", len(got), len(want))
		}
		for i := range want {
			if !reflect.DeepEqual(got[i], want[i]) {
				t.Fatalf("outlet %d:\n got %+v\nwant %+v", i, got[i], want[i])
			}
		}
		for _, i := range []int{0, 7, 14, len(want) - 1} {
			o, err := s.Outlet(ctx, want[i].Code)
			if err != nil || !reflect.DeepEqual(o, want[i]) {
				t.Fatalf("Outlet(%s): %+v %v, want %+v", want[i].Code, o, err, want[i])
			}
		}
		feed, err := s.OutletChanges(ctx, 0, 2*len(want))
		if err != nil || len(feed) != len(want) {
			t.Fatalf("change feed: %d outlets, %v", len(feed), err)
		}
		byCode := map[string]publicmask.Outlet{}
		for _, o := range want {
			byCode[o.Code] = o
		}
		for _, o := range feed {
			if !reflect.DeepEqual(o, byCode[o.Code]) {
				t.Fatalf("change feed's %s: %+v, want %+v", o.Code, o, byCode[o.Code])
			}
		}
		var ok string
		if err := s.reader.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
			t.Fatalf("integrity_check: %q %v", ok, err)
		}
		var violations int
		if err := s.reader.QueryRow(`SELECT count(*) FROM pragma_foreign_key_check`).Scan(&violations); err != nil || violations != 0 {
			t.Fatalf("foreign_key_check: %d %v", violations, err)
		}
	}
	check(s, want)

	// The tables: outlets has the state columns only, packed.
	var cols []string
	rows, err := s.reader.Query(`SELECT name FROM pragma_table_info('outlets') ORDER BY cid`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	rows.Close()
	if got := strings.Join(cols, " "); got != "code reg stock suspended stock_at updated_at version sold" {
		t.Fatalf("outlets' columns after 00013: %s", got)
	}
	var pages int
	if err := s.reader.QueryRow(`SELECT count(*) FROM dbstat WHERE name = 'outlets'`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// Packed, ~95 rows a page (this store has SQLite's default 4 KiB
	// pages): 31 pages. Narrowed in place (DROP COLUMN) the table kept the
	// pages of the wide rows, ~20 rows each: 144.
	if pages > n/50 {
		t.Fatalf("outlets after 00013: %d pages for %d rows", pages, n)
	}
	// The foreign keys to outlets still hold.
	if _, err := s.writer.Exec(`INSERT INTO corrections (id, outlet, txn_id, count, delta, at) VALUES ('c2', 'nowhere', 'txn-c2', 1, 1, 1)`); err == nil {
		t.Fatal("a correction of no outlet was accepted after 00013")
	}

	// Writes go on: a sale's stock (the held path), a delivery (AddStock),
	// a registry change and a new outlet (upserts of both tables).
	err = s.Write(ctx, func(tx publicmask.Tx) error {
		o, err := tx.LockOutlet("10000001")
		if err != nil {
			return err
		}
		o.Stock -= 1
		o.Sold++
		o.UpdatedAt = stamp.Add(time.Hour)
		if err := tx.SaveOutlet(&o); err != nil {
			return err
		}
		want[1] = o
		out, err := tx.(publicmask.StockAdder).AddStock([]publicmask.StockAdd{{Outlet: "10000002", Quantity: 10}, {Outlet: "10000003", Quantity: 20}}, stamp.Add(2*time.Hour))
		if err != nil || len(out) != 2 {
			return fmt.Errorf("add stock: %v %v", out, err)
		}
		want[2], want[3] = out[0], out[1]
		o, err = tx.LockOutlet("10000004")
		if err != nil {
			return err
		}
		o.Name, o.Addr = "새 이름", "새 주소"
		if err := tx.SaveOutlet(&o); err != nil {
			return err
		}
		want[4] = o
		nw := publicmask.Outlet{Code: "19999999", Name: "새 약국", Addr: "부산", Type: "02", Lat: 35.1, Lng: 129.0, Stock: 3}
		if err := tx.SaveOutlet(&nw); err != nil {
			return err
		}
		want = append(want, nw)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want[2].Stock, want[3].Stock = 2%250+10, 3%250+20
	check(s, want)
	regs := map[string]int64{}
	for _, c := range []string{"10000000", "10000004", "10002999", "19999999"} {
		var reg, rows int64
		if err := s.reader.QueryRow(`SELECT o.reg, (SELECT count(*) FROM outlet_registry r WHERE r.code = o.code) FROM outlets o WHERE o.code = ?`, c).Scan(&reg, &rows); err != nil || rows != 1 {
			t.Fatalf("registry of %s: id %d, %d rows, %v", c, reg, rows, err)
		}
		regs[c] = reg
	}
	if want := map[string]int64{"10000000": 1, "10000004": 5, "10002999": n, "19999999": n + 1}; !reflect.DeepEqual(regs, want) {
		t.Fatalf("registry ids %v, want %v (in code order by the migration, then appended)", regs, want)
	}
	s.Close()
	if s, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	check(s, want)
	s.Close()

	// The Down section, in a transaction with foreign keys on as the
	// migrations run: the wide table with every value, no registry table.
	src, err := fs.ReadFile(migrations, "migrations/00013_outlet_registry.sql")
	if err != nil {
		t.Fatal(err)
	}
	_, down, ok := strings.Cut(string(src), "-- +goose Down")
	if !ok {
		t.Fatal("00013 has no Down section")
	}
	db, err = sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(on)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("BEGIN;\n" + down + "\nCOMMIT;"); err != nil {
		t.Fatal(err)
	}
	rows, err = db.Query(`SELECT ` + strings.NewReplacer("o.", "", "r.", "").Replace(outletCols) + ` FROM outlets ORDER BY code`)
	if err != nil {
		t.Fatal(err)
	}
	var got []publicmask.Outlet
	for rows.Next() {
		o, err := scanOutlet(rows)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, o)
	}
	rows.Close()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after 00013's Down: %d outlets, want %d (first %+v)", len(got), len(want), got[0])
	}
	var registry, violations int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_schema WHERE name = 'outlet_registry'`).Scan(&registry); err != nil || registry != 0 {
		t.Fatalf("outlet_registry after 00013's Down: %d %v", registry, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM pragma_foreign_key_check`).Scan(&violations); err != nil || violations != 0 {
		t.Fatalf("foreign_key_check after 00013's Down: %d %v", violations, err)
	}
	var ok2 string
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&ok2); err != nil || ok2 != "ok" {
		t.Fatalf("integrity_check after 00013's Down: %q %v", ok2, err)
	}
}

// TestSaveOutletsRegistryRows: a bulk write appends new outlets' registry
// rows with ids in order, rewrites a known outlet's row in place only when
// its registry fields changed, and finds the rows of outlets the writer
// does not hold (after a reopen) through their state; every outlet reads
// back as written.
func TestSaveOutletsRegistryRows(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pm.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	mk := func(i int, name string) *publicmask.Outlet {
		return &publicmask.Outlet{Code: fmt.Sprintf("%08d", (i*7919+13)%100_000_000), Name: name, Addr: fmt.Sprintf("주소 %d", i), Type: "01", Lat: 37, Lng: 127, Stock: i}
	}
	save := func(os ...*publicmask.Outlet) {
		t.Helper()
		if err := s.Write(ctx, func(tx publicmask.Tx) error { return tx.(publicmask.BulkTx).SaveOutlets(os) }); err != nil {
			t.Fatal(err)
		}
	}
	reg := func(code string) (id int64, name string) {
		t.Helper()
		if err := s.reader.QueryRow(`SELECT o.reg, r.name FROM outlets o JOIN outlet_registry r ON r.id = o.reg WHERE o.code = ?`, code).Scan(&id, &name); err != nil {
			t.Fatal(err)
		}
		return id, name
	}
	var all []*publicmask.Outlet
	for i := range 900 { // more than a group
		all = append(all, mk(i, "약국"))
	}
	save(all...)
	for i, o := range all {
		if id, _ := reg(o.Code); id != int64(i+1) {
			t.Fatalf("outlet %d's registry id %d, want %d", i, id, i+1)
		}
	}
	countRegistry := func() (n int) {
		t.Helper()
		if err := s.reader.QueryRow(`SELECT count(*) FROM outlet_registry`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for round, reopen := range []bool{false, true} {
		if reopen { // nothing held: the ids are read
			s.Close()
			if s, err = Open(ctx, path); err != nil {
				t.Fatal(err)
			}
		}
		name := fmt.Sprintf("새 약국 %d", round)
		again := []*publicmask.Outlet{mk(3, "약국"), mk(5, name), mk(900+round, "새 약국")}
		save(again...)
		if id, got := reg(again[1].Code); id != 6 || got != name {
			t.Fatalf("round %d: changed outlet's registry row %d %q, want 6 %q", round, id, got, name)
		}
		if id, _ := reg(again[2].Code); id != int64(901+round) {
			t.Fatalf("round %d: new outlet's registry id %d, want %d", round, id, 901+round)
		}
		if n := countRegistry(); n != 901+round {
			t.Fatalf("round %d: %d registry rows, want %d", round, n, 901+round)
		}
		for _, o := range again {
			got, err := s.Outlet(ctx, o.Code)
			o := stored(*o)
			if err != nil || !reflect.DeepEqual(got, o) {
				t.Fatalf("round %d: %+v %v, want %+v", round, got, err, o)
			}
		}
	}
}
