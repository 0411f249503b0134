package snapshot

import (
	"cmp"
	"hash/maphash"
	"slices"
)

// codeIndex finds an outlet's position by its code: the codes' hashes,
// sorted, beside the positions. Unlike a map of strings it holds no
// pointers (the collector skips it) and takes 12 bytes an outlet.
type codeIndex struct {
	hash []uint64
	pos  []int32
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
		all[i] = hp{codeHash(at(i).Code), int32(i)}
	}
	slices.SortFunc(all, func(a, b hp) int { return cmp.Or(cmp.Compare(a.h, b.h), cmp.Compare(a.p, b.p)) })
	c := codeIndex{hash: make([]uint64, n), pos: make([]int32, n)}
	for i, x := range all {
		c.hash[i], c.pos[i] = x.h, x.p
	}
	return c
}

// find returns the position of code, checking the code itself (hashes
// may collide).
func (c codeIndex) find(code string, at func(int) *Entry) (int32, bool) {
	h := codeHash(code)
	i, _ := slices.BinarySearch(c.hash, h)
	for ; i < len(c.hash) && c.hash[i] == h; i++ {
		if at(int(c.pos[i])).Code == code {
			return c.pos[i], true
		}
	}
	return 0, false
}
