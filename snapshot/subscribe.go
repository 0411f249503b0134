package snapshot

import (
	"context"
	"math"
	"slices"
	"sync/atomic"
)

// Subscription receives the changed entries that pass its filter, one slice
// per applied batch. C is closed when the subscription ends: by Close, when
// the refresher stops, or when the subscriber fell behind by more than its
// buffer (Dropped then reports true).
type Subscription struct {
	C       <-chan []*Entry
	c       chan []*Entry
	filter  func(*Entry) bool
	near    *circle   // SubscribeNear's circle: offered the outlets that leave it too
	cells   []cellKey // nil: not indexed, sees every change
	r       *Refresher
	closed  bool
	dropped atomic.Bool
}

// Subscribe registers a change subscriber with a buffer of that many batches
// (minimum 1). filter (nil = all) runs on the publishing goroutine, so it
// must be fast. Every applied change is offered to it: for subscribers to a
// place, SubscribeNear is much cheaper.
func (r *Refresher) Subscribe(buffer int, filter func(*Entry) bool) *Subscription {
	return r.subscribe(buffer, filter, nil)
}

// SubscribeNear subscribes to the changes of outlets within m metres of
// (lat, lng). Subscribers are indexed by geo cell, so a change is offered
// only to those whose circle may hold it: one commit costs in proportion
// to its neighbours, not to every subscriber in the country.
func (r *Refresher) SubscribeNear(buffer int, lat, lng, m float64) *Subscription {
	k := &circle{lat, lng, m}
	s := r.subscribe(buffer, func(e *Entry) bool { return k.holds(e.Lat, e.Lng) }, cellsNear(lat, lng, m), k)
	return s
}

// circle is a subscriber's place: m metres around (lat, lng).
type circle struct{ lat, lng, m float64 }

func (k *circle) holds(lat, lng float64) bool { return Haversine(k.lat, k.lng, lat, lng) <= k.m }

func (r *Refresher) subscribe(buffer int, filter func(*Entry) bool, cells []cellKey, near ...*circle) *Subscription {
	buffer = max(buffer, 1)
	c := make(chan []*Entry, buffer)
	s := &Subscription{C: c, c: c, filter: filter, cells: cells, r: r}
	if len(near) > 0 {
		s.near = near[0]
	}
	r.subMu.Lock()
	if cells == nil {
		r.subs = append(r.subs, s)
	} else {
		for _, k := range cells {
			r.cells[k] = append(r.cells[k], s)
		}
	}
	r.subMu.Unlock()
	return s
}

// Close ends the subscription; safe to call more than once.
func (s *Subscription) Close() {
	s.r.subMu.Lock()
	defer s.r.subMu.Unlock()
	s.r.removeLocked(s)
}

// Dropped reports whether the subscription was ended for falling behind.
func (s *Subscription) Dropped() bool { return s.dropped.Load() }

func (r *Refresher) removeLocked(s *Subscription) {
	if s.closed {
		return
	}
	s.closed = true
	close(s.c)
	if s.cells == nil {
		r.subs = without(r.subs, s)
		return
	}
	for _, k := range s.cells {
		if l := without(r.cells[k], s); len(l) > 0 {
			r.cells[k] = l
		} else {
			delete(r.cells, k)
		}
	}
}

func without(l []*Subscription, s *Subscription) []*Subscription {
	for i, x := range l {
		if x == s {
			return append(l[:i:i], l[i+1:]...)
		}
	}
	return l
}

// maxPubQueue bounds the applied batches waiting for the publisher; beyond
// it they are merged (subscribers then get fewer, larger batches).
const maxPubQueue = 256

// pubBatch is an applied batch and the moves among its entries.
type pubBatch struct {
	applied []*Entry
	moves   []Move
}

// publish queues an applied batch for the publisher goroutine; it never
// blocks the apply loop.
func (r *Refresher) publish(applied []*Entry, moves []Move) {
	r.pubMu.Lock()
	if n := len(r.pubQ); n >= maxPubQueue {
		last := &r.pubQ[n-1]
		last.applied = append(last.applied[:len(last.applied):len(last.applied)], applied...)
		last.moves = append(last.moves[:len(last.moves):len(last.moves)], moves...)
	} else {
		r.pubQ = append(r.pubQ, pubBatch{applied, moves})
	}
	r.pubMu.Unlock()
	select {
	case r.pubWake <- struct{}{}:
	default:
	}
}

func (r *Refresher) publishLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.pubWake:
		}
		r.pubMu.Lock()
		q := r.pubQ
		r.pubQ = nil
		r.pubMu.Unlock()
		for _, batch := range q {
			r.fanOut(batch.applied, batch.moves)
		}
	}
}

// fanOut delivers a batch. Sends never block: a subscriber whose buffer is
// full is dropped (its client reconnects and reloads), so one slow client
// cannot delay the others. An outlet that moved out of a subscriber's
// circle is offered to it too (its new distance says it left).
func (r *Refresher) fanOut(applied []*Entry, moves []Move) {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	if len(r.subs) == 0 && len(r.cells) == 0 {
		return
	}
	var order []*Subscription
	mine := make(map[*Subscription][]*Entry)
	offer := func(s *Subscription, e *Entry) {
		if s.filter != nil && !s.filter(e) {
			return
		}
		if _, ok := mine[s]; !ok {
			order = append(order, s)
		}
		mine[s] = append(mine[s], e)
	}
	for _, e := range applied {
		for _, s := range r.cells[subCellOf(e.Lat, e.Lng)] {
			offer(s, e)
		}
		for _, s := range r.subs {
			offer(s, e)
		}
	}
	left := func(s *Subscription, mv Move) {
		if s.near == nil || !s.near.holds(mv.Lat, mv.Lng) || slices.Contains(mine[s], mv.E) {
			return
		}
		if _, ok := mine[s]; !ok {
			order = append(order, s)
		}
		mine[s] = append(mine[s], mv.E)
	}
	for _, mv := range moves {
		for _, s := range r.cells[subCellOf(mv.Lat, mv.Lng)] {
			left(s, mv)
		}
		for _, s := range r.subs {
			left(s, mv)
		}
	}
	for _, s := range order {
		select {
		case s.c <- mine[s]:
		default:
			s.dropped.Store(true)
			r.dropped.Inc()
			r.removeLocked(s)
		}
	}
}

func (r *Refresher) closeSubs() {
	r.subMu.Lock()
	defer r.subMu.Unlock()
	for len(r.subs) > 0 {
		r.removeLocked(r.subs[0])
	}
	for _, l := range r.cells {
		for _, s := range l {
			r.removeLocked(s)
		}
	}
}

// Subscribers are indexed by cells of cellDeg degrees (about 5.5 km north
// to south, 4.4 km east to west in Korea): a circle of the largest radius a
// client may ask for (5 km) spans a few cells.
const cellDeg = 0.05

type cellKey struct{ lat, lng int32 }

func subCellOf(lat, lng float64) cellKey {
	return cellKey{int32(math.Floor(lat / cellDeg)), int32(math.Floor(lng / cellDeg))}
}

// cellsNear lists the cells that a circle of m metres around (lat, lng)
// touches, or nil (not indexed) for a circle too large to index usefully.
func cellsNear(lat, lng, m float64) []cellKey {
	const metresPerDeg = 111_320.0
	dLat := m/metresPerDeg + 1e-9
	maxLat := math.Min(math.Abs(lat)+dLat, 89)
	dLng := m/(metresPerDeg*math.Cos(maxLat*math.Pi/180)) + 1e-9
	lo, hi := subCellOf(lat-dLat, lng-dLng), subCellOf(lat+dLat, lng+dLng)
	n := int(hi.lat-lo.lat+1) * int(hi.lng-lo.lng+1)
	if n <= 0 || n > 400 {
		return nil
	}
	cells := make([]cellKey, 0, n)
	for a := lo.lat; a <= hi.lat; a++ {
		for b := lo.lng; b <= hi.lng; b++ {
			cells = append(cells, cellKey{a, b})
		}
	}
	return cells
}
