package snapshot

import (
	"cmp"
	"slices"
	"unsafe"
)

// rehome moves the registry text of new entries, not yet in any snapshot,
// into shared blocks of chunkSize entries each, filled in the order of the
// geo grid. An answer reads the entries of one neighbourhood: their text
// then lies together in memory (at 540,000 outlets an entry's text read in
// code order is a cache miss), and the registry text of 540,000 outlets is
// a few thousand heap objects instead of 540,000. Sales keep the registry
// text, so a block stays in use; an outlet's registry change gives it text
// of its own.
func rehome(fresh []*Entry) {
	type item struct {
		key uint32
		e   *Entry
	}
	order := make([]item, len(fresh))
	for i, e := range fresh {
		order[i] = item{^uint32(0), e} // without a cell: last
		if r, c, ok := cellOf(e.Lat, e.Lng); ok {
			order[i].key = uint32(r*gridCols + c)
		}
	}
	slices.SortStableFunc(order, func(a, b item) int { return cmp.Compare(a.key, b.key) })
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
		off := 0
		for _, it := range part {
			e, old := it.e, it.e.reg
			e.reg = text[off : off+len(old)]
			off += len(old)
			for _, f := range []*string{&e.Code, &e.Name, &e.Addr, &e.Type} {
				*f = rebase(*f, old, e.reg)
			}
		}
	}
}

// rebase returns the part of to at the offset where sub lies in from, if
// sub is a substring (by memory, not by value) of from and to is from's
// copy; otherwise sub itself.
func rebase(sub, from, to string) string {
	if sub == "" || len(from) != len(to) || from == "" {
		return sub
	}
	p := uintptr(unsafe.Pointer(unsafe.StringData(sub)))
	base := uintptr(unsafe.Pointer(unsafe.StringData(from)))
	if p < base || p+uintptr(len(sub)) > base+uintptr(len(from)) {
		return sub
	}
	off := int(p - base)
	return to[off : off+len(sub)]
}
