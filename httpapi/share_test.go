package httpapi

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestOutletShares: an outlet's requests beyond its share wait in its own
// line, in turn; beyond the line, refused (429); a wait that outlasts the
// timeout is overloaded (503), one whose client went away ends with the
// context; other outlets are never held; a line is dropped with its last
// request.
func TestOutletShares(t *testing.T) {
	waiting := prometheus.NewGauge(prometheus.GaugeOpts{Name: "w"})
	o := newOutletShares(2, 1, 200*time.Millisecond, waiting)
	ctx := context.Background()
	for range 2 {
		if err := o.acquire(ctx, "A", time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	// Outlet B is not behind A's share.
	if err := o.acquire(ctx, "B", time.Time{}); err != nil {
		t.Fatalf("another outlet refused while A's share is in use: %v", err)
	}
	// A's third request waits; a fourth finds the line (1) full.
	got := make(chan error, 1)
	go func() { got <- o.acquire(ctx, "A", time.Time{}) }()
	waitFor(t, "A's third request to wait", func() bool { o.mu.Lock(); defer o.mu.Unlock(); return len(o.lines["A"].waiters) == 1 })
	if w := gaugeValue(waiting); w != 1 {
		t.Fatalf("the waiting gauge reads %v with one request in A's line, want 1", w)
	}
	if err := o.acquire(ctx, "A", time.Time{}); !errors.Is(err, errOutletShare) {
		t.Fatalf("a request beyond the line: %v, want errOutletShare", err)
	}
	select {
	case err := <-got:
		t.Fatalf("the waiting request went in while the share was full: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	o.release("A")
	if err := <-got; err != nil {
		t.Fatalf("the waiting request after a release: %v", err)
	}
	// The share is full again (the second and third): a wait times out as overloaded, a
	// cancelled one ends with its context.
	if err := o.acquire(ctx, "A", time.Time{}); !errors.Is(err, errOverloaded) {
		t.Fatalf("a wait past the timeout: %v, want errOverloaded", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if err := o.acquire(cctx, "A", time.Time{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a wait whose client went away: %v, want context.Canceled", err)
	}
	o.release("A")
	o.release("A")
	o.release("B")
	if n := len(o.lines); n != 0 {
		t.Fatalf("%d lines left after every request left", n)
	}
	if w := gaugeValue(waiting); w != 0 {
		t.Fatalf("the waiting gauge reads %v with no request waiting", w)
	}
}

// TestOutletSharesBound: many goroutines of one outlet never hold more than
// its share at once, and all get through.
func TestOutletSharesBound(t *testing.T) {
	const share, n = 4, 200
	o := newOutletShares(share, n, 10*time.Second, prometheus.NewGauge(prometheus.GaugeOpts{Name: "w"}))
	var mu sync.Mutex
	in, most := 0, 0
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := o.acquire(context.Background(), "A", time.Time{}); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			in++
			most = max(most, in)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			in--
			mu.Unlock()
			o.release("A")
		}()
	}
	wg.Wait()
	if most > share || most == 0 {
		t.Fatalf("at most %d inside at once, want 1..%d", most, share)
	}
	if len(o.lines) != 0 {
		t.Fatalf("%d lines left", len(o.lines))
	}
}

func gaugeValue(g prometheus.Gauge) float64 {
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		panic(err)
	}
	return m.GetGauge().GetValue()
}

// TestOutletSharesFIFO: an outlet's waiting requests get their places in
// the order they came.
func TestOutletSharesFIFO(t *testing.T) {
	o := newOutletShares(1, 10, 5*time.Second, prometheus.NewGauge(prometheus.GaugeOpts{Name: "w"}))
	if err := o.acquire(context.Background(), "A", time.Time{}); err != nil {
		t.Fatal(err)
	}
	order := make(chan int, 3)
	for i := range 3 {
		go func() {
			if err := o.acquire(context.Background(), "A", time.Time{}); err != nil {
				t.Error(err)
			}
			order <- i
		}()
		waitFor(t, "the next request to wait", func() bool { o.mu.Lock(); defer o.mu.Unlock(); return len(o.lines["A"].waiters) == i+1 })
	}
	for want := range 3 {
		o.release("A")
		if got := <-order; got != want {
			t.Fatalf("request %d got the place, want %d (first come, first served)", got, want)
		}
	}
	o.release("A")
	if len(o.lines) != 0 {
		t.Fatalf("%d lines left", len(o.lines))
	}
}

// TestOutletSharesNoAllocation: a request of an outlet with none other in
// flight, the common case, allocates nothing.
func TestOutletSharesNoAllocation(t *testing.T) {
	o := newOutletShares(32, 1024, time.Second, prometheus.NewGauge(prometheus.GaugeOpts{Name: "w"}))
	ctx := context.Background()
	codes := []string{"11111111", "22222222", "33333333"}
	if n := testing.AllocsPerRun(1000, func() {
		for _, c := range codes {
			if err := o.acquire(ctx, c, time.Time{}); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range codes {
			o.release(c)
		}
	}); n != 0 {
		t.Fatalf("%v allocations a run of three requests, want 0", n)
	}
}

// TestOutletSharesHandOffAtTimeout: a release and the end of the only
// waiter's wait meet at the mutex, in either order: the waiter answers
// with its context's error, the place is neither lost nor counted twice,
// and the line is dropped.
func TestOutletSharesHandOffAtTimeout(t *testing.T) {
	o := newOutletShares(1, 8, 5*time.Second, prometheus.NewGauge(prometheus.GaugeOpts{Name: "w"}))
	for range 40 {
		if err := o.acquire(context.Background(), "A", time.Time{}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		got := make(chan error, 1)
		go func() { got <- o.acquire(ctx, "A", time.Time{}) }()
		waitFor(t, "the waiter", func() bool { o.mu.Lock(); defer o.mu.Unlock(); return len(o.lines["A"].waiters) == 1 })
		// Both reach for the mutex while it is held: the waiter (its
		// context done) and the holder's release.
		o.mu.Lock()
		cancel()
		released := make(chan struct{})
		go func() { o.release("A"); close(released) }()
		time.Sleep(time.Millisecond)
		o.mu.Unlock()
		if err := <-got; !errors.Is(err, context.Canceled) {
			t.Fatalf("the waiter: %v, want context.Canceled", err)
		}
		<-released
		o.mu.Lock()
		n := len(o.lines)
		o.mu.Unlock()
		if n != 0 {
			t.Fatalf("%d lines left", n)
		}
	}
}

// TestOutletSharesStress: many goroutines on a few outlets, each request
// holding its place a random while, some giving up early: no outlet ever
// has more than its share inside, a request is refused only as the line's
// bound or its context allow, no patient request is left waiting, and no
// line is left at the end. Run it with -race.
func TestOutletSharesStress(t *testing.T) {
	const share, lineMax, perOutlet, tries = 3, 100, 200, 5
	outlets := []string{"A", "B", "C", "D", "E"}
	waiting := prometheus.NewGauge(prometheus.GaugeOpts{Name: "w"})
	o := newOutletShares(share, lineMax, 10*time.Second, waiting)
	var wg sync.WaitGroup
	var admitted, refused, gaveUp atomic.Int64
	for oi, s := range outlets {
		var inside atomic.Int32
		one := func(r *rand.Rand) {
			ctx := context.Background()
			impatient := r.IntN(5) == 0
			if impatient {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Duration(r.IntN(300))*time.Microsecond)
				defer cancel()
			}
			err := o.acquire(ctx, s, time.Time{})
			switch {
			case err == nil:
			case errors.Is(err, errOutletShare):
				refused.Add(1)
				return
			case impatient && errors.Is(err, context.DeadlineExceeded):
				gaveUp.Add(1)
				return
			default:
				t.Errorf("outlet %s: %v", s, err)
				return
			}
			admitted.Add(1)
			if n := inside.Add(1); n > share {
				t.Errorf("outlet %s: %d inside, share %d", s, n, share)
			}
			for range r.IntN(4) {
				runtime.Gosched()
			}
			inside.Add(-1)
			o.release(s)
		}
		for i := range perOutlet {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(i), uint64(oi)))
				for range tries {
					one(r)
				}
			}()
		}
	}
	wg.Wait()
	if n := len(o.lines); n != 0 {
		t.Fatalf("%d lines left", n)
	}
	if w := gaugeValue(waiting); w != 0 {
		t.Fatalf("the waiting gauge reads %v at the end", w)
	}
	t.Logf("admitted %d, refused (line full) %d, gave up %d", admitted.Load(), refused.Load(), gaveUp.Load())
	if admitted.Load() == 0 {
		t.Fatal("nothing admitted")
	}
}
