package clock

import (
	"testing"
	"time"
)

// TestSimNeverBeforeStart: a simulated clock reads its start or later,
// whatever its rate; a rate too large for a Duration stops the clock at
// the largest one instead of wrapping it to before its start.
func TestSimNeverBeforeStart(t *testing.T) {
	start := time.Date(2020, 3, 11, 8, 0, 0, 0, time.FixedZone("KST", 9*3600))
	for _, rate := range []float64{1, 60, 1e6, 1e12, 1e300} {
		c := NewSim(start, rate)
		time.Sleep(time.Millisecond)
		if now := c.Now(); now.Before(start) {
			t.Errorf("rate %g: %v, before the start %v", rate, now, start)
		}
	}
	if now := NewSim(start, 1e300).Now(); !now.Equal(start.Add(1<<63 - 1)) {
		t.Errorf("rate 1e300: %v, want the largest Duration after the start", now)
	}
}
