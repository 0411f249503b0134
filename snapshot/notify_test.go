package snapshot

import (
	"fmt"
	"testing"

	publicmask "github.com/publicmask/publicmask"
)

// Notify keeps the lists it is given; they are merged into the pending set
// when the apply goroutine (or a bulk write's end) takes it: the newest
// version per outlet wins whatever order the lists came in.
func TestNotifyFoldsNewestVersion(t *testing.T) {
	r := NewRefresher(newFakeSource(nil), Options{})
	r.Notify([]publicmask.Outlet{{Code: "1", Version: 5, Stock: 50}, {Code: "2", Version: 6}})
	r.Notify([]publicmask.Outlet{{Code: "1", Version: 3, Stock: 30}}) // an older version, later (several writers)
	r.Notify([]publicmask.Outlet{{Code: "2", Version: 9, Stock: 90}})
	r.Notify(nil)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seq != 3 {
		t.Fatalf("seq %d after three lists", r.seq)
	}
	r.foldNotified()
	if len(r.notified) != 0 || len(r.pending) != 2 || r.pending["1"].Stock != 50 || r.pending["2"].Stock != 90 {
		t.Fatalf("pending %v, notified %d; want 1 at version 5 and 2 at version 9", r.pending, len(r.notified))
	}
}

// BenchmarkNotifyImportChunk: what Notify costs the ledger's writer for an
// import chunk of 2,000 new outlets (the apply goroutine's merge is not
// timed).
func BenchmarkNotifyImportChunk(b *testing.B) {
	r := NewRefresher(newFakeSource(nil), Options{})
	const chunk = 2000
	lists := make([][]publicmask.Outlet, 64)
	for n := range lists {
		for i := range chunk {
			lists[n] = append(lists[n], publicmask.Outlet{Code: fmt.Sprintf("%02d%06d", n, i), Version: int64(n*chunk + i + 1)})
		}
	}
	b.ResetTimer()
	for n := range b.N {
		r.Notify(lists[n%len(lists)])
		if n%len(lists) == len(lists)-1 {
			b.StopTimer()
			r.mu.Lock()
			r.foldNotified()
			r.pending = make(map[string]publicmask.Outlet)
			r.mu.Unlock()
			b.StartTimer()
		}
	}
}
