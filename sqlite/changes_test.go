package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"path/filepath"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/storetest"
)

// checkChangeLog checks the log of changes (changes.go) in the database at
// path: each outlet's current version is there, under its code, and
// nothing beyond the last version. It returns the log's length.
func checkChangeLog(t *testing.T, q interface {
	QueryRow(string, ...any) *sql.Row
}) int {
	t.Helper()
	var missing, beyond, n int
	if err := q.QueryRow(`SELECT COUNT(*) FROM outlets o WHERE NOT EXISTS (SELECT 1 FROM outlet_changes c WHERE c.version = o.version AND c.code = o.code)`).Scan(&missing); err != nil {
		t.Fatal(err)
	}
	if err := q.QueryRow(`SELECT COUNT(*) FROM outlet_changes WHERE version > (SELECT COALESCE(MAX(version), 0) FROM outlets)`).Scan(&beyond); err != nil {
		t.Fatal(err)
	}
	if err := q.QueryRow(`SELECT COUNT(*) FROM outlet_changes`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if missing != 0 || beyond != 0 {
		t.Errorf("change log: %d outlets without their version's entry, %d entries beyond the last version", missing, beyond)
	}
	return n
}

// TestConformanceWithEagerPruning runs the conformance suite with a step
// of the change log's pruning in every write, and checks the log after
// each test: pruning may only ever delete what the feed no longer reads.
func TestConformanceWithEagerPruning(t *testing.T) {
	defer func(e int64) { pruneEvery = e }(pruneEvery)
	pruneEvery = 1
	storetest.Run(t, func(t *testing.T) publicmask.Store {
		path := filepath.Join(t.TempDir(), "pm.db")
		s, err := Open(context.Background(), path)
		if err != nil {
			t.Fatal(err)
		}
		// Registered before Run's Close: runs after it, on the file.
		t.Cleanup(func() {
			db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			checkChangeLog(t, db)
		})
		return s
	})
}

// TestChangeLogStaysShort: stock changes of a few outlets, batch after
// batch, leave a log about as long as the outlets plus a pass's worth of
// entries, not one entry per change; the feed and the version read at
// open still agree with the outlets.
func TestChangeLogStaysShort(t *testing.T) {
	defer func(e, m int64) { pruneEvery, pruneMax = e, m }(pruneEvery, pruneMax)
	pruneEvery, pruneMax = 64, 128
	path := filepath.Join(t.TempDir(), "pm.db")
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const outlets = 50
	err = s.Write(ctx, func(tx publicmask.Tx) error {
		for i := range outlets {
			o := &publicmask.Outlet{Code: fmt.Sprintf("1%07d", i), Name: "약국", Addr: "서울특별시 중구", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127}
			if err := tx.SaveOutlet(o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	longest := 0
	for b := range 400 {
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			for i := range 7 {
				o, err := tx.LockOutlet(fmt.Sprintf("1%07d", (b*7+i*3)%outlets))
				if err != nil {
					return err
				}
				o.Stock++
				if err := tx.SaveOutlet(&o); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		longest = max(longest, checkChangeLog(t, s.reader))
	}
	// 2,850 changes; each pass reads the live entries (50) and those
	// appended since the pass before.
	if limit := outlets + 4*int(pruneEvery); longest > limit {
		t.Fatalf("the change log grew to %d entries (limit %d)", longest, limit)
	}
	all, version, err := s.Outlets(ctx)
	if err != nil {
		t.Fatal(err)
	}
	feed, err := s.OutletChanges(ctx, 0, 1000)
	if err != nil || len(feed) != len(all) {
		t.Fatalf("feed from 0: %d outlets (%v), want %d", len(feed), err, len(all))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.version != version {
		t.Fatalf("version at open %d, want %d", s.version, version)
	}
}

// openWithOutletsBefore makes a store migrated up to (not including)
// version before, with one outlet per given version (codes 10000000, …),
// and opens it as the current release does, migrating the rest.
func openWithOutletsBefore(t *testing.T, before string, versions ...int64) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pm.db")
	old := migratedBefore(t, path, before)
	for i, v := range versions {
		_, err := old.Exec(`INSERT INTO outlets (code, name, addr, type, lat, lng, stock, version) VALUES (?, '약국', '서울특별시 중구', '01', 37.5, 127, 10, ?)`, fmt.Sprintf("1%07d", i), v)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestMigrationToChangeLog: a store of the release before the log, with
// outlets whose versions are out of code order, migrates; the feed returns
// them in version order, the next write continues their versions and
// reaches the feed, and Open reads the last version from the log.
func TestMigrationToChangeLog(t *testing.T) {
	ctx := context.Background()
	s := openWithOutletsBefore(t, "00008", 7, 3, 12, 5)
	if s.version != 12 {
		t.Fatalf("version at open %d, want 12", s.version)
	}
	feed, err := s.OutletChanges(ctx, 4, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := codesAt(feed); got != "10000003@5 10000000@7 10000002@12" {
		t.Fatalf("feed after 4: %s", got)
	}
	err = s.Write(ctx, func(tx publicmask.Tx) error {
		o, err := tx.LockOutlet("10000001")
		if err != nil {
			return err
		}
		o.Stock--
		return tx.SaveOutlet(&o)
	})
	if err != nil {
		t.Fatal(err)
	}
	feed, err = s.OutletChanges(ctx, 7, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got := codesAt(feed); got != "10000002@12 10000001@13" {
		t.Fatalf("feed after 7: %s", got)
	}
	checkChangeLog(t, s.reader)
	var indexes int
	if err := s.reader.QueryRow(`SELECT COUNT(*) FROM sqlite_schema WHERE name = 'outlets_version'`).Scan(&indexes); err != nil || indexes != 0 {
		t.Fatalf("outlets_version still there (%d, %v)", indexes, err)
	}
}

func codesAt(os []publicmask.Outlet) string {
	s := ""
	for i, o := range os {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s@%d", o.Code, o.Version)
	}
	return s
}

// TestNewOutletsLoggedWithoutTrigger (migration 00010): the log of a new
// outlet's first version is written by the statements that insert it, not
// by a trigger per row; a store of the release before migrates (its
// outlets keep their entries), and outlets added afterwards one by one, in
// bulk (whole groups and a remainder, new and known outlets mixed) and
// again reach the feed. An import of new outlets runs no pruning step: their
// versions make no entry stale.
func TestNewOutletsLoggedWithoutTrigger(t *testing.T) {
	ctx := context.Background()
	s := openWithOutletsBefore(t, "00010", 1)
	var triggers int
	if err := s.reader.QueryRow(`SELECT COUNT(*) FROM sqlite_schema WHERE type = 'trigger' AND name = 'outlet_changes_insert'`).Scan(&triggers); err != nil || triggers != 0 {
		t.Fatalf("outlet_changes_insert still there (%d, %v)", triggers, err)
	}
	mk := func(i int) *publicmask.Outlet {
		return &publicmask.Outlet{Code: fmt.Sprintf("1%07d", i), Name: "약국", Addr: "서울특별시 중구", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127}
	}
	err := s.Write(ctx, func(tx publicmask.Tx) error { return tx.SaveOutlet(mk(1)) })
	if err != nil {
		t.Fatal(err)
	}
	// A bulk write of known outlets (read first, as the ledger does) and
	// new ones: 2 × bulkRows + 7 rows.
	const n = 2*bulkRows + 7
	prunedAt := s.prunedAt
	err = s.Write(ctx, func(tx publicmask.Tx) error {
		bt := tx.(publicmask.BulkTx)
		if _, err := bt.LockOutlets([]string{mk(0).Code, mk(1).Code}); err != nil {
			return err
		}
		os := make([]*publicmask.Outlet, n)
		for i := range os {
			os[i] = mk(i)
		}
		return bt.SaveOutlets(os)
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.prunedAt != prunedAt {
		t.Fatalf("a pruning step ran at version %d after %d new outlets", s.prunedAt, n)
	}
	if got := checkChangeLog(t, s.reader); got < n {
		t.Fatalf("the log holds %d entries for %d outlets", got, n)
	}
	feed, err := s.OutletChanges(ctx, 0, 10*n)
	if err != nil || len(feed) != n {
		t.Fatalf("feed from 0: %d outlets (%v), want %d", len(feed), err, n)
	}
	for i, o := range feed {
		if i > 0 && o.Version <= feed[i-1].Version {
			t.Fatalf("feed out of version order at %d: %s", i, codesAt(feed[i-1:i+1]))
		}
	}
}

// saveEach writes new outlets with these codes in one transaction, one
// SaveOutlet each (not held by the writer's copy afterwards).
func saveEach(t *testing.T, s *Store, codes []string) {
	t.Helper()
	err := s.Write(context.Background(), func(tx publicmask.Tx) error {
		for _, c := range codes {
			if err := tx.SaveOutlet(&publicmask.Outlet{Code: c, Name: "약국", Addr: "서울특별시 중구", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUpsertOfAMissingHeldRowIsLogged: an outlet the writer holds whose row
// went missing behind it (as in TestHeldStockChangeOfAMissingRow) is
// inserted again by a registry change, one by one or in bulk; with no
// trigger on insert (migration 00010) its version still reaches the log.
func TestUpsertOfAMissingHeldRowIsLogged(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	codes := []string{"10000001", "10000002"}
	saveEach(t, s, codes)
	for i, c := range codes {
		if err := s.Write(ctx, func(tx publicmask.Tx) error { _, err := tx.LockOutlet(c); return err }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.writer.Exec(`DELETE FROM outlets WHERE code = ?`, c); err != nil {
			t.Fatal(err)
		}
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			o, err := tx.LockOutlet(c) // from the copy
			if err != nil {
				return err
			}
			o.Name = "새약국"
			if i == 0 {
				return tx.SaveOutlet(&o)
			}
			return tx.(publicmask.BulkTx).SaveOutlets([]*publicmask.Outlet{&o})
		})
		if err != nil {
			t.Fatal(err)
		}
		if o := dbOutlet(t, s, c); o.Name != "새약국" {
			t.Fatalf("row after the registry change: %+v", o)
		}
		checkChangeLog(t, s.reader)
	}
}

// TestChangedOutletsLoggedWithoutTrigger (migration 00011): outlets has no
// trigger left, and the versions that a batch's stock updates and AddStock
// (with an unknown code among the adds, which renumbers the rest) give
// known outlets still reach the log and the feed, in order, with nothing
// beyond the last version.
func TestChangedOutletsLoggedWithoutTrigger(t *testing.T) {
	s := openTest(t)
	ctx := context.Background()
	var triggers int
	if err := s.reader.QueryRow(`SELECT COUNT(*) FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'outlets'`).Scan(&triggers); err != nil || triggers != 0 {
		t.Fatalf("%d triggers on outlets (%v)", triggers, err)
	}
	codes := []string{"10000001", "10000002", "10000003"}
	saveEach(t, s, codes)
	feedIs := func(step string, want map[string]int64) {
		t.Helper()
		checkChangeLog(t, s.reader)
		feed, err := s.OutletChanges(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for i, o := range feed {
			if i > 0 && o.Version <= feed[i-1].Version {
				t.Fatalf("%s: feed out of version order: %s", step, codesAt(feed))
			}
			got[o.Code] = o.Version
		}
		if !maps.Equal(got, want) {
			t.Fatalf("%s: feed %v, want %v", step, got, want)
		}
	}
	feedIs("saved", map[string]int64{codes[0]: 1, codes[1]: 2, codes[2]: 3})
	// A stock-only change of held outlets: the batch's multi-row update.
	err := s.Write(ctx, func(tx publicmask.Tx) error {
		for _, c := range codes[:2] {
			o, err := tx.LockOutlet(c)
			if err != nil {
				return err
			}
			o.Stock += 5
			if err := tx.SaveOutlet(&o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	feedIs("stock changed", map[string]int64{codes[0]: 4, codes[1]: 5, codes[2]: 3})
	// AddStock with an unknown code first: the others are numbered again.
	err = s.Write(ctx, func(tx publicmask.Tx) error {
		_, err := tx.(publicmask.StockAdder).AddStock([]publicmask.StockAdd{
			{Outlet: "19999999", Quantity: 1}, {Outlet: codes[2], Quantity: 7}, {Outlet: codes[0], Quantity: 3},
		}, time.Unix(1584000000, 0))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	feedIs("stock added", map[string]int64{codes[0]: 7, codes[1]: 5, codes[2]: 6})
}
