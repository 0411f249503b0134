package snapshot

import (
	"context"
	"sync"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"
)

// recordingSource records the "after" of every OutletChanges call and may
// declare its feed ordered.
type recordingSource struct {
	*fakeSource
	ordered bool
	mu      sync.Mutex
	afters  []int64
}

func (s *recordingSource) OrderedChanges() bool { return s.ordered }

func (s *recordingSource) OutletChanges(ctx context.Context, after int64, limit int) ([]publicmask.Outlet, error) {
	s.mu.Lock()
	s.afters = append(s.afters, after)
	s.mu.Unlock()
	return s.fakeSource.OutletChanges(ctx, after, limit)
}

func (s *recordingSource) lastAfter() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.afters[len(s.afters)-1]
}

// An ordered source is polled from the watermark only; any other source
// from the watermark of LateCommitWindow ago (TestPollWithLateCommit shows
// why).
func TestPollOrderedSourceFromWatermark(t *testing.T) {
	for _, ordered := range []bool{false, true} {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		src := &recordingSource{fakeSource: newFakeSource(synthetic(20, 7)), ordered: ordered}
		r := NewRefresher(src, Options{LateCommitWindow: time.Hour})
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		all, _, _ := src.Outlets(ctx)
		if err := r.Poll(ctx); err != nil {
			t.Fatal(err)
		}
		first := r.watermark
		for i := range 5 {
			o := all[i]
			o.Stock = 100 + i
			src.put(o)
			if err := r.Poll(ctx); err != nil {
				t.Fatal(err)
			}
		}
		want := first // the window (an hour) covers every poll so far
		if ordered {
			want = r.watermark - 1 // the poll that read the last change
		}
		if got := src.lastAfter(); got != want {
			t.Errorf("ordered %v: last poll read after %d, want %d (watermark %d)", ordered, got, want, r.watermark)
		}
		waitFor(t, func() bool { e, _ := r.Current().Lookup(all[4].Code); return e.Stock == 104 })
	}
}
