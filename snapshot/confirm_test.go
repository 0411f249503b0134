package snapshot

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"
)

// failingSource fails OutletChanges while down is set (a store or standby
// that cannot be reached).
type failingSource struct {
	*fakeSource
	down   atomic.Bool
	failed atomic.Int64 // calls refused while down
}

func (f *failingSource) OutletChanges(ctx context.Context, after int64, limit int) ([]publicmask.Outlet, error) {
	if f.down.Load() {
		f.failed.Add(1)
		return nil, errors.New("store unreachable")
	}
	return f.fakeSource.OutletChanges(ctx, after, limit)
}

// syncClock is a service clock the test moves by hand.
type syncClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *syncClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *syncClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// as_of is when the node last knew its snapshot current (§6.13): polls that
// find nothing new move it forward, keeping the version and the data; while
// the store cannot be polled it stays, so its age grows.
func TestPollConfirmsQuietSnapshot(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &failingSource{fakeSource: newFakeSource(synthetic(50, 2))}
	clk := &syncClock{t: t0}
	r := NewRefresher(src, Options{Clock: clk.now, PollInterval: 5 * time.Millisecond, ConfirmEvery: time.Second})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	first := r.Current()
	waitAsOf := func(want time.Time) *Snapshot {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if s := r.Current(); !s.AsOf().Before(want) {
				return s
			}
			time.Sleep(2 * time.Millisecond)
		}
		t.Fatalf("as_of stayed at %v, want ≥ %v", r.Current().AsOf(), want)
		return nil
	}
	clk.add(3 * time.Second)
	s := waitAsOf(t0.Add(3 * time.Second))
	if s.Version() != first.Version() || s.Len() != first.Len() || s.At(0) != first.At(0) {
		t.Fatalf("a confirmation changed the data: version %d→%d", first.Version(), s.Version())
	}
	if s.AsOfString() == first.AsOfString() {
		t.Fatal("as_of header value not updated")
	}

	// Store down: the snapshot keeps being served with its old as_of.
	src.down.Store(true)
	// A poll that read the store before it went down confirms the snapshot
	// on the apply goroutine, with the clock as it reads it then: that must
	// be done before the clock moves. (A 20 ms sleep did not always cover
	// it on a loaded machine, and the late confirmation took the moved
	// clock.) Polls run one at a time, so once one has failed no earlier
	// one is in flight; the apply goroutine runs its iterations one at a
	// time, so the second of two synced notifications (same version: no
	// change) begins only after the iteration that took the last
	// confirmation has finished.
	for deadline := time.Now().Add(5 * time.Second); src.failed.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no poll failed with the store down")
		}
	}
	same := first.At(0).Outlet() // its version: already applied, changes nothing
	for range 2 {
		r.Notify([]publicmask.Outlet{same})
		if err := r.Sync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	held := r.Current().AsOf()
	clk.add(10 * time.Second)
	for range 20 { // several poll intervals: none may confirm
		time.Sleep(5 * time.Millisecond)
		if got := r.Current().AsOf(); !got.Equal(held) {
			t.Fatalf("as_of moved to %v while the store was down", got)
		}
	}
	// Back: a change made meanwhile shows, with a fresh as_of.
	all, _, _ := src.Outlets(ctx)
	o := all[3]
	o.Stock = 7
	o = src.put(o)
	src.down.Store(false)
	waitAsOf(held.Add(10 * time.Second))
	deadline := time.Now().Add(5 * time.Second)
	for r.Current().Version() < o.Version && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if r.Current().Version() != o.Version {
		t.Fatalf("version %d after the store came back, want %d", r.Current().Version(), o.Version)
	}
}

// Without polling (the ledger in the same process notifies every commit),
// the snapshot is confirmed on a timer.
func TestInProcessSnapshotConfirmed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := &syncClock{t: t0}
	r := NewRefresher(newFakeSource(synthetic(10, 1)), Options{Clock: clk.now, ConfirmEvery: 10 * time.Millisecond})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	clk.add(time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for r.Current().AsOf().Before(t0.Add(time.Hour)) {
		if time.Now().After(deadline) {
			t.Fatalf("as_of stayed at %v", r.Current().AsOf())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// Subscribers get a batch's entries in version order (the stream's ids).
func TestSubscribersSeeVersionsInOrder(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := newFakeSource(synthetic(300, 3))
	r := NewRefresher(src, Options{})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	sub := r.Subscribe(1024, nil)
	defer sub.Close()
	all, _, _ := src.Outlets(ctx)
	var changed []publicmask.Outlet
	for _, o := range all {
		o.Stock++
		changed = append(changed, src.put(o))
	}
	r.Notify(changed) // one batch, handed over in code order
	var last int64
	seen := 0
	for seen < len(changed) {
		select {
		case batch := <-sub.C:
			for _, e := range batch {
				if e.Version <= last {
					t.Fatalf("version %d after %d", e.Version, last)
				}
				last = e.Version
				seen++
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("saw %d of %d changes", seen, len(changed))
		}
	}
}
