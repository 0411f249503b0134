package snapshot

import (
	"fmt"
	"testing"

	publicmask "github.com/publicmask/publicmask"
)

// TestCodeIndex finds every code at its position and no unknown code, for
// sizes around the run-table's boundaries.
func TestCodeIndex(t *testing.T) {
	for _, n := range []int{0, 1, 2, 7, 8, 9, 1000, 4097} {
		entries := make([]*Entry, n)
		for i := range entries {
			entries[i] = newEntry(publicmask.Outlet{Code: fmt.Sprintf("%08d", i*3), Name: "약국", Type: "01"}, Address{})
		}
		at := func(i int) *Entry { return entries[i] }
		c := newCodeIndex(at, n)
		for i, e := range entries {
			if p, ok := c.find(e.Code(), at); !ok || int(p) != i {
				t.Fatalf("n=%d: find(%s) = %d, %v; want %d", n, e.Code(), p, ok, i)
			}
		}
		for _, code := range []string{"", "00000001", "x", fmt.Sprintf("%08d", n*3)} {
			if p, ok := c.find(code, at); ok {
				t.Fatalf("n=%d: find(%q) = %d, want none", n, code, p)
			}
		}
	}
}
