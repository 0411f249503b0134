package snapshot

import (
	"cmp"
	"slices"
	"unsafe"
)

// rehome replaces new entries, not yet in any snapshot, by copies made in
// the order of the national-size geo grid's cells (a larger registry's
// finer cells lie within them), with their registry text moved into shared
// blocks of chunkSize entries each, filled in that order. An answer reads
// the entries of one neighbourhood: they and their text then lie together
// in memory (at 540,000 outlets an entry read in code order is a cache
// miss), and the registry text of 540,000 outlets is a few thousand heap
// objects instead of 540,000. Sales keep the registry text, so a block
// stays in use; an outlet's registry change gives it text of its own.
func rehome(fresh []*Entry) {
	type item struct {
		key uint32
		at  int32 // in fresh
		e   *Entry
	}
	order := make([]item, len(fresh))
	for i, e := range fresh {
		order[i] = item{^uint32(0), int32(i), e} // without a cell: last
		if r, c, ok := cellOf(e.Lat, e.Lng); ok {
			order[i].key = uint32(r*gridCols + c)
		}
	}
	// By cell, then as given (a stable sort by cell, but pdqsort: faster).
	slices.SortFunc(order, func(a, b item) int { return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.at, b.at)) })
	var slab []Entry
	for start := 0; start < len(order); start += chunkSize {
		part := order[start:min(start+chunkSize, len(order))]
		size := 0
		for _, it := range part {
			size += len(it.e.reg)
		}
		buf := make([]byte, 0, size)
		for _, it := range part {
			buf = append(buf, it.e.reg...)
		}
		// buf is never written again: the string may share it.
		text := unsafe.String(unsafe.SliceData(buf), len(buf))
		// The entries too lie in a few large objects (slab): the
		// collector marks and scans one object instead of 256 small ones,
		// a forced collection over 540,000 outlets ~4× cheaper. Like the
		// text, a slab stays in use while one of its entries is current
		// (a change copies only that entry): at most twice the entries'
		// memory, once every outlet has changed.
		if len(slab) == 0 {
			slab = make([]Entry, min(slabEntries, len(order)-start))
		}
		off := 0
		for _, it := range part {
			e, old := &slab[0], it.e.reg
			slab = slab[1:]
			*e = *it.e
			fresh[it.at] = e
			e.reg = text[off : off+len(old)]
			off += len(old)
		}
	}
}

// slabEntries is the number of entries rehome allocates together: 256
// entries of 224 bytes are 7 pages, a large object without waste (a 64-entry
// block, 14,336 bytes and the 8-byte header of a small object with
// pointers, took the 16 KiB size class: +32 bytes an outlet).
const slabEntries = 4 * chunkSize
