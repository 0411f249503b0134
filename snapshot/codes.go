package snapshot

import (
	"cmp"
	"hash/maphash"
	"slices"
)

// codeIndex finds an outlet's position by its code: the codes' hashes,
// sorted, beside the positions, and where each run of hashes with the same
// top bits starts (about four codes a run), so that a look-up reads a few
// neighbouring words instead of binary-searching the whole array. Unlike a
// map of strings it holds no pointers (the collector skips it) and takes
// about 13 bytes an outlet.
type codeIndex struct {
	hash  []uint64
	pos   []int32
	start []int32 // run b is hash[start[b]:start[b+1]]
	shift uint    // a hash's run is hash >> shift
}

var codeSeed = maphash.MakeSeed()

func codeHash(code string) uint64 { return maphash.String(codeSeed, code) }

func newCodeIndex(at func(int) *Entry, n int) codeIndex {
	type hp struct {
		h uint64
		p int32
	}
	all := make([]hp, n)
	for i := range n {
		all[i] = hp{codeHash(at(i).Code()), int32(i)}
	}
	slices.SortFunc(all, func(a, b hp) int { return cmp.Or(cmp.Compare(a.h, b.h), cmp.Compare(a.p, b.p)) })
	c := codeIndex{hash: make([]uint64, n), pos: make([]int32, n)}
	for i, x := range all {
		c.hash[i], c.pos[i] = x.h, x.p
	}
	c.runs()
	return c
}

// runs sets where each run of hashes starts, for len(c.hash) codes.
func (c *codeIndex) runs() {
	n := len(c.hash)
	bits := uint(1)
	for 1<<(bits+2) < n {
		bits++
	}
	c.start, c.shift = make([]int32, 1<<bits+1), 64-bits
	run := 0
	for i, h := range c.hash {
		for ; run <= int(h>>c.shift); run++ {
			c.start[run] = int32(i)
		}
	}
	for ; run < len(c.start); run++ {
		c.start[run] = int32(n)
	}
}

// find returns the position of code, checking the code itself (hashes
// may collide).
func (c codeIndex) find(code string, at func(int) *Entry) (int32, bool) {
	h := codeHash(code)
	run := h >> c.shift
	for i := c.start[run]; i < c.start[run+1]; i++ {
		if c.hash[i] == h && at(int(c.pos[i])).Code() == code {
			return c.pos[i], true
		}
	}
	return 0, false
}
