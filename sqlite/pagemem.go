package sqlite

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"
	"sync/atomic"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// The memory of SQLite's page caches, packed. pcache1 allocates each page
// as one block of the page, its MemPage and its two headers: 2,048 + 272 =
// 2,320 bytes for a new store's 2 KiB pages. SQLite's malloc (modernc's
// libc allocator) rounds every block up to a power of two, 4,096 bytes, so
// 43% of every cached page was padding: with the national outlets and
// 1 M person-weeks the caches held 8,761 pages after a rush, 36 MB of
// slots for 20 MB of pages (BENCHMARKS.md, "RSS after a rush (3rd pass)").
//
// So SQLite's allocator is wrapped (SQLITE_CONFIG_MALLOC, before the
// process's first connection, as pcache.go's methods): a request of
// exactly a page block's size, for pages of 512 B to 64 KiB, gets a slot
// of that size in a slab of its own; every other request, and a page
// block when its slab is full, goes to libc's malloc as SQLite's own
// methods send it. A free finds its slab by address. Slabs are address
// space reserved once without access (pageSlabReserve each, nothing
// committed), made read-write a chunk at a time as slots are first used,
// so memory is taken as the caches grow, never for a page size no store
// uses. Freed slots are kept for the next page, not returned to the
// system: the stores' caches are bounded by their cache_size (the
// slabs' high-water mark is about the sum over the connections: ~9,000
// pages, 21 MB here), and a working writer keeps its cache full anyway;
// what is not (temporary b-trees) meets pageSlabCommitMax.
//
// Every block, a slab's or libc's, carries its size in the 8 bytes before
// it, as SQLite's own methods (sqlite3MemMalloc) lay blocks out: so
// SQLite's xSize and xRoundup stay its own, and the wrapped malloc and
// free do what SQLite's do (less the log line of a failed malloc), on
// the spot, for any other size (a call
// through SQLite's methods from ours cost ~26 instructions a malloc, at
// ~300 mallocs a sale; TestPageMemLayoutIsSQLites holds the two layouts
// together).

const (
	pageSlabMinLog = 9  // 512-byte pages
	pageSlabMaxLog = 16 // 64 KiB pages
	pageSlabs      = pageSlabMaxLog - pageSlabMinLog + 1
	// pageSlabReserve is the address space a slab may use: 256 MiB, over
	// 110,000 slots of 2 KiB pages (4 MiB on 32-bit systems).
	pageSlabReserve = 1 << (22 + 6*(bits.UintSize/64))
	pageSlabChunk   = 1 << 20 // made read-write at a time
)

// pageBlockExtra is what pcache1 allocates beside a page: the b-tree's
// MemPage (the pager's nExtra), the pager's PgHdr and pcache1's PgHdr1,
// each rounded to 8 bytes (pcache1Create: szAlloc).
var pageBlockExtra = round8(unsafe.Sizeof(sqlite3.TMemPage{})) + round8(unsafe.Sizeof(sqlite3.TDbPage{})) + round8(unsafe.Sizeof(sqlite3.TPgHdr1{}))

func round8(n uintptr) uintptr { return (n + 7) &^ 7 }

type pageSlab struct {
	mu          sync.Mutex
	size        uintptr // the page block's size
	stride      uintptr // a slot: the block and its size before it
	lo          uintptr // the slab's reserved range [lo, lo+pageSlabReserve)
	brk         uintptr // next slot never used
	ready       uintptr // end of the read-write part
	free        uintptr // freed slots, linked through their first word
	used, slots int64   // slots in use; slots ever taken (touched)
}

var (
	// pageMemWrapped: SQLite allocates through sqliteMalloc and co.
	pageMemWrapped bool
	// sqliteMem are the methods SQLite had (its own over libc's malloc).
	sqliteMem sqlite3.Tsqlite3_mem_methods
	// pageMemMethods are the installed ones; SQLite copies them.
	pageMemMethods sqlite3.Tsqlite3_mem_methods
	// pageArena is the reserved address space, pageSlabs slabs one after
	// another (0 until the first page block, or if it could not be had).
	pageArena     []byte
	pageArenaBase atomic.Uintptr
	pageArenaOnce sync.Once
	slabs         [pageSlabs]pageSlab
)

func init() { pageMemWrapped = wrapPageMem() == nil }

// wrapPageMem installs the wrapped methods; an error leaves SQLite's own.
func wrapPageMem() error {
	tls := libc.NewTLS()
	defer tls.Close()
	m := &pageMemMethods
	if rc := configPointer(tls, sqlite3.SQLITE_CONFIG_GETMALLOC, unsafe.Pointer(m)); rc != sqlite3.SQLITE_OK {
		return fmt.Errorf("sqlite: get the allocator's methods: code %d", rc)
	}
	if m.FxMalloc == 0 || m.FxFree == 0 || m.FxRealloc == 0 || m.FxSize == 0 || m.FxRoundup == 0 {
		return errors.New("sqlite: the allocator lacks methods")
	}
	sqliteMem = *m
	if err := probeSQLiteMem(tls); err != nil {
		return err
	}
	for i := range slabs {
		slabs[i].size = 1<<(i+pageSlabMinLog) + pageBlockExtra
		slabs[i].stride = 8 + slabs[i].size
	}
	*(*func(*libc.TLS, int32) uintptr)(unsafe.Pointer(&m.FxMalloc)) = sqliteMalloc
	*(*func(*libc.TLS, uintptr))(unsafe.Pointer(&m.FxFree)) = sqliteFree
	*(*func(*libc.TLS, uintptr, int32) uintptr)(unsafe.Pointer(&m.FxRealloc)) = sqliteRealloc
	if rc := configPointer(tls, sqlite3.SQLITE_CONFIG_MALLOC, unsafe.Pointer(m)); rc != sqlite3.SQLITE_OK {
		return fmt.Errorf("sqlite: install the allocator's methods: code %d", rc)
	}
	return nil
}

// probeSQLiteMem checks that the methods being replaced are SQLite's
// default ones over libc's malloc (mem1.c: the block's size in the eight
// bytes before it), which sqliteMalloc and sqliteFree now do themselves
// and which the original xSize and xRealloc read on slab blocks. Any
// other allocator (another SQLITE_CONFIG_MALLOC, a build with a
// different layout) is left alone rather than corrupted.
func probeSQLiteMem(tls *libc.TLS) error {
	const n = 24
	p := (*(*func(*libc.TLS, int32) uintptr)(unsafe.Pointer(&struct{ uintptr }{sqliteMem.FxMalloc})))(tls, n)
	if p == 0 {
		return errors.New("sqlite: the allocator's probe got no memory")
	}
	defer (*(*func(*libc.TLS, uintptr))(unsafe.Pointer(&struct{ uintptr }{sqliteMem.FxFree})))(tls, p)
	size := (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{sqliteMem.FxSize})))(tls, p)
	if *blockSize(p) != n || size != n {
		return fmt.Errorf("sqlite: the allocator is not SQLite's default (a %d-byte block carries %d, its size says %d): page slabs not installed", n, *blockSize(p), size)
	}
	return nil
}

// slabForSize is the slab for a request of n bytes, or nil if n is not
// a page block's size.
func slabForSize(n int32) *pageSlab {
	sz := uintptr(n) - pageBlockExtra
	if n <= 0 || uintptr(n) <= pageBlockExtra || sz&(sz-1) != 0 {
		return nil
	}
	i := bits.TrailingZeros64(uint64(sz)) - pageSlabMinLog
	if i < 0 || i >= pageSlabs {
		return nil
	}
	return &slabs[i]
}

// slabOf is the slab that holds p, or nil.
func slabOf(p uintptr) *pageSlab {
	base := pageArenaBase.Load()
	if base == 0 || p < base || p-base >= pageSlabs*pageSlabReserve {
		return nil
	}
	return &slabs[(p-base)/pageSlabReserve]
}

// blockSize is the size SQLite's blocks carry before them.
func blockSize(p uintptr) *int64 { return (*int64)(cptr(p - 8)) }

func sqliteMalloc(tls *libc.TLS, n int32) uintptr {
	if s := slabForSize(n); s != nil {
		if p := s.alloc(); p != 0 {
			return p
		}
	}
	// sqlite3MemMalloc.
	p := libc.Xmalloc(tls, libc.Tsize_t(n)+8)
	if p == 0 {
		return 0
	}
	*(*int64)(cptr(p)) = int64(n)
	return p + 8
}

func sqliteFree(tls *libc.TLS, p uintptr) {
	if s := slabOf(p); s != nil {
		s.put(p)
		return
	}
	libc.Xfree(tls, p-8) // sqlite3MemFree
}

// sqliteRealloc: SQLite does not resize page blocks; should it, the
// block moves to wherever a request of the new size goes.
func sqliteRealloc(tls *libc.TLS, p uintptr, n int32) uintptr {
	s := slabOf(p)
	if s == nil {
		return (*(*func(*libc.TLS, uintptr, int32) uintptr)(unsafe.Pointer(&struct{ uintptr }{sqliteMem.FxRealloc})))(tls, p, n)
	}
	if uintptr(n) <= s.size {
		return p
	}
	q := sqliteMalloc(tls, n)
	if q == 0 {
		return 0
	}
	copy(unsafe.Slice((*byte)(cptr(q)), s.size), unsafe.Slice((*byte)(cptr(p)), s.size))
	s.put(p)
	return q
}

// reserveArena reserves the slabs' address space, inaccessible: no memory
// is committed until a chunk is made read-write (grow).
func reserveArena() {
	pageArenaOnce.Do(func() {
		b, err := reserve(pageSlabs * pageSlabReserve)
		if err != nil {
			return // page blocks stay with SQLite's allocator
		}
		pageArena = b
		base := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
		for i := range slabs {
			s := &slabs[i]
			s.mu.Lock()
			s.lo = base + uintptr(i)*pageSlabReserve
			s.brk, s.ready = s.lo, s.lo
			s.mu.Unlock()
		}
		pageArenaBase.Store(base)
	})
}

func (s *pageSlab) alloc() uintptr {
	if pageArenaBase.Load() == 0 {
		reserveArena()
		if pageArenaBase.Load() == 0 {
			return 0
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.free
	if p != 0 {
		s.free = *(*uintptr)(cptr(p))
	} else {
		if s.brk+s.stride > s.ready && !s.grow() {
			return 0
		}
		p = s.brk + 8
		*blockSize(p) = int64(s.size) // stays: a free slot links through its block
		s.brk += s.stride
		s.slots++
	}
	s.used++
	return p
}

// pageSlabCommitMax bounds what all slabs together make read-write.
// Slab memory is never given back, and not every cache is bounded by a
// cache_size: the temporary b-trees of sorts, DISTINCT and IN lists
// (temp_store MEMORY) are not purgeable. Past the bound page blocks go to
// SQLite's allocator, which returns memory as before.
const pageSlabCommitMax = 64 << 20

var (
	pageSlabCommitted  atomic.Int64
	pageSlabCommitFail atomic.Bool // once mprotect failed: no more tries
)

// grow makes the next chunk of the slab read-write.
func (s *pageSlab) grow() bool {
	end := s.lo + pageSlabReserve
	if s.ready >= end || pageSlabCommitFail.Load() {
		return false
	}
	n := min(uintptr(pageSlabChunk), end-s.ready)
	if pageSlabCommitted.Add(int64(n)) > pageSlabCommitMax {
		pageSlabCommitted.Add(-int64(n))
		return false
	}
	off := s.ready - pageArenaBase.Load()
	if commit(pageArena[off:off+n]) != nil {
		pageSlabCommitted.Add(-int64(n))
		pageSlabCommitFail.Store(true)
		return false
	}
	s.ready += n
	return s.brk+s.stride <= s.ready || s.grow()
}

func (s *pageSlab) put(p uintptr) {
	s.mu.Lock()
	*(*uintptr)(cptr(p)) = s.free
	s.free = p
	s.used--
	s.mu.Unlock()
}

// pageMemStats are the slabs' totals: bytes of slots in use, and of
// slots ever used (what the slabs hold in memory).
func pageMemStats() (used, held int64) {
	for i := range slabs {
		s := &slabs[i]
		s.mu.Lock()
		used += s.used * int64(s.stride)
		held += s.slots * int64(s.stride)
		s.mu.Unlock()
	}
	return used, held
}
