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
	order := byCell(fresh)
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

// cellItem is an entry of a batch and its place in the batch, with the
// national-size grid cell it lies in.
type cellItem struct {
	key uint32
	at  int32 // in the batch
	e   *Entry
}

// byCell orders es by national-size grid cell (without one: last), then as
// given.
func byCell(es []*Entry) []cellItem {
	order := make([]cellItem, len(es))
	for i, e := range es {
		order[i] = cellItem{^uint32(0), int32(i), e}
		if r, c, ok := cellOf(e.Lat, e.Lng); ok {
			order[i].key = uint32(r*gridCols + c)
		}
	}
	// By cell, then as given (a stable sort by cell, but pdqsort: faster).
	slices.SortFunc(order, func(a, b cellItem) int { return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.at, b.at)) })
	return order
}

// slabChanged replaces the changed entries of a large batch (c.pos ≥ 0:
// copies of an outlet's previous entry, not yet in any snapshot) by copies
// made in slabs, in the order of the national-size grid's cells, as rehome
// does for new outlets. Without it a batch that changes every outlet (the
// morning's deliveries at 540,000 outlets) left every entry a small heap
// object of its own, in the order the changes came (code order): the
// collector marked 540,000 objects again, and the entries of one answer
// lay spread over ~120 MB instead of beside each other. The registry text
// is not moved: it is the previous entry's, already in rehome's blocks.
// Only batches of at least slabBatch changes: a slab stays in use while one
// of its entries is current, and a large batch's entries, all changed at
// once, are mostly replaced together too (the next day's deliveries).
func (c *changeSet) slabChanged() {
	var changed []*Entry
	var in []int32 // changed[q] is c.applied[in[q]]
	for j, e := range c.applied {
		if c.pos[j] >= 0 {
			changed, in = append(changed, e), append(in, int32(j))
		}
	}
	if len(changed) < slabBatch {
		return
	}
	var slab []Entry
	for k, it := range byCell(changed) {
		if len(slab) == 0 {
			slab = make([]Entry, min(slabEntries, len(changed)-k))
		}
		e := &slab[0]
		slab = slab[1:]
		*e = *it.e
		c.applied[in[it.at]] = e
	}
}

// slabBatch is the number of changed entries from which a batch's are
// allocated in slabs (slabChanged). A variable for tests.
var slabBatch = 4 * slabEntries

// slabEntries is the number of entries rehome allocates together: 256
// entries of 224 bytes are 7 pages, a large object without waste (a 64-entry
// block, 14,336 bytes and the 8-byte header of a small object with
// pointers, took the 16 KiB size class: +32 bytes an outlet).
const slabEntries = 4 * chunkSize
