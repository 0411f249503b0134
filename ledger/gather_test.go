package ledger

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// TestGatherHoldsSmallBatches: with GatherWait set, a batch of fewer than
// GatherBelow requests takes what is queued until GatherWait after its
// first request was queued, and starts as soon as it has GatherBelow; a
// batch whose first request has already waited that long, a node whose
// requests come less often than gatherCompany per GatherWait, or a ledger
// without GatherWait starts at once.
func TestGatherHoldsSmallBatches(t *testing.T) {
	// A busy node: requests a millisecond apart.
	newL := func(wait time.Duration) *Ledger {
		l := &Ledger{cfg: Config{GatherWait: wait, GatherBelow: 4, MaxBatch: 256}, queue: make(chan *op, 16), m: newMetrics(nil)}
		l.gap.set(time.Millisecond)
		l.gap.start = time.Now().Add(time.Hour) // the window stays open: the gap stays set
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
		// start before first's queueing: gather returns no sooner than
		// 20 ms after it, however late the goroutine runs in between.
		start := time.Now()
		first := queued(time.Now().Add(-20 * time.Millisecond))
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
			if ops := l.gather([]*op{first}, timer); len(ops) != 1 || counted(t, l) != 0 {
				t.Fatalf("%s: gathered %d, held %v, want 1 at once", name, len(ops), counted(t, l))
			}
		}
	})
	t.Run("a quiet node does not wait", func(t *testing.T) {
		l := newL(40 * time.Millisecond)
		l.gap.set(time.Second) // a request a second
		if ops := l.gather([]*op{queued(time.Now())}, timer); len(ops) != 1 || counted(t, l) != 0 {
			t.Fatalf("gathered %d, held %v, want 1 at once", len(ops), counted(t, l))
		}
	})
	t.Run("fewer than gatherCompany requests a GatherWait: no wait", func(t *testing.T) {
		// A 3 ms wait with a request every 2 ms: 500/s, or bench.sh step
		// 6's 300/s as a burst made it look (the old rule held a batch
		// whenever the gap was under GatherWait).
		l := newL(3 * time.Millisecond)
		for _, gap := range []time.Duration{3333 * time.Microsecond, 2 * time.Millisecond, l.cfg.GatherWait/gatherCompany + 1} {
			l.gap.set(gap)
			if ops := l.gather([]*op{queued(time.Now())}, timer); len(ops) != 1 || counted(t, l) != 0 {
				t.Fatalf("a request every %v: gathered %d, held %v, want 1 at once", gap, len(ops), counted(t, l))
			}
		}
		l.gap.set(l.cfg.GatherWait / gatherCompany) // just enough company
		if l.gather([]*op{queued(time.Now())}, timer); counted(t, l) != 1 {
			t.Fatalf("a request every GatherWait/gatherCompany: not held")
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

// TestArrivalGap: the gap is the mean over the last window of at least
// gapWindow, from the count of arrivals; a burst inside a window does not
// move it, a quiet spell shows at the next batch.
func TestArrivalGap(t *testing.T) {
	var a arrivalGap
	t0 := time.Unix(1000, 0)
	if g := a.observe(t0, 7); g != 0 {
		t.Fatalf("first batch: gap %v, want 0 (unknown)", g)
	}
	if g := a.observe(t0.Add(gapWindow/2), 7+20); g != 0 {
		t.Fatalf("a burst inside the first window: gap %v, want 0 (still unknown)", g)
	}
	if g := a.observe(t0.Add(30*time.Millisecond), 7+15); g != 2*time.Millisecond {
		t.Fatalf("15 requests in 30 ms: gap %v, want 2ms", g)
	}
	if g := a.observe(t0.Add(40*time.Millisecond), 7+15+10); g != 2*time.Millisecond {
		t.Fatalf("a burst inside the next window: gap %v, want 2ms still", g)
	}
	if g := a.observe(t0.Add(1030*time.Millisecond), 7+15+10+1); g != 1000*time.Millisecond/11 {
		t.Fatalf("11 requests in the quiet second after: gap %v, want %v", g, 1000*time.Millisecond/11)
	}
	if g := a.observe(t0.Add(3030*time.Millisecond), 7+15+10+1); g != 2*time.Second {
		t.Fatalf("nothing in 2 s: gap %v, want 2s", g)
	}
}

// counted is how many batches gather held.
func counted(t *testing.T, l *Ledger) float64 {
	var m dto.Metric
	if err := l.m.gathered.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// set makes d the gap measured last.
func (a *arrivalGap) set(d time.Duration) {
	a.mean = d
	a.last.Store(int64(d))
}

// TestArrivalsCountedAtEnqueue: the arrival rate that decides whether a
// batch may be held counts the requests enqueue takes (Ledger.arrived), so
// that a stream of requests turns holding on and a quiet node keeps it off.
func TestArrivalsCountedAtEnqueue(t *testing.T) {
	l := &Ledger{cfg: Config{GatherWait: 3 * time.Millisecond, GatherBelow: 32, MaxBatch: 256}, queue: make(chan *op, 512), m: newMetrics(nil)}
	// The windows' ends are given, not slept to: a sleep stretched by a
	// loaded machine (past 400 ms) made 400 requests look like a quiet node.
	t0 := time.Now()
	l.gap.observe(t0, l.arrived.Load()) // opens the window, as the first batch taken does
	if l.mayHold() {
		t.Fatal("a node that has seen no window may hold a batch")
	}
	for range 400 {
		if err := l.enqueue(t.Context(), &op{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	l.gap.observe(t0.Add(gapWindow), l.arrived.Load())
	if !l.mayHold() {
		t.Fatalf("400 requests in a window of %v: gap %v, holding not turned on", gapWindow, time.Duration(l.gap.last.Load()))
	}
	l.gap.observe(t0.Add(3*gapWindow), l.arrived.Load())
	if l.mayHold() {
		t.Fatalf("a window with no request: gap %v, holding still on", time.Duration(l.gap.last.Load()))
	}
}
