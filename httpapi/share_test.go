package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/publicmask/publicmask/ledger"
)

// An outlet as the share sees it: by the token cache's ref, or by code
// alone (ref 0: a ledger that gave none).
type shareOutlet struct {
	ref  ledger.OutletRef
	code string
}

func (s shareOutlet) String() string { return fmt.Sprintf("%d/%s", s.ref, s.code) }

func (o *outletShares) acq(ctx context.Context, s shareOutlet) error {
	return o.acquire(ctx, s.ref, s.code)
}

func (o *outletShares) rel(s shareOutlet) { o.release(s.ref, s.code) }

// waiters is how many requests wait in s's line.
func (o *outletShares) waiters(s shareOutlet) int {
	_, key := o.word(s.ref, s.code)
	o.mu.Lock()
	defer o.mu.Unlock()
	if l := o.lines[key]; l != nil {
		return len(l.waiters)
	}
	return 0
}

// settled checks that nothing is held or waiting: every word 0 (no count,
// no waiting bit), no line.
func (o *outletShares) settled(t *testing.T, outlets ...shareOutlet) {
	t.Helper()
	o.mu.Lock()
	n := len(o.lines)
	o.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d lines left after every request left", n)
	}
	for _, s := range outlets {
		if w, _ := o.word(s.ref, s.code); w.Load() != 0 {
			t.Fatalf("outlet %v's word is %#x after every request left, want 0", s, w.Load())
		}
	}
}

// Both ways of naming an outlet, for tests that run on each.
var shareWays = []struct {
	name string
	a, b shareOutlet
}{
	{"ref", shareOutlet{1, "A"}, shareOutlet{2, "B"}},
	{"code", shareOutlet{0, "A"}, shareOutlet{0, "B"}},
}

// TestOutletShares: an outlet's requests beyond its share wait in its own
// line, in turn; beyond the line, refused (429); a wait that outlasts the
// timeout is overloaded (503), one whose client went away ends with the
// context; other outlets are never held; a line is dropped with its last
// waiter and the word is back to 0 with the last request.
func TestOutletShares(t *testing.T) {
	for _, way := range shareWays {
		t.Run(way.name, func(t *testing.T) {
			A, B := way.a, way.b
			waiting := prometheus.NewGauge(prometheus.GaugeOpts{Name: "w"})
			o := newOutletShares(2, 1, 200*time.Millisecond, waiting)
			ctx := context.Background()
			for range 2 {
				if err := o.acq(ctx, A); err != nil {
					t.Fatal(err)
				}
			}
			// Outlet B is not behind A's share.
			if err := o.acq(ctx, B); err != nil {
				t.Fatalf("another outlet refused while A's share is in use: %v", err)
			}
			// A's third request waits; a fourth finds the line (1) full.
			got := make(chan error, 1)
			go func() { got <- o.acq(ctx, A) }()
			waitFor(t, "A's third request to wait", func() bool { return o.waiters(A) == 1 })
			if w := gaugeValue(waiting); w != 1 {
				t.Fatalf("the waiting gauge reads %v with one request in A's line, want 1", w)
			}
			if err := o.acq(ctx, A); !errors.Is(err, errOutletShare) {
				t.Fatalf("a request beyond the line: %v, want errOutletShare", err)
			}
			select {
			case err := <-got:
				t.Fatalf("the waiting request went in while the share was full: %v", err)
			case <-time.After(20 * time.Millisecond):
			}
			o.rel(A)
			if err := <-got; err != nil {
				t.Fatalf("the waiting request after a release: %v", err)
			}
			// The share is full again (the second and third): a wait times out as overloaded, a
			// cancelled one ends with its context.
			if err := o.acq(ctx, A); !errors.Is(err, errOverloaded) {
				t.Fatalf("a wait past the timeout: %v, want errOverloaded", err)
			}
			cctx, cancel := context.WithCancel(ctx)
			go func() { time.Sleep(20 * time.Millisecond); cancel() }()
			if err := o.acq(cctx, A); !errors.Is(err, context.Canceled) {
				t.Fatalf("a wait whose client went away: %v, want context.Canceled", err)
			}
			o.rel(A)
			o.rel(A)
			o.rel(B)
			o.settled(t, A, B)
			if w := gaugeValue(waiting); w != 0 {
				t.Fatalf("the waiting gauge reads %v with no request waiting", w)
			}
		})
	}
}

// TestOutletSharesBound: many goroutines of one outlet never hold more than
// its share at once, and all get through.
func TestOutletSharesBound(t *testing.T) {
	for _, way := range shareWays {
		t.Run(way.name, func(t *testing.T) {
			const share, n = 4, 200
			o := newOutletShares(share, n, 10*time.Second, prometheus.NewGauge(prometheus.GaugeOpts{Name: "w"}))
			var mu sync.Mutex
			in, most := 0, 0
			var wg sync.WaitGroup
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := o.acq(context.Background(), way.a); err != nil {
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
					o.rel(way.a)
				}()
			}
			wg.Wait()
			if most > share || most == 0 {
				t.Fatalf("at most %d inside at once, want 1..%d", most, share)
			}
			o.settled(t, way.a)
		})
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
	for _, way := range shareWays {
		t.Run(way.name, func(t *testing.T) {
			A := way.a
			o := newOutletShares(1, 10, 5*time.Second, prometheus.NewGauge(prometheus.GaugeOpts{Name: "w"}))
			if err := o.acq(context.Background(), A); err != nil {
				t.Fatal(err)
			}
			order := make(chan int, 3)
			for i := range 3 {
				go func() {
					if err := o.acq(context.Background(), A); err != nil {
						t.Error(err)
					}
					order <- i
				}()
				waitFor(t, "the next request to wait", func() bool { return o.waiters(A) == i+1 })
			}
			for want := range 3 {
				o.rel(A)
				if got := <-order; got != want {
					t.Fatalf("request %d got the place, want %d (first come, first served)", got, want)
				}
			}
			o.rel(A)
			o.settled(t, A)
		})
	}
}

// TestOutletSharesNoAllocation: a request of an outlet below its share, the
// common case, allocates nothing and makes no line.
func TestOutletSharesNoAllocation(t *testing.T) {
	o := newOutletShares(32, 1024, time.Second, prometheus.NewGauge(prometheus.GaugeOpts{Name: "w"}))
	ctx := context.Background()
	outlets := []shareOutlet{{1, "11111111"}, {2, "22222222"}, {3000, "33333333"}}
	if n := testing.AllocsPerRun(1000, func() {
		for _, s := range outlets {
			if err := o.acq(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range outlets {
			o.rel(s)
		}
	}); n != 0 {
		t.Fatalf("%v allocations a run of three requests, want 0", n)
	}
	o.settled(t, outlets...)
}

// TestOutletSharesFastPathTakesNoLock: below the share, a request of an
// outlet with a ref goes in and out while the shares' mutex is held by
// someone else (it takes neither the mutex nor the map).
func TestOutletSharesFastPathTakesNoLock(t *testing.T) {
	o := newOutletShares(2, 8, time.Second, prometheus.NewGauge(prometheus.GaugeOpts{Name: "w"}))
	A := shareOutlet{7, "A"}
	o.word(A.ref, A.code) // the table's chunk, made once
	o.mu.Lock()
	done := make(chan error, 1)
	go func() {
		for range 100 {
			if err := o.acq(context.Background(), A); err != nil {
				done <- err
				return
			}
			if err := o.acq(context.Background(), A); err != nil {
				done <- err
				return
			}
			o.rel(A)
			o.rel(A)
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("requests below the share waited for the mutex")
	}
	o.mu.Unlock()
	o.settled(t, A)
}

// TestOutletSharesHandOffAtTimeout: a release and the end of the only
// waiter's wait meet at the mutex, in either order: the waiter answers
// with its context's error, the place is not lost and not counted twice,
// and the line lets the fast way in again.
func TestOutletSharesHandOffAtTimeout(t *testing.T) {
	for _, way := range shareWays {
		t.Run(way.name, func(t *testing.T) {
			A := way.a
			o := newOutletShares(1, 8, 5*time.Second, prometheus.NewGauge(prometheus.GaugeOpts{Name: "w"}))
			for range 40 {
				if err := o.acq(context.Background(), A); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				got := make(chan error, 1)
				go func() { got <- o.acq(ctx, A) }()
				waitFor(t, "the waiter", func() bool { return o.waiters(A) == 1 })
				// Both reach for the mutex while it is held: the waiter
				// (its context done) and the holder's release.
				o.mu.Lock()
				cancel()
				released := make(chan struct{})
				go func() { o.rel(A); close(released) }()
				time.Sleep(time.Millisecond)
				o.mu.Unlock()
				if err := <-got; !errors.Is(err, context.Canceled) {
					t.Fatalf("the waiter: %v, want context.Canceled", err)
				}
				<-released
				o.settled(t, A)
				// The fast way in works again, to the share and no further.
				if err := o.acq(context.Background(), A); err != nil {
					t.Fatal(err)
				}
				if w, _ := o.word(A.ref, A.code); w.Load() != 1 {
					t.Fatalf("word %#x after one request, want 1", w.Load())
				}
				o.rel(A)
			}
		})
	}
}

// TestOutletSharesStress: many goroutines on a few outlets (by ref and by
// code), each request holding its place a random while, some giving up
// early: no outlet ever has more than its share inside, a request is
// refused only as the line's bound, its timeout or its context allow, no
// wake-up is lost (every patient request gets in), and everything is back
// to 0 at the end. Run it with -race.
func TestOutletSharesStress(t *testing.T) {
	const share, lineMax, perOutlet, tries = 3, 100, 200, 5
	outlets := []shareOutlet{{1, "A"}, {2, "B"}, {1500, "C"}, {0, "D"}, {0, "E"}}
	waiting := prometheus.NewGauge(prometheus.GaugeOpts{Name: "w"})
	o := newOutletShares(share, lineMax, 10*time.Second, waiting)
	var wg sync.WaitGroup
	var admitted, refused, gaveUp atomic.Int64
	for _, s := range outlets {
		var inside atomic.Int32
		one := func(r *rand.Rand) {
			ctx := context.Background()
			impatient := r.IntN(5) == 0
			if impatient {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, time.Duration(r.IntN(300))*time.Microsecond)
				defer cancel()
			}
			err := o.acq(ctx, s)
			switch {
			case err == nil:
			case errors.Is(err, errOutletShare):
				refused.Add(1)
				return
			case impatient && errors.Is(err, context.DeadlineExceeded):
				gaveUp.Add(1)
				return
			default:
				t.Errorf("outlet %v: %v", s, err)
				return
			}
			admitted.Add(1)
			if n := inside.Add(1); n > share {
				t.Errorf("outlet %v: %d inside, share %d", s, n, share)
			}
			for range r.IntN(4) {
				runtime.Gosched()
			}
			inside.Add(-1)
			o.rel(s)
		}
		for i := range perOutlet {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(i), uint64(s.ref)))
				for range tries {
					one(r)
				}
			}()
		}
	}
	wg.Wait()
	o.settled(t, outlets...)
	if w := gaugeValue(waiting); w != 0 {
		t.Fatalf("the waiting gauge reads %v at the end", w)
	}
	t.Logf("admitted %d, refused (line full) %d, gave up %d", admitted.Load(), refused.Load(), gaveUp.Load())
	if admitted.Load() == 0 {
		t.Fatal("nothing admitted")
	}
}

// TestOutletSharesOrder: with arrivals one after another (each next
// request comes once the last one is inside or in the line) and releases
// at any time, places are given in the order of arrival — a new request
// never passes the waiters — and no waiter is left behind: a patient one
// always gets in, an impatient one (a context of a few µs) may give up.
// Share 1, so the order in which requests find themselves inside is the
// order the places were given.
func TestOutletSharesOrder(t *testing.T) {
	const perOutlet = 300
	outlets := []shareOutlet{{1, "A"}, {2, "B"}, {0, "C"}}
	o := newOutletShares(1, perOutlet, 10*time.Second, prometheus.NewGauge(prometheus.GaugeOpts{Name: "w"}))
	queued := make(map[lineKey]chan struct{})
	for _, s := range outlets {
		_, key := o.word(s.ref, s.code)
		queued[key] = make(chan struct{}, perOutlet)
	}
	var lined atomic.Int64 // requests that stood in a line
	o.queued = func(k lineKey) { lined.Add(1); queued[k] <- struct{}{} }
	var outer sync.WaitGroup
	for oi, s := range outlets {
		_, key := o.word(s.ref, s.code)
		outer.Add(1)
		go func() {
			defer outer.Done()
			var mu sync.Mutex
			var served []int
			var inside atomic.Int32
			var wg sync.WaitGroup
			r := rand.New(rand.NewPCG(uint64(oi), 7))
			for i := range perOutlet {
				impatient := r.IntN(4) == 0
				settled := make(chan struct{})
				hold := r.IntN(3)
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx := context.Background()
					if impatient {
						var cancel context.CancelFunc
						ctx, cancel = context.WithTimeout(ctx, 20*time.Microsecond)
						defer cancel()
					}
					err := o.acq(ctx, s)
					if err != nil {
						close(settled)
						if !impatient || !errors.Is(err, context.DeadlineExceeded) {
							t.Errorf("outlet %v, request %d: %v", s, i, err)
						}
						return
					}
					if inside.Add(1) > 1 {
						t.Errorf("outlet %v: two inside with a share of 1", s)
					}
					mu.Lock()
					served = append(served, i)
					mu.Unlock()
					close(settled)
					for range hold {
						runtime.Gosched()
					}
					inside.Add(-1)
					o.rel(s)
				}()
				select {
				case <-settled:
					// It may have been in the line first: its note was
					// sent before it got in, so it is read now, not
					// taken for the next request's.
					select {
					case <-queued[key]:
					default:
					}
				case <-queued[key]:
				case <-time.After(10 * time.Second):
					t.Errorf("outlet %v, request %d: neither in nor in line", s, i)
					return
				}
			}
			wg.Wait()
			for j := 1; j < len(served); j++ {
				if served[j] < served[j-1] {
					t.Errorf("outlet %v: request %d got in after request %d, which came later", s, served[j], served[j-1])
					return
				}
			}
			if len(served) < perOutlet*6/10 {
				t.Errorf("outlet %v: only %d of %d served", s, len(served), perOutlet)
			}
		}()
	}
	outer.Wait()
	t.Logf("%d of %d requests stood in a line", lined.Load(), perOutlet*len(outlets))
	if lined.Load() == 0 {
		t.Fatal("no request stood in a line: the test tests nothing")
	}
	o.queued = nil
	o.settled(t, outlets...)
}

// TestOutletSharesReleaseAsFirstWaiterComes: the last place comes back
// just as a request finds the share full and becomes the line's first
// waiter, round after round: the request always gets in (a release that
// slipped between its look at the word and its joining the line must not
// leave it waiting for one that never comes).
func TestOutletSharesReleaseAsFirstWaiterComes(t *testing.T) {
	for _, way := range shareWays {
		t.Run(way.name, func(t *testing.T) {
			A := way.a
			o := newOutletShares(1, 8, 500*time.Millisecond, prometheus.NewGauge(prometheus.GaugeOpts{Name: "w"}))
			r := rand.New(rand.NewPCG(1, 2))
			for i := range 3000 {
				if err := o.acq(context.Background(), A); err != nil {
					t.Fatal(err)
				}
				got := make(chan error, 1)
				go func() { got <- o.acq(context.Background(), A) }()
				for range r.IntN(8) {
					runtime.Gosched()
				}
				o.rel(A)
				if err := <-got; err != nil {
					t.Fatalf("round %d: the request that came as the place came back: %v", i, err)
				}
				o.rel(A)
			}
			o.settled(t, A)
		})
	}
}
