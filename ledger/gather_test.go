package ledger

import (
	"testing"
	"time"
)

// TestGatherHoldsSmallBatches: with GatherWait set, a batch of fewer than
// GatherBelow requests takes what is queued until GatherWait after its
// first request was queued, and starts as soon as it has GatherBelow; a
// batch whose first request has already waited that long, a node whose
// requests come less often than one per GatherWait, or a ledger without
// GatherWait starts at once.
func TestGatherHoldsSmallBatches(t *testing.T) {
	// A busy node: requests a millisecond apart, the last batch just taken.
	newL := func(wait time.Duration) *Ledger {
		l := &Ledger{cfg: Config{GatherWait: wait, GatherBelow: 4, MaxBatch: 256}, queue: make(chan *op, 16)}
		l.gap.mean.Store(int64(time.Millisecond))
		l.gap.last.Store(time.Now().UnixNano())
		return l
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	queued := func(at time.Time) *op { return &op{queued: at} }

	t.Run("fills up to GatherBelow", func(t *testing.T) {
		l := newL(10 * time.Second)
		go func() {
			for range 5 {
				time.Sleep(2 * time.Millisecond)
				l.queue <- queued(time.Now())
			}
		}()
		start := time.Now()
		ops := l.gather([]*op{queued(time.Now())}, timer)
		if len(ops) != 4 {
			t.Fatalf("gathered %d requests, want 4 (GatherBelow)", len(ops))
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("waited %v: a full batch must not wait for GatherWait", d)
		}
	})
	t.Run("waits GatherWait from the first request's queueing", func(t *testing.T) {
		l := newL(40 * time.Millisecond)
		first := queued(time.Now().Add(-20 * time.Millisecond))
		start := time.Now()
		ops := l.gather([]*op{first}, timer)
		if d := time.Since(start); len(ops) != 1 || d < 15*time.Millisecond || d > 2*time.Second {
			t.Fatalf("gathered %d requests after %v, want 1 after the ~20 ms left", len(ops), d)
		}
	})
	t.Run("starts at once", func(t *testing.T) {
		for name, l := range map[string]*Ledger{"waited already": newL(40 * time.Millisecond), "no GatherWait": newL(0)} {
			first := queued(time.Now().Add(-time.Second))
			if l.cfg.GatherWait == 0 {
				first = queued(time.Now())
			}
			start := time.Now()
			if ops := l.gather([]*op{first}, timer); len(ops) != 1 || time.Since(start) > 10*time.Millisecond {
				t.Fatalf("%s: gathered %d after %v, want 1 at once", name, len(ops), time.Since(start))
			}
		}
	})
	t.Run("a quiet node does not wait", func(t *testing.T) {
		l := newL(40 * time.Millisecond)
		l.gap.mean.Store(int64(time.Second)) // a request a second
		l.gap.last.Store(time.Now().Add(-time.Second).UnixNano())
		start := time.Now()
		if ops := l.gather([]*op{queued(time.Now())}, timer); len(ops) != 1 || time.Since(start) > 10*time.Millisecond {
			t.Fatalf("gathered %d after %v, want 1 at once", len(ops), time.Since(start))
		}
	})
	t.Run("a closed queue ends it", func(t *testing.T) {
		l := newL(10 * time.Second)
		close(l.queue)
		if ops := l.gather([]*op{queued(time.Now())}, timer); len(ops) != 1 {
			t.Fatalf("gathered %d, want 1", len(ops))
		}
	})
}

func TestArrivalGap(t *testing.T) {
	var a arrivalGap
	t0 := time.Unix(1000, 0)
	if g := a.observe(t0, 1); g != 0 {
		t.Fatalf("first batch: gap %v, want 0 (unknown)", g)
	}
	if g := a.observe(t0.Add(10*time.Millisecond), 5); g != 2*time.Millisecond {
		t.Fatalf("5 requests in 10 ms: gap %v, want 2ms", g)
	}
	// A quiet second moves the average an eighth of the way.
	if g := a.observe(t0.Add(1010*time.Millisecond), 1); g != 2*time.Millisecond+(time.Second-2*time.Millisecond)/8 {
		t.Fatalf("after a quiet second: gap %v", g)
	}
}
