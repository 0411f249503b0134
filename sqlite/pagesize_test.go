package sqlite

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/publicmask/publicmask"
)

// fileHeaderPageSize is the page size in the database file's header.
func fileHeaderPageSize(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var h [18]byte
	if _, err := f.ReadAt(h[:], 0); err != nil {
		t.Fatal(err)
	}
	n := int(binary.BigEndian.Uint16(h[16:18]))
	if n == 1 {
		n = 65536
	}
	return n
}

func pageSizeOf(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.writer.QueryRow(`PRAGMA page_size`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// sellOne saves outlet code (on the first call) and records a sale there
// as the ledger does: its txn_id's record, then the sale.
func sellOne(t *testing.T, s *Store, id, code string) {
	t.Helper()
	sl, rec := recordedSale(id, code, 1, hexKey(len(id)))
	err := s.Write(context.Background(), func(tx publicmask.Tx) error {
		if id == "s1" {
			o := &publicmask.Outlet{Code: code, Name: "약국", Addr: "서울특별시 중구", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127, Stock: 10}
			if err := tx.SaveOutlet(o); err != nil {
				return err
			}
		}
		if err := tx.PutIdempotency(rec); err != nil {
			return err
		}
		return tx.InsertSale(sl)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func countSales(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.reader.QueryRow(`SELECT count(*) FROM sales`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A new store is created with newPageSize, whatever it is set to, and in
// WAL mode; it keeps that size when a later release with another choice
// opens it.
func TestNewStorePageSize(t *testing.T) {
	ctx := context.Background()
	defer func(old int) { newPageSize = old }(newPageSize)
	for _, size := range []int{1024, 2048, 4096} {
		newPageSize = size
		path := filepath.Join(t.TempDir(), "pm.db")
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if got := pageSizeOf(t, s); got != size {
			t.Errorf("new store: page_size %d, want %d", got, size)
		}
		var mode string
		if err := s.writer.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("journal_mode %q %v", mode, err)
		}
		sellOne(t, s, "s1", "10000001")
		s.Close()
		newPageSize = 8192 // a later release's choice
		s, err = Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		sellOne(t, s, "s2", "10000001")
		if got := pageSizeOf(t, s); got != size {
			t.Errorf("reopened: page_size %d, want %d", got, size)
		}
		if n := countSales(t, s); n != 2 {
			t.Errorf("sales after reopening: %d", n)
		}
		s.Close()
		if got := fileHeaderPageSize(t, path); got != size {
			t.Errorf("header page size %d, want %d", got, size)
		}
	}
}

// writerCachePages is the write transactions' page cache (wc), in pages
// (cache_size is given in KiB when negative).
func writerCachePages(t *testing.T, s *Store) int {
	t.Helper()
	got, err := wconnRow(s.wc, `PRAGMA cache_size`)
	if err != nil {
		t.Fatal(err)
	}
	n := int(got[0].(int64))
	if n >= 0 {
		return n
	}
	return -n * 1024 / pageSizeOf(t, s)
}

// A new store has 2 KiB pages, and its writer's cache holds 8,192 of them
// (16 MiB, as an older store's 4,096 pages of 4 KiB): with 4,096 the writer
// read evicted leaves back from the WAL (BENCHMARKS.md, 17th pass on server
// CPU per sale).
func TestDefaultPageSize(t *testing.T) {
	s := openTest(t)
	if got := pageSizeOf(t, s); got != 2048 {
		t.Errorf("a new store's page_size %d, want 2048", got)
	}
	if got := writerCachePages(t, s); got != 8192 {
		t.Errorf("the writer's cache holds %d pages, want 8192", got)
	}
}

// A store an older release created with SQLite's default 4 KiB pages keeps
// them and its data, and takes sales as before.
func TestExistingStoreKeepsItsPageSize(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "pm.db")
	db := migratedBefore(t, path, "99999") // every migration, SQLite's default page size
	var old int
	if err := db.QueryRow(`PRAGMA page_size`).Scan(&old); err != nil {
		t.Fatal(err)
	}
	if old != 4096 {
		t.Fatalf("SQLite's default page size %d, the test assumes 4096", old)
	}
	db.Close()
	defer func(v int) { newPageSize = v }(newPageSize)
	newPageSize = 1024
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if got := pageSizeOf(t, s); got != 4096 {
		t.Errorf("existing store: page_size %d, want 4096", got)
	}
	if got := writerCachePages(t, s); got != 4096 {
		t.Errorf("the writer's cache_size %d, want 4096 pages (16 MiB, as before)", got)
	}
	sellOne(t, s, "s1", "10000001")
	sellOne(t, s, "s2", "10000001")
	s.Close()
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := countSales(t, s); n != 2 {
		t.Errorf("sales after reopening: %d", n)
	}
	var ok string
	if err := s.reader.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Errorf("integrity_check %q %v", ok, err)
	}
	if got := fileHeaderPageSize(t, path); got != 4096 {
		t.Errorf("header page size %d, want 4096", got)
	}
}
