package ledger

import (
	"slices"
	"testing"
)

// chunkEnds cuts about every bulkChunk items, never inside a run of one
// outlet's items, and covers every item once.
func TestChunkEndsNeverSplitAnOutlet(t *testing.T) {
	run := func(lens ...int) []int { // outlet i has lens[i] consecutive items
		var ids []int
		for i, n := range lens {
			for range n {
				ids = append(ids, i)
			}
		}
		return ids
	}
	for _, c := range []struct {
		name string
		ids  []int
		want []int
	}{
		{"empty", nil, nil},
		{"one short chunk", run(1, 1, 1), []int{3}},
		{"exactly one chunk", run(slices.Repeat([]int{1}, bulkChunk)...), []int{bulkChunk}},
		{"one more", run(slices.Repeat([]int{1}, bulkChunk+1)...), []int{bulkChunk, bulkChunk + 1}},
		{"an outlet across the cut", run(bulkChunk-3, 10, 5), []int{bulkChunk + 7, bulkChunk + 12}},
		{"one outlet longer than a chunk", run(2, 2*bulkChunk+5, 1), []int{2*bulkChunk + 7, 2*bulkChunk + 8}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := chunkEnds(len(c.ids), func(i int) bool { return c.ids[i-1] == c.ids[i] })
			if !slices.Equal(got, c.want) {
				t.Fatalf("chunkEnds = %v, want %v", got, c.want)
			}
		})
	}
}
