package policy

import (
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// TestDayCacheAgrees: Date, weekdayOf and weekOf answer from the last day
// they saw; whatever order the instants come in (both sides of midnight,
// days apart, Seoul's daylight saving of 1987–88), they answer as the
// formulas without the cache do.
func TestDayCacheAgrees(t *testing.T) {
	var ts []time.Time
	for _, base := range []time.Time{
		time.Date(2020, 3, 11, 0, 0, 0, 0, publicmask.Seoul),
		time.Date(2020, 3, 15, 0, 0, 0, 0, publicmask.Seoul), // a Sunday
		time.Date(1987, 5, 10, 0, 0, 0, 0, publicmask.Seoul), // DST began at 02:00
		time.Date(1988, 10, 9, 0, 0, 0, 0, publicmask.Seoul), // DST ended at 03:00
	} {
		for _, d := range []time.Duration{-time.Nanosecond, 0, time.Nanosecond, time.Hour, 2*time.Hour + 30*time.Minute, 23 * time.Hour, 24*time.Hour - time.Nanosecond, 24 * time.Hour, 25 * time.Hour} {
			ts = append(ts, base.Add(d), base.Add(d).UTC())
		}
	}
	for round := range 3 {
		for i := range ts {
			at := ts[(i*7+round)%len(ts)]
			want := at.In(publicmask.Seoul).Format(dateLayout)
			if got := Date(at); got != want {
				t.Fatalf("Date(%v) = %s, want %s", at, got, want)
			}
			p, _ := time.ParseInLocation(dateLayout, want, publicmask.Seoul)
			if got := weekdayOf(want); got != p.Weekday() {
				t.Fatalf("weekdayOf(%s) = %v, want %v", want, got, p.Weekday())
			}
			if got, w := weekOf(want), WeekStart(p).Format(dateLayout); got != w {
				t.Fatalf("weekOf(%s) = %s, want %s", want, got, w)
			}
		}
	}
}

// A rules query may name any date (GET /api/v2/rules?date=…) in the process
// that judges sales. A day about 2^64 ns (584.5 years) away once wrapped
// around the cache's bounds and made it claim today, so every sale was
// judged on the far date's rules.
func TestDayCacheFarDatesDoNotPoisonToday(t *testing.T) {
	now := time.Date(2026, 12, 1, 14, 0, 0, 0, publicmask.Seoul)
	want := "2026-12-01"
	wrap := now.Add(1 << 62).Add(1 << 62).Add(1 << 62).Add(1 << 62) // 2^64 ns later
	for _, far := range []time.Time{
		wrap,
		now.AddDate(-400, 0, 0),
		time.Date(9999, 12, 31, 12, 0, 0, 0, publicmask.Seoul),
		time.Date(1, 1, 1, 12, 0, 0, 0, publicmask.Seoul),
	} {
		Date(now)
		Date(now.AddDate(0, 0, 1)) // the cache no longer holds today
		farDate := Date(far)
		if got, exp := farDate, far.In(publicmask.Seoul).Format(dateLayout); got != exp {
			t.Errorf("Date(%v) = %s, want %s", far, got, exp)
		}
		if got := Date(now); got != want {
			t.Errorf("after a query for %s, Date(now) = %s, want %s", farDate, got, want)
		}
	}
}
