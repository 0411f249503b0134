package snapshot

import (
	"context"
	"slices"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/seed"
)

// TestHeldSliceReusedWhileBulkHolds: three import bodies of new outlets,
// each begun before the one before it ends (as two bodies in flight
// overlap), held back in commits: the later bodies' held changes grow into
// the memory the earlier one's release left, every body's outlets are in
// the snapshot when its end returns, at their versions, and once no bulk
// write holds nothing of it is kept.
func TestHeldSliceReusedWhileBulkHolds(t *testing.T) {
	const body, chunk = 6000, 1000
	outlets := seed.Outlets(seed.Options{Seed: 19, Count: 3 * body})
	slices.SortFunc(outlets, func(a, b publicmask.Outlet) int { return cmpStr(a.Code, b.Code) })
	for i := range outlets {
		outlets[i].Version = int64(i + 1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := NewRefresher(newFakeSource(nil), Options{Clock: func() time.Time { return t0 }})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	reused := false
	done := r.Bulk()
	for lo := 0; lo < len(outlets); lo += body {
		for c := lo; c < lo+body; c += chunk {
			r.Notify(outlets[c : c+chunk])
			if err := r.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			r.mu.Lock()
			if lo > 0 && c == lo && cap(r.deferred) >= body {
				reused = true // the first commit of a later body held in the spare
			}
			r.mu.Unlock()
		}
		next := func(context.Context) error { return nil }
		if lo+body < len(outlets) {
			next = r.Bulk() // the next body begins before this one ends
		}
		if err := done(ctx); err != nil {
			t.Fatal(err)
		}
		s := r.Current()
		if s.Len() != lo+body {
			t.Fatalf("%d outlets after body %d, want %d", s.Len(), lo/body, lo+body)
		}
		for _, o := range outlets[:lo+body] {
			if e, ok := s.Lookup(o.Code); !ok || e.Version != o.Version || e.Addr() != o.Addr {
				t.Fatalf("%s after body %d: %v %v", o.Code, lo/body, ok, e)
			}
		}
		if lo+body < len(outlets) {
			r.mu.Lock()
			for i, o := range r.spare[:cap(r.spare)] {
				if o != (publicmask.Outlet{}) {
					t.Fatalf("the spare keeps %s at %d", o.Code, i)
				}
			}
			r.mu.Unlock()
		}
		done = next
	}
	if !reused {
		t.Error("no later body's held changes grew into the spare")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.spare != nil || r.holds != 0 {
		t.Errorf("after the last bulk write: spare of %d kept, %d holds", cap(r.spare), r.holds)
	}
}
