package ledger

import (
	"fmt"
	"testing"
	"time"
)

func TestActivitySpans(t *testing.T) {
	var a activity
	t0 := time.Date(2020, 3, 11, 9, 0, 0, 0, time.UTC)
	minute := func(m float64) time.Time { return t0.Add(time.Duration(m * float64(time.Minute))) }
	// Requests at 0, 0.5, 0.9 (one stretch), then 5 and 30.
	for _, m := range []float64{0, 0.5, 0.9, 5, 30} {
		a.note("o", minute(m), 7*24*time.Hour)
	}
	for _, c := range []struct {
		after, until float64
		want         bool
	}{
		{-1, 0, true}, {0, 0.2, true}, {0.9, 4.9, false}, {1, 5, true}, {5, 29, false}, {29, 31, true}, {31, 60, false},
	} {
		if got := a.seen("o", minute(c.after), minute(c.until)); got != c.want {
			t.Errorf("seen((%v, %v]) = %v, want %v", c.after, c.until, got, c.want)
		}
	}
	// A request noted late (concurrent requests) extends a stretch
	// instead of wiping the history.
	a.note("o", minute(29.5), 7*24*time.Hour)
	if !a.seen("o", minute(0), minute(0.2)) || !a.seen("o", minute(29.4), minute(29.6)) {
		t.Error("an out-of-order request lost the history or was not kept")
	}
	if a.seen("other", minute(-1), minute(60)) {
		t.Error("an outlet never seen was seen")
	}
	// Stretches older than the window are forgotten.
	a.note("o", t0.Add(8*24*time.Hour), 7*24*time.Hour)
	if a.seen("o", minute(-1), minute(60)) {
		t.Error("a stretch older than the window is still remembered")
	}
}

// BenchmarkNoteActivity is the cost every authenticated outlet request
// pays: 1,000 outlets, each seen every few seconds.
func BenchmarkNoteActivity(b *testing.B) {
	var a activity
	codes := make([]string, 1000)
	for i := range codes {
		codes[i] = fmt.Sprintf("%08d", i)
	}
	t0 := time.Date(2020, 3, 11, 9, 0, 0, 0, time.UTC)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			a.note(codes[i%len(codes)], t0.Add(time.Duration(i)*time.Millisecond), 7*24*time.Hour)
		}
	})
}
