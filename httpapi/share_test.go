package httpapi

import (
	"context"
	"errors"
	"sync"
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
	a1, err := o.acquire(ctx, "A")
	if err != nil {
		t.Fatal(err)
	}
	a2, err := o.acquire(ctx, "A")
	if err != nil {
		t.Fatal(err)
	}
	// Outlet B is not behind A's share.
	b1, err := o.acquire(ctx, "B")
	if err != nil {
		t.Fatalf("another outlet refused while A's share is in use: %v", err)
	}
	// A's third request waits; a fourth finds the line (1) full.
	got := make(chan error, 1)
	var a3 *outletLine
	go func() {
		var err error
		a3, err = o.acquire(ctx, "A")
		got <- err
	}()
	waitFor(t, "A's third request to wait", func() bool { o.mu.Lock(); defer o.mu.Unlock(); return o.lines["A"].waiting == 1 })
	if w := gaugeValue(waiting); w != 1 {
		t.Fatalf("the waiting gauge reads %v with one request in A's line, want 1", w)
	}
	if _, err := o.acquire(ctx, "A"); !errors.Is(err, errOutletShare) {
		t.Fatalf("a request beyond the line: %v, want errOutletShare", err)
	}
	select {
	case err := <-got:
		t.Fatalf("the waiting request went in while the share was full: %v", err)
	case <-time.After(20 * time.Millisecond):
	}
	o.release("A", a1)
	if err := <-got; err != nil {
		t.Fatalf("the waiting request after a release: %v", err)
	}
	// The share is full again (a2, a3): a wait times out as overloaded, a
	// cancelled one ends with its context.
	if _, err := o.acquire(ctx, "A"); !errors.Is(err, errOverloaded) {
		t.Fatalf("a wait past the timeout: %v, want errOverloaded", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	go func() { time.Sleep(20 * time.Millisecond); cancel() }()
	if _, err := o.acquire(cctx, "A"); !errors.Is(err, context.Canceled) {
		t.Fatalf("a wait whose client went away: %v, want context.Canceled", err)
	}
	o.release("A", a2)
	o.release("A", a3)
	o.release("B", b1)
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
			l, err := o.acquire(context.Background(), "A")
			if err != nil {
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
			o.release("A", l)
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
