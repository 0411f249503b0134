package snapshot

import (
	"context"
	"encoding/json"
	"math"
	"sync"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"
)

// sellSteadily applies a sale of n masks every step, count times, starting
// from o, and returns the final snapshot and outlet.
func sellSteadily(s *Snapshot, o publicmask.Outlet, at time.Time, step time.Duration, n, count int) (*Snapshot, publicmask.Outlet, time.Time) {
	for range count {
		at = at.Add(step)
		o.Stock -= n
		o.Sold += n
		o.UpdatedAt = at
		o.Version++
		s, _ = s.apply([]publicmask.Outlet{o}, at)
	}
	return s, o, at
}

func TestForecastRateAndSellout(t *testing.T) {
	tests := []struct {
		name     string
		step     time.Duration
		n, count int
		wantRate float64 // masks per hour
	}{
		{"one sale of 2 every 30 s for 5 min", 30 * time.Second, 2, 10, 240},
		{"one of 2 every 6 s for an hour", 6 * time.Second, 2, 600, 1200},
		{"one of 1 every 2 min for 40 min", 2 * time.Minute, 1, 20, 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := pharmacy(5000)
			s := build([]publicmask.Outlet{o}, 1, t0)
			if f := s.At(0).Forecast(); f.SalesPerHour != 0 || !f.SelloutAt.IsZero() {
				t.Fatalf("before any sale: %+v", f)
			}
			s, o, at := sellSteadily(s, o, t0, tc.step, tc.n, tc.count)
			f := s.At(0).Forecast()
			if math.Abs(f.SalesPerHour-tc.wantRate)/tc.wantRate > 0.02 {
				t.Fatalf("rate %.1f/h, want about %.0f/h", f.SalesPerHour, tc.wantRate)
			}
			wantOut := at.Add(time.Duration(float64(o.Stock) / tc.wantRate * float64(time.Hour)))
			if d := f.SelloutAt.Sub(wantOut); d.Abs() > time.Duration(0.02*float64(wantOut.Sub(at))) {
				t.Fatalf("sellout %v, want about %v", f.SelloutAt, wantOut)
			}
		})
	}
}

func TestForecastNullWhenSuspendedEmptyOrIdle(t *testing.T) {
	o := pharmacy(200)
	s := build([]publicmask.Outlet{o}, 1, t0)
	s, o, at := sellSteadily(s, o, t0, 20*time.Second, 2, 20)
	if f := s.At(0).Forecast(); f.SelloutAt.IsZero() {
		t.Fatalf("selling outlet has no sellout: %+v", f)
	}
	check := func(what string, o publicmask.Outlet, wantSellout bool) *Snapshot {
		t.Helper()
		o.Version++
		ns, _ := s.apply([]publicmask.Outlet{o}, o.UpdatedAt)
		f := ns.At(0).Forecast()
		if f.SelloutAt.IsZero() == wantSellout {
			t.Fatalf("%s: forecast %+v, want sellout %v", what, f, wantSellout)
		}
		var v map[string]any
		if err := json.Unmarshal(ns.At(0).AppendV2(nil, 0, false), &v); err != nil {
			t.Fatal(err)
		}
		fc := v["forecast"].(map[string]any)
		if (fc["sellout_at"] == nil) == wantSellout {
			t.Fatalf("%s: JSON forecast %v", what, fc)
		}
		return ns
	}
	sus := o
	sus.Suspended, sus.UpdatedAt = true, at.Add(time.Second)
	check("suspended", sus, false)
	empty := o
	empty.Sold += empty.Stock
	empty.Stock, empty.UpdatedAt = 0, at.Add(time.Second)
	check("empty", empty, false)
	// remain_stat "empty" is 0–1 masks (DESIGN.md §1.3): one mask left is
	// empty too, and §4.2 gives an empty outlet no sellout_at.
	last := o
	last.Sold += last.Stock - 1
	last.Stock, last.UpdatedAt = 1, at.Add(time.Second)
	if got := last.RemainStat(); got != publicmask.StatEmpty {
		t.Fatalf("one mask left reads %q", got)
	}
	check("one mask left (empty)", last, false)
	idle := o // a delivery after two quiet hours: the rate has decayed away
	idle.Stock, idle.UpdatedAt = o.Stock+100, at.Add(2*time.Hour)
	check("idle for two hours", idle, false)
	restock := o // a delivery while selling keeps the rate, later sellout
	restock.Stock, restock.UpdatedAt = o.Stock+100, at.Add(10*time.Second)
	check("restocked while selling", restock, true)
}

func TestForecastSurvivesRebuildAndCancel(t *testing.T) {
	o := publicmask.Outlet{Code: "00000002", Name: "약국", Addr: "강북구 솔매로 38 (미아동)", Type: "01",
		Lat: 37.6, Lng: 127, Stock: 900, StockAt: t0, UpdatedAt: t0, Version: 1}
	other := publicmask.Outlet{Code: "00000001", Name: "약국", Addr: "서울특별시 강북구 도봉로 1", Type: "01", Lat: 37.61, Lng: 127, Version: 2}
	s := build([]publicmask.Outlet{o, other}, 2, t0)
	s, o, at := sellSteadily(s, o, t0, 10*time.Second, 1, 60)
	before := s.At(1).Forecast()
	// A registry import of a new outlet rebuilds every index: the rate
	// must survive it (and the 시도 inferred for the address without one).
	s, _ = s.apply([]publicmask.Outlet{{Code: "00000003", Name: "새약국", Addr: "서울특별시 강북구 도봉로 2", Type: "01", Lat: 37.62, Lng: 127, Version: 500}}, at)
	e, _ := s.Lookup("00000002")
	if got := e.Forecast(); got != before || e.Place().Sido != "서울특별시" {
		t.Fatalf("after rebuild %+v (%q), before %+v", got, e.Place().Sido, before)
	}
	// Cancelling every sale takes the rate down, never below zero.
	o.Stock, o.Sold, o.UpdatedAt, o.Version = o.Stock+o.Sold, 0, at.Add(time.Second), 600
	s, _ = s.apply([]publicmask.Outlet{o}, at)
	e, _ = s.Lookup("00000002")
	if f := e.Forecast(); f.SalesPerHour != 0 || !f.SelloutAt.IsZero() {
		t.Fatalf("after cancelling everything: %+v", f)
	}
}

func TestSalesPer10Min(t *testing.T) {
	o := pharmacy(5000)
	s := build([]publicmask.Outlet{o}, 1, t0)
	s2, o, at := sellSteadily(s, o, t0, time.Minute, 3, 25) // 08:01 … 08:25
	bins := s2.SalesPer10Min(at)
	if len(bins) != 8*6+3 {
		t.Fatalf("%d bins up to 08:25", len(bins))
	}
	if bins[48] != 27 || bins[49] != 30 || bins[50] != 18 || bins[47] != 0 {
		t.Fatalf("bins 47–50 = %v", bins[47:])
	}
	if got := s.SalesPer10Min(at); got[48] != 0 {
		t.Fatalf("older snapshot changed: %v", got[48])
	}
	// The next day starts from zero.
	o.Sold, o.Stock, o.UpdatedAt, o.Version = o.Sold+2, o.Stock-2, t0.Add(24*time.Hour), o.Version+1
	s3, _ := s2.apply([]publicmask.Outlet{o}, o.UpdatedAt)
	if b := s3.SalesPer10Min(o.UpdatedAt); len(b) != 49 || b[48] != 2 || b[47] != 0 {
		t.Fatalf("next day bins %v", b[47:])
	}
}

// A sale and its cancel count as nothing sold, whether the node applies
// them one by one (told of every commit, in process) or as one change (a
// node that follows the feed and polled once between them): both show
// the same series.
func TestSalesPer10MinCancel(t *testing.T) {
	o := pharmacy(500)
	base, o, at := sellSteadily(build([]publicmask.Outlet{o}, 1, t0), o, t0, time.Minute, 2, 3) // 6 sold, 08:01–08:03
	sold := o
	sold.Stock, sold.Sold, sold.UpdatedAt, sold.Version = o.Stock-3, o.Sold+3, at.Add(time.Second), o.Version+1
	cancelled := sold
	cancelled.Stock, cancelled.Sold, cancelled.UpdatedAt, cancelled.Version = o.Stock, o.Sold, at.Add(2*time.Second), o.Version+2
	apart, _ := base.apply([]publicmask.Outlet{sold}, sold.UpdatedAt)
	apart, _ = apart.apply([]publicmask.Outlet{cancelled}, cancelled.UpdatedAt)
	together, _ := base.apply([]publicmask.Outlet{cancelled}, cancelled.UpdatedAt)
	a, b := apart.SalesPer10Min(cancelled.UpdatedAt), together.SalesPer10Min(cancelled.UpdatedAt)
	if a[48] != 6 || b[48] != 6 {
		t.Fatalf("08:00–08:10 after a sale of 3 and its cancel: %d applied apart, %d together; want 6 (the sales before)", a[48], b[48])
	}
	// A cancel in a later bin takes its masks off there.
	late := cancelled
	late.UpdatedAt, late.Version = t0.Add(15*time.Minute), sold.Version+1
	s, _ := base.apply([]publicmask.Outlet{sold}, sold.UpdatedAt)
	s, _ = s.apply([]publicmask.Outlet{late}, late.UpdatedAt)
	if c := s.SalesPer10Min(late.UpdatedAt); c[48] != 9 || c[49] != -3 {
		t.Fatalf("a cancel 12 minutes after its sale: bins %v", c[48:])
	}
}

// An outlet registered after the node's first snapshot and first seen
// with sales (a feed follower that polled after its import and its first
// sales) counts them, as a node that saw it at 0 counts them one by one.
func TestSalesPer10MinNewOutlet(t *testing.T) {
	s := build([]publicmask.Outlet{pharmacy(500)}, 1, t0)
	n := pharmacy(100)
	n.Code, n.Stock, n.Sold, n.UpdatedAt, n.Version = "00000002", 95, 5, t0.Add(time.Minute), 2
	s, _ = s.apply([]publicmask.Outlet{n}, n.UpdatedAt)
	if c := s.SalesPer10Min(n.UpdatedAt); c[48] != 5 {
		t.Fatalf("a new outlet with 5 sold: bin %d", c[48])
	}
}

// A snapshot re-confirmed current (same version, new as_of) keeps the
// sales counted so far.
func TestConfirmedKeepsSales(t *testing.T) {
	o := pharmacy(500)
	s, _, at := sellSteadily(build([]publicmask.Outlet{o}, 1, t0), o, t0, time.Minute, 2, 3)
	c := s.confirmed(at.Add(time.Second))
	if got := c.SalesPer10Min(at)[48]; got != 6 || c.CountingSince() != s.CountingSince() {
		t.Fatalf("confirmed snapshot counts %d since %v", got, c.CountingSince())
	}
}

// An outlet that stops selling loses its sell-out time after IdleAfter,
// without any change of its own (the refresher's periodic Expire), and
// gets one again when it sells again.
func TestForecastExpiresWhenIdle(t *testing.T) {
	o := pharmacy(500)
	other := publicmask.Outlet{Code: "00000002", Name: "약국", Addr: "서울특별시 강북구 솔매로 40", Type: "01", Lat: 37.6, Lng: 127, Version: 2}
	s, o, at := sellSteadily(build([]publicmask.Outlet{o, other}, 2, t0), o, t0, 30*time.Second, 2, 10)
	if s.At(0).Forecast().SelloutAt.IsZero() {
		t.Fatal("selling outlet without a sellout time")
	}
	if ns, ch := s.Expire(at.Add(IdleAfter - time.Minute)); ns != s || ch != nil {
		t.Fatalf("expired %d entries before IdleAfter", len(ch))
	}
	ns, ch := s.Expire(at.Add(IdleAfter + time.Minute))
	if len(ch) != 1 || ch[0].Code() != o.Code || ns.Version() != s.Version() {
		t.Fatalf("Expire changed %d entries, version %d → %d", len(ch), s.Version(), ns.Version())
	}
	e, _ := ns.Lookup(o.Code)
	if f := e.Forecast(); !f.SelloutAt.IsZero() || f.SalesPerHour <= 0 {
		t.Fatalf("idle forecast %+v, want a rate and no sellout", f)
	}
	if s.At(0).Forecast().SelloutAt.IsZero() {
		t.Fatal("Expire changed the older snapshot")
	}
	if again, ch := ns.Expire(at.Add(IdleAfter + 2*time.Minute)); again != ns || ch != nil {
		t.Fatal("an expired forecast expired again")
	}
	// Selling again: a sell-out time again.
	o.Stock, o.Sold, o.UpdatedAt, o.Version = o.Stock-2, o.Sold+2, at.Add(IdleAfter+3*time.Minute), o.Version+1
	ns, _ = ns.apply([]publicmask.Outlet{o}, o.UpdatedAt)
	if e, _ := ns.Lookup(o.Code); e.Forecast().SelloutAt.IsZero() {
		t.Fatalf("selling again: %+v", e.Forecast())
	}
	// The expiry read only the chunks marked as selling: the first one
	// cleared the mark, the sale set it again, and it expires again.
	if _, ch := ns.Expire(o.UpdatedAt.Add(IdleAfter + time.Minute)); len(ch) != 1 || ch[0].Code() != o.Code {
		t.Fatalf("second idle spell: Expire changed %d entries, want the outlet", len(ch))
	}
}

// The refresher sweeps idle forecasts when it confirms its snapshot, and
// tells the subscribers.
func TestRefresherExpiresIdleForecasts(t *testing.T) {
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	o := pharmacy(500)
	o.Version = 0 // the fake source numbers it
	src := newFakeSource([]publicmask.Outlet{o})
	r := NewRefresher(src, Options{Clock: clock, ConfirmEvery: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	o.Version = 1 // as the fake source numbered it
	for i := range 10 {
		o.Stock, o.Sold, o.UpdatedAt = o.Stock-2, o.Sold+2, t0.Add(time.Duration(i+1)*30*time.Second)
		o = src.put(o)
		r.Notify([]publicmask.Outlet{o})
	}
	// Every sale applied before the clock moves: a batch applied after it
	// makes the snapshot as of the new now, and the confirmation that
	// expires idle forecasts waits for the clock to pass that by
	// ConfirmEvery, which the frozen clock never does (the test then waited
	// out its deadline: 3 runs in 1,000 with -cpu 1,2; none in 2,000 now).
	waitFor(t, func() bool {
		e, _ := r.Current().Lookup(o.Code)
		return e.Outlet().Version == o.Version && !e.Forecast().SelloutAt.IsZero()
	})
	// The batches of the ten sales may still be on their way to
	// subscribers (the publisher runs after the apply that waitFor saw):
	// a buffer of 8 could overflow on a busy machine, and the dropped
	// subscription's closed channel would read as no expiry until the
	// deadline. The buffer takes them all and the expiry.
	sub := r.Subscribe(64, nil)
	defer sub.Close()
	mu.Lock()
	now = o.UpdatedAt.Add(IdleAfter + time.Minute)
	mu.Unlock()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case batch, ok := <-sub.C:
			if !ok {
				t.Fatalf("subscription ended (dropped: %v) before the idle forecast was published", sub.Dropped())
			}
			for _, e := range batch {
				if e.Code() == o.Code && e.Forecast().SelloutAt.IsZero() {
					if cur, _ := r.Current().Lookup(o.Code); !cur.Forecast().SelloutAt.IsZero() {
						t.Fatal("published but not in the current snapshot")
					}
					return
				}
			}
		case <-deadline:
			t.Fatal("no idle forecast published")
		}
	}
}

// TestNoSelloutFromOneSale: a single sale right after a delivery gives no
// sell-out time (its rate would read as thousands an hour); a few sales do.
func TestNoSelloutFromOneSale(t *testing.T) {
	o := pharmacy(147)
	s := build([]publicmask.Outlet{o}, 1, t0)
	s, o, at := sellSteadily(s, o, t0, 16*time.Millisecond, 2, 1)
	if f := s.At(0).Forecast(); !f.SelloutAt.IsZero() {
		t.Fatalf("one sale 16 ms after the delivery: sell-out at %v (rate %.0f/h)", f.SelloutAt, f.SalesPerHour)
	}
	s, _, _ = sellSteadily(s, o, at, 20*time.Second, 2, minSalesForSellout-1)
	if f := s.At(0).Forecast(); f.SelloutAt.IsZero() {
		t.Fatalf("after %d sales: no sell-out time (rate %.0f/h)", minSalesForSellout, f.SalesPerHour)
	}
}

// pharmacy is the one outlet of the forecast tests, delivered stock masks
// at t0.
func pharmacy(stock int) publicmask.Outlet {
	return publicmask.Outlet{Code: "00000001", Name: "약국", Addr: "서울특별시 강북구 솔매로 38 (미아동)", Type: "01",
		Lat: 37.6, Lng: 127, Stock: stock, StockAt: t0, UpdatedAt: t0, Version: 1}
}
