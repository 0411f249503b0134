package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"unsafe"

	sqlite3 "modernc.org/sqlite/lib"

	"github.com/publicmask/publicmask"
)

// Sales split b-tree pages, and a split that swaps pages through the lock
// page's number left the writer's page cache bound at that number: the
// commit's truncation then went over the whole cache. With the bound put
// back (pcache.go), no commit of the same sales does.
func TestPageSwapsKeepTheCacheBound(t *testing.T) {
	if !pcacheWrapped {
		t.Fatal("the page cache's methods are not wrapped: SQLite was initialised before this package")
	}
	s := openTest(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 4))
	sell := func(batches int) {
		t.Helper()
		for range batches {
			err := s.Write(ctx, func(tx publicmask.Tx) error {
				for range 6 {
					person := fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
					if err := tx.PutPersonWeek(publicmask.PersonWeek{Person: person, Week: "2020-03-09", Usage: publicmask.Usage{Quantity: 2, Purchases: 1}}); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	defer func() { pcacheKeepBound = true }()
	// Without putting the bound back: the scans this test is about.
	pcacheKeepBound = false
	scans := pcacheScans.Load()
	sell(300)
	without := pcacheScans.Load() - scans
	pcacheKeepBound = true
	scans, restored := pcacheScans.Load(), pcacheRestored.Load()
	sell(300)
	with := pcacheScans.Load() - scans
	t.Logf("300 batches of 6: %d whole-cache truncations without the bound put back, %d with (%d bounds put back)",
		without, with, pcacheRestored.Load()-restored)
	if without == 0 {
		t.Fatal("no whole-cache truncation even without the bound put back: the test proves nothing")
	}
	if with != 0 {
		t.Fatalf("%d whole-cache truncations with the bound put back", with)
	}
}

// Page swaps under every kind of end a change can have: commits, rolled
// back transactions and savepoints (whose truncations must still drop the
// pages past the database's end), and a cache small enough that pages are
// recycled while a transaction runs. The table always reads back as the
// model says, and the file passes SQLite's integrity check.
func TestPageSwapsStayConsistent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "swap.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=page_size(1024)&_pragma=cache_size(40)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID`); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	model := map[string]int{}
	key := func() []byte {
		k := make([]byte, 12)
		for i := range k {
			k[i] = byte(rng.UintN(256))
		}
		return k
	}
	// After every rekey, every page the cache holds is within its bound.
	var checked int
	pcacheAfterRekey = func(p uintptr) {
		c := pcache1(p)
		for h := range c.FnHash {
			for pg := *(*uintptr)(cptr(c.FapHash + uintptr(h)*unsafe.Sizeof(uintptr(0)))); pg != 0; pg = (*sqlite3.TPgHdr1)(cptr(pg)).FpNext {
				if k := (*sqlite3.TPgHdr1)(cptr(pg)).FiKey; k > c.FiMaxKey {
					panic(fmt.Sprintf("page %d in a cache bound at %d", k, c.FiMaxKey))
				}
			}
		}
		checked++
	}
	defer func() { pcacheAfterRekey = nil }()
	restored := pcacheRestored.Load()
	for round := range 400 {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		changes := map[string]int{}
		n := 1 + rng.IntN(60)
		for i := range n {
			k, size := key(), 20+rng.IntN(300)
			if i == n/2 && rng.IntN(3) == 0 {
				// A savepoint whose rows are rolled back.
				if _, err := tx.ExecContext(ctx, `SAVEPOINT sp`); err != nil {
					t.Fatal(err)
				}
				for range 1 + rng.IntN(40) {
					if _, err := tx.ExecContext(ctx, `INSERT INTO kv VALUES (?, zeroblob(?))`, key(), 20+rng.IntN(300)); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := tx.ExecContext(ctx, `ROLLBACK TO sp`); err != nil {
					t.Fatal(err)
				}
				if _, err := tx.ExecContext(ctx, `RELEASE sp`); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO kv VALUES (?, zeroblob(?))`, k, size); err != nil {
				t.Fatal(err)
			}
			changes[string(k)] = size
		}
		if round%5 == 4 && len(model) > 0 {
			// Deletions free pages, which later splits take again.
			for k := range model {
				if rng.IntN(4) == 0 {
					if _, err := tx.ExecContext(ctx, `DELETE FROM kv WHERE k = ?`, []byte(k)); err != nil {
						t.Fatal(err)
					}
					changes[k] = -1
				}
			}
		}
		if rng.IntN(4) == 0 {
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		for k, size := range changes {
			if size < 0 {
				delete(model, k)
			} else {
				model[k] = size
			}
		}
	}
	if pcacheRestored.Load() == restored {
		t.Fatal("no page swap put its bound back: the test proves nothing")
	}
	rows, err := db.QueryContext(ctx, `SELECT k, length(v) FROM kv`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for rows.Next() {
		var k []byte
		var size int
		if err := rows.Scan(&k, &size); err != nil {
			t.Fatal(err)
		}
		got[string(k)] = size
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(model) {
		t.Fatalf("%d rows, want %d", len(got), len(model))
	}
	for k, size := range model {
		if got[k] != size {
			t.Fatalf("row %x: %d bytes, want %d", k, got[k], size)
		}
	}
	var check string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
	t.Logf("%d rows, %d bounds put back, %d rekeys checked", len(model), pcacheRestored.Load()-restored, checked)
}
