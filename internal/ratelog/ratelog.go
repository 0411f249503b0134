// Package ratelog paces the log lines of a condition that repeats many
// times a second while it lasts (commits that fail on a full disk, a load
// balancer's readiness probes of a node that is not ready): a line per
// occurrence buried the cause and, on a full disk, wrote to the disk that
// is full.
package ratelog

import (
	"sync"
	"sync/atomic"
	"time"
)

// Episode logs a condition's first occurrence at once, then at most one
// line per Every with the count, and one line when it ends. Only
// occurrences take its lock; the good path reads one atomic (Active).
type Episode struct {
	Every time.Duration

	active atomic.Bool

	mu               sync.Mutex
	count, weight    int
	since, lastLogAt time.Time
}

// Stats is an episode so far: its occurrences, their summed weight (the
// requests of the failed batches, say) and when it began.
type Stats struct {
	Count, Weight int
	Since         time.Time
}

// Occurred counts one occurrence of the given weight. It calls first for
// an episode's first occurrence, and again when a line is due (at most one
// per Every); both run under the episode's lock.
func (e *Episode) Occurred(weight int, first func(), again func(Stats)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := time.Now()
	if e.count == 0 {
		e.since, e.lastLogAt = now, now
		e.count, e.weight = 1, weight
		e.active.Store(true)
		first()
		return
	}
	e.count++
	e.weight += weight
	if now.Sub(e.lastLogAt) >= e.Every {
		e.lastLogAt = now
		again(Stats{e.count, e.weight, e.since})
	}
}

// Active reports an episode in progress: callers on the good path check it
// before End, so that a success costs one atomic load.
func (e *Episode) Active() bool { return e.active.Load() }

// End closes an episode in progress, calling ended with its figures; it
// does nothing when there is none.
func (e *Episode) End(ended func(Stats)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.count == 0 {
		return
	}
	ended(Stats{e.count, e.weight, e.since})
	e.count, e.weight = 0, 0
	e.active.Store(false)
}
