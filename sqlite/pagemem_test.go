package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"unsafe"

	dto "github.com/prometheus/client_model/go"
	"modernc.org/libc"

	"github.com/publicmask/publicmask"
)

// A store's cached pages are in the slabs: every page block SQLite
// allocates has the size pageMemSize computes (pcache1's szAlloc), or
// none would be, and the padding of SQLite's allocator (2,320-byte blocks
// in 4,096-byte slots) would be back.
func TestPageBlocksInSlabs(t *testing.T) {
	if !pageMemWrapped {
		t.Fatal("SQLite's allocator is not wrapped: SQLite was initialised before this package")
	}
	s2 := &slabs[newPageSizeLog()-pageSlabMinLog]
	if want := uintptr(newPageSize) + 272; s2.size != want {
		// 2,048 + MemPage 136 + PgHdr 80 + PgHdr1 56 in modernc's SQLite
		// 3.5x; a new layout changes the sizes, and this test says so.
		t.Logf("page block of %d B pages: %d bytes (was %d)", newPageSize, s2.size, want)
	}
	used := func() int64 { s2.mu.Lock(); defer s2.mu.Unlock(); return s2.used }
	before := used()
	s := openTest(t)
	rng := rand.New(rand.NewPCG(5, 6))
	for range 500 {
		err := s.Write(context.Background(), func(tx publicmask.Tx) error {
			for range 10 {
				person := fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
				if err := tx.PutPersonWeek(publicmask.PersonWeek{Person: person, Week: "2020-03-09", Usage: publicmask.Usage{Quantity: 1, Purchases: 1}}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	n := used() - before
	t.Logf("%d page blocks of %d bytes in the slab after 5,000 person-weeks", n, s2.size)
	if n < 100 {
		t.Fatalf("%d page blocks in the slab: the page cache does not allocate from it", n)
	}
	// The metric shows it.
	var m dto.Metric
	if err := s.m.pageMem.Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetGauge().GetValue(); got < float64(n)*float64(s2.size) {
		t.Fatalf("publicmask_sqlite_page_cache_bytes %.0f, below the %d blocks in use", got, n)
	}
	// And the store reads back what it wrote through those pages.
	var rows int
	if err := s.reader.QueryRow("SELECT count(*) FROM person_weeks").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 5000 {
		t.Fatalf("%d person-weeks, want 5000", rows)
	}
}

func newPageSizeLog() int {
	n := 0
	for 1<<n < newPageSize {
		n++
	}
	return n
}

// The slabs as an allocator: distinct, non-overlapping blocks that keep
// what is written to them, freed blocks taken again before new ones,
// sizes, a realloc that keeps the content, and every other size left to
// SQLite's own allocator.
func TestPageSlabAllocator(t *testing.T) {
	if !pageMemWrapped {
		t.Fatal("SQLite's allocator is not wrapped")
	}
	tls := libc.NewTLS()
	defer tls.Close()
	s := &slabs[11-pageSlabMinLog] // 2 KiB pages
	n := int32(s.size)
	bytesOf := func(p uintptr, k uintptr) []byte { return unsafe.Slice((*byte)(cptr(p)), k) }
	const count = 1500 // 3.5 MB: crosses pageSlabChunk boundaries
	ps := make([]uintptr, count)
	for i := range ps {
		p := sqliteMalloc(tls, n)
		if p == 0 || slabOf(p) != s {
			t.Fatalf("block %d at %#x: not in the slab", i, p)
		}
		if p%8 != 0 {
			t.Fatalf("block at %#x not 8-byte aligned", p)
		}
		if got := origSize(tls, p); got != n {
			t.Fatalf("size %d, want %d", got, n)
		}
		b := bytesOf(p, s.size)
		for j := range b {
			b[j] = byte(i + j)
		}
		ps[i] = p
	}
	sorted := slices.Clone(ps)
	slices.Sort(sorted)
	for i := 1; i < len(sorted); i++ {
		if sorted[i]-sorted[i-1] < s.size {
			t.Fatalf("blocks at %#x and %#x overlap", sorted[i-1], sorted[i])
		}
	}
	for i, p := range ps {
		for j, c := range bytesOf(p, s.size) {
			if c != byte(i+j) {
				t.Fatalf("block %d byte %d changed", i, j)
			}
		}
	}
	// Freed blocks are taken again.
	freed := map[uintptr]bool{}
	for _, p := range ps[:500] {
		sqliteFree(tls, p)
		freed[p] = true
	}
	for i := range 500 {
		p := sqliteMalloc(tls, n)
		if !freed[p] {
			t.Fatalf("new block %d at %#x while freed ones were there", i, p)
		}
		delete(freed, p)
		ps[i] = p
	}
	// realloc: smaller stays, larger moves with the content.
	if q := sqliteRealloc(tls, ps[0], n-8); q != ps[0] {
		t.Fatalf("a smaller realloc moved the block")
	}
	copy(bytesOf(ps[1], s.size), "page")
	q := sqliteRealloc(tls, ps[1], n+100)
	if q == 0 || slabOf(q) != nil || string(bytesOf(q, 4)) != "page" {
		t.Fatalf("a larger realloc: %#x, %q", q, bytesOf(q, 4))
	}
	if got := origSize(tls, q); got < n+100 {
		t.Fatalf("size after realloc %d", got)
	}
	sqliteFree(tls, q)
	ps[1] = sqliteMalloc(tls, n)
	// Other sizes are not the slabs'.
	for _, m := range []int32{8, 100, 2048, 2321, 4096, n - 8, n + 8} {
		p := sqliteMalloc(tls, m)
		if p == 0 || slabOf(p) != nil {
			t.Fatalf("a %d-byte block at %#x went to a slab", m, p)
		}
		if got := origSize(tls, p); got < m {
			t.Fatalf("size of a %d-byte block: %d", m, got)
		}
		sqliteFree(tls, p)
	}
	for _, p := range ps {
		sqliteFree(tls, p)
	}
}

// Blocks taken and freed from many goroutines at once (go test -race):
// none is handed out twice.
func TestPageSlabConcurrent(t *testing.T) {
	s := &slabs[11-pageSlabMinLog]
	var mu sync.Mutex
	live := map[uintptr]bool{}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			tls := libc.NewTLS()
			defer tls.Close()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			var mine []uintptr
			for range 5000 {
				if len(mine) > 0 && rng.IntN(2) == 0 {
					i := rng.IntN(len(mine))
					p := mine[i]
					mine[i] = mine[len(mine)-1]
					mine = mine[:len(mine)-1]
					mu.Lock()
					delete(live, p)
					mu.Unlock()
					sqliteFree(tls, p)
					continue
				}
				p := sqliteMalloc(tls, int32(s.size))
				mu.Lock()
				if live[p] {
					mu.Unlock()
					t.Errorf("block %#x handed out twice", p)
					return
				}
				live[p] = true
				mu.Unlock()
				mine = append(mine, p)
			}
			for _, p := range mine {
				mu.Lock()
				delete(live, p)
				mu.Unlock()
				sqliteFree(tls, p)
			}
		})
	}
	wg.Wait()
}

// origSize is SQLite's own xSize, which stays installed.
func origSize(tls *libc.TLS, p uintptr) int32 {
	return (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{sqliteMem.FxSize})))(tls, p)
}

func origMalloc(tls *libc.TLS, n int32) uintptr {
	return (*(*func(*libc.TLS, int32) uintptr)(unsafe.Pointer(&struct{ uintptr }{sqliteMem.FxMalloc})))(tls, n)
}

func origFree(tls *libc.TLS, p uintptr) {
	(*(*func(*libc.TLS, uintptr))(unsafe.Pointer(&struct{ uintptr }{sqliteMem.FxFree})))(tls, p)
}

// The wrapped malloc and free lay blocks out as SQLite's own methods do
// (the size in the 8 bytes before a block), which SQLite's xSize, still
// installed, relies on: a block of either is sized, resized and freed by
// the other.
func TestPageMemLayoutIsSQLites(t *testing.T) {
	tls := libc.NewTLS()
	defer tls.Close()
	for _, n := range []int32{1, 8, 100, 2048, 4096, 70000} {
		p := sqliteMalloc(tls, n)
		if p == 0 || slabOf(p) != nil {
			t.Fatalf("%d bytes: %#x", n, p)
		}
		if got := origSize(tls, p); got != n {
			t.Fatalf("SQLite's xSize of our %d-byte block: %d", n, got)
		}
		copy(unsafe.Slice((*byte)(cptr(p)), n), "kept")
		q := sqliteRealloc(tls, p, n+5000)
		if q == 0 || origSize(tls, q) != n+5000 || string(unsafe.Slice((*byte)(cptr(q)), min(4, n))) != "kept"[:min(4, n)] {
			t.Fatalf("realloc of a %d-byte block: %#x", n, q)
		}
		origFree(tls, q)
		r := origMalloc(tls, n)
		if got := origSize(tls, r); got != n {
			t.Fatalf("SQLite's %d-byte block: size %d", n, got)
		}
		sqliteFree(tls, r) // a crash or a corrupted heap if the layouts differ
	}
	// A slab's block too.
	p := sqliteMalloc(tls, int32(slabs[11-pageSlabMinLog].size))
	if slabOf(p) == nil || origSize(tls, p) != int32(slabs[11-pageSlabMinLog].size) {
		t.Fatalf("SQLite's xSize of a slab block: %d", origSize(tls, p))
	}
	sqliteFree(tls, p)
}
