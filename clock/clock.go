// Package clock gives the service an injectable notion of now, so that the
// 2020 rules can be replayed (`serve --clock 2020-03-11T08:00:00+09:00`) and
// tested without waiting for real Wednesdays.
package clock

import (
	"math"
	"sync"
	"time"
)

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// Real is the wall clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// Sim starts at a given instant and advances at rate simulated seconds per
// real second.
type Sim struct {
	start     time.Time
	realStart time.Time
	rate      float64
}

// NewSim returns a clock that reads start now and advances at rate.
func NewSim(start time.Time, rate float64) *Sim {
	if rate <= 0 {
		rate = 1
	}
	return &Sim{start: start, realStart: time.Now(), rate: rate}
}

// Now returns the simulated time. Past the largest Duration (~292 years
// after start) it stays there: converting a larger float to a Duration
// wrapped it, and a rate of 1e300 read the clock in 1727.
func (s *Sim) Now() time.Time {
	d := float64(time.Since(s.realStart)) * s.rate
	if d >= math.MaxInt64 {
		return s.start.Add(math.MaxInt64)
	}
	return s.start.Add(time.Duration(d))
}

// Manual is a clock for tests: it stands still until told to move.
type Manual struct {
	mu  sync.Mutex
	now time.Time
}

// NewManual returns a clock stopped at t.
func NewManual(t time.Time) *Manual { return &Manual{now: t} }

// Now returns the clock's time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Set moves the clock to t.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	m.now = t
	m.mu.Unlock()
}

// Advance moves the clock forward by d.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	m.now = m.now.Add(d)
	m.mu.Unlock()
}
