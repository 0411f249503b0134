package sqlite

import (
	"database/sql"
	"hash/maphash"
	"strings"

	"github.com/publicmask/publicmask"
)

// hotOutlet is an outlet as the writer's copy holds it (hot.go): the same
// row, packed. After the opening deliveries the copy holds every outlet
// (540,000 in BENCHMARKS.md "Scale"), and a map of publicmask.Outlet values
// took ~290 bytes an outlet (a slot, a 160-byte value and four strings of
// their own); this takes ~200 with its index (hotOutlets): the four
// registry strings are one (code, name, addr, type in a row), and the times
// are the microseconds the row holds.
type hotOutlet struct {
	text              string // code, name, addr and type, in that order
	codeLen, nameLen  uint16
	addrLen           uint16
	flags             uint8
	lat, lng          float64
	stock, sold       int64
	version           int64
	stockAt, updateAt int64 // UTC microseconds, as the row holds them
}

const (
	hotSuspended = 1 << iota
	hotStockAt   // stockAt is not null
	hotUpdated   // updateAt is not null
)

// packOutlet packs o, which is in its stored form (times in UTC to the
// microsecond, as stored gives it), reusing prev's text if o's registry
// strings are the same (a sale allocates nothing); false if a field is too
// long to pack (the outlet is then not held, but read from the database
// each time).
func packOutlet(o *publicmask.Outlet, prev *hotOutlet) (hotOutlet, bool) {
	if len(o.Code) > 0xffff || len(o.Name) > 0xffff || len(o.Addr) > 0xffff {
		return hotOutlet{}, false
	}
	h := hotOutlet{
		codeLen: uint16(len(o.Code)), nameLen: uint16(len(o.Name)), addrLen: uint16(len(o.Addr)),
		lat: o.Lat, lng: o.Lng, stock: int64(o.Stock), sold: int64(o.Sold), version: o.Version,
	}
	if prev != nil && prev.sameText(o) {
		h.text = prev.text
	} else {
		h.text = o.Code + o.Name + o.Addr + o.Type
	}
	if o.Suspended {
		h.flags |= hotSuspended
	}
	if t := toNull(o.StockAt); t.Valid {
		h.flags, h.stockAt = h.flags|hotStockAt, t.Int64
	}
	if t := toNull(o.UpdatedAt); t.Valid {
		h.flags, h.updateAt = h.flags|hotUpdated, t.Int64
	}
	return h, true
}

// sameText reports whether o's registry strings are those of h.
func (h *hotOutlet) sameText(o *publicmask.Outlet) bool {
	p := h.outlet()
	return p.Code == o.Code && p.Name == o.Name && p.Addr == o.Addr && p.Type == o.Type
}

// code is the outlet's code (the copy's key).
func (h *hotOutlet) code() string { return h.text[:h.codeLen] }

// outlet unpacks the row: its strings are parts of the one text.
func (h *hotOutlet) outlet() publicmask.Outlet {
	n, a := int(h.codeLen)+int(h.nameLen), int(h.codeLen)+int(h.nameLen)+int(h.addrLen)
	return publicmask.Outlet{
		Code: h.text[:h.codeLen], Name: h.text[h.codeLen:n], Addr: h.text[n:a], Type: h.text[a:],
		Lat: h.lat, Lng: h.lng, Stock: int(h.stock), Suspended: h.flags&hotSuspended != 0, Sold: int(h.sold),
		StockAt:   fromNullMicro(sql.NullInt64{Int64: h.stockAt, Valid: h.flags&hotStockAt != 0}),
		UpdatedAt: fromNullMicro(sql.NullInt64{Int64: h.updateAt, Valid: h.flags&hotUpdated != 0}),
		Version:   h.version,
	}
}

// hotOutlets is the copy's outlets by code: rows in chunks, found through
// an open-addressing table of row numbers (no map: a map of 540,000 rows
// took ~190 bytes an outlet for its slots alone, this ~15). A row whose
// outlet can no longer be packed is marked absent and keeps its place, so
// nothing is ever deleted from the table.
type hotOutlets struct {
	chunks [][]hotOutlet
	n      int
	slots  []uint32 // row number + 1; 0 = empty. len is a power of two.
	seed   maphash.Seed
}

const (
	hotChunkBits = 10
	hotChunk     = 1 << hotChunkBits
	hotAbsent    = 1 << 7 // the row's outlet is not held
)

func newHotOutlets() *hotOutlets {
	return &hotOutlets{slots: make([]uint32, 1024), seed: maphash.MakeSeed()}
}

func (t *hotOutlets) row(i uint32) *hotOutlet { return &t.chunks[i>>hotChunkBits][i&(hotChunk-1)] }

// find returns the row of code (held or absent), or nil.
func (t *hotOutlets) find(code string) *hotOutlet {
	mask := uint64(len(t.slots) - 1)
	for k := maphash.String(t.seed, code) & mask; ; k = (k + 1) & mask {
		s := t.slots[k]
		if s == 0 {
			return nil
		}
		if r := t.row(s - 1); r.code() == code {
			return r
		}
	}
}

// get returns the held row of code.
func (t *hotOutlets) get(code string) (*hotOutlet, bool) {
	r := t.find(code)
	if r == nil || r.flags&hotAbsent != 0 {
		return nil, false
	}
	return r, true
}

// add appends a row for a code not in the table.
func (t *hotOutlets) add(p hotOutlet) {
	if t.n&(hotChunk-1) == 0 {
		t.chunks = append(t.chunks, make([]hotOutlet, hotChunk))
	}
	*t.row(uint32(t.n)) = p
	t.n++
	if 2*t.n > len(t.slots) {
		t.slots = make([]uint32, 2*len(t.slots))
		for i := range t.n - 1 {
			t.place(uint32(i))
		}
	}
	t.place(uint32(t.n - 1))
}

func (t *hotOutlets) place(i uint32) {
	mask := uint64(len(t.slots) - 1)
	k := maphash.String(t.seed, t.row(i).code()) & mask
	for t.slots[k] != 0 {
		k = (k + 1) & mask
	}
	t.slots[k] = i + 1
}

// hold puts o (stored form) into the copy, or marks what the copy held of
// it absent if o cannot be packed. h.mu is held.
func (h *hot) hold(o *publicmask.Outlet) { h.holdAt(h.outlets.find(o.Code), o) }

// holdAt is hold with prev, the copy's row of o.Code (held or absent) or
// nil, found already.
func (h *hot) holdAt(prev *hotOutlet, o *publicmask.Outlet) {
	reuse := prev
	if prev != nil && prev.flags&hotAbsent != 0 {
		reuse = nil
	}
	p, ok := packOutlet(o, reuse)
	switch {
	case !ok && prev != nil:
		*prev = hotOutlet{text: strings.Clone(prev.code()), codeLen: prev.codeLen, flags: hotAbsent}
	case !ok:
	case prev != nil:
		*prev = p
	default:
		h.outlets.add(p)
	}
}
