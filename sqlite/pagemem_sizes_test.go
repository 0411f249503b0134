package sqlite

import (
	"database/sql"
	"fmt"
	"testing"
	"unsafe"

	"modernc.org/libc"
)

// Every page size SQLite allows puts its page blocks in its own slab: if
// pageBlockExtra drifted from pcache1's szAlloc (a new MemPage, PgHdr or
// PgHdr1 layout), no block would match and the slabs would stay empty.
// An in-memory database keeps all its pages in its (non-purgeable) cache.
func TestPageBlockSizeEveryPageSize(t *testing.T) {
	if !pageMemWrapped {
		t.Fatal("SQLite's allocator is not wrapped")
	}
	for lg := pageSlabMinLog; lg <= pageSlabMaxLog; lg++ {
		s := &slabs[lg-pageSlabMinLog]
		used := func() int64 { s.mu.Lock(); defer s.mu.Unlock(); return s.used }
		db, err := sql.Open("sqlite", ":memory:")
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		before := used()
		for _, q := range []string{
			fmt.Sprintf("PRAGMA page_size=%d", 1<<lg),
			"CREATE TABLE t(x BLOB)",
			"WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<200) INSERT INTO t SELECT randomblob(300) FROM c",
		} {
			if _, err := db.Exec(q); err != nil {
				t.Fatal(q, err)
			}
		}
		var ps int
		if err := db.QueryRow("PRAGMA page_size").Scan(&ps); err != nil || ps != 1<<lg {
			t.Fatalf("page_size %d (%v), want %d", ps, err, 1<<lg)
		}
		if n := used() - before; n < 2 {
			t.Errorf("%d-byte pages: %d blocks of %d bytes in the slab", 1<<lg, n, s.size)
		}
		db.Close()
	}
}

// A full slab (or one whose commit failed) sends page blocks to SQLite's
// allocator, and their frees and reallocs go back there, not to the slab.
func TestPageSlabFullFallsBack(t *testing.T) {
	if !pageMemWrapped {
		t.Fatal("SQLite's allocator is not wrapped")
	}
	tls := libc.NewTLS()
	defer tls.Close()
	s := &slabs[13-pageSlabMinLog] // 8 KiB pages: no store here uses them
	if p := sqliteMalloc(tls, int32(s.size)); slabOf(p) != s {
		t.Fatalf("first block at %#x not in the slab", p)
	} else {
		sqliteFree(tls, p)
	}
	exhaustSlab(t, s, s.lo+pageSlabReserve) // no address space left
	p := sqliteMalloc(tls, int32(s.size))
	if p == 0 || slabOf(p) != nil {
		t.Fatalf("a block of a full slab at %#x", p)
	}
	if got := origSize(tls, p); got != int32(s.size) {
		t.Fatalf("size %d", got)
	}
	q := sqliteRealloc(tls, p, int32(s.size)+64)
	if q == 0 || slabOf(q) != nil || origSize(tls, q) != int32(s.size)+64 {
		t.Fatalf("realloc of a fallen-back block: %#x", q)
	}
	sqliteFree(tls, q)
	s.mu.Lock()
	if s.free != 0 {
		t.Error("a libc block went onto the slab's free list")
	}
	s.mu.Unlock()
}

// TestPageSlabCommitBound: once the slabs together hold pageSlabCommitMax,
// a page block that needs a new chunk goes to SQLite's allocator (memory
// it can give back), not to more slab memory.
func TestPageSlabCommitBound(t *testing.T) {
	if !pageMemWrapped {
		t.Fatal("SQLite's allocator is not wrapped")
	}
	tls := libc.NewTLS()
	defer tls.Close()
	s := &slabs[14-pageSlabMinLog] // 16 KiB pages: no store here uses them
	exhaustSlab(t, s, s.ready)     // the next block needs a new chunk
	saved := pageSlabCommitted.Load()
	pageSlabCommitted.Store(pageSlabCommitMax - pageSlabChunk/2)
	defer pageSlabCommitted.Store(saved)
	p := sqliteMalloc(tls, int32(s.size))
	if p == 0 || slabOf(p) != nil {
		t.Fatalf("past the commit bound a page block at %#x, in a slab %v", p, slabOf(p) != nil)
	}
	if got := origSize(tls, p); got != int32(s.size) {
		t.Fatalf("size %d, want %d", got, s.size)
	}
	sqliteFree(tls, p)
	pageSlabCommitted.Store(saved)
	q := sqliteMalloc(tls, int32(s.size))
	if slabOf(q) != s {
		t.Fatalf("below the bound a page block at %#x, not in its slab", q)
	}
	sqliteFree(tls, q)
}

// TestPageMemProbeRefusesOtherAllocators: methods whose blocks do not
// carry SQLite's size header are not wrapped.
func TestPageMemProbeRefusesOtherAllocators(t *testing.T) {
	tls := libc.NewTLS()
	defer tls.Close()
	if err := probeSQLiteMem(tls); err != nil {
		t.Fatalf("SQLite's own methods: %v", err)
	}
	saved := sqliteMem
	defer func() { sqliteMem = saved }()
	wrongSize := func(*libc.TLS, uintptr) int32 { return 7 }
	*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&sqliteMem.FxSize)) = wrongSize
	if err := probeSQLiteMem(tls); err == nil {
		t.Fatal("the probe accepted an xSize that does not read the header")
	}
}

// exhaustSlab makes s look as if every slot up to ready were taken and
// none freed, until the test ends.
func exhaustSlab(t *testing.T, s *pageSlab, ready uintptr) {
	s.mu.Lock()
	free, brk, was, used, slots := s.free, s.brk, s.ready, s.used, s.slots
	s.free, s.brk, s.ready = 0, ready, ready
	s.mu.Unlock()
	t.Cleanup(func() {
		s.mu.Lock()
		s.free, s.brk, s.ready, s.used, s.slots = free, brk, was, used, slots
		s.mu.Unlock()
	})
}
