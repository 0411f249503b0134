package snapshot

import (
	"context"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"
)

// Every point within m metres of a centre lies in one of cellsNear's cells,
// so the index never hides a change from a subscriber.
func TestCellsNearCoverTheCircle(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		lat, lng := 33+rng.Float64()*10, 124+rng.Float64()*8
		m := 1 + rng.Float64()*5000
		cells := map[cellKey]bool{}
		for _, k := range cellsNear(lat, lng, m) {
			cells[k] = true
		}
		if len(cells) == 0 || len(cells) > 16 {
			t.Fatalf("%d cells for m=%v", len(cells), m)
		}
		for range 50 {
			// A point just inside the circle, in a random direction.
			brg := rng.Float64() * 2 * math.Pi
			d := m * 0.999 / 111_320
			plat := lat + d*math.Cos(brg)
			plng := lng + d*math.Sin(brg)/math.Cos(lat*math.Pi/180)
			if Haversine(lat, lng, plat, plng) <= m && !cells[subCellOf(plat, plng)] {
				t.Fatalf("point %v,%v within %v m of %v,%v is in no cell", plat, plng, m, lat, lng)
			}
		}
	}
}

// A change is offered only to subscribers whose cells hold it: a thousand
// subscribers in Busan cost nothing when an outlet in Seoul sells.
func TestFanOutIndexedByCell(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := newFakeSource(synthetic(200, 5))
	r := NewRefresher(src, Options{Clock: func() time.Time { return t0 }})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	all, _, _ := src.Outlets(ctx)
	target := all[3]
	var farCalls atomic.Int64
	for i := range 1000 {
		lat, lng := 35.1+float64(i%10)*0.01, 129.0+float64(i/10)*0.001 // Busan
		r.subscribe(4, func(*Entry) bool { farCalls.Add(1); return true }, cellsNear(lat, lng, 5000))
	}
	near := r.SubscribeNear(4, target.Lat, target.Lng, 100)
	other := r.SubscribeNear(4, target.Lat+0.02, target.Lng, 100) // 2 km away
	target.Stock, target.UpdatedAt = 1, t0
	r.Notify([]publicmask.Outlet{src.put(target)})
	select {
	case b := <-near.C:
		if len(b) != 1 || b[0].Code() != target.Code {
			t.Fatalf("batch %+v", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the near subscriber got nothing")
	}
	// A second change, once delivered, proves the first fan-out finished.
	target.Stock = 2
	r.Notify([]publicmask.Outlet{src.put(target)})
	select {
	case <-near.C:
	case <-time.After(5 * time.Second):
		t.Fatal("the second change was not delivered")
	}
	if n := farCalls.Load(); n != 0 {
		t.Errorf("far subscribers were offered the change %d times", n)
	}
	select {
	case b := <-other.C:
		t.Errorf("a subscriber 2 km away got %+v", b)
	default:
	}
}

// Publishing runs beside the apply loop: a subscriber whose filter is stuck
// does not keep new snapshots from being applied.
func TestPublishingNeverBlocksApplying(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := newFakeSource(synthetic(200, 6))
	r := NewRefresher(src, Options{Clock: func() time.Time { return t0 }})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	stuck, entered := make(chan struct{}), make(chan struct{}, 1)
	defer close(stuck)
	r.Subscribe(1, func(*Entry) bool {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-stuck
		return false
	})
	all, _, _ := src.Outlets(ctx)
	o := all[0]
	o.Stock = 7
	r.Notify([]publicmask.Outlet{src.put(o)})
	<-entered // the publisher is now stuck in the filter
	for i := range 20 {
		o.Stock = 100 + i
		last := src.put(o)
		r.Notify([]publicmask.Outlet{last})
		waitFor(t, func() bool { return r.Current().Version() == last.Version })
	}
}
