package sqlite

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite's page cache (pcache1) is used as it is, with one bound kept
// tight. pcache1 remembers the largest page number it has held since its
// last truncation (iMaxKey), and every commit asks it to drop the pages
// beyond the database's end (pager_end_transaction → sqlite3PcacheTruncate
// → pcache1Truncate): nothing to do while iMaxKey is below that end; a few
// hash slots to look at when it is a little above; and a pass over the
// whole hash table, every page the cache holds, when it is far above.
//
// It is far above after most commits that split a b-tree page: when a
// split leaves its new pages out of order, balance_nonroot swaps two of
// them through a temporary page number, the one of the page that holds
// SQLite's lock bytes (1 GiB / page size + 1: 524,289 with 2 KiB pages),
// which no real page ever has. The swap takes a moment, but iMaxKey stays
// at 524,289 until the commit's truncation has walked all ~4,000 pages of
// the writer's cache: ~120 µs a commit, 5% of the server's CPU in a mixed
// rush (6,231 commits of 5.5 sales each, 2/3 of them with such a split).
//
// So the cache's methods are pcache1's own, with Rekey, Fetch, Truncate
// and Destroy wrapped: when a page leaves that temporary number again, and
// no page was created in between (Fetch) that could lie beyond the bound
// before the swap, the bound goes back to what it was before the swap
// (or to the page's new number, if that is larger). Every page the cache
// holds still has a number at most iMaxKey, which is all pcache1's
// truncation relies on. pcache1's fields are read and written as the
// translated code declares them (sqlite3.TPCache1), under the same
// serialisation SQLite gives the methods of one cache.
//
// The methods are installed with sqlite3_config(SQLITE_CONFIG_PCACHE2),
// which SQLite accepts only before it is initialised, i.e. before the
// process's first connection: hence init. If something initialised it
// earlier, pcache1 runs unwrapped, as before (pcacheWrapped false).

var (
	// pcacheWrapped: the wrapped methods are installed.
	pcacheWrapped bool
	// pcache1Methods are pcache1's own methods, as SQLite gave them;
	// pcacheMethods the wrapped ones installed.
	pcache1Methods, pcacheMethods sqlite3.Tsqlite3_pcache_methods2
	// swaps holds, per cache, the bound before a page took the temporary
	// number; swapping counts its entries, so that Fetch looks only while
	// one is open.
	swapsMu  sync.Mutex
	swaps    = map[uintptr]*pcacheSwap{}
	swapping atomic.Int32
	// pcacheRestored counts the bounds put back, pcacheScans the
	// truncations that went over a whole hash table (tests).
	pcacheRestored, pcacheScans atomic.Int64
	// pcacheKeepBound: bounds are put back (false only in the test that
	// shows what happens without).
	pcacheKeepBound = true
	// pcacheAfterRekey, when set (tests), is called after every rekey.
	pcacheAfterRekey func(p uintptr)
)

type pcacheSwap struct {
	before  uint32 // iMaxKey before the page took the temporary number
	spoiled bool   // a page was fetched meanwhile with a number beyond before
}

func init() { pcacheWrapped = wrapPcache() == nil }

// wrapPcache installs the wrapped methods; an error leaves pcache1 alone.
func wrapPcache() error {
	tls := libc.NewTLS()
	defer tls.Close()
	m := &pcacheMethods // a global: SQLite reads it through its address
	// GETPCACHE2 installs pcache1's methods if none are, and copies them.
	if rc := configPointer(tls, sqlite3.SQLITE_CONFIG_GETPCACHE2, unsafe.Pointer(m)); rc != sqlite3.SQLITE_OK {
		return fmt.Errorf("sqlite: get the page cache's methods: code %d", rc)
	}
	if m.FxRekey == 0 || m.FxFetch == 0 || m.FxTruncate == 0 || m.FxDestroy == 0 {
		return errors.New("sqlite: the page cache lacks methods")
	}
	pcache1Methods = *m
	*(*func(*libc.TLS, uintptr, uintptr, uint32, uint32))(unsafe.Pointer(&m.FxRekey)) = pcacheRekey
	*(*func(*libc.TLS, uintptr, uint32, int32) uintptr)(unsafe.Pointer(&m.FxFetch)) = pcacheFetch
	*(*func(*libc.TLS, uintptr, uint32))(unsafe.Pointer(&m.FxTruncate)) = pcacheTruncate
	*(*func(*libc.TLS, uintptr))(unsafe.Pointer(&m.FxDestroy)) = pcacheDestroy
	// SQLite copies the struct: m need not outlive the call.
	if rc := configPointer(tls, sqlite3.SQLITE_CONFIG_PCACHE2, unsafe.Pointer(m)); rc != sqlite3.SQLITE_OK {
		return fmt.Errorf("sqlite: install the page cache's methods: code %d", rc)
	}
	return nil
}

// configPointer is sqlite3_config(op, p) for an option whose one argument
// is a pointer (the methods' structs of pcache.go and pagemem.go), passed
// as C varargs are in modernc's build.
func configPointer(tls *libc.TLS, op int32, p unsafe.Pointer) int32 {
	va := tls.Alloc(16)
	defer tls.Free(16)
	return sqlite3.Xsqlite3_config(tls, op, libc.VaList(va+8, uintptr(p)))
}

// lockPage is the temporary number balance_nonroot swaps pages through:
// the page of SQLite's lock bytes (PENDING_BYTE, 1 GiB), in a cache of
// pages of size sz.
func lockPage(sz int32) uint32 {
	if sz <= 0 {
		return 0
	}
	return 0x40000000/uint32(sz) + 1
}

func pcache1(p uintptr) *sqlite3.TPCache1 { return (*sqlite3.TPCache1)(cptr(p)) }

func pcacheRekey(tls *libc.TLS, p, pPg uintptr, iOld, iNew uint32) {
	c := pcache1(p)
	lock := lockPage(c.FszPage)
	before := c.FiMaxKey
	(*(*func(*libc.TLS, uintptr, uintptr, uint32, uint32))(unsafe.Pointer(&struct{ uintptr }{pcache1Methods.FxRekey})))(tls, p, pPg, iOld, iNew)
	switch {
	case lock == 0:
	case iNew == lock && before < lock:
		swapsMu.Lock()
		if _, open := swaps[p]; !open {
			swaps[p] = &pcacheSwap{before: before}
			swapping.Add(1)
		}
		swapsMu.Unlock()
	case iOld == lock:
		swapsMu.Lock()
		sw, open := swaps[p]
		if open {
			delete(swaps, p)
			swapping.Add(-1)
		}
		swapsMu.Unlock()
		if open && !sw.spoiled && c.FiMaxKey == lock && pcacheKeepBound {
			c.FiMaxKey = max(sw.before, iNew)
			pcacheRestored.Add(1)
		}
	}
	if pcacheAfterRekey != nil {
		pcacheAfterRekey(p)
	}
}

func pcacheFetch(tls *libc.TLS, p uintptr, key uint32, create int32) uintptr {
	pg := (*(*func(*libc.TLS, uintptr, uint32, int32) uintptr)(unsafe.Pointer(&struct{ uintptr }{pcache1Methods.FxFetch})))(tls, p, key, create)
	if swapping.Load() != 0 && pg != 0 {
		swapsMu.Lock()
		if sw, open := swaps[p]; open && key > sw.before {
			sw.spoiled = true
		}
		swapsMu.Unlock()
	}
	return pg
}

// forget closes the cache's open swap, if any: its truncation or its end
// leaves nothing to restore.
func forget(p uintptr) {
	if swapping.Load() == 0 {
		return
	}
	swapsMu.Lock()
	if _, open := swaps[p]; open {
		delete(swaps, p)
		swapping.Add(-1)
	}
	swapsMu.Unlock()
}

func pcacheTruncate(tls *libc.TLS, p uintptr, limit uint32) {
	if c := pcache1(p); limit <= c.FiMaxKey && c.FiMaxKey-limit >= c.FnHash {
		pcacheScans.Add(1) // pcache1TruncateUnsafe's "general case"
	}
	(*(*func(*libc.TLS, uintptr, uint32))(unsafe.Pointer(&struct{ uintptr }{pcache1Methods.FxTruncate})))(tls, p, limit)
	forget(p)
}

func pcacheDestroy(tls *libc.TLS, p uintptr) {
	forget(p)
	(*(*func(*libc.TLS, uintptr))(unsafe.Pointer(&struct{ uintptr }{pcache1Methods.FxDestroy})))(tls, p)
}
