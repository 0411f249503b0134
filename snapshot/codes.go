package snapshot

import (
	"hash/maphash"
	"slices"
)

// codeIndex finds an outlet's position by its code: one sorted word an
// outlet, the top half of its code's hash above its position, and where
// each run of words with the same top bits starts (about four codes a run),
// so that a look-up reads a few neighbouring words instead of
// binary-searching the whole array. Unlike a map of strings it holds no
// pointers (the collector skips it) and takes about 9 bytes an outlet. The
// position beside the hash saves the look-up a second array's cache miss
// (the refresher looks up every outlet a commit changed); the 32 bits of
// hash left still make a false match, which the code's comparison
// catches, rare.
type codeIndex struct {
	key   []uint64 // hash's top 32 bits | position, ascending
	start []int32  // run b is key[start[b]:start[b+1]]
	shift uint     // a key's run is key >> shift
}

// posMask is a key's position part.
const posMask = 1<<32 - 1

var codeSeed = maphash.MakeSeed()

func codeHash(code string) uint64 { return maphash.String(codeSeed, code) }

// codeKey is the key of the code with hash h at position p.
func codeKey(h uint64, p int32) uint64 { return h&^posMask | uint64(uint32(p)) }

func newCodeIndex(at func(int) *Entry, n int) codeIndex {
	c := codeIndex{key: make([]uint64, n)}
	for i := range n {
		c.key[i] = codeKey(codeHash(at(i).Code()), int32(i))
	}
	slices.Sort(c.key)
	c.runs()
	return c
}

// runs sets where each run of keys starts, for len(c.key) codes.
func (c *codeIndex) runs() {
	n := len(c.key)
	bits := uint(1)
	for 1<<(bits+2) < n {
		bits++
	}
	c.start, c.shift = make([]int32, 1<<bits+1), 64-bits
	run := 0
	for i, k := range c.key {
		for ; run <= int(k>>c.shift); run++ {
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
	tag := codeHash(code) &^ posMask
	run := tag >> c.shift
	for _, k := range c.key[c.start[run]:c.start[run+1]] {
		if k&^posMask == tag && at(int(uint32(k))).Code() == code {
			return int32(uint32(k)), true
		}
	}
	return 0, false
}
