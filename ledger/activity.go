package ledger

import (
	"sync"
	"sync/atomic"
	"time"
)

// activityGap: requests of one outlet less than this apart count as one
// stretch of being online.
const activityGap = time.Minute

// onlineMargin: a late sale is late_while_online when the outlet was seen
// online after sold_at and more than this before the late sale arrived
// (DESIGN.md §4.3, §6.1); the margin leaves the outbox time to sync.
const onlineMargin = 10 * time.Minute

// activity remembers, per outlet, the stretches of service-clock time in
// which this node saw the outlet's authenticated requests. Memory per outlet
// is bounded: stretches older than the longest late window are dropped.
//
// Outlets are named by their index in the token cache's intern table
// (OutletRef): the lean path has it from the token's cache entry, so a
// request's note looks nothing up by code — a sync.Map of *outletActivity by
// code walked its hash trie on every request (2.3% of the server's CPU at
// capacity, 31st session). The records sit in chunks of a dense table, and
// hold no pointer but the rare list of earlier stretches: times are Unix
// nanoseconds of the service clock, not time.Time (two pointers a span).
type activity struct {
	grow   sync.Mutex                                  // adds chunks
	chunks atomic.Pointer[[]*[actChunk]outletActivity] // copied on growth; a chunk never moves
}

// actChunk records to a chunk (40 B each): a chunk is made when an outlet
// of its range is first noted.
const actChunk = 1024

type outletActivity struct {
	mu   sync.Mutex
	live bool // cur holds the latest stretch
	cur  span
	// older are the stretches before cur, in time order, non-overlapping:
	// nil for an outlet seen in one stretch, as most are in a rush.
	older *[]span
}

// span is a stretch [from, to] in Unix nanoseconds.
type span struct{ from, to int64 }

// maxSpans bounds one outlet's memory even if it polls just under the gap
// all week.
const maxSpans = 4096

// record is ref's record; nil if its chunk was never made and !create.
func (a *activity) record(ref OutletRef, create bool) *outletActivity {
	c := int(ref / actChunk)
	if p := a.chunks.Load(); p != nil && c < len(*p) {
		if ch := (*p)[c]; ch != nil {
			return &ch[ref%actChunk]
		}
	}
	if !create {
		return nil
	}
	a.grow.Lock()
	defer a.grow.Unlock()
	var cs []*[actChunk]outletActivity
	if p := a.chunks.Load(); p != nil {
		cs = *p
	}
	if c < len(cs) && cs[c] != nil {
		return &cs[c][ref%actChunk]
	}
	// A new slice: readers of the old one keep a consistent copy (one
	// that misses this chunk comes here and finds it).
	next := make([]*[actChunk]outletActivity, max(len(cs), c+1))
	copy(next, cs)
	next[c] = new([actChunk]outletActivity)
	a.chunks.Store(&next)
	return &next[c][ref%actChunk]
}

// note records a request of the outlet ref at the service-clock instant at;
// stretches that ended more than keep before at are forgotten.
func (a *activity) note(ref OutletRef, at time.Time, keep time.Duration) {
	a.record(ref, true).note(at.UnixNano(), int64(keep))
}

func (r *outletActivity) note(at, keep int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.live {
		last := &r.cur
		switch {
		case at < last.from-int64(activityGap):
			// A clock set backwards (tests, --clock): start over.
			r.live = false
			if r.older != nil {
				*r.older = (*r.older)[:0]
			}
		case at < last.from:
			// Concurrent requests may be noted out of order.
			last.from = at
			return
		case at <= last.to:
			return
		case at-last.to < int64(activityGap):
			// The common case: a request within the current stretch.
			last.to = at
			return
		}
	}
	r.push(at, keep)
}

// push starts a stretch at at (r.mu held), dropping the earlier ones that
// ended before at-keep or beyond maxSpans in all.
func (r *outletActivity) push(at, keep int64) {
	if r.live {
		if r.older == nil {
			r.older = new([]span)
		}
		*r.older = append(*r.older, r.cur)
	}
	r.cur, r.live = span{at, at}, true
	if r.older == nil {
		return
	}
	old := *r.older
	n := len(old) + 1 // with cur, which is never dropped
	drop := 0
	for drop < len(old) && (old[drop].to < at-keep || n-drop > maxSpans) {
		drop++
	}
	if drop > 0 {
		*r.older = append(old[:0], old[drop:]...)
	}
}

// seen reports whether the outlet ref made a request at an instant in
// (after, until].
func (a *activity) seen(ref OutletRef, after, until time.Time) bool {
	r := a.record(ref, false)
	if r == nil {
		return false
	}
	return r.seen(after.UnixNano(), until.UnixNano())
}

func (r *outletActivity) seen(after, until int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.live {
		return false
	}
	if r.cur.to > after && r.cur.from <= until {
		return true
	}
	if r.older != nil {
		for _, s := range *r.older {
			if s.to > after && s.from <= until {
				return true
			}
		}
	}
	return false
}
