package ledger

import (
	"sync"
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
type activity struct {
	outlets sync.Map // code → *outletActivity
}

type outletActivity struct {
	mu    sync.Mutex
	spans []span // in time order, non-overlapping
}

type span struct{ from, to time.Time }

// maxSpans bounds one outlet's memory even if it polls just under the gap
// all week.
const maxSpans = 4096

func (a *activity) note(outlet string, at time.Time, keep time.Duration) {
	v, ok := a.outlets.Load(outlet)
	if !ok {
		v, _ = a.outlets.LoadOrStore(outlet, &outletActivity{})
	}
	oa := v.(*outletActivity)
	oa.mu.Lock()
	defer oa.mu.Unlock()
	if n := len(oa.spans); n > 0 {
		last := &oa.spans[n-1]
		switch {
		case at.Before(last.from.Add(-activityGap)):
			// A clock set backwards (tests, --clock): start over.
			oa.spans = oa.spans[:0]
		case at.Before(last.from):
			// Concurrent requests may be noted out of order.
			last.from = at
			return
		case !at.After(last.to):
			return
		case at.Sub(last.to) < activityGap:
			last.to = at
			return
		}
	}
	oa.spans = append(oa.spans, span{at, at})
	drop := 0
	for drop < len(oa.spans)-1 && (oa.spans[drop].to.Before(at.Add(-keep)) || len(oa.spans)-drop > maxSpans) {
		drop++
	}
	if drop > 0 {
		oa.spans = append(oa.spans[:0], oa.spans[drop:]...)
	}
}

// seen reports whether the outlet made a request at an instant in
// (after, until].
func (a *activity) seen(outlet string, after, until time.Time) bool {
	v, ok := a.outlets.Load(outlet)
	if !ok {
		return false
	}
	oa := v.(*outletActivity)
	oa.mu.Lock()
	defer oa.mu.Unlock()
	for _, s := range oa.spans {
		if s.to.After(after) && !s.from.After(until) {
			return true
		}
	}
	return false
}
